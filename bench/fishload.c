/*
 * fishload - load generator for the fish exchange (docs/fish-exchange.md).
 *
 *     fishload MODE [-a ADDR] -p PORT [-n CONC] [--count N] [--seconds S]
 *                   [--timeout S] [--batch LINES] [--window BATCHES]
 *                   [--sources K] [--connecting N] [--hold-seconds S]
 *                   [--quickack] [-q]
 *
 * Modes:
 *   fishermen  Each fisherman connects, sends his whole catch in one write,
 *              half-closes, reads until EOF and checks that the last tally
 *              is what the price list says.  CONC of them are in flight.
 *              Reports fishermen per second and latency percentiles.
 *   pipeline   CONC persistent connections each send batches of LINES lines,
 *              up to BATCHES of them unanswered, and check every running
 *              tally.  Reports lines per second.
 *   hold       Opens CONC connections, has each paid once, prints
 *              "held N" when all are, then holds them until SIGINT/SIGTERM,
 *              EOF on standard input (if it is a pipe or terminal) or
 *              --hold-seconds, and closes them.
 *
 * Every reply is checked; any mismatch, ERROR line, refused or reset
 * connection counts as an error, and the exit status is 1 if there was
 * one.  The last line on stdout is machine-readable:
 *
 *     RESULT mode=fishermen count=... fps=... p50_us=... errors=0
 *
 * Single-threaded, non-blocking, edge-triggered epoll: the load generator
 * must cost less per fisherman than the server it measures, or it measures
 * itself.  It does not link libfishcommon: the expected tallies come from
 * its own copy of the price list (section 4), so a bug in the server's
 * parser cannot hide behind the same bug in the checker.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* The price list and the catches                                      */
/* ------------------------------------------------------------------ */

struct fish_price {
	const char *name;
	uint32_t price;
};

/* Section 4 of the contract, typed in again on purpose (see above). */
static const struct fish_price price_list[] = {
	{"bream", 5},    {"cod", 8},     {"haddock", 9}, {"halibut", 14},
	{"mackerel", 4}, {"plaice", 6},  {"salmon", 12}, {"sardine", 3},
	{"trout", 7},    {"tuna", 15},
};

/* One line of a catch: count pounds of fish; fish NULL is a blank line. */
struct pool_line {
	uint32_t count;
	const char *fish;
};

/*
 * The lines catches are cut from.  Mixed case, fish not on the list
 * (worth 0), a blank line and the largest count: the server must get all
 * of them right, not just the easy ones.
 */
static const struct pool_line pool[] = {
	{3, "cod"},       {2, "Tuna"},      {10, "sardine"}, {1, "HALIBUT"},
	{4, "trout"},     {0, NULL},        {7, "haddock"},  {2, "whale"},
	{12, "Mackerel"}, {5, "plaice"},    {1000000, "tuna"}, {6, "bream"},
	{9, "salmon"},    {0, "cod"},       {11, "lobster"}, {8, "SaLmOn"},
};
#define POOL_LEN (sizeof pool / sizeof pool[0])

/*
 * How line j is spelled: every separator, unit and line end the grammar
 * allows turns up.  Blank lines alternate between "\n" and " \t\r\n".
 */
static int format_line(char *buf, size_t len, const struct pool_line *pl,
                       unsigned style)
{
	if (pl->fish == NULL)
		return snprintf(buf, len, "%s", style % 2 ? " \t\r\n" : "\n");
	switch (style % 4) {
	case 0:  return snprintf(buf, len, "%" PRIu32 " pounds of %s\n", pl->count, pl->fish);
	case 1:  return snprintf(buf, len, "%" PRIu32 " lb of %s\r\n", pl->count, pl->fish);
	case 2:  return snprintf(buf, len, "  %" PRIu32 "\tlbs   of  %s \n", pl->count, pl->fish);
	default: return snprintf(buf, len, "%03" PRIu32 " POUND OF %s\n", pl->count, pl->fish);
	}
}

static uint64_t line_value(const struct pool_line *pl)
{
	if (pl->fish == NULL)
		return 0;
	for (size_t i = 0; i < sizeof price_list / sizeof price_list[0]; i++)
		if (strcasecmp(pl->fish, price_list[i].name) == 0)
			return (uint64_t)pl->count * price_list[i].price;
	return 0;   /* not on the list: worth nothing, not an error */
}

/*
 * A catch as sent: its text, and what a correct server may answer.  A
 * reply is the tally after some whole number of lines, so it must be one
 * of the prefix sums; repeated batches make the prefix sums periodic:
 * prefix(k * lines + j) = k * total + prefix[j].
 */
