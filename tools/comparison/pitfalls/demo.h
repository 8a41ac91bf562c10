/*
 * demo.h - what the pitfall demonstrations share.  Each one is a small
 * program that makes one pitfall of COMPARISON.md happen (a section 7
 * pitfall, or a flaw of the original article listed in section 8), on this
 * machine's libevent and kernel, and prints what it saw.  They print
 * figures; they assert nothing (`make comparison-pitfalls`).
 */
#ifndef FISH_PITFALL_DEMO_H
#define FISH_PITFALL_DEMO_H

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

/* One clear line and out: a demonstration that cannot set itself up. */
static inline void die(const char *what)
{
	fprintf(stderr, "pitfall demo: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* 127.0.0.1, port 0 (the kernel picks): every demo listens there only. */
static inline struct sockaddr_in loopback(void)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sin;
}

/*
 * A listening socket (blocking) on loopback with this backlog; *sin gets
 * the port the kernel picked.
 */
static inline int listen_loopback(int backlog, struct sockaddr_in *sin)
{
	socklen_t sl = sizeof *sin;
	int door = socket(AF_INET, SOCK_STREAM, 0);

	*sin = loopback();
	if (door < 0 || bind(door, (struct sockaddr *)sin, sizeof *sin) < 0 ||
	    listen(door, backlog) < 0 || getsockname(door, (struct sockaddr *)sin, &sl) < 0)
		die("listen");
	return door;
}

/* n fishermen connect (blocking connects: each waits in the backlog). */
static inline void connect_crowd(const struct sockaddr_in *sin, int *clients, int n)
{
	for (int i = 0; i < n; i++) {
		clients[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (clients[i] < 0 ||
		    connect(clients[i], (const struct sockaddr *)sin, sizeof *sin) < 0)
			die("connect");
	}
}

/* Room for exactly `more` descriptors above the highest one open now. */
static inline void leave_room_for(int highest, int more)
{
	struct rlimit rl;

	rl.rlim_cur = (rlim_t)highest + 1 + (rlim_t)more;
	rl.rlim_max = rl.rlim_cur;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("setrlimit");
}

/*
 * One TCP connection over loopback, both ends: *server gets the accepted
 * socket, *client the connecting one (both blocking).  For demonstrations
 * that need a real TCP peer rather than a socketpair.
 */
static inline void tcp_pair(int *server, int *client)
{
	struct sockaddr_in sin;
	int door = listen_loopback(1, &sin);

	connect_crowd(&sin, client, 1);
	*server = accept(door, NULL, NULL);
	if (*server < 0)
		die("accept");
	close(door);
}

/*
 * A bufferevent (BEV_OPT_CLOSE_ON_FREE) on one end of a socketpair, made
 * non-blocking; *peer gets the other end, blocking.
 */
static inline struct bufferevent *socketpair_bufferevent(struct event_base *base,
                                                         int *peer)
{
	int sv[2];
	struct bufferevent *bev;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		die("socketpair");
	if (evutil_make_socket_nonblocking(sv[0]) < 0)
		die("evutil_make_socket_nonblocking");
	bev = bufferevent_socket_new(base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		die("bufferevent_socket_new");
	*peer = sv[1];
	return bev;
}

static inline void demo_time_up(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* Run the loop for 0.2 s: how the spinning demonstrations count. */
static inline void run_for_a_fifth(struct event_base *base)
{
	struct timeval fifth = { 0, 200000 };

	if (event_base_once(base, -1, EV_TIMEOUT, demo_time_up, base, &fifth) < 0)
		die("event_base_once");
	if (event_base_dispatch(base) < 0)
		die("event_base_dispatch");
}

#endif
