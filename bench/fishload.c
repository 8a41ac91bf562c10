/*
 * fishload - load generator for the fish exchange (docs/fish-exchange.md).
 *
 *     fishload MODE [-a ADDR] -p PORT [-n CONC] [--count N] [--seconds S]
 *                   [--timeout S] [--batch LINES] [--window BATCHES]
 *                   [--sources K] [--connecting N] [--hold-seconds S]
 *                   [--quickack] [--threads T] [-q]
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
 * Non-blocking, edge-triggered epoll: the load generator must cost less
 * per fisherman than the server it measures, or it measures itself.  One
 * thread by default; --threads T runs T event loops, each its own epoll
 * set and its own share of the connections, --count and --connecting, so
 * that a server with several workers can be loaded past what one core of
 * fishload can send.  The threads share nothing on a connection's path
 * (their counters are merged after they are joined), and --threads 1
 * starts no thread at all.  It does not link libfishcommon: the expected tallies come from
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
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
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

struct loader;

struct conn {
	int fd;
	enum state state;
	struct loader *ld;     /* the thread that owns it, from start to close */
	const struct catch_text *c;
	uint64_t sent;         /* bytes written on this connection */
	uint64_t last;         /* last tally received */
	bool replied;
	uint32_t id;           /* number over all threads: messages, source address */
	uint64_t started_ns;   /* connect() call, for latency */
	char rbuf[32];         /* a reply split across reads */
	unsigned rlen;
};

#define NCATCHES 4
#define MAX_THREADS 64

/* The run as asked for: set by main() before any thread starts, then only read. */
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
	unsigned threads;
	bool quiet;
	bool quickack;

	struct catch_text catches[NCATCHES];  /* fishermen and hold */
	struct catch_text pipe;               /* pipeline */
	uint64_t t0_ns;
} cfg = {
	.conc = 100,
	.timeout = 60,
	.batch = 32,
	.window = 4,
	.sources = 8,
	.max_connecting = 1000,
	.threads = 1,
};

/*
 * What the threads tell each other, and nothing else: every field is
 * atomic.  A connection's work never touches it, except to count an error,
 * which is rare; stop_why is read once per loop turn.
 */
static struct {
	_Atomic(const char *) stop_why;  /* non-NULL: every thread stops (why) */
	atomic_uint_fast64_t errors;     /* all threads': message cap, error stop */
	atomic_bool holding;             /* hold: every connection was paid */
	atomic_uint running;             /* threads still in their loop */
} sh;

/*
 * A snapshot of one thread's counters, stored once per loop turn for the
 * progress line and the hold check of thread 0.  Relaxed atomics: one
 * writer, and a reader that only needs a recent value.  The final figures
 * are not read from here but from the loader itself, after pthread_join().
 */
struct published {
	atomic_uint_fast64_t done, errors, replies, batches;
	atomic_uint inflight, connecting, held;
};

/*
 * One thread's share of the run: its own epoll set, its own connections,
 * its own counters.  Nothing here is touched by another thread while the
 * thread runs; main() merges the counters once it has joined them all.
 */
struct loader {
	unsigned index;
	pthread_t thread;
	int ep;
	int wakefd;                /* eventfd: another thread has news for it */
	struct conn *conns;
	unsigned conc;             /* its share of -n */
	uint32_t first_id;         /* conns[i].id = first_id + i */
	uint64_t count;            /* its share of --count (if cfg.count) */
	unsigned max_connecting;   /* its share of --connecting */

	bool stop;                 /* start no more work */
	const char *stop_why;
	bool timed_out;
	uint64_t end_ns;           /* when its share was done (thread 0 waits on) */
	unsigned inflight, connecting;
	uint64_t started, done, errors;
	uint64_t lines_done, replies;
	uint64_t pipe_batches;     /* batches begun, all its connections */
	unsigned held, held_peak;
	unsigned *free_slots;      /* stack of idle conns[] indices */
	unsigned nfree;
	uint32_t *lat_us;
	size_t nlat, caplat;
	struct published pub;
};

static struct loader *loaders;
static int sigfd = -1;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double elapsed(void)
{
	return (double)(now_ns() - cfg.t0_ns) / 1e9;
}