struct catch_text {
	char *text;
	size_t len;
	uint32_t lines;
	uint64_t total;
	uint64_t *prefix;     /* lines + 1 sums, prefix[0] = 0 */
	size_t *line_end;     /* offset just past line j's LF */
	uint64_t *residues;   /* sorted prefix[j] % total, j < lines */
	size_t nresidues;
};

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (p == NULL) {
		fprintf(stderr, "fishload: out of memory\n");
		exit(1);
	}
	return p;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* `lines` lines of the pool, starting at pool line `start`. */
static void catch_make(struct catch_text *c, unsigned start, uint32_t lines)
{
	char line[128];
	size_t cap = 64;

	memset(c, 0, sizeof *c);
	c->lines = lines;
	c->text = xcalloc(cap, 1);
	c->prefix = xcalloc(lines + 1, sizeof *c->prefix);
	c->line_end = xcalloc(lines, sizeof *c->line_end);
	for (uint32_t j = 0; j < lines; j++) {
		const struct pool_line *pl = &pool[(start + j) % POOL_LEN];
		int n = format_line(line, sizeof line, pl, start + j);
		if (c->len + (size_t)n + 1 > cap) {
			while (c->len + (size_t)n + 1 > cap)
				cap *= 2;
			char *t = realloc(c->text, cap);
			if (t == NULL) {
				fprintf(stderr, "fishload: out of memory\n");
				exit(1);
			}
			c->text = t;
		}
		memcpy(c->text + c->len, line, (size_t)n);
		c->len += (size_t)n;
		c->line_end[j] = c->len;
		c->prefix[j + 1] = c->prefix[j] + line_value(pl);
	}
	c->total = c->prefix[lines];
	c->residues = xcalloc(lines, sizeof *c->residues);
	if (c->total > 0) {
		for (uint32_t j = 0; j < lines; j++)
			c->residues[j] = c->prefix[j] % c->total;
		qsort(c->residues, lines, sizeof *c->residues, cmp_u64);
		size_t u = 0;
		for (uint32_t j = 0; j < lines; j++)
			if (u == 0 || c->residues[u - 1] != c->residues[j])
				c->residues[u++] = c->residues[j];
		c->nresidues = u;
	}
}

/* Repeat the text `times` times; len stays one batch (see conn_send). */
static void catch_repeat(struct catch_text *c, unsigned times)
{
	char *t = xcalloc(times, c->len);
	for (unsigned i = 0; i < times; i++)
		memcpy(t + (size_t)i * c->len, c->text, c->len);
	free(c->text);
	c->text = t;
}

static void catch_free(struct catch_text *c)
{
	free(c->residues);
	free(c->line_end);
	free(c->prefix);
	free(c->text);
}

/* The tally owed once `bytes` bytes of repeated batches have been sent. */
static uint64_t catch_owed(const struct catch_text *c, uint64_t bytes)
{
	uint64_t full = bytes / c->len;
	size_t off = (size_t)(bytes % c->len);
	uint32_t k = 0;
	while (k < c->lines && c->line_end[k] <= off)
		k++;
	return full * c->total + c->prefix[k];
}

/* Is reply a tally at some line boundary?  (Bounds checked by caller.) */
static bool catch_valid(const struct catch_text *c, uint64_t reply)
{
	if (c->total == 0)
		return reply == 0;
	uint64_t r = reply % c->total;
	return bsearch(&r, c->residues, c->nresidues, sizeof r, cmp_u64) != NULL;
}

/* ------------------------------------------------------------------ */
/* Run state                                                           */
/* ------------------------------------------------------------------ */

enum mode { MODE_FISHERMEN, MODE_PIPELINE, MODE_HOLD };
static const char *const mode_names[] = {"fishermen", "pipeline", "hold"};

enum state { ST_FREE, ST_CONNECTING, ST_OPEN, ST_HALF_CLOSED, ST_PAID };

struct conn {
	int fd;
	enum state state;
	const struct catch_text *c;
	uint64_t sent;         /* bytes written on this connection */
	uint64_t last;         /* last tally received */
	bool replied;
	uint32_t id;           /* slot number, for messages and source address */
	uint32_t serial;       /* the how-many-th connection this is */
	uint64_t started_ns;   /* connect() call, for latency */
	char rbuf[32];         /* a reply split across reads */
	unsigned rlen;
};

#define NCATCHES 4

