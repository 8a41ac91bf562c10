/*
 * market.c - everything a fishmonger does that is not libevent.
 */
#include "market.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "catch.h"

const struct timeval emfile_pause = { 0, 250000 };

/* Room for "FILE:LINE: reason" with a long path in it. */
#define ERR_MAX 4608

static int bind_door(const struct options *o, bool share);

/*
 * A crew binds its port with SO_REUSEPORT, and the kernel lets any other
 * socket of the same user that also sets it share the port: a second crew
 * started by mistake on the same port would bind too, and take half of the
 * fishermen.  A server of one gets EADDRINUSE there, so a crew must as
 * well (section 7: a port in use is exit 1).  So before any door is
 * opened, bind a door of one's own (SO_REUSEADDR, as the doors have, but
 * no SO_REUSEPORT): if anyone listens there, bind() fails.  A check, not a
 * guarantee: a server that binds between this probe and our first door is
 * not seen.  Port 0 needs no check: the kernel picks a port nobody has.
 */
static bool port_is_free(const struct options *o)
{
	if (o->port == 0)
		return true;
	int fd = bind_door(o, false);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int market_prepare(struct market *m, int argc, char *argv[])
{
	char err[ERR_MAX];
	const char *argv0 = argc > 0 ? argv[0] : NULL;

	memset(m, 0, sizeof *m);
	m->open.next = m->open.prev = &m->open;

	switch (options_parse(&m->opts, argc, argv, err, sizeof err)) {
	case OPT_HELP:
		options_usage(stdout, argv0);
		return 0;
	case OPT_ERROR:
		fprintf(stderr, "fishmarket: %s\n", err);
		options_usage(stderr, argv0);
		return 2;
	case OPT_VERSION:
		return MARKET_VERSION;
	case OPT_RUN:
		break;
	}

	/*
	 * Writing to a socket whose peer has gone raises SIGPIPE, and its
	 * default action kills the process: one fisherman hanging up while
	 * we pay him would close the whole market.  Ignored, the write just
	 * fails with EPIPE and only his connection is closed.
	 */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGPIPE, &sa, NULL) < 0) {
		fprintf(stderr, "fishmarket: cannot ignore SIGPIPE: %s\n",
		        strerror(errno));
		return 1;
	}

	m->opts.workers = crew_size(m->opts.workers);
	if (m->opts.workers > 1 && !port_is_free(&m->opts))
		return 1;

	if (m->opts.prices_path != NULL) {
		m->prices = prices_load(m->opts.prices_path, err, sizeof err);
		if (m->prices == NULL) {
			fprintf(stderr, "fishmarket: %s\n", err);
			return 1;
		}
	} else {
		m->prices = prices_default();
		if (m->prices == NULL) {
			fprintf(stderr, "fishmarket: out of memory\n");
			return 1;
		}
	}
	return MARKET_OPEN;
}

void market_free(struct market *m)
{
	prices_free(m->prices);
	m->prices = NULL;
}

void market_hire(struct market *hired, const struct market *m, unsigned i,
                 unsigned size)
{
	memset(hired, 0, sizeof *hired);
	hired->opts = m->opts;
	hired->opts.max_conns = crew_share(m->opts.max_conns, size);
	hired->prices = m->prices;
	hired->open.next = hired->open.prev = &hired->open;
	hired->others_working = i == 0 ? size - 1 : 0;
}

void market_add_books(struct market *m, const struct market *hired)
{
	m->stats.connections += hired->stats.connections;
	m->stats.lines += hired->stats.lines;
	m->stats.rejected += hired->stats.rejected;
	money_add_money(&m->stats.paid, &hired->stats.paid);
	if (hired->exit_status != 0)
		m->exit_status = hired->exit_status;
}

bool market_closed(const struct market *m)
{
	return m->closing && m->open_count == 0 && m->others_working == 0;
}

void libevent_says(int severity, const char *msg)
{
	/* Every severity alike: libevent logs only warnings and errors unless
	 * debug logging is turned on, which no variant does. */
	(void)severity;
	fprintf(stderr, "fishmarket: libevent: %s\n", msg);
}

int print_version(const char *variant, const char *libevent_version,
                  const char *backend)
{
	printf("fishmarket %s, libevent %s, backend %s\n", variant,
	       libevent_version, backend);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "fishmarket: cannot write to stdout: %s\n",
		        strerror(errno));
		return 1;
	}
	return 0;
}

