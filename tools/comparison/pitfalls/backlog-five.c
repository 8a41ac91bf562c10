/*
 * Pitfall 7.7, the backlog: listen(fd, 5), as in the original article's
 * main.  A burst of 50 fishermen connects while the fishmonger is busy
 * (nobody calls accept()).  Count the connects that complete within 0.2 s,
 * and those still in SYN-SENT then: the kernel queues about backlog of them
 * and drops the SYNs of the rest, which the clients resend only after their
 * retransmission timeout.  Then the same with SOMAXCONN.  No libevent here:
 * this is the kernel's queue, whatever loop accepts.
 */
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "demo.h"

#define BURST 50

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Connects of a burst of BURST that completed within 0.2 s; *syn_sent: how
 * many of the others were still waiting for an answer to their SYN.
 */
static int burst(int backlog, int *syn_sent)
{
	struct sockaddr_in sin;
	struct pollfd p[BURST];
	int door = listen_loopback(backlog, &sin), done = 0;
	double deadline;

	for (int i = 0; i < BURST; i++) {
		p[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		p[i].events = POLLOUT;
		if (p[i].fd < 0)
			die("socket");
		if (connect(p[i].fd, (struct sockaddr *)&sin, sizeof sin) < 0 &&
		    errno != EINPROGRESS)
			die("connect");
	}
	/* A connect has completed when the socket is writable without error. */
	deadline = now() + 0.2;
	for (double left; (left = deadline - now()) > 0;) {
		int n = poll(p, BURST, (int)(left * 1000) + 1);
		if (n < 0)
			die("poll");
		for (int i = 0; i < BURST; i++) {
			int err = 0;
			socklen_t el = sizeof err;

			if (p[i].fd < 0 || !(p[i].revents & (POLLOUT | POLLERR)))
				continue;
			if (getsockopt(p[i].fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 &&
			    err == 0)
				done++;
			close(p[i].fd);
			p[i].fd = -1;    /* poll() ignores it from now on */
		}
		if (done == BURST)
			break;
	}
	*syn_sent = 0;
	for (int i = 0; i < BURST; i++) {
		struct tcp_info ti;
		socklen_t tl = sizeof ti;

		if (p[i].fd < 0)
			continue;
		if (getsockopt(p[i].fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0 &&
		    ti.tcpi_state == TCP_SYN_SENT)
			(*syn_sent)++;
		close(p[i].fd);
	}
	close(door);
	return done;
}

int main(void)
{
	int wait5, wait_max;
	int five = burst(5, &wait5), many = burst(SOMAXCONN, &wait_max);

	printf("backlog-five: a burst of %d connects, nobody accepting yet: with "
	       "listen(fd, 5) %d completed within 0.2 s and %d were still in SYN-SENT; "
	       "with listen(fd, SOMAXCONN) %d completed, %d in SYN-SENT\n",
	       BURST, five, wait5, many, wait_max);
	return 0;
}