static struct {
	enum mode mode;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	unsigned conc;
	uint64_t count;            /* fishermen, pipeline lines; 0 = no limit */
	double seconds;            /* 0 = no limit */
	double timeout;
	double hold_seconds;
	uint32_t batch;
	unsigned window;
	unsigned sources;
	unsigned max_connecting;
	bool quiet;
	bool quickack;

	int ep, sigfd;
	struct conn *conns;
	struct catch_text catches[NCATCHES];  /* fishermen and hold */
	struct catch_text pipe;               /* pipeline */

	uint64_t t0_ns;
	bool stop;                 /* start no more work */
	const char *stop_why;
	unsigned inflight, connecting;
	uint64_t started, done, errors;
	uint64_t lines_done, replies;
	uint64_t pipe_batches;     /* batches begun, all connections */
	unsigned held, held_peak;
	unsigned *free_slots;      /* stack of idle conns[] indices */
	unsigned nfree;
	uint32_t *lat_us;
	size_t nlat, caplat;
} g = {
	.conc = 100,
	.timeout = 60,
	.batch = 32,
	.window = 4,
	.sources = 8,
	.max_connecting = 1000,
	.ep = -1,
	.sigfd = -1,
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double elapsed(void)
{
	return (double)(now_ns() - g.t0_ns) / 1e9;
}

/* Count an error; say what it was for the first few. */
__attribute__((format(printf, 2, 3)))
static void fail(const struct conn *c, const char *fmt, ...)
{
	va_list ap;

	g.errors++;
	if (g.errors > 10)
		return;
	if (c != NULL)
		fprintf(stderr, "fishload: connection %" PRIu32 ": ", c->id);
	else
		fprintf(stderr, "fishload: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (g.errors == 10)
		fprintf(stderr, "fishload: (further errors not shown)\n");
}

static void record_latency(uint64_t ns)
{
	if (g.nlat == g.caplat) {
		size_t cap = g.caplat ? g.caplat * 2 : 65536;
		uint32_t *p = realloc(g.lat_us, cap * sizeof *p);
		if (p == NULL) {
			fprintf(stderr, "fishload: out of memory\n");
			exit(1);
		}
		g.lat_us = p;
		g.caplat = cap;
	}
	uint64_t us = ns / 1000;
	g.lat_us[g.nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* ------------------------------------------------------------------ */
/* Connections                                                         */
/* ------------------------------------------------------------------ */

static void conn_close(struct conn *c)
{
	close(c->fd);    /* also leaves the epoll set */
	if (c->state == ST_CONNECTING)
		g.connecting--;
	if (c->state == ST_PAID)
		g.held--;
	c->fd = -1;
	c->state = ST_FREE;
	g.inflight--;
	/* Fishermen reuse slots; pipeline and hold open each slot once. */
	if (g.mode == MODE_FISHERMEN)
		g.free_slots[g.nfree++] = c->id;
}

static void conn_error(struct conn *c, const char *what, int err)
{
	fail(c, "%s: %s", what, strerror(err));
	conn_close(c);
}

/*
 * Open one connection.  Each is bound to one of several 127.0.0.x source
 * addresses first: a fisherman who half-closes first leaves his end in
 * TIME_WAIT for 60 s, and one source address has only ~28000 ephemeral
 * ports.  IP_BIND_ADDRESS_NO_PORT defers picking the port to connect(),
 * where the kernel can reuse it for another destination; without it, bind()
 * with port 0 reserves a port for every destination at once.
 */
static bool conn_start(struct conn *c, const struct catch_text *ct)
{
	g.started++;
	int fd = socket(g.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fail(NULL, "socket: %s", strerror(errno));
		if (g.mode == MODE_FISHERMEN)
			g.free_slots[g.nfree++] = c->id;
		return false;
	}
	c->fd = fd;
	c->state = ST_CONNECTING;
	c->c = ct;
	c->sent = 0;
	c->last = 0;
	c->replied = false;
	c->rlen = 0;
	g.inflight++;
	g.connecting++;

	if (g.sources > 0 && g.addr.ss_family == AF_INET) {
		int one = 1;
		struct sockaddr_in src = {.sin_family = AF_INET};
		src.sin_addr.s_addr = htonl(0x7f000002u + c->id % g.sources);
		if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) < 0) {
			conn_error(c, "IP_BIND_ADDRESS_NO_PORT", errno);
			return false;
		}
		if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
			conn_error(c, "bind source address", errno);
			return false;
		}
	}
	/*
	 * Every send is a whole catch or batch, never a dribble: Nagle would
	 * only hold a batch back until the previous one is acknowledged, and
	 * the run would measure delayed ACKs instead of the server.
	 */
	int nodelay = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof nodelay) < 0) {
		conn_error(c, "TCP_NODELAY", errno);
		return false;
	}
	/*
	 * Edge-triggered, in and out at once: one epoll_ctl per connection.
	 * The out edge says the connect finished; after that we write until
	 * EAGAIN and read until EAGAIN, so no edge is lost.
	 */
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
	                         .data.ptr = c};
	if (epoll_ctl(g.ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		conn_error(c, "epoll_ctl", errno);
		return false;
	}
	c->started_ns = now_ns();
	if (connect(fd, (struct sockaddr *)&g.addr, g.addrlen) < 0 && errno != EINPROGRESS) {
		conn_error(c, "connect", errno);
		return false;
	}
	return true;
}

