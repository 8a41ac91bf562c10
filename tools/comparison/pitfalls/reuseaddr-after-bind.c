/*
 * Pitfall 7.7: SO_REUSEADDR works only if set before bind(), because it is
 * bind() that checks the port for old connections in TIME_WAIT.  A server
 * pays a fisherman, closes first (so its side of the connection waits in
 * TIME_WAIT), stops, and is restarted on the same port.  In the original
 * article's order, bind() then setsockopt(), the restart's bind() fails;
 * with setsockopt() first, it works.  No libevent here: this is the
 * kernel's rule, which v1-style and v2-raw obey in open_warehouse() and
 * v2-listener through LEV_OPT_REUSEABLE.
 */
#include <unistd.h>

#include "demo.h"

/*
 * One server run: bind (SO_REUSEADDR before or after bind(), as the style
 * says), pay one fisherman, close first, stop.  Its side of the connection
 * is left in TIME_WAIT.  Returns 0, or -1 with errno if bind() failed.
 */
static int serve_once(struct sockaddr_in *sin, int reuse_before_bind)
{
	int one = 1;
	socklen_t sl = sizeof *sin;
	char c;
	int door, client, fisherman;

	door = socket(AF_INET, SOCK_STREAM, 0);
	if (door < 0)
		die("socket");
	if (reuse_before_bind &&
	    setsockopt(door, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
		die("setsockopt");
	if (bind(door, (struct sockaddr *)sin, sizeof *sin) < 0) {
		int err = errno;
		close(door);
		errno = err;
		return -1;
	}
	/* The article's order: too late for this bind(), and for the next. */
	if (!reuse_before_bind &&
	    setsockopt(door, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
		die("setsockopt");
	if (listen(door, 1) < 0 || getsockname(door, (struct sockaddr *)sin, &sl) < 0)
		die("listen");
	client = socket(AF_INET, SOCK_STREAM, 0);
	if (client < 0 || connect(client, (struct sockaddr *)sin, sizeof *sin) < 0)
		die("connect");
	fisherman = accept(door, NULL, NULL);
	if (fisherman < 0)
		die("accept");
	close(fisherman);              /* the server closes first ... */
	if (read(client, &c, 1) != 0)  /* ... the fisherman sees end of file ... */
		die("read");
	close(client);                 /* ... and closes: ours waits in TIME_WAIT */
	close(door);
	return 0;
}

/*
 * Is a connection from this local port in TIME_WAIT (state 06 in
 * /proc/net/tcp)?  Not always: when the kernel's TIME_WAIT table is full
 * (net.ipv4.tcp_max_tw_buckets, say under someone's load test), it keeps no
 * entry, and then any restart works, proving nothing.
 */
static int in_time_wait(unsigned port)
{
	char line[512];
	int found = 0;
	FILE *f = fopen("/proc/net/tcp", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		unsigned local_port, state;

		if (sscanf(line, " %*d: %*x:%x %*x:%*x %x", &local_port, &state) == 2 &&
		    local_port == port && state == 0x06)
			found = 1;
	}
	fclose(f);
	return found;
}

int main(void)
{
	for (int before = 0; before <= 1; before++) {
		struct sockaddr_in sin = loopback();
		int restarted, waiting;

		if (serve_once(&sin, before) < 0)
			die("bind");
		waiting = in_time_wait(ntohs(sin.sin_port));
		restarted = serve_once(&sin, before);
		printf("reuseaddr-after-bind: SO_REUSEADDR %s bind(): restarting on the "
		       "same port: %s%s\n", before ? "before" : "after",
		       restarted < 0 ? strerror(errno) : "works",
		       waiting == 0 ? " (but no connection was left in TIME_WAIT: the "
		       "kernel's TIME_WAIT table is full, so this run shows nothing)" : "");
	}
	return 0;
}
