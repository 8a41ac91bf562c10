/*
 * demo.h - what the pitfall demonstrations share.  Each one is a small
 * program that makes one pitfall of COMPARISON.md section 7 happen, on this
 * machine's libevent, and prints one line saying what it saw.  They print
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

#endif