/*
 * How many bytes are due: the rest of the catch (fishermen, hold), or, in
 * a pipeline, the rest of the current batch plus as many whole batches as
 * the window has room for, all in one send() - a load generator that
 * spends a syscall per batch runs out of CPU before the server does.
 */
static size_t conn_due(const struct conn *c, size_t off)
{
	const struct catch_text *ct = c->c;

	if (g.mode != MODE_PIPELINE)
		return c->sent < ct->len ? ct->len - off : 0;
	uint64_t begun = (c->sent + ct->len - 1) / ct->len;
	uint64_t answered = c->last / ct->total;
	uint64_t room = g.stop || begun - answered >= g.window
	                ? 0 : g.window - (begun - answered);
	if (g.count) {
		uint64_t done = g.pipe_batches * ct->lines;
		uint64_t left = done >= g.count ? 0 : (g.count - done + ct->lines - 1) / ct->lines;
		if (room > left)
			room = left;
	}
	return (off ? ct->len - off : 0) + (size_t)room * ct->len;
}

/* Write what is due; false if the connection was closed. */
static bool conn_send(struct conn *c)
{
	const struct catch_text *ct = c->c;

	for (;;) {
		size_t off = (size_t)(c->sent % ct->len);
		size_t due = conn_due(c, off);
		if (due == 0)
			break;
		/* The pipeline text holds window + 1 batches: any off + due fits. */
		ssize_t n = send(c->fd, ct->text + off, due, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return true;   /* the out edge will call us again */
			if (errno == EINTR)
				continue;
			conn_error(c, "send", errno);
			return false;
		}
		if (g.mode == MODE_PIPELINE) {
			uint64_t before = (c->sent + ct->len - 1) / ct->len;
			uint64_t after = (c->sent + (uint64_t)n + ct->len - 1) / ct->len;
			g.pipe_batches += after - before;
			if (g.count && g.pipe_batches * ct->lines >= g.count && !g.stop) {
				g.stop = true;
				g.stop_why = "count";
			}
		}
		c->sent += (uint64_t)n;
	}
	/* Fishermen: catch out, half-close.  Pipeline: stopped at a batch end. */
	if (c->state == ST_OPEN && c->sent % ct->len == 0 &&
	    ((g.mode == MODE_FISHERMEN && c->sent == ct->len) ||
	     (g.mode == MODE_PIPELINE && g.stop))) {
		if (shutdown(c->fd, SHUT_WR) < 0) {
			conn_error(c, "shutdown", errno);
			return false;
		}
		c->state = ST_HALF_CLOSED;
	}
	return true;
}

/* One reply line (without CRLF); false if the connection was closed. */
static bool conn_reply(struct conn *c, const char *line, size_t len)
{
	uint64_t v = 0;

	if (len >= 5 && memcmp(line, "ERROR", 5) == 0) {
		fail(c, "server said \"%.*s\"", (int)len, line);
		conn_close(c);
		return false;
	}
	if (len == 0 || len > 19) {
		fail(c, "bad reply \"%.*s\"", (int)len, line);
		conn_close(c);
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		if (line[i] < '0' || line[i] > '9') {
			fail(c, "bad reply \"%.*s\"", (int)len, line);
			conn_close(c);
			return false;
		}
		v = v * 10 + (uint64_t)(line[i] - '0');
	}
	uint64_t owed = catch_owed(c->c, c->sent);
	if ((c->replied && v < c->last) || v > owed || !catch_valid(c->c, v)) {
		fail(c, "tally %" PRIu64 " is no running total of what was sent "
		     "(last %" PRIu64 ", owed at most %" PRIu64 ")", v, c->last, owed);
		conn_close(c);
		return false;
	}
	g.replies++;
	c->last = v;
	c->replied = true;
	if (g.mode == MODE_HOLD && c->state == ST_OPEN && v == c->c->total &&
	    c->sent == c->c->len) {
		c->state = ST_PAID;
		if (++g.held > g.held_peak)
			g.held_peak = g.held;
	}
	return true;
}

