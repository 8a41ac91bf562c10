/*
 * baseline-epoll - the measuring stick of `make bench`: the fish exchange's
 * core on raw epoll, no libevent.
 *
 *     baseline-epoll [-b ADDR] [-p PORT] [-m BYTES] [--prices FILE]
 *                    [-w WORKERS] [-q]
 *
 * It weighs, pays and books exactly as the variants do, through the same
 * build/libfishcommon.a (market_prepare, open_warehouse, ledger_open,
 * weigh_catch, pay_fisherman, ledger_close), so "variant / baseline" in the
 * benchmark measures what libevent costs, not the parser.
 *
 * It is NOT a fourth variant and keeps only sections 3 to 5 of the contract,
 * the line limit (-m) and the shape of section 8's workers (-w).  The other options parse (market_prepare does
 * that) but do nothing: no idle timeout (-t), no connection limit (-c), no
 * grace period (-g), no -v log, no summary line, no --version.  SIGINT and
 * SIGTERM kill it outright (their default action).  On EMFILE it stops
 * accepting until a connection closes, instead of the contract's timed
 * back-off.  An ERROR reply is best effort: after it the socket is shut and
 * closed at once, unread input or not.
 *
 * Where the speed comes from, so a learner can compare with libevent:
 * - level-triggered epoll, one epoll_ctl per connection unless its output
 *   backs up (then EPOLLOUT is switched on and off again);
 * - one recv() per readable event into a shared 64 KiB buffer: only the
 *   unfinished tail of a line is copied into the connection, and only if
 *   there is one (most fishermen never have one);
 * - the reply goes straight to send(); only what the kernel refuses is
 *   buffered;
 * - a connection is ~200 bytes until it needs a line or output buffer.
 *
 * Workers (-w N), as section 8 has the variants do it, so that the bench's
 * workers series compares like with like: N threads, each with its own
 * epoll set, its own SO_REUSEPORT listening socket on the one port, its own
 * read buffer and its own books; a connection stays on the thread that
 * accepted it and nothing on its path is shared.  -w 1 starts no thread
 * and sets no SO_REUSEPORT: it is the single-threaded loop it always was.
 * -w 0 is one per online CPU.  What is not epoll comes from common/, as
 * for the variants: market_prepare() reads -w, open_warehouse() sets
 * SO_REUSEPORT for a crew, market_pin_port() shares a -p 0 port,
 * market_hire() gives each worker his books, crew_start() his thread.  No
 * summary line, so the books are never summed; SIGTERM ends it all at once.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "market.h"

#define READ_CHUNK (64 * 1024)

/* One event loop and everything it touches; no field is shared. */
struct worker {
	struct market m;     /* its own books; prices shared, read-only */
	int ep, listen_fd;
	bool accept_paused;
	char *inbuf;         /* READ_CHUNK + max_line bytes, for its fishermen */
};

struct fisherman {
	struct worker *w;    /* the worker that accepted him, to the end */
	int fd;
	bool closing;        /* reading is over; close once output is sent */
	bool paused;         /* output backed up: not reading */
	uint32_t armed;      /* the events in epoll's interest set */
	const char *why;     /* why it closes, for the -v log */
	uint32_t keep;       /* bytes of an unfinished line in held */
	char *held;          /* max_line bytes, allocated on first need */
	char *out;           /* unsent reply bytes [outoff, outlen) */
	size_t outoff, outlen, outcap;
	struct ledger l;
};

static void resume_accepting(struct worker *w)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, w->listen_fd, &ev) == 0)
		w->accept_paused = false;
}

static void see_off(struct fisherman *f, const char *why)
{
	struct worker *w = f->w;

	ledger_close(&w->m, &f->l, why);
	close(f->fd);    /* leaves the epoll set too */
	free(f->out);
	free(f->held);
	free(f);
	/* A descriptor is free again: try accepting if EMFILE stopped us. */
	if (w->accept_paused)
		resume_accepting(w);
}

/*
 * Make the interest set match the state; false if epoll_ctl failed.  Only
 * a change costs a syscall: a fisherman whose reply fits the socket buffer
 * (nearly all) never gets here.
 */
static bool rearm(struct fisherman *f)
{
	uint32_t events = 0;

	if (!f->closing && !f->paused)
		events |= EPOLLIN;
	if (f->outoff < f->outlen)
		events |= EPOLLOUT;
	if (events == f->armed)
		return true;
	struct epoll_event ev = {.events = events, .data.ptr = f};
	if (epoll_ctl(f->w->ep, EPOLL_CTL_MOD, f->fd, &ev) < 0) {
		fprintf(stderr, "fishmarket: epoll_ctl: %s\n", strerror(errno));
		return false;
	}
	f->armed = events;
	return true;
}