/*
 * Wake a thread out of epoll_wait: it has a stop to follow (any thread),
 * or another thread is done or has its share held (thread 0).  Without it
 * the news would wait for the 100 ms epoll_wait timeout.  A failed write
 * only means the 100 ms wait, so it is not checked.
 */
static void wake(struct loader *ld)
{
	uint64_t one = 1;
	ssize_t n = write(ld->wakefd, &one, sizeof one);
	(void)n;
}

/* Every thread stops starting work; the first reason given is kept. */
static void stop_all(const char *why)
{
	const char *none = NULL;
	if (atomic_compare_exchange_strong(&sh.stop_why, &none, why))
		for (unsigned i = 0; i < cfg.threads; i++)
			wake(&loaders[i]);
}

/*
 * Count an error; say what it was for the first few of the whole run.
 * The message is several stdio calls: lock stderr so that another
 * thread's message cannot land in the middle of it.
 */
__attribute__((format(printf, 3, 4)))
static void fail(struct loader *ld, const struct conn *c, const char *fmt, ...)
{
	va_list ap;

	ld->errors++;
	uint_fast64_t n = atomic_fetch_add(&sh.errors, 1) + 1;
	if (n > 10)
		return;
	flockfile(stderr);
	if (c != NULL)
		fprintf(stderr, "fishload: connection %" PRIu32 ": ", c->id);
	else
		fprintf(stderr, "fishload: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (n == 10)
		fprintf(stderr, "fishload: (further errors not shown)\n");
	funlockfile(stderr);
}

static void record_latency(struct loader *ld, uint64_t ns)
{
	if (ld->nlat == ld->caplat) {
		size_t cap = ld->caplat ? ld->caplat * 2 : 65536;
		uint32_t *p = realloc(ld->lat_us, cap * sizeof *p);
		if (p == NULL) {
			fprintf(stderr, "fishload: out of memory\n");
			exit(1);
		}
		ld->lat_us = p;
		ld->caplat = cap;
	}
	uint64_t us = ns / 1000;
	ld->lat_us[ld->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* ------------------------------------------------------------------ */
/* Connections                                                         */
/* ------------------------------------------------------------------ */

static void conn_close(struct conn *c)
{
	struct loader *ld = c->ld;

	close(c->fd);    /* also leaves the epoll set */
	if (c->state == ST_CONNECTING)
		ld->connecting--;
	if (c->state == ST_PAID)
		ld->held--;
	c->fd = -1;
	c->state = ST_FREE;
	ld->inflight--;
	/* Fishermen reuse slots; pipeline and hold open each slot once. */
	if (cfg.mode == MODE_FISHERMEN)
		ld->free_slots[ld->nfree++] = (unsigned)(c - ld->conns);
}

static void conn_error(struct conn *c, const char *what, int err)
{
	fail(c->ld, c, "%s: %s", what, strerror(err));
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
	struct loader *ld = c->ld;

	ld->started++;
	int fd = socket(cfg.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fail(ld, NULL, "socket: %s", strerror(errno));
		if (cfg.mode == MODE_FISHERMEN)
			ld->free_slots[ld->nfree++] = (unsigned)(c - ld->conns);
		return false;
	}
	c->fd = fd;
	c->state = ST_CONNECTING;
	c->c = ct;
	c->sent = 0;
	c->last = 0;
	c->replied = false;
	c->rlen = 0;
	ld->inflight++;
	ld->connecting++;

	if (cfg.sources > 0 && cfg.addr.ss_family == AF_INET) {
		int one = 1;
		struct sockaddr_in src = {.sin_family = AF_INET};
		src.sin_addr.s_addr = htonl(0x7f000002u + c->id % cfg.sources);
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
	if (epoll_ctl(ld->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		conn_error(c, "epoll_ctl", errno);
		return false;
	}
	c->started_ns = now_ns();
	if (connect(fd, (struct sockaddr *)&cfg.addr, cfg.addrlen) < 0 && errno != EINPROGRESS) {
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
	const struct loader *ld = c->ld;
	const struct catch_text *ct = c->c;

	if (cfg.mode != MODE_PIPELINE)
		return c->sent < ct->len ? ct->len - off : 0;
	uint64_t begun = (c->sent + ct->len - 1) / ct->len;
	uint64_t answered = c->last / ct->total;
	uint64_t room = ld->stop || begun - answered >= cfg.window
	                ? 0 : cfg.window - (begun - answered);
	if (cfg.count) {
		uint64_t done = ld->pipe_batches * ct->lines;
		uint64_t left = done >= ld->count ? 0 : (ld->count - done + ct->lines - 1) / ct->lines;
		if (room > left)
			room = left;
	}
	return (off ? ct->len - off : 0) + (size_t)room * ct->len;
}

/* Write what is due; false if the connection was closed. */
static bool conn_send(struct conn *c)
{
	struct loader *ld = c->ld;
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
		if (cfg.mode == MODE_PIPELINE) {
			uint64_t before = (c->sent + ct->len - 1) / ct->len;
			uint64_t after = (c->sent + (uint64_t)n + ct->len - 1) / ct->len;
			ld->pipe_batches += after - before;
			if (cfg.count && ld->pipe_batches * ct->lines >= ld->count && !ld->stop) {
				ld->stop = true;
				ld->stop_why = "count";
			}
		}
		c->sent += (uint64_t)n;
	}
	/* Fishermen: catch out, half-close.  Pipeline: stopped at a batch end. */
	if (c->state == ST_OPEN && c->sent % ct->len == 0 &&
	    ((cfg.mode == MODE_FISHERMEN && c->sent == ct->len) ||
	     (cfg.mode == MODE_PIPELINE && ld->stop))) {
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
	struct loader *ld = c->ld;
	uint64_t v = 0;

	if (len >= 5 && memcmp(line, "ERROR", 5) == 0) {
		fail(ld, c, "server said \"%.*s\"", (int)len, line);
		conn_close(c);
		return false;
	}
	if (len == 0 || len > 19) {
		fail(ld, c, "bad reply \"%.*s\"", (int)len, line);
		conn_close(c);
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		if (line[i] < '0' || line[i] > '9') {
			fail(ld, c, "bad reply \"%.*s\"", (int)len, line);
			conn_close(c);
			return false;
		}
		v = v * 10 + (uint64_t)(line[i] - '0');
	}
	uint64_t owed = catch_owed(c->c, c->sent);
	if ((c->replied && v < c->last) || v > owed || !catch_valid(c->c, v)) {
		fail(ld, c, "tally %" PRIu64 " is no running total of what was sent "
		     "(last %" PRIu64 ", owed at most %" PRIu64 ")", v, c->last, owed);
		conn_close(c);
		return false;
	}
	ld->replies++;
	c->last = v;
	c->replied = true;
	if (cfg.mode == MODE_HOLD && c->state == ST_OPEN && v == c->c->total &&
	    c->sent == c->c->len) {
		c->state = ST_PAID;
		if (++ld->held > ld->held_peak)
			ld->held_peak = ld->held;
	}
	return true;
}

/* The server closed: was everything paid? */
static void conn_eof(struct conn *c)
{
	struct loader *ld = c->ld;

	if (c->state != ST_HALF_CLOSED) {
		fail(ld, c, "server closed the connection early");
		conn_close(c);
		return;
	}
	uint64_t owed = catch_owed(c->c, c->sent);
	if (!c->replied || c->last != owed || c->rlen != 0) {
		fail(ld, c, "last tally %" PRIu64 "%s, owed %" PRIu64,
		     c->last, c->replied ? "" : " (no reply at all)", owed);
		conn_close(c);
		return;
	}
	if (cfg.mode == MODE_FISHERMEN)
		record_latency(ld, now_ns() - c->started_ns);
	ld->lines_done += c->sent / c->c->len * c->c->lines;
	ld->done++;
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
		if (cfg.mode == MODE_PIPELINE && cfg.quickack) {
			int one = 1;
			setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
		}
		for (ssize_t i = 0; i < n; i++) {
			char ch = buf[i];
			if (ch == '\n') {
				if (c->rlen == 0 || c->rbuf[c->rlen - 1] != '\r') {
					fail(c->ld, c, "reply not ended by CRLF");
					conn_close(c);
					return false;
				}
				if (!conn_reply(c, c->rbuf, c->rlen - 1))
					return false;
				c->rlen = 0;
			} else if (c->rlen < sizeof c->rbuf) {
				c->rbuf[c->rlen++] = ch;
			} else {
				fail(c->ld, c, "reply longer than %zu bytes", sizeof c->rbuf);
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
		c->ld->connecting--;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		if (!conn_read(c))
			return;
	if (c->state != ST_PAID)
		conn_send(c);
}


/* ------------------------------------------------------------------ */
/* One thread's run                                                    */
/* ------------------------------------------------------------------ */

static const struct catch_text *catch_for(uint64_t n)
{
	return cfg.mode == MODE_PIPELINE ? &cfg.pipe : &cfg.catches[n % NCATCHES];
}

/*
 * Start connections while the limits allow.  At most max_connecting
 * connects are outstanding: the contract promises a listen backlog for a
 * burst of 1000, and a SYN dropped from a full backlog is retried only after
 * a second, which would measure the kernel's retransmit timer, not the server.
 */
static void start_more(struct loader *ld)
{
	while (!ld->stop && ld->nfree > 0 && ld->connecting < ld->max_connecting) {
		if (cfg.mode == MODE_FISHERMEN && cfg.count && ld->started >= ld->count)
			break;
		struct conn *c = &ld->conns[ld->free_slots[--ld->nfree]];
		conn_start(c, catch_for(ld->started));
	}
}

/* Nothing open and nothing more to start. */
static bool loader_finished(const struct loader *ld)
{
	bool all_started = cfg.mode == MODE_FISHERMEN
	                   ? cfg.count && ld->started >= ld->count
	                   : ld->started == ld->conc;
	return ld->inflight == 0 && (ld->stop || all_started);
}

/* Take up a stop another thread (or a signal) asked for. */
static void follow_stop(struct loader *ld)
{
	const char *why = atomic_load(&sh.stop_why);
	if (why != NULL && !ld->stop) {
		ld->stop = true;
		ld->stop_why = why;
	}
}

static void stop_pipeline(struct loader *ld)
{
	for (unsigned i = 0; i < ld->conc; i++) {
		struct conn *c = &ld->conns[i];
		if (c->state == ST_OPEN)
			conn_send(c);   /* finishes its batch, then half-closes */
	}
}

static void release_all(struct loader *ld)
{
	for (unsigned i = 0; i < ld->conc; i++)
		if (ld->conns[i].state != ST_FREE)
			conn_close(&ld->conns[i]);
}

static void publish(struct loader *ld)
{
	struct published *p = &ld->pub;
	atomic_store_explicit(&p->done, ld->done, memory_order_relaxed);
	atomic_store_explicit(&p->errors, ld->errors, memory_order_relaxed);
	atomic_store_explicit(&p->replies, ld->replies, memory_order_relaxed);
	atomic_store_explicit(&p->batches, ld->pipe_batches, memory_order_relaxed);
	atomic_store_explicit(&p->inflight, ld->inflight, memory_order_relaxed);
	atomic_store_explicit(&p->connecting, ld->connecting, memory_order_relaxed);
	atomic_store_explicit(&p->held, ld->held, memory_order_relaxed);
}

struct totals {
	uint64_t done, errors, replies, batches;
	unsigned inflight, connecting, held;
};

/* The sum of what every thread last published (thread 0, while running). */
static struct totals published_totals(void)
{
	struct totals t = {0};

	for (unsigned i = 0; i < cfg.threads; i++) {
		struct published *p = &loaders[i].pub;
		t.done += atomic_load_explicit(&p->done, memory_order_relaxed);
		t.errors += atomic_load_explicit(&p->errors, memory_order_relaxed);
		t.replies += atomic_load_explicit(&p->replies, memory_order_relaxed);
		t.batches += atomic_load_explicit(&p->batches, memory_order_relaxed);
		t.inflight += atomic_load_explicit(&p->inflight, memory_order_relaxed);
		t.connecting += atomic_load_explicit(&p->connecting, memory_order_relaxed);
		t.held += atomic_load_explicit(&p->held, memory_order_relaxed);
	}
	return t;
}

static void progress(double t, const struct totals *s)
{
	if (cfg.quiet)
		return;
	if (cfg.mode == MODE_FISHERMEN)
		fprintf(stderr, "fishload: %5.1fs %" PRIu64 " fishermen paid (%.0f/s), %u in flight, %" PRIu64 " errors\n",
		        t, s->done, (double)s->done / t, s->inflight, s->errors);
	else if (cfg.mode == MODE_PIPELINE)
		fprintf(stderr, "fishload: %5.1fs %" PRIu64 " lines sent, %" PRIu64 " replies, %u connections, %" PRIu64 " errors\n",
		        t, s->batches * cfg.pipe.lines, s->replies, s->inflight, s->errors);
	else
		fprintf(stderr, "fishload: %5.1fs %u of %u held, %u connecting, %" PRIu64 " errors\n",
		        t, s->held, cfg.conc, s->connecting, s->errors);
}

static int sig_tag, stdin_tag;

/* Returns true if stdin was added to the epoll set. */
static bool watch_stdin(struct loader *ld)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &stdin_tag};
	/* EPERM: a regular file or /dev/null, which never "closes". */
	return epoll_ctl(ld->ep, EPOLL_CTL_ADD, STDIN_FILENO, &ev) == 0;
}

/* Thread 0 only: a signal came, or stdin is readable. */
static void lead_event(struct loader *ld, const void *tag)
{
	if (tag == &sig_tag) {
		struct signalfd_siginfo si;
		while (read(sigfd, &si, sizeof si) > 0)
			;
		stop_all("signal");
		return;
	}
	/* stdin: readable means data or EOF; only EOF ends the hold. */
	char buf[256];
	ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		epoll_ctl(ld->ep, EPOLL_CTL_DEL, STDIN_FILENO, NULL);
		stop_all("stdin closed");
	}
}

/*
 * The event loop of one thread.  Every thread runs its own share of the
 * connections to the end.  Thread 0 also does what there is one of: it
 * reads the signals and stdin, prints progress and "held N", and leaves its
 * loop only once every other thread has left theirs, so that a signal still
 * reaches them all.
 */
static void loader_run(struct loader *ld)
{
	const bool lead = ld->index == 0;
	enum { MAXEV = 512 };
	struct epoll_event evs[MAXEV];
	double next_progress = 3.0, hold_until = 0;
	bool told_held = false;

	for (;;) {
		start_more(ld);
		if (loader_finished(ld)) {
			if (ld->end_ns == 0)
				ld->end_ns = now_ns();   /* its share of the run ends here */
			if (!lead || atomic_load(&sh.running) == 1)
				break;
		}

		int wait_ms = 100;
		if (hold_until) {
			double left = (hold_until - elapsed()) * 1000;
			wait_ms = left <= 0 ? 0 : left < 100 ? (int)left + 1 : 100;
		}
		int n = epoll_wait(ld->ep, evs, MAXEV, wait_ms);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "fishload: epoll_wait: %s\n", strerror(errno));
			exit(1);
		}
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &ld->wakefd) {
				uint64_t news;
				ssize_t r = read(ld->wakefd, &news, sizeof news);
				(void)r;   /* only the wake-up matters */
				continue;
			}
			if (p == &sig_tag || p == &stdin_tag) {
				lead_event(ld, p);
				continue;
			}
			struct conn *c = p;
			if (c->state != ST_FREE)
				conn_event(c, evs[i].events);
		}

		double t = elapsed();
		if (!ld->stop && cfg.seconds && t >= cfg.seconds && cfg.mode != MODE_HOLD) {
			ld->stop = true;
			ld->stop_why = "seconds";
		}
		/* Hold wants every connection: one error spoils the measurement. */
		uint_fast64_t errors = atomic_load(&sh.errors);
		if (errors >= 100 || (cfg.mode == MODE_HOLD && errors))
			stop_all("errors");

		if (cfg.mode == MODE_HOLD) {
			publish(ld);
			if (!lead && !told_held && ld->held == ld->conc) {
				told_held = true;
				wake(&loaders[0]);
			}
			bool holding = atomic_load(&sh.holding);
			if (lead && !holding && published_totals().held == cfg.conc) {
				/* Every thread once had all its share paid at once. */
				holding = true;
				atomic_store(&sh.holding, true);
				printf("held %u\n", cfg.conc);
				fflush(stdout);
				watch_stdin(ld);
				if (cfg.hold_seconds)
					hold_until = t + cfg.hold_seconds;
			}
			if (holding && ld->held < ld->conc && !ld->stop) {
				fail(ld, NULL, "%u held connections were closed by the server",
				     ld->conc - ld->held);
				stop_all("lost connections");
			}
			if (lead && holding && hold_until && t >= hold_until)
				stop_all("hold-seconds");
		}
		follow_stop(ld);
		if (cfg.mode == MODE_PIPELINE && ld->stop)
			stop_pipeline(ld);
		if (cfg.mode == MODE_HOLD && ld->stop)
			release_all(ld);   /* the held ones are let go */

		if (t >= cfg.timeout && !loader_finished(ld)) {
			ld->timed_out = true;
			fprintf(stderr, "fishload: timeout after %.1f s with %u connections "
			        "open (%s)\n", t, ld->inflight,
			        cfg.mode == MODE_HOLD && !atomic_load(&sh.holding)
			        ? "not all paid yet" : "unfinished");
			ld->errors++;
			atomic_fetch_add(&sh.errors, 1);
			release_all(ld);
			if (!ld->stop) {
				ld->stop = true;
				ld->stop_why = "timeout";
			}
		}
		publish(ld);
		if (lead && t >= next_progress) {
			struct totals s = published_totals();
			progress(t, &s);
			next_progress += 1.0;
		}
	}
	if (!lead) {
		atomic_fetch_sub(&sh.running, 1);
		wake(&loaders[0]);
	}
}

static void *loader_thread(void *arg)
{
	loader_run(arg);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Setting up, merging, reporting                                      */
/* ------------------------------------------------------------------ */

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
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)need + 16 + 2 * cfg.threads) {
		fprintf(stderr, "fishload: %u connections need %u file descriptors, "
		        "the limit is %llu (raise ulimit -Hn)\n", need, need + 16 + 2 * cfg.threads,
		        (unsigned long long)rl.rlim_cur);
		exit(1);
	}
}