/* The server closed: was everything paid? */
static void conn_eof(struct conn *c)
{
	if (c->state != ST_HALF_CLOSED) {
		fail(c, "server closed the connection early");
		conn_close(c);
		return;
	}
	uint64_t owed = catch_owed(c->c, c->sent);
	if (!c->replied || c->last != owed || c->rlen != 0) {
		fail(c, "last tally %" PRIu64 "%s, owed %" PRIu64,
		     c->last, c->replied ? "" : " (no reply at all)", owed);
		conn_close(c);
		return;
	}
	if (g.mode == MODE_FISHERMEN)
		record_latency(now_ns() - c->started_ns);
	g.lines_done += c->sent / c->c->len * c->c->lines;
	g.done++;
	conn_close(c);
}

/* Read until EAGAIN; false if the connection was closed. */
static bool conn_read(struct conn *c)
{
	char buf[4096];

	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof buf, 0);
		if (n == 0) {
			conn_eof(c);
			return false;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return true;
			if (errno == EINTR)
				continue;
			conn_error(c, "recv", errno);
			return false;
		}
		/*
		 * Pipeline: acknowledge at once.  The servers leave Nagle on, so
		 * a reply written while the previous one is unacknowledged waits
		 * for our ACK; a delayed ACK (up to 40 ms) would then stall the
		 * window and the run would time the ACK timer, not the server.
		 * TCP_QUICKACK is not sticky: it is set again after every read.
		 */
		if (g.mode == MODE_PIPELINE && g.quickack) {
			int one = 1;
			setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
		}
		for (ssize_t i = 0; i < n; i++) {
			char ch = buf[i];
			if (ch == '\n') {
				if (c->rlen == 0 || c->rbuf[c->rlen - 1] != '\r') {
					fail(c, "reply not ended by CRLF");
					conn_close(c);
					return false;
				}
				if (!conn_reply(c, c->rbuf, c->rlen - 1))
					return false;
				c->rlen = 0;
			} else if (c->rlen < sizeof c->rbuf) {
				c->rbuf[c->rlen++] = ch;
			} else {
				fail(c, "reply longer than %zu bytes", sizeof c->rbuf);
				conn_close(c);
				return false;
			}
		}
	}
}

static void conn_event(struct conn *c, uint32_t events)
{
	if (c->state == ST_CONNECTING) {
		if (events & EPOLLERR) {
			int err = 0;
			socklen_t len = sizeof err;
			getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
			conn_error(c, "connect", err ? err : EIO);
			return;
		}
		if (!(events & (EPOLLOUT | EPOLLIN | EPOLLHUP)))
			return;
		c->state = ST_OPEN;
		g.connecting--;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		if (!conn_read(c))
			return;
	if (c->state != ST_PAID)
		conn_send(c);
}

/* ------------------------------------------------------------------ */
/* The run                                                             */
/* ------------------------------------------------------------------ */

static const struct catch_text *catch_for(uint64_t n)
{
	return g.mode == MODE_PIPELINE ? &g.pipe : &g.catches[n % NCATCHES];
}

/*
 * Start connections while the limits allow.  At most max_connecting
 * connects are outstanding: the contract promises a listen backlog for a
 * burst of 1000, and a SYN dropped from a full backlog is retried only after
 * a second, which would measure the kernel's retransmit timer, not the server.
 */
static void start_more(void)
{
	while (!g.stop && g.nfree > 0 && g.connecting < g.max_connecting) {
		if (g.mode == MODE_FISHERMEN && g.count && g.started >= g.count)
			break;
		struct conn *c = &g.conns[g.free_slots[--g.nfree]];
		c->serial = (uint32_t)g.started;
		conn_start(c, catch_for(g.started));
	}
}

static void raise_nofile(unsigned need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)need + 16) {
		fprintf(stderr, "fishload: %u connections need %u file descriptors, "
		        "the limit is %llu (raise ulimit -Hn)\n", need, need + 16,
		        (unsigned long long)rl.rlim_cur);
		exit(1);
	}
}