/*
 * Send what is pending, then bytes [data, data + len).  Whatever the kernel
 * does not take is kept in f->out.  Returns false if the connection broke.
 */
static bool send_out(struct fisherman *f, const char *data, size_t len)
{
	if (f->outoff == f->outlen && len > 0) {
		/* Fast path: nothing queued, hand it straight to the kernel. */
		ssize_t n = send(f->fd, data, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				return false;
			n = 0;
		}
		data += n;
		len -= (size_t)n;
		f->outoff = f->outlen = 0;
	}
	if (len > 0) {
		if (f->outlen + len > f->outcap) {
			/* Compact first; grow only if that is not enough. */
			memmove(f->out, f->out + f->outoff, f->outlen - f->outoff);
			f->outlen -= f->outoff;
			f->outoff = 0;
			if (f->outlen + len > f->outcap) {
				size_t cap = f->outcap ? f->outcap : 256;
				while (cap < f->outlen + len)
					cap *= 2;
				char *p = realloc(f->out, cap);
				if (p == NULL) {
					fprintf(stderr, "fishmarket: out of memory\n");
					return false;
				}
				f->out = p;
				f->outcap = cap;
			}
		}
		memcpy(f->out + f->outlen, data, len);
		f->outlen += len;
	}
	return true;
}

/* The socket is writable: flush.  False if the connection broke. */
static bool flush_out(struct fisherman *f)
{
	while (f->outoff < f->outlen) {
		ssize_t n = send(f->fd, f->out + f->outoff, f->outlen - f->outoff,
		                 MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return true;
			return false;
		}
		f->outoff += (size_t)n;
	}
	f->outoff = f->outlen = 0;
	return true;
}

/* After any change: close, pause, resume, or switch EPOLLOUT as due. */
static void settle(struct fisherman *f)
{
	size_t pending = f->outlen - f->outoff;

	if (f->closing && pending == 0) {
		see_off(f, f->why);
		return;
	}
	/* Section 6: stop reading at 64 KiB unsent, resume at 16 KiB. */
	if (!f->paused && pending >= OUTPUT_HIGH)
		f->paused = true;
	else if (f->paused && pending <= OUTPUT_LOW)
		f->paused = false;
	if (!rearm(f))
		see_off(f, WHY_RESET);
}

static void buy_fish(struct fisherman *f)
{
	struct market *market = &f->w->m;
	char *inbuf = f->w->inbuf;
	size_t have = f->keep;

	if (have > 0)
		memcpy(inbuf, f->held, have);
	ssize_t n = recv(f->fd, inbuf + have, READ_CHUNK, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		see_off(f, WHY_RESET);
		return;
	}
	bool at_eof = n == 0;
	size_t len = have + (size_t)n;
	struct weighing w = weigh_catch(market, &f->l, inbuf, len, at_eof);

	if (w.pay) {
		char reply[TALLY_REPLY_MAX];
		size_t rn = tally_format(reply, f->l.tally);
		if (!send_out(f, reply, rn)) {
			see_off(f, WHY_RESET);
			return;
		}
		pay_fisherman(market, &f->l);   /* booked once queued, as the variants do */
	}
	if (w.error != NULL) {
		char reply[ERROR_REPLY_MAX];
		size_t rn = error_reply(reply, w.error);
		f->closing = true;
		f->why = w.error;
		if (!send_out(f, reply, rn)) {
			see_off(f, WHY_RESET);
			return;
		}
	} else if (at_eof) {
		f->closing = true;
		f->why = WHY_EOF;
	} else {
		/* Keep the unfinished line; weigh_catch bounded it by -m. */
		size_t rest = len - w.used;
		if (rest > 0 && f->held == NULL) {
			f->held = malloc(market->opts.max_line);
			if (f->held == NULL) {
				fprintf(stderr, "fishmarket: out of memory\n");
				see_off(f, WHY_RESET);
				return;
			}
		}
		if (rest > 0)
			memmove(f->held, inbuf + w.used, rest);
		f->keep = (uint32_t)rest;
	}
	settle(f);
}

