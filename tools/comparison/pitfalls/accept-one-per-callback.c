/*
 * One accept() per callback, as in the original article's greet_fisherman
 * (the code here is ours): correct, since the event is persistent and the
 * loop is level-triggered, but every waiting fisherman costs a trip round
 * the loop (one epoll_wait() each).  Fifty fishermen wait in the backlog;
 * count the loop turns it takes to let them all in, accepting once per
 * callback, then accepting until EAGAIN as v1-style and v2-raw do (and
 * evconnlistener does for v2-listener).
 */
#include <unistd.h>

#include <event2/event.h>

#include "demo.h"

#define FISHERMEN 50

static int accepted_count;

static void take(int fd)
{
	close(fd);
	accepted_count++;
}

static void greet_once(evutil_socket_t door, short what, void *arg)
{
	int fd = accept(door, NULL, NULL);

	(void)what;
	(void)arg;
	if (fd >= 0)
		take(fd);
}

static void greet_all(evutil_socket_t door, short what, void *arg)
{
	int fd;

	(void)what;
	(void)arg;
	while ((fd = accept(door, NULL, NULL)) >= 0)
		take(fd);
	/* EAGAIN: nobody else is waiting (other errors do not occur here). */
}

/* Loop turns until FISHERMEN waiting connections are all accepted. */
static int turns(event_callback_fn greet)
{
	struct sockaddr_in sin;
	int clients[FISHERMEN], n = 0;
	struct event_base *base = event_base_new();
	struct event *ev;
	int door = listen_loopback(SOMAXCONN, &sin);

	if (base == NULL)
		die("event_base_new");
	if (evutil_make_socket_nonblocking(door) < 0)
		die("evutil_make_socket_nonblocking");
	connect_crowd(&sin, clients, FISHERMEN);
	ev = event_new(base, door, EV_READ | EV_PERSIST, greet, NULL);
	if (ev == NULL)
		die("event_new");
	if (event_add(ev, NULL) < 0)
		die("event_add");
	accepted_count = 0;
	while (accepted_count < FISHERMEN && n < 10 * FISHERMEN) {
		if (event_base_loop(base, EVLOOP_ONCE) < 0)
			die("event_base_loop");
		n++;
	}
	for (int i = 0; i < FISHERMEN; i++)
		close(clients[i]);
	event_free(ev);
	close(door);
	event_base_free(base);
	return n;
}

int main(void)
{
	int once = turns(greet_once), all = turns(greet_all);

	printf("accept-one-per-callback: %d fishermen waiting: %d loop turns to let them in "
	       "with one accept() per callback, %d accepting until EAGAIN\n",
	       FISHERMEN, once, all);
	return 0;
}