/* setsockopt(fd, level, name) to 1; false after one line naming it. */
static bool turn_on(int fd, int level, int name, const char *option,
                    const char *where)
{
	int one = 1;

	if (setsockopt(fd, level, name, &one, sizeof one) == 0)
		return true;
	fprintf(stderr, "fishmarket: cannot set %s on %s: %s\n", option, where,
	        strerror(errno));
	return false;
}

/*
 * A non-blocking socket bound to o's address, its options set before
 * bind(): SO_REUSEPORT only if share.  -1 after one line on stderr.
 */
static int bind_door(const struct options *o, bool share)
{
	char where[FISH_ADDRSTRLEN];

	format_sockaddr((const struct sockaddr *)&o->addr, where, sizeof where);
	int fd = socket(o->addr.ss_family,
	                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "fishmarket: cannot create a socket for %s: %s\n",
		        where, strerror(errno));
		return -1;
	}
	/*
	 * SO_REUSEADDR must be set *before* bind(): it is bind() that checks
	 * for the port's old connections in TIME_WAIT.  The original article
	 * set it after bind() (and listen()), too late for that bind, so a
	 * restarted server failed with "Address already in use" for as long
	 * as TIME_WAIT lasts: 60 s on Linux.
	 */
	if (!turn_on(fd, SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR", where))
		goto fail;
	/*
	 * A crew (-w 2 and up): every fishmonger's door is bound to the same
	 * address and port, and the kernel spreads new connections among
	 * them.  It must be set on every one of them before bind(), the
	 * first included.  One fishmonger sets none (section 8).
	 */
	if (share && !turn_on(fd, SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT", where))
		goto fail;
	/*
	 * Keepalive probes find a fisherman whose machine vanished without a
	 * word (with -t 0 nothing else would).  Set on the listening socket,
	 * Linux passes it on to every accepted one; it is what
	 * evconnlistener_new_bind() does for v2-listener, so all three
	 * variants' connections behave alike.
	 */
	if (!turn_on(fd, SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE", where))
		goto fail;
	/*
	 * "-b ::" means IPv6 only.  Without IPV6_V6ONLY it would also take
	 * IPv4 connections or not, depending on the net.ipv6.bindv6only
	 * sysctl, and could collide with a server on 0.0.0.0.
	 */
	if (o->addr.ss_family == AF_INET6 &&
	    !turn_on(fd, IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY", where))
		goto fail;
	if (bind(fd, (const struct sockaddr *)&o->addr, o->addrlen) < 0) {
		fprintf(stderr, "fishmarket: cannot bind %s: %s\n", where,
		        strerror(errno));
		goto fail;
	}
	return fd;

fail:
	close(fd);
	return -1;
}

int open_warehouse(const struct market *m)
{
	const struct options *o = &m->opts;
	int fd = bind_door(o, o->workers > 1);

	if (fd < 0)
		return -1;
	/*
	 * SOMAXCONN, not the article's backlog of 5: section 6 wants a burst
	 * of 1000 simultaneous connects to wait in the queue, and with -c
	 * reached, waiting there is exactly what new fishermen do.
	 */
	if (listen(fd, SOMAXCONN) < 0) {
		char where[FISH_ADDRSTRLEN];
		fprintf(stderr, "fishmarket: cannot listen on %s: %s\n",
		        format_sockaddr((const struct sockaddr *)&o->addr, where,
		                        sizeof where), strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int market_pin_port(struct market *m, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	memset(&ss, 0, sizeof ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		fprintf(stderr, "fishmarket: getsockname: %s\n", strerror(errno));
		return -1;
	}
	/* Only the port: the address is the one given, in the same family. */
	in_port_t port;
	if (m->opts.addr.ss_family == AF_INET6) {
		port = ((struct sockaddr_in6 *)&ss)->sin6_port;
		((struct sockaddr_in6 *)&m->opts.addr)->sin6_port = port;
	} else {
		port = ((struct sockaddr_in *)&ss)->sin_port;
		((struct sockaddr_in *)&m->opts.addr)->sin_port = port;
	}
	m->opts.port = ntohs(port);
	return 0;
}

int announce_warehouse(const struct market *m, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char where[FISH_ADDRSTRLEN];

	(void)m;
	/* Ask the kernel: with -p 0 only it knows which port we got. */
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		fprintf(stderr, "fishmarket: getsockname: %s\n", strerror(errno));
		return -1;
	}
	printf("listening on %s\n",
	       format_sockaddr((struct sockaddr *)&ss, where, sizeof where));
	/* stdout is a pipe under test, so fully buffered: without the flush
	 * the line would sit in our buffer and the test would wait forever. */
	if (fflush(stdout) != 0) {
		fprintf(stderr, "fishmarket: cannot write to stdout: %s\n",
		        strerror(errno));
		return -1;
	}
	return 0;
}

ssize_t hand_over(int fd, const char *bytes, size_t n)
{
	ssize_t sent = send(fd, bytes, n, MSG_NOSIGNAL);

	if (sent >= 0)
		return sent;
	/* The same line libevent draws (EVUTIL_ERR_RW_RETRIABLE). */
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return 0;
	return -1;
}

bool socket_ready(int fd, bool writing)
{
	struct pollfd p = { .fd = fd, .events = writing ? POLLOUT : POLLIN };

	/* POLLERR and POLLHUP come whatever was asked: then the next read or
	 * write meets the error, and he is seen off for it, not as idle. */
	return poll(&p, 1, 0) == 1;
}

enum accept_trouble accept_trouble(struct market *m, int err)
{
	switch (err) {
	case EAGAIN:
#if EWOULDBLOCK != EAGAIN
	case EWOULDBLOCK:
#endif
		return ACCEPT_DONE;
	case EINTR:
	case ECONNABORTED:
	case EPROTO:
	case EPERM:
	/* Linux passes on network errors already pending on the new
	 * socket (accept(2)): his trouble, not the listener's. */
	case ENETDOWN:
	case ENOPROTOOPT:
	case EHOSTDOWN:
	case ENONET:
	case EHOSTUNREACH:
	case EOPNOTSUPP:
	case ENETUNREACH:
	case ETIMEDOUT:
		return ACCEPT_AGAIN;
	default:
		/* EMFILE, ENFILE, ENOBUFS, ENOMEM: retrying at once would fail
		 * again at once, since the listening socket stays readable and
		 * the loop would spin at 100% CPU.  Back off and let
		 * descriptors free up.  Anything unknown (EBADF, EINVAL) is
		 * treated the same: "try again" would spin as well.  Say so,
		 * but once per jam: not at every retry while it lasts. */
		if (!m->jammed)
			fprintf(stderr, "fishmarket: accept: %s; pausing for "
			        "%ld ms\n", strerror(err),
			        (long)(emfile_pause.tv_sec * 1000 +
			               emfile_pause.tv_usec / 1000));
		m->jammed = true;
		return ACCEPT_PAUSE;
	}
}

void ledger_open(struct market *m, struct ledger *l, void *owner,
                 const struct sockaddr *peer, socklen_t peerlen)
{
	memset(l, 0, sizeof *l);
	l->owner = owner;
	m->stats.connections++;
	m->jammed = false;      /* the door works: the next jam is news */

	bool known = peer != NULL &&
	        ((peer->sa_family == AF_INET &&
	          peerlen >= (socklen_t)sizeof(struct sockaddr_in)) ||
	         (peer->sa_family == AF_INET6 &&
	          peerlen >= (socklen_t)sizeof(struct sockaddr_in6)));
	if (known)
		memcpy(&l->peer, peer, peer->sa_family == AF_INET ?
		       sizeof l->peer.in : sizeof l->peer.in6);

	/* Link at the tail of the circular list: m->open is the sentinel. */
	l->next = &m->open;
	l->prev = m->open.prev;
	m->open.prev->next = l;
	m->open.prev = l;
	m->open_count++;
}

const char *ledger_peer(const struct ledger *l, char buf[FISH_ADDRSTRLEN])
{
	/* AF_UNSPEC (the memset of ledger_open) formats as "?". */
	return format_sockaddr(&l->peer.sa, buf, FISH_ADDRSTRLEN);
}

void ledger_close(struct market *m, struct ledger *l, const char *why)
{
	/* Closing twice (an error callback after a shutdown, say) is a
	 * no-op: unlinking again would corrupt the list. */
	if (l->next == NULL)
		return;
	l->prev->next = l->next;
	l->next->prev = l->prev;
	l->next = l->prev = NULL;
	m->open_count--;
	if (m->opts.verbosity == VERBOSITY_VERBOSE) {
		char peer[FISH_ADDRSTRLEN];
		fprintf(stderr, "fishmarket: %s closed (%s): %" PRIu64 " lines, %"
		        PRIu64 " rejected, tally %" PRIu64 "\n",
		        ledger_peer(l, peer), why, l->lines, l->rejected, l->paid);
	}
}

void ledger_refuse(struct market *m, const struct sockaddr *peer,
                   socklen_t peerlen)
{
	struct ledger l;

	ledger_open(m, &l, NULL, peer, peerlen);
	ledger_close(m, &l, WHY_TURNED_AWAY);
}

bool market_full(const struct market *m)
{
	return m->open_count >= m->opts.max_conns;
}

void *market_first(const struct market *m)
{
	return m->open.next == &m->open ? NULL : m->open.next->owner;
}

/*
 * Weigh one line (without its LF).  Returns false if it would overflow
 * the tally: then it is counted as a line, but not added and not paid for.
 */
static bool weigh_line(struct market *m, struct ledger *l, const char *line,
                       size_t len, struct weighing *w)
{
	struct catch_line c;
	uint32_t price;

	catch_parse(line, len, &c);
	switch (c.kind) {
	case CATCH_BLANK:
		break;
	case CATCH_MALFORMED:
		l->lines++;
		l->rejected++;
		m->stats.lines++;
		m->stats.rejected++;
		break;
	case CATCH_FISH:
		l->lines++;
		m->stats.lines++;
		if (prices_lookup(m->prices, c.fish, c.fish_len, &price)) {
			/* At most 10^6 * 10^9 = 10^15: no overflow here. */
			uint64_t value = (uint64_t)c.count * price;
			if (!tally_add(&l->tally, value))
				return false;
		}
		break;
	}
	w->pay = true;
	return true;
}

struct weighing weigh_catch(struct market *m, struct ledger *l,
                            const char *catch, size_t len, bool at_eof)
{
	struct weighing w = { 0, false, NULL };
	size_t pos = 0;               /* where the current line starts */
	/*
	 * Where to look for its LF: not from pos, but past what earlier calls
	 * already searched (the bytes are the same: only what we report as
	 * used is ever drained).  Restarting at 0 would make a line that
	 * arrives a byte at a time cost time quadratic in -m.
	 */
	size_t from = l->scanned <= len ? l->scanned : 0;

	l->scanned = 0;       /* until we know better, below */
	while (from < len) {
		const char *lf = memchr(catch + from, '\n', len - from);
		if (lf == NULL)
			break;
		size_t n = (size_t)(lf - (catch + pos));
		/* The limit counts every byte before the LF, a CR included. */
		if (n > m->opts.max_line) {
			w.error = WHY_TOO_LONG;
			return w;
		}
		bool ok = weigh_line(m, l, catch + pos, n, &w);
		pos += n + 1;
		from = pos;
		w.used = pos;
		if (!ok) {
			w.error = WHY_OVERFLOW;
			return w;
		}
	}
	/*
	 * What is left has no LF yet.  Past the limit it can never become a
	 * valid line: say so now rather than buffering until the LF comes (a
	 * fisherman sending an endless line would make us hold it all).
	 */
	size_t rest = len - pos;
	if (rest > m->opts.max_line) {
		w.error = WHY_TOO_LONG;
		return w;
	}
	/* At EOF the rest, even a lone CR or blanks, is one final line. */
	if (at_eof && rest > 0) {
		bool ok = weigh_line(m, l, catch + pos, rest, &w);
		w.used = len;
		if (!ok)
			w.error = WHY_OVERFLOW;
		return w;
	}
	l->scanned = rest;    /* drained of .used, the input starts with these */
	return w;
}

void pay_fisherman(struct market *m, struct ledger *l)
{
	/* The books hold what was written to him: only the new part. */
	money_add(&m->stats.paid, l->tally - l->paid);
	l->paid = l->tally;
}

size_t error_reply(char reply[ERROR_REPLY_MAX], const char *why)
{
	int n = snprintf(reply, ERROR_REPLY_MAX, "ERROR %s\r\n", why);

	if (n < 0)
		n = 0;
	if ((size_t)n >= ERROR_REPLY_MAX)
		n = ERROR_REPLY_MAX - 1;
	return (size_t)n;
}

void market_summary(const struct market *m)
{
	char buf[256];

	if (m->opts.verbosity == VERBOSITY_QUIET)
		return;
	stats_summary(&m->stats, buf, sizeof buf);
	fprintf(stderr, "%s\n", buf);
}