static void greet_fishermen(struct worker *w)
{
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t peerlen = sizeof peer;
		int fd = accept4(w->listen_fd, (struct sockaddr *)&peer, &peerlen,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			switch (accept_trouble(&w->m, errno)) {
			case ACCEPT_DONE:
				return;
			case ACCEPT_AGAIN:
				continue;
			case ACCEPT_PAUSE:
				/* Until a connection closes (see_off): never spin. */
				if (epoll_ctl(w->ep, EPOLL_CTL_DEL, w->listen_fd, NULL) == 0)
					w->accept_paused = true;
				return;
			}
		}
		struct fisherman *f = calloc(1, sizeof *f);
		if (f == NULL) {
			fprintf(stderr, "fishmarket: out of memory\n");
			close(fd);
			continue;
		}
		f->w = w;
		f->fd = fd;
		f->armed = EPOLLIN;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = f};
		if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			fprintf(stderr, "fishmarket: epoll_ctl: %s\n", strerror(errno));
			close(fd);
			free(f);
			continue;
		}
		ledger_open(&w->m, &f->l, f, (struct sockaddr *)&peer, peerlen);
	}
}


/* One worker's event loop; returns only if epoll_wait itself fails. */
static void serve(struct worker *w)
{
	struct epoll_event evs[256];

	for (;;) {
		int n = epoll_wait(w->ep, evs, 256, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "fishmarket: epoll_wait: %s\n", strerror(errno));
			return;
		}
		for (int i = 0; i < n; i++) {
			struct fisherman *f = evs[i].data.ptr;
			uint32_t e = evs[i].events;
			if (f == NULL) {
				greet_fishermen(w);
				continue;
			}
			if ((e & EPOLLOUT) && !flush_out(f)) {
				see_off(f, WHY_RESET);
				continue;
			}
			if ((e & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !f->closing && !f->paused)
				buy_fish(f);      /* settles or frees f */
			else if ((e & (EPOLLHUP | EPOLLERR)) && f->outoff < f->outlen)
				see_off(f, WHY_RESET);
			else
				settle(f);
		}
	}
}

static void *worker_thread(void *arg)
{
	serve(arg);
	exit(1);   /* a broken epoll set: the whole server goes, as with -w 1 */
}

/*
 * Worker i: his books (market_hire: the options and the shared read-only
 * price list, his own empty list of open fishermen), his buffer, his
 * listening socket and an epoll set watching it.  With -p 0 the first
 * socket's port is pinned into the market for the others to bind.
 */
static bool worker_init(struct worker *w, struct market *market, unsigned i)
{
	market_hire(&w->m, market, i, market->opts.workers);
	w->listen_fd = open_warehouse(market);
	if (w->listen_fd < 0)
		return false;
	if (i == 0 && market_pin_port(market, w->listen_fd) < 0)
		return false;
	w->inbuf = malloc(READ_CHUNK + market->opts.max_line);
	if (w->inbuf == NULL) {
		fprintf(stderr, "fishmarket: out of memory\n");
		return false;
	}
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	if (w->ep < 0) {
		fprintf(stderr, "fishmarket: epoll_create1: %s\n", strerror(errno));
		return false;
	}
	struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, w->listen_fd, &lev) < 0) {
		fprintf(stderr, "fishmarket: epoll_ctl: %s\n", strerror(errno));
		return false;
	}
	return true;
}

static void worker_free(struct worker *w)
{
	if (w->ep >= 0)
		close(w->ep);
	if (w->listen_fd >= 0)
		close(w->listen_fd);
	free(w->inbuf);
}

int main(int argc, char *argv[])
{
	struct market market;
	struct crew crew = {0};

	int rc = market_prepare(&market, argc, argv);
	if (rc == MARKET_VERSION) {
		printf("fishmarket baseline-epoll, no libevent, backend epoll\n");
		return 0;
	}
	if (rc != MARKET_OPEN)
		return rc;

	rc = 1;
	unsigned nworkers = market.opts.workers;
	struct worker *workers = calloc(nworkers, sizeof *workers);
	if (workers == NULL) {
		fprintf(stderr, "fishmarket: out of memory\n");
		goto out_market;
	}
	unsigned made = 0;
	while (made < nworkers) {
		struct worker *w = &workers[made];
		w->ep = w->listen_fd = -1;
		made++;   /* counted before it can fail: its fds are closed too */
		if (!worker_init(w, &market, made - 1))
			goto out_workers;
	}
	/* -w 1 starts no thread: worker 0 is always this one. */
	for (unsigned i = 1; i < nworkers; i++)
		if (crew_start(&crew, i, worker_thread, &workers[i]) < 0)
			exit(1);   /* the workers already started go with the process */
	/* Every socket listens and every worker waits on his: say so once. */
	if (announce_warehouse(&market, workers[0].listen_fd) < 0) {
		if (nworkers > 1)
			exit(1);
		goto out_workers;
	}
	serve(&workers[0]);
	if (nworkers > 1)
		exit(1);   /* as worker_thread(): the others are still serving */

out_workers:
	for (unsigned i = made; i-- > 0;)
		worker_free(&workers[i]);
	free(workers);
out_market:
	market_free(&market);
	return rc;
}
