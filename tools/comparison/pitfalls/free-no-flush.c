/*
 * Pitfall 7.6: bufferevent_free() does not flush.  Write a 1 MiB reply to a
 * fisherman who is not reading yet (more than the socket buffers hold),
 * free the bufferevent at once, then let him read: count what arrives.
 */
#include <fcntl.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "demo.h"

#define REPLY (1024 * 1024)

int main(void)
{
	static char reply[REPLY];
	int peer;
	size_t got = 0;
	ssize_t n;
	char buf[65536];
	struct event_base *base = event_base_new();
	struct bufferevent *bev;

	if (base == NULL)
		die("event_base_new");
	bev = socketpair_bufferevent(base, &peer);
	memset(reply, '7', sizeof reply);
	if (bufferevent_write(bev, reply, sizeof reply) < 0)
		die("bufferevent_write");
	/* One turn of the loop: libevent writes what the socket takes. */
	if (event_base_loop(base, EVLOOP_NONBLOCK) < 0)
		die("event_base_loop");
	printf("free-no-flush: %zu of %d bytes still in the output buffer when "
	       "bufferevent_free() is called", evbuffer_get_length(bufferevent_get_output(bev)),
	       REPLY);
	bufferevent_free(bev);
	/* libevent 2.1 finishes freeing (and closes) from the loop: one turn. */
	if (event_base_loop(base, EVLOOP_NONBLOCK) < 0)
		die("event_base_loop");
	if (evutil_make_socket_nonblocking(peer) < 0)
		die("evutil_make_socket_nonblocking");
	while ((n = read(peer, buf, sizeof buf)) > 0)
		got += (size_t)n;
	if (n < 0 && errno != EAGAIN)
		die("read");
	printf("; the fisherman receives %zu bytes, then %s\n", got,
	       n == 0 ? "end of file" : "nothing more (socket still open)");
	close(peer);
	event_base_free(base);
	return 0;
}
