/*
 * A line that never ends.  A read callback that takes lines with
 * evbuffer_readln() and nothing else, as the original article's buyfish
 * does (the code here is ours), leaves an unfinished line in the input
 * buffer; the bufferevent has no read high-watermark unless given one, so
 * it keeps reading.  A fisherman sends 4 MiB without a LF: print how much
 * the fishmonger then holds for him, and how many bytes evbuffer_readln()
 * had in front of it over all its calls (each call searches the whole
 * buffer from its start again: buffer.c, evbuffer_search_eol with no start).
 */
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "demo.h"

#define SENT (4 * 1024 * 1024)

static long long searched;
static int calls;

static void buy_lines(struct bufferevent *bev, void *arg)
{
	struct evbuffer *input = bufferevent_get_input(bev);
	char *line;

	(void)arg;
	calls++;
	for (;;) {
		searched += (long long)evbuffer_get_length(input);
		line = evbuffer_readln(input, NULL, EVBUFFER_EOL_CRLF);
		if (line == NULL)
			break;
		free(line);
	}
}

int main(void)
{
	static char chunk[65536];
	int peer;
	size_t sent = 0;
	struct event_base *base = event_base_new();
	struct bufferevent *bev;

	if (base == NULL)
		die("event_base_new");
	bev = socketpair_bufferevent(base, &peer);
	if (evutil_make_socket_nonblocking(peer) < 0)
		die("evutil_make_socket_nonblocking");
	bufferevent_setcb(bev, buy_lines, NULL, NULL, NULL);
	if (bufferevent_enable(bev, EV_READ) < 0)
		die("bufferevent_enable");
	memset(chunk, 'x', sizeof chunk);
	while (sent < SENT) {
		size_t want = SENT - sent < sizeof chunk ? SENT - sent : sizeof chunk;
		ssize_t n = write(peer, chunk, want);

		if (n < 0 && errno != EAGAIN)
			die("write");
		if (n > 0)
			sent += (size_t)n;
		if (event_base_loop(base, EVLOOP_NONBLOCK) < 0)
			die("event_base_loop");
	}
	while (evbuffer_get_length(bufferevent_get_input(bev)) < SENT)
		if (event_base_loop(base, EVLOOP_ONCE) < 0)
			die("event_base_loop");
	printf("unbounded-line: %d MiB without a LF: the input buffer holds %zu bytes "
	       "after %d read callbacks, and evbuffer_readln() searched %lld MiB in all\n",
	       SENT >> 20, evbuffer_get_length(bufferevent_get_input(bev)), calls,
	       searched >> 20);
	bufferevent_free(bev);
	close(peer);
	event_base_free(base);
	return 0;
}
