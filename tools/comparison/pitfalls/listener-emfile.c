/*
 * Pitfall 7.5: an evconnlistener with no error callback, out of file
 * descriptors.  Twenty fishermen connect; the descriptor limit leaves room
 * for two.  After those two, accept() fails with EMFILE, the fishermen wait
 * in the backlog, the listening socket stays readable, and the listener
 * calls accept() again at once: count its "Error from accept() call"
 * warnings in 0.2 s.
 */
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "demo.h"

#define FISHERMEN 20

static long accepted_count, warnings;
static evutil_socket_t kept[FISHERMEN];

static void count_warning(int severity, const char *msg)
{
	(void)severity;
	(void)msg;
	warnings++;
}

static void accepted(struct evconnlistener *l, evutil_socket_t fd,
                     struct sockaddr *sa, int len, void *arg)
{
	(void)l;
	(void)sa;
	(void)len;
	(void)arg;
	kept[accepted_count++] = fd;   /* kept open: descriptors run out */
}

int main(void)
{
	struct sockaddr_in sin = loopback();
	socklen_t sl = sizeof sin;
	int clients[FISHERMEN];
	struct event_base *base;
	struct evconnlistener *door;

	event_set_log_callback(count_warning);
	base = event_base_new();
	if (base == NULL)
		die("event_base_new");
	/* No evconnlistener_set_error_cb(): the pitfall. */
	door = evconnlistener_new_bind(base, accepted, NULL, LEV_OPT_CLOSE_ON_FREE,
	                               FISHERMEN, (struct sockaddr *)&sin, sizeof sin);
	if (door == NULL)
		die("evconnlistener_new_bind");
	if (getsockname(evconnlistener_get_fd(door), (struct sockaddr *)&sin, &sl) < 0)
		die("getsockname");
	connect_crowd(&sin, clients, FISHERMEN);
	leave_room_for(clients[FISHERMEN - 1], 2);
	run_for_a_fifth(base);
	printf("listener-emfile: %ld of %d fishermen accepted, then the listener "
	       "woke up and failed accept() %ld times in 0.2 s%s\n", accepted_count,
	       FISHERMEN, warnings, warnings > 1000 ? " (it spins)" : "");
	for (long i = 0; i < accepted_count; i++)
		close(kept[i]);
	for (int i = 0; i < FISHERMEN; i++)
		close(clients[i]);
	evconnlistener_free(door);
	event_base_free(base);
	return 0;
}
