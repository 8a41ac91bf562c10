/*
 * bufferevent_enable(bev, EV_READ | EV_WRITE) on a new bufferevent, as in
 * the original article's greet_fisherman (and the libevent book's echo
 * server it started from).  A socket bufferevent is born with EV_WRITE
 * enabled (bufferevent.c: "so that using bufferevent_write is going to
 * trigger a callback") and starts watching for writability by itself as
 * soon as there is something to write.  Enabling EV_WRITE with nothing to
 * write adds the write event at once: the socket is writable, so the next
 * loop turn wakes up for it, finds nothing to send, runs the write callback
 * and removes the event again.  Count events and write callbacks, with
 * EV_READ | EV_WRITE and with EV_READ alone.
 */
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "demo.h"

static int write_calls;

static void wrote(struct bufferevent *bev, void *arg)
{
	(void)bev;
	(void)arg;
	write_calls++;
}

/* Events added after the enable, and write callbacks in one loop turn. */
static void try(short what, int *added, int *calls)
{
	int peer;
	struct event_base *base = event_base_new();
	struct bufferevent *bev;

	if (base == NULL)
		die("event_base_new");
	bev = socketpair_bufferevent(base, &peer);
	bufferevent_setcb(bev, NULL, wrote, NULL, NULL);
	if (bufferevent_enable(bev, what) < 0)
		die("bufferevent_enable");
	*added = event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED);
	write_calls = 0;
	if (event_base_loop(base, EVLOOP_NONBLOCK) < 0)
		die("event_base_loop");
	*calls = write_calls;
	bufferevent_free(bev);
	close(peer);
	event_base_free(base);
}

int main(void)
{
	int rw_added, rw_calls, r_added, r_calls;

	try(EV_READ | EV_WRITE, &rw_added, &rw_calls);
	try(EV_READ, &r_added, &r_calls);
	printf("enable-write: nothing to write yet: bufferevent_enable(EV_READ|EV_WRITE) "
	       "adds %d events and the first loop turn runs the write callback %d time(s); "
	       "EV_READ alone adds %d and runs it %d time(s)\n",
	       rw_added, rw_calls, r_added, r_calls);
	return 0;
}