static void progress(double t)
{
	if (g.quiet)
		return;
	if (g.mode == MODE_FISHERMEN)
		fprintf(stderr, "fishload: %5.1fs %" PRIu64 " fishermen paid (%.0f/s), %u in flight, %" PRIu64 " errors\n",
		        t, g.done, (double)g.done / t, g.inflight, g.errors);
	else if (g.mode == MODE_PIPELINE)
		fprintf(stderr, "fishload: %5.1fs %" PRIu64 " lines sent, %" PRIu64 " replies, %u connections, %" PRIu64 " errors\n",
		        t, g.pipe_batches * g.pipe.lines, g.replies, g.inflight, g.errors);
	else
		fprintf(stderr, "fishload: %5.1fs %u of %u held, %u connecting, %" PRIu64 " errors\n",
		        t, g.held, g.conc, g.connecting, g.errors);
}

static int sig_tag, stdin_tag;

static void stop_pipeline(void)
{
	for (unsigned i = 0; i < g.conc; i++) {
		struct conn *c = &g.conns[i];
		if (c->state == ST_OPEN)
			conn_send(c);   /* finishes its batch, then half-closes */
	}
}

/* Returns true if stdin was added to the epoll set. */
static bool watch_stdin(void)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &stdin_tag};
	/* EPERM: a regular file or /dev/null, which never "closes". */
	return epoll_ctl(g.ep, EPOLL_CTL_ADD, STDIN_FILENO, &ev) == 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static uint32_t percentile(double q)
{
	if (g.nlat == 0)
		return 0;
	size_t rank = (size_t)(q * (double)g.nlat + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > g.nlat)
		rank = g.nlat;
	return g.lat_us[rank - 1];
}

static void usage(FILE *out)
{
	fprintf(out,
	    "usage: fishload fishermen|pipeline|hold [-a ADDR] -p PORT [-n CONC]\n"
	    "                [--count N] [--seconds S] [--timeout S] [--batch LINES]\n"
	    "                [--window BATCHES] [--sources K] [--connecting N]\n"
	    "                [--hold-seconds S] [--quickack] [-q]\n"
	    "  -a, --addr ADDR       server address (default 127.0.0.1)\n"
	    "  -p, --port PORT       server port (required)\n"
	    "  -n, --concurrency N   fishermen in flight / connections (default 100)\n"
	    "      --count N         fishermen (pipeline: lines) to send, then stop\n"
	    "      --seconds S       stop starting new work after S seconds\n"
	    "      --timeout S       hard limit: fail if not done after S s (default 60)\n"
	    "      --batch LINES     pipeline: lines per batch (default 32)\n"
	    "      --window B        pipeline: unanswered batches per connection (default 4)\n"
	    "      --sources K       bind to 127.0.0.2 .. 127.0.0.K+1 (default 8, 0 = off)\n"
	    "      --connecting N    connects outstanding at once (default 1000)\n"
	    "      --hold-seconds S  hold: release after S s (default: on signal/stdin EOF)\n"
	    "      --quickack        pipeline: TCP_QUICKACK after every read\n"
	    "  -q, --quiet           no progress lines\n");
}

static double parse_num(const char *opt, const char *s, double lo, double hi)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi)) {
		fprintf(stderr, "fishload: bad value for %s: %s\n", opt, s);
		usage(stderr);
		exit(2);
	}
	return v;
}

