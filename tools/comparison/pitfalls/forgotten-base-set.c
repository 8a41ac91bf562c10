/*
 * Pitfall 7.1, the 1.x API with more than one base: event_init() replaces
 * the hidden current base, and event_set() ties an event to it.
 *
 * 1. Two bases made by event_init(), as v1-style makes one per fishmonger:
 *    an event made with event_set() for the first, its event_base_set()
 *    forgotten, belongs to the base made last.  The first base's loop never
 *    runs its callback; the last one's does (in v1-style, on another
 *    thread).
 * 2. One base, then a second event_init() (a library calling it, say):
 *    event_loop() now runs the new current base, and an event made before
 *    it, ready to fire, is never run.
 */
#include <unistd.h>

#include <event.h>

#include "demo.h"

static int runs;

static void count(int fd, short what, void *arg)
{
	char byte;

	(void)what;
	(void)arg;
	if (read(fd, &byte, 1) == 1)
		runs++;
}

/* A pipe with one byte in it: its read end is readable at once. */
static void ready_pipe(int p[2])
{
	if (pipe(p) < 0)
		die("pipe");
	if (write(p[1], "x", 1) != 1)
		die("write");
}

int main(void)
{
	struct event_base *first, *last;
	struct event ev;
	int p[2], in_first, in_last;

	/* 1. A base per fishmonger, the first's event left where it landed. */
	first = event_init();
	last = event_init();
	ready_pipe(p);
	event_set(&ev, p[0], EV_READ, count, NULL);
	/* event_base_set(first, &ev) forgotten here. */
	if (event_add(&ev, NULL) < 0)
		die("event_add");
	runs = 0;
	event_base_loop(first, EVLOOP_NONBLOCK);
	in_first = runs;
	event_base_loop(last, EVLOOP_NONBLOCK);
	in_last = runs - in_first;
	printf("forgotten-base-set: two bases from event_init(); an event_set() "
	       "for the first without event_base_set() ran %d time(s) in the "
	       "first base's loop, %d in the loop of the base made last\n",
	       in_first, in_last);
	event_del(&ev);
	close(p[0]);
	close(p[1]);
	event_base_free(last);
	event_base_free(first);

	/* 2. A second event_init() orphans the events made before it. */
	first = event_init();
	ready_pipe(p);
	event_set(&ev, p[0], EV_READ, count, NULL);
	if (event_add(&ev, NULL) < 0)
		die("event_add");
	last = event_init();
	runs = 0;
	event_loop(EVLOOP_NONBLOCK);
	printf("forgotten-base-set: after a second event_init(), event_loop() "
	       "ran an event made before it, ready to fire, %d time(s)\n", runs);
	event_del(&ev);
	close(p[0]);
	close(p[1]);
	event_base_free(last);
	event_base_free(first);
	return 0;
}
