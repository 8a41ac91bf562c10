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
#include <sys/socket.h>
#include <unistd.h>

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
 * One TCP connection over loopback, both ends: *server gets the accepted
 * socket, *client the connecting one (both blocking).  For demonstrations
 * that need a real TCP peer rather than a socketpair.
 */
static inline void tcp_pair(int *server, int *client)
{
	struct sockaddr_in sin = loopback();
	socklen_t sl = sizeof sin;
	int door = socket(AF_INET, SOCK_STREAM, 0);

	if (door < 0 || bind(door, (struct sockaddr *)&sin, sizeof sin) < 0 ||
	    listen(door, 1) < 0 || getsockname(door, (struct sockaddr *)&sin, &sl) < 0)
		die("listen");
	*client = socket(AF_INET, SOCK_STREAM, 0);
	if (*client < 0 || connect(*client, (struct sockaddr *)&sin, sizeof sin) < 0)
		die("connect");
	*server = accept(door, NULL, NULL);
	if (*server < 0)
		die("accept");
	close(door);
}

#endif