static void parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"addr", required_argument, NULL, 'a'},
		{"port", required_argument, NULL, 'p'},
		{"concurrency", required_argument, NULL, 'n'},
		{"count", required_argument, NULL, 'C'},
		{"seconds", required_argument, NULL, 'S'},
		{"timeout", required_argument, NULL, 'T'},
		{"batch", required_argument, NULL, 'B'},
		{"window", required_argument, NULL, 'W'},
		{"sources", required_argument, NULL, 'K'},
		{"connecting", required_argument, NULL, 'X'},
		{"hold-seconds", required_argument, NULL, 'H'},
		{"quiet", no_argument, NULL, 'q'},
		{"quickack", no_argument, NULL, 'Q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *addr = "127.0.0.1";
	long port = -1;
	int ch;

	while ((ch = getopt_long(argc, argv, "a:p:n:qh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a': addr = optarg; break;
		case 'p': port = (long)parse_num("-p", optarg, 1, 65535); break;
		case 'n': g.conc = (unsigned)parse_num("-n", optarg, 1, 1000000); break;
		case 'C': g.count = (uint64_t)parse_num("--count", optarg, 1, 1e15); break;
		case 'S': g.seconds = parse_num("--seconds", optarg, 0.001, 86400); break;
		case 'T': g.timeout = parse_num("--timeout", optarg, 0.001, 86400); break;
		case 'B': g.batch = (uint32_t)parse_num("--batch", optarg, 1, 100000); break;
		case 'W': g.window = (unsigned)parse_num("--window", optarg, 1, 1000000); break;
		case 'K': g.sources = (unsigned)parse_num("--sources", optarg, 0, 250); break;
		case 'X': g.max_connecting = (unsigned)parse_num("--connecting", optarg, 1, 1000000); break;
		case 'H': g.hold_seconds = parse_num("--hold-seconds", optarg, 0.001, 86400); break;
		case 'q': g.quiet = true; break;
		case 'Q': g.quickack = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc - 1 || port < 0) {
		usage(stderr);
		exit(2);
	}
	const char *m = argv[optind];
	unsigned k = 0;
	while (k < 3 && strcmp(m, mode_names[k]) != 0)
		k++;
	if (k == 3) {
		fprintf(stderr, "fishload: unknown mode %s\n", m);
		usage(stderr);
		exit(2);
	}
	g.mode = (enum mode)k;
	if (g.mode == MODE_FISHERMEN && !g.count && !g.seconds) {
		fprintf(stderr, "fishload: fishermen needs --count or --seconds\n");
		exit(2);
	}
	if (g.mode == MODE_PIPELINE && !g.count && !g.seconds) {
		fprintf(stderr, "fishload: pipeline needs --count or --seconds\n");
		exit(2);
	}

	struct sockaddr_in *sin = (struct sockaddr_in *)&g.addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&g.addr;
	memset(&g.addr, 0, sizeof g.addr);
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		g.addrlen = sizeof *sin;
		/* Sources in 127/8 reach only a server in 127/8. */
		if ((ntohl(sin->sin_addr.s_addr) >> 24) != 127)
			g.sources = 0;
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		g.addrlen = sizeof *sin6;
	} else {
		fprintf(stderr, "fishload: not a numeric address: %s\n", addr);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	raise_nofile(g.conc);

	/* Catches of 5, 3, 9 and 16 lines, cut from different parts of the pool. */
	static const unsigned starts[NCATCHES] = {0, 5, 8, 3};
	static const uint32_t lens[NCATCHES] = {5, 3, 9, 16};
	for (unsigned i = 0; i < NCATCHES; i++)
		catch_make(&g.catches[i], starts[i], lens[i]);
	catch_make(&g.pipe, 0, g.batch);
	if (g.mode == MODE_PIPELINE && g.pipe.total == 0) {
		fprintf(stderr, "fishload: a pipeline batch must be worth something\n");
		return 2;
	}
	if ((double)g.pipe.len * (g.window + 1) > 64.0 * 1024 * 1024) {
		fprintf(stderr, "fishload: --batch times --window is too large\n");
		return 2;
	}
	catch_repeat(&g.pipe, g.window + 1);

	g.ep = epoll_create1(EPOLL_CLOEXEC);
	if (g.ep < 0) {
		fprintf(stderr, "fishload: epoll_create1: %s\n", strerror(errno));
		return 1;
	}
	/* Signals arrive as a readable fd: no race with epoll_wait. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	g.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &sig_tag};
	if (g.sigfd < 0 || epoll_ctl(g.ep, EPOLL_CTL_ADD, g.sigfd, &sev) < 0) {
		fprintf(stderr, "fishload: signalfd: %s\n", strerror(errno));
		return 1;
	}

	g.conns = xcalloc(g.conc, sizeof *g.conns);
	g.free_slots = xcalloc(g.conc, sizeof *g.free_slots);
	for (unsigned i = 0; i < g.conc; i++) {
		g.conns[i].fd = -1;
		g.conns[i].id = i;
		g.free_slots[g.nfree++] = g.conc - 1 - i;   /* slot 0 on top */
	}

	enum { MAXEV = 512 };
	struct epoll_event evs[MAXEV];
	g.t0_ns = now_ns();
	double next_progress = 3.0, hold_until = 0, end_t = 0;
	bool holding = false, timed_out = false;

	for (;;) {
		start_more();
		bool all_started = g.mode == MODE_FISHERMEN
		                   ? g.count && g.started >= g.count
		                   : g.started == g.conc;
		if (g.inflight == 0 && (g.stop || all_started))
			break;

		int n = epoll_wait(g.ep, evs, MAXEV, 100);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "fishload: epoll_wait: %s\n", strerror(errno));
			return 1;
		}
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &sig_tag) {
				struct signalfd_siginfo si;
				while (read(g.sigfd, &si, sizeof si) > 0)
					;
				if (!g.stop) {
					g.stop = true;
					g.stop_why = "signal";
				}
			} else if (p != &stdin_tag) {
				struct conn *c = p;
				if (c->state != ST_FREE)
					conn_event(c, evs[i].events);
			} else {
				/* stdin: readable means data or EOF; only EOF ends the hold. */
				char buf[256];
				ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
				if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
					epoll_ctl(g.ep, EPOLL_CTL_DEL, STDIN_FILENO, NULL);
					if (!g.stop) {
						g.stop = true;
						g.stop_why = "stdin closed";
					}
				}
			}
		}

		double t = elapsed();
		if (!g.stop && g.seconds && t >= g.seconds && g.mode != MODE_HOLD) {
			g.stop = true;
			g.stop_why = "seconds";
		}
		/* Hold wants every connection: one error spoils the measurement. */
		if (!g.stop && (g.errors >= 100 || (g.mode == MODE_HOLD && g.errors))) {
			g.stop = true;
			g.stop_why = "errors";
		}
		if (g.mode == MODE_PIPELINE && g.stop)
			stop_pipeline();

		if (g.mode == MODE_HOLD) {
			if (!holding && g.held == g.conc) {
				holding = true;
				printf("held %u\n", g.held);
				fflush(stdout);
				watch_stdin();
				if (g.hold_seconds)
					hold_until = t + g.hold_seconds;
			}
			if (holding && g.held < g.conc && !g.stop) {
				fail(NULL, "%u held connections were closed by the server",
				     g.conc - g.held);
				g.stop = true;
				g.stop_why = "lost connections";
			}
			if (holding && hold_until && t >= hold_until && !g.stop) {
				g.stop = true;
				g.stop_why = "hold-seconds";
			}
			if (g.stop) {
				/* Release: close every held connection. */
				for (unsigned i = 0; i < g.conc; i++)
					if (g.conns[i].state != ST_FREE)
						conn_close(&g.conns[i]);
			}
		}
		if (t >= g.timeout) {
			timed_out = true;
			fprintf(stderr, "fishload: timeout after %.1f s with %u connections "
			        "open (%s)\n", t, g.inflight,
			        g.mode == MODE_HOLD && !holding ? "not all paid yet" : "unfinished");
			g.errors++;
			for (unsigned i = 0; i < g.conc; i++)
				if (g.conns[i].state != ST_FREE)
					conn_close(&g.conns[i]);
			break;
		}
		if (t >= next_progress) {
			progress(t);
			next_progress += 1.0;
		}
	}
	end_t = elapsed();
	if (end_t >= 3.0 && !g.quiet) {
		if (g.mode != MODE_HOLD)   /* held ones are released by now */
			progress(end_t);
		fprintf(stderr, "fishload: stopped (%s)\n", g.stop_why ? g.stop_why : "done");
	}

	/* Every started fisherman must have been paid. */
	if (g.mode != MODE_HOLD && !timed_out && g.done + g.errors < g.started)
		fail(NULL, "%" PRIu64 " connections unaccounted for", g.started - g.done);

	switch (g.mode) {
	case MODE_FISHERMEN:
		qsort(g.lat_us, g.nlat, sizeof *g.lat_us, cmp_u32);
		printf("RESULT mode=fishermen count=%" PRIu64 " concurrency=%u seconds=%.3f "
		       "fps=%.1f p50_us=%" PRIu32 " p99_us=%" PRIu32 " p999_us=%" PRIu32
		       " max_us=%" PRIu32 " errors=%" PRIu64 "\n",
		       g.done, g.conc, end_t, end_t > 0 ? (double)g.done / end_t : 0.0,
		       percentile(0.50), percentile(0.99), percentile(0.999),
		       g.nlat ? g.lat_us[g.nlat - 1] : 0, g.errors);
		break;
	case MODE_PIPELINE:
		printf("RESULT mode=pipeline conns=%u batch=%" PRIu32 " window=%u lines=%" PRIu64
		       " replies=%" PRIu64 " seconds=%.3f lps=%.1f errors=%" PRIu64 "\n",
		       g.conc, g.batch, g.window, g.lines_done, g.replies, end_t,
		       end_t > 0 ? (double)g.lines_done / end_t : 0.0, g.errors);
		break;
	case MODE_HOLD:
		printf("RESULT mode=hold held=%u of=%u seconds=%.3f errors=%" PRIu64 "\n",
		       g.held_peak, g.conc, end_t, g.errors);
		break;
	}
	fflush(stdout);

	free(g.lat_us);
	free(g.free_slots);
	free(g.conns);
	close(g.sigfd);
	close(g.ep);
	catch_free(&g.pipe);
	for (unsigned i = NCATCHES; i-- > 0;)
		catch_free(&g.catches[i]);
	return g.errors ? 1 : 0;
}