/* Thread i's share of n: the first n % threads threads take one more. */
static uint64_t share(uint64_t n, unsigned i)
{
	return n / cfg.threads + (i < n % cfg.threads);
}

/* Its share of everything, its own epoll set and connections. */
static void loader_init(struct loader *ld, unsigned index, uint32_t first_id)
{
	ld->index = index;
	ld->conc = (unsigned)share(cfg.conc, index);
	ld->first_id = first_id;
	ld->count = share(cfg.count, index);
	ld->max_connecting = (unsigned)share(cfg.max_connecting, index);
	if (ld->max_connecting == 0)
		ld->max_connecting = 1;
	ld->ep = epoll_create1(EPOLL_CLOEXEC);
	ld->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &ld->wakefd};
	if (ld->ep < 0 || ld->wakefd < 0 ||
	    epoll_ctl(ld->ep, EPOLL_CTL_ADD, ld->wakefd, &ev) < 0) {
		fprintf(stderr, "fishload: epoll or eventfd: %s\n", strerror(errno));
		exit(1);
	}
	ld->conns = xcalloc(ld->conc, sizeof *ld->conns);
	ld->free_slots = xcalloc(ld->conc, sizeof *ld->free_slots);
	for (unsigned i = 0; i < ld->conc; i++) {
		ld->conns[i].fd = -1;
		ld->conns[i].ld = ld;
		ld->conns[i].id = first_id + i;
		ld->free_slots[ld->nfree++] = ld->conc - 1 - i;   /* slot 0 on top */
	}
}

