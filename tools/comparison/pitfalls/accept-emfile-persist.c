/*
 * Pitfall 7.5 with a hand-made door, the shape of the original article's
 * main and greet_fisherman (the code here is ours): the listening socket
 * watched by an event_new(..., EV_READ | EV_PERSIST, ...) event, and a
 * callback that calls accept() once and, when it fails, warns and returns.
 * Twenty fishermen connect; the descriptor limit leaves room for two.
 * After those two, accept() fails with EMFILE, the others wait in the
 * backlog, the listening socket stays readable, and the persistent event
 * calls back at once, again and again: count the calls in 0.2 s.
 */
#include <unistd.h>

#include <event2/event.h>

#include "demo.h"

#define FISHERMEN 20

static long accepted_count, failures, emfile;
static int kept[FISHERMEN];

/* One accept() per call; on failure, a warning and back to the loop. */
static void greet_once(evutil_socket_t door, short what, void *arg)
{
	int fd = accept(door, NULL, NULL);

	(void)what;
	(void)arg;
	if (fd < 0) {
		failures++;              /* where the article prints a warning */
		if (errno == EMFILE)
			emfile++;
		return;
	}
	kept[accepted_count++] = fd;     /* kept open: descriptors run out */
}

int main(void)
{
	struct sockaddr_in sin;
	int clients[FISHERMEN];
	struct event_base *base = event_base_new();
	struct event *door_ev;
	int door;

	if (base == NULL)
		die("event_base_new");
	door = listen_loopback(FISHERMEN, &sin);
	if (evutil_make_socket_nonblocking(door) < 0)
		die("evutil_make_socket_nonblocking");
	door_ev = event_new(base, door, EV_READ | EV_PERSIST, greet_once, NULL);
	if (door_ev == NULL)
		die("event_new");
	if (event_add(door_ev, NULL) < 0)
		die("event_add");
	connect_crowd(&sin, clients, FISHERMEN);
	leave_room_for(clients[FISHERMEN - 1], 2);
	run_for_a_fifth(base);
	printf("accept-emfile-persist: %ld of %d fishermen accepted, then the EV_PERSIST "
	       "accept event called back %ld times in 0.2 s, accept() failing each time "
	       "(%ld of them EMFILE)%s\n", accepted_count, FISHERMEN, failures, emfile,
	       failures > 1000 ? " (it spins)" : "");
	for (long i = 0; i < accepted_count; i++)
		close(kept[i]);
	for (int i = 0; i < FISHERMEN; i++)
		close(clients[i]);
	event_free(door_ev);
	close(door);
	event_base_free(base);
	return 0;
}
