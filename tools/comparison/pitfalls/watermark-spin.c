/*
 * Pitfall 7.4, libevent issue 891: a read high-watermark and a line longer
 * than it.  The read callback, like any line reader, drains only complete
 * lines; the fisherman sends 100 bytes and no LF; the watermark is 16.
 * Since libevent 2.1.9-beta (the be-wm-overrun change of its ChangeLog,
 * reported as issue 891 against 2.1.11) bufferevent_inbuf_wm_check()
 * schedules the read callback again after every run while the input is at
 * the watermark, without reading the socket again: count the callbacks in
 * 0.2 s.  (Up to 2.1.8 the bufferevent stopped reading and never called
 * back, and its read timeout is off while reading is suspended.)
 */
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "demo.h"

static long calls;
static struct bufferevent *fisherman;

static void read_lines(struct bufferevent *bev, void *arg)
{
	struct evbuffer *input = bufferevent_get_input(bev);

	(void)arg;
	calls++;
	/* Only a complete line is consumed; this one never completes. */
	if (evbuffer_search(input, "\n", 1, NULL).pos >= 0)
		evbuffer_drain(input, evbuffer_get_length(input));
}

static void accepted(struct evconnlistener *l, evutil_socket_t fd,
                     struct sockaddr *sa, int len, void *arg)
{
	(void)l;
	(void)sa;
	(void)len;
	fisherman = bufferevent_socket_new(arg, fd, BEV_OPT_CLOSE_ON_FREE);
	if (fisherman == NULL)
		die("bufferevent_socket_new");
	bufferevent_setcb(fisherman, read_lines, NULL, NULL, NULL);
	bufferevent_setwatermark(fisherman, EV_READ, 0, 16);
	if (bufferevent_enable(fisherman, EV_READ) < 0)
		die("bufferevent_enable");
}

int main(void)
{
	struct sockaddr_in sin = loopback();
	socklen_t sl = sizeof sin;
	char catch[100];
	struct event_base *base = event_base_new();
	struct evconnlistener *door;
	int client;

	if (base == NULL)
		die("event_base_new");
	door = evconnlistener_new_bind(base, accepted, base, LEV_OPT_CLOSE_ON_FREE,
	                               16, (struct sockaddr *)&sin, sizeof sin);
	if (door == NULL)
		die("evconnlistener_new_bind");
	if (getsockname(evconnlistener_get_fd(door), (struct sockaddr *)&sin, &sl) < 0)
		die("getsockname");
	connect_crowd(&sin, &client, 1);
	memset(catch, 'x', sizeof catch);
	if (write(client, catch, sizeof catch) != (ssize_t)sizeof catch)
		die("write");
	run_for_a_fifth(base);
	printf("watermark-spin: libevent %s, read watermark 16, 100 bytes without LF: "
	       "the read callback ran %ld times in 0.2 s%s\n", event_get_version(), calls,
	       calls > 1000 ? " (it spins)" : calls <= 1 ? " (it stalls)" : "");
	if (fisherman != NULL)
		bufferevent_free(fisherman);
	close(client);
	evconnlistener_free(door);
	event_base_free(base);
	return 0;
}