static void loader_free(struct loader *ld)
{
	free(ld->lat_us);
	free(ld->free_slots);
	free(ld->conns);
	close(ld->wakefd);
	close(ld->ep);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* The q-quantile of n sorted latencies. */
static uint32_t percentile(const uint32_t *lat, size_t n, double q)
{
	if (n == 0)
		return 0;
	size_t rank = (size_t)(q * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return lat[rank - 1];
}


static void usage(FILE *out)
{
	fprintf(out,
	    "usage: fishload fishermen|pipeline|hold [-a ADDR] -p PORT [-n CONC]\n"
	    "                [--count N] [--seconds S] [--timeout S] [--batch LINES]\n"
	    "                [--window BATCHES] [--sources K] [--connecting N]\n"
	    "                [--hold-seconds S] [--quickack] [--threads T] [-q]\n"
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
	    "      --threads T       T threads, each its own epoll loop and share of -n,\n"
	    "                        --count and --connecting (default 1, at most 64)\n"
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
		{"threads", required_argument, NULL, 'J'},
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
		case 'n': cfg.conc = (unsigned)parse_num("-n", optarg, 1, 1000000); break;
		case 'C': cfg.count = (uint64_t)parse_num("--count", optarg, 1, 1e15); break;
		case 'S': cfg.seconds = parse_num("--seconds", optarg, 0.001, 86400); break;
		case 'T': cfg.timeout = parse_num("--timeout", optarg, 0.001, 86400); break;
		case 'B': cfg.batch = (uint32_t)parse_num("--batch", optarg, 1, 100000); break;
		case 'W': cfg.window = (unsigned)parse_num("--window", optarg, 1, 1000000); break;
		case 'K': cfg.sources = (unsigned)parse_num("--sources", optarg, 0, 250); break;
		case 'X': cfg.max_connecting = (unsigned)parse_num("--connecting", optarg, 1, 1000000); break;
		case 'H': cfg.hold_seconds = parse_num("--hold-seconds", optarg, 0.001, 86400); break;
		case 'q': cfg.quiet = true; break;
		case 'Q': cfg.quickack = true; break;
		case 'J': cfg.threads = (unsigned)parse_num("--threads", optarg, 1, MAX_THREADS); break;
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
	cfg.mode = (enum mode)k;
	if (cfg.mode == MODE_FISHERMEN && !cfg.count && !cfg.seconds) {
		fprintf(stderr, "fishload: fishermen needs --count or --seconds\n");
		exit(2);
	}
	if (cfg.mode == MODE_PIPELINE && !cfg.count && !cfg.seconds) {
		fprintf(stderr, "fishload: pipeline needs --count or --seconds\n");
		exit(2);
	}
	/* A thread with no connection or no work would only confuse the count. */
	if (cfg.threads > cfg.conc || (cfg.count && cfg.threads > cfg.count)) {
		fprintf(stderr, "fishload: --threads %u is more than -n or --count\n",
		        cfg.threads);
		exit(2);
	}

	struct sockaddr_in *sin = (struct sockaddr_in *)&cfg.addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&cfg.addr;
	memset(&cfg.addr, 0, sizeof cfg.addr);
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		cfg.addrlen = sizeof *sin;
		/* Sources in 127/8 reach only a server in 127/8. */
		if ((ntohl(sin->sin_addr.s_addr) >> 24) != 127)
			cfg.sources = 0;
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		cfg.addrlen = sizeof *sin6;
	} else {
		fprintf(stderr, "fishload: not a numeric address: %s\n", addr);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	raise_nofile(cfg.conc);

	/* Catches of 5, 3, 9 and 16 lines, cut from different parts of the pool. */
	static const unsigned starts[NCATCHES] = {0, 5, 8, 3};
	static const uint32_t lens[NCATCHES] = {5, 3, 9, 16};
	for (unsigned i = 0; i < NCATCHES; i++)
		catch_make(&cfg.catches[i], starts[i], lens[i]);
	catch_make(&cfg.pipe, 0, cfg.batch);
	if (cfg.mode == MODE_PIPELINE && cfg.pipe.total == 0) {
		fprintf(stderr, "fishload: a pipeline batch must be worth something\n");
		return 2;
	}
	if ((double)cfg.pipe.len * (cfg.window + 1) > 64.0 * 1024 * 1024) {
		fprintf(stderr, "fishload: --batch times --window is too large\n");
		return 2;
	}
	catch_repeat(&cfg.pipe, cfg.window + 1);

	loaders = xcalloc(cfg.threads, sizeof *loaders);
	uint32_t first_id = 0;
	for (unsigned i = 0; i < cfg.threads; i++) {
		loader_init(&loaders[i], i, first_id);
		first_id += loaders[i].conc;
	}

	/*
	 * Signals arrive as a readable fd in thread 0's epoll set: no race
	 * with epoll_wait.  Blocked before any thread starts, so that every
	 * thread inherits the mask and none of them takes the signal itself.
	 */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &sig_tag};
	if (sigfd < 0 || epoll_ctl(loaders[0].ep, EPOLL_CTL_ADD, sigfd, &sev) < 0) {
		fprintf(stderr, "fishload: signalfd: %s\n", strerror(errno));
		return 1;
	}

	/* --threads 1 starts no thread: thread 0 is this one. */
	atomic_store(&sh.running, cfg.threads);
	cfg.t0_ns = now_ns();
	for (unsigned i = 1; i < cfg.threads; i++) {
		int err = pthread_create(&loaders[i].thread, NULL, loader_thread, &loaders[i]);
		if (err != 0) {
			fprintf(stderr, "fishload: cannot start thread %u: %s\n", i, strerror(err));
			exit(1);   /* the threads already started die with the process */
		}
	}
	loader_run(&loaders[0]);
	for (unsigned i = 1; i < cfg.threads; i++)
		pthread_join(loaders[i].thread, NULL);

	/*
	 * Merge.  The run ends when the last thread's share did, not when
	 * thread 0 noticed (it polls every 100 ms): fps must not count that.
	 */
	struct loader sum = {0};
	uint64_t end_ns = cfg.t0_ns;
	for (unsigned i = 0; i < cfg.threads; i++) {
		struct loader *ld = &loaders[i];
		/* Every started fisherman must have been paid. */
		if (cfg.mode != MODE_HOLD && !ld->timed_out && ld->done + ld->errors < ld->started)
			fail(ld, NULL, "%" PRIu64 " connections unaccounted for",
			     ld->started - ld->done);
		if (ld->end_ns > end_ns)
			end_ns = ld->end_ns;
		sum.started += ld->started;
		sum.done += ld->done;
		sum.errors += ld->errors;
		sum.lines_done += ld->lines_done;
		sum.replies += ld->replies;
		sum.pipe_batches += ld->pipe_batches;
		/* = the held at once if errors is 0: a thread that lost one failed */
		sum.held_peak += ld->held_peak;
		sum.nlat += ld->nlat;
	}
	uint32_t *lat = xcalloc(sum.nlat, sizeof *lat);
	size_t nlat = 0;
	for (unsigned i = 0; i < cfg.threads; i++) {
		if (loaders[i].nlat)
			memcpy(lat + nlat, loaders[i].lat_us, loaders[i].nlat * sizeof *lat);
		nlat += loaders[i].nlat;
	}
	double end_t = (double)(end_ns - cfg.t0_ns) / 1e9;
	const char *why = atomic_load(&sh.stop_why);
	for (unsigned i = 0; why == NULL && i < cfg.threads; i++)
		why = loaders[i].stop_why;
	if (end_t >= 3.0 && !cfg.quiet) {
		if (cfg.mode != MODE_HOLD) {   /* held ones are released by now */
			struct totals s = {.done = sum.done, .errors = sum.errors,
			                   .replies = sum.replies, .batches = sum.pipe_batches};
			progress(end_t, &s);
		}
		fprintf(stderr, "fishload: stopped (%s)\n", why ? why : "done");
	}

	switch (cfg.mode) {
	case MODE_FISHERMEN:
		qsort(lat, nlat, sizeof *lat, cmp_u32);
		printf("RESULT mode=fishermen count=%" PRIu64 " concurrency=%u threads=%u seconds=%.3f "
		       "fps=%.1f p50_us=%" PRIu32 " p99_us=%" PRIu32 " p999_us=%" PRIu32
		       " max_us=%" PRIu32 " errors=%" PRIu64 "\n",
		       sum.done, cfg.conc, cfg.threads, end_t,
		       end_t > 0 ? (double)sum.done / end_t : 0.0,
		       percentile(lat, nlat, 0.50), percentile(lat, nlat, 0.99),
		       percentile(lat, nlat, 0.999), nlat ? lat[nlat - 1] : 0, sum.errors);
		break;
	case MODE_PIPELINE:
		printf("RESULT mode=pipeline conns=%u threads=%u batch=%" PRIu32 " window=%u lines=%" PRIu64
		       " replies=%" PRIu64 " seconds=%.3f lps=%.1f errors=%" PRIu64 "\n",
		       cfg.conc, cfg.threads, cfg.batch, cfg.window, sum.lines_done, sum.replies, end_t,
		       end_t > 0 ? (double)sum.lines_done / end_t : 0.0, sum.errors);
		break;
	case MODE_HOLD:
		printf("RESULT mode=hold held=%u of=%u threads=%u seconds=%.3f errors=%" PRIu64 "\n",
		       sum.held_peak, cfg.conc, cfg.threads, end_t, sum.errors);
		break;
	}
	fflush(stdout);

	free(lat);
	for (unsigned i = cfg.threads; i-- > 0;)
		loader_free(&loaders[i]);
	free(loaders);
	close(sigfd);
	catch_free(&cfg.pipe);
	for (unsigned i = NCATCHES; i-- > 0;)
		catch_free(&cfg.catches[i]);
	return sum.errors ? 1 : 0;
}
