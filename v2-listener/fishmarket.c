/*
 * fishmarket v2-listener: the fish market server written against the
 * libevent 2 API, with an evconnlistener accepting for it.
 *
 * Fishermen connect, send lines such as "3 pounds of trout", and get back
 * the running value of their catch, "21\r\n", after every read (the fish
 * exchange contract, docs/fish-exchange.md).  One thread, one event loop:
 * an evconnlistener accepts, one bufferevent per fisherman reads his lines
 * and writes his tally.
 *
 * libevent generation: 2.x, the event_base API.  Everything hangs off an
 * explicit struct event_base (event_base_new, event_new,
 * bufferevent_socket_new); nothing uses a hidden global.  socket(), bind(),
 * listen() and the accept() loop are libevent's (evconnlistener_new_bind):
 * greet_fisherman is called once per accepted connection.  Compare v2-raw
 * (the same program with the listening socket and accept loop by hand) and
 * v1-style (the same program in the libevent 1.x API).
 *
 * It stops on SIGINT or SIGTERM: it stops accepting, lets open connections
 * finish for up to -g seconds, closes what is left, prints the summary line
 * and exits 0.  A second signal exits at once with status 1.
 *
 * Every libevent call of this variant is in this file; everything else
 * (options, prices, weighing, the books, messages) is in common/.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "market.h"

#define VARIANT "v2-listener"

/* The market: the books from common/, and every event the loop watches. */
struct warehouse {
	struct market market;        /* options, prices, ledgers, statistics */
	struct event_base *base;
	struct evconnlistener *door; /* accepts, calls greet_fisherman */
	struct event *reopen;        /* EMFILE back-off: reopen_door */
	struct event *grace;         /* closing time is over: grace_over */
	struct event *sigint, *sigterm;
};

/* One open connection. */
struct fisherman {
	struct ledger ledger;        /* his books, linked into market.open */
	struct warehouse *wh;
	struct bufferevent *bev;
	const char *leaving;         /* NULL, or why he goes once all is sent */
	bool heard_eof;              /* he closed his sending side */
	bool hung_up;                /* we closed ours: reading only to discard */
	size_t discarded;            /* what he sent since */
};

/* The callbacks: libevent calls these from event_base_dispatch(). */
static void greet_fisherman(struct evconnlistener *door, evutil_socket_t fd,
                            struct sockaddr *peer, int peerlen, void *arg);
static void door_jammed(struct evconnlistener *door, void *arg);
static void buy_fish(struct bufferevent *bev, void *arg);
static void watch_fisherman(struct bufferevent *bev, short what, void *arg);
static void reply_sent(struct bufferevent *bev, void *arg);
static void close_market(evutil_socket_t sig, short what, void *arg);
static void grace_over(evutil_socket_t fd, short what, void *arg);
static void reopen_door(evutil_socket_t fd, short what, void *arg);

/* The helpers they share. */
static void welcome_fisherman(struct warehouse *wh, evutil_socket_t fd,
                              const struct sockaddr *peer, socklen_t peerlen);
static bool pay_tally(struct fisherman *f);
static void send_away(struct fisherman *f, const char *why);
static void finish_up(struct fisherman *f, const char *why);
static void hang_up(struct fisherman *f);
static void see_off(struct fisherman *f, const char *why);
static void see_everyone_off(struct warehouse *wh);
static void open_door(struct warehouse *wh);
static void shut_door(struct warehouse *wh);
static void pause_door(struct warehouse *wh);
static int show_version(void);

int main(int argc, char *argv[])
{
	struct warehouse wh = {0};
	struct market *m = &wh.market;
	unsigned flags;

	int status = market_prepare(m, argc, argv);
	if (status == MARKET_VERSION)
		return show_version();
	if (status != MARKET_OPEN)
		return status;
	status = 1;   /* until the market has run */

	wh.base = event_base_new();
	if (wh.base == NULL) {
		fprintf(stderr, "fishmarket: cannot create an event base\n");
		goto close_books;
	}

	/*
	 * socket(), SO_REUSEADDR (LEV_OPT_REUSEABLE, set before bind() as it
	 * must be), bind(), listen(), O_NONBLOCK, and the accept loop: all
	 * libevent's.  The backlog must be given: -1 means 128 in libevent
	 * 2.1, not SOMAXCONN, too few for a burst of 1000 connects.  IPV6_V6ONLY
	 * as open_warehouse() sets it, for IPv6 only (it fails on IPv4).
	 */
	flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC;
	if (m->opts.addr.ss_family == AF_INET6)
		flags |= LEV_OPT_BIND_IPV6ONLY;
	wh.door = evconnlistener_new_bind(wh.base, greet_fisherman, &wh, flags,
	                                  SOMAXCONN,
	                                  (struct sockaddr *)&m->opts.addr,
	                                  (int)m->opts.addrlen);
	if (wh.door == NULL) {
		char where[FISH_ADDRSTRLEN];
		fprintf(stderr, "fishmarket: cannot bind %s: %s\n",
		        format_sockaddr((struct sockaddr *)&m->opts.addr, where,
		                        sizeof where), strerror(errno));
		goto free_base;
	}
	/* Without it, EMFILE makes the listener log and retry: it spins. */
	evconnlistener_set_error_cb(wh.door, door_jammed);
	wh.reopen = evtimer_new(wh.base, reopen_door, &wh);
	if (wh.reopen == NULL) {
		fprintf(stderr, "fishmarket: cannot create the back-off timer\n");
		goto free_door;
	}
	wh.grace = evtimer_new(wh.base, grace_over, &wh);
	if (wh.grace == NULL) {
		fprintf(stderr, "fishmarket: cannot create the grace timer\n");
		goto free_reopen;
	}

	/*
	 * libevent turns a signal into an ordinary callback run by the loop, so
	 * close_market may do anything, unlike a signal(2) handler.
	 */
	wh.sigint = evsignal_new(wh.base, SIGINT, close_market, &wh);
	if (wh.sigint == NULL) {
		fprintf(stderr, "fishmarket: cannot create the SIGINT event\n");
		goto free_grace;
	}
	wh.sigterm = evsignal_new(wh.base, SIGTERM, close_market, &wh);
	if (wh.sigterm == NULL) {
		fprintf(stderr, "fishmarket: cannot create the SIGTERM event\n");
		goto free_sigint;
	}
	if (event_add(wh.sigint, NULL) < 0 || event_add(wh.sigterm, NULL) < 0) {
		fprintf(stderr, "fishmarket: cannot add the events to the loop\n");
		goto free_sigterm;
	}

	if (announce_warehouse(m, evconnlistener_get_fd(wh.door)) < 0)
		goto free_sigterm;

	/* The story happens in here, until loopexit or loopbreak. */
	if (event_base_dispatch(wh.base) < 0) {
		fprintf(stderr, "fishmarket: the event loop failed\n");
		m->exit_status = 1;
	}

	/* After a second signal some are still in: close them, in the books. */
	see_everyone_off(&wh);
	market_summary(m);
	status = m->exit_status;

free_sigterm:
	event_free(wh.sigterm);
free_sigint:
	event_free(wh.sigint);
free_grace:
	event_free(wh.grace);
free_reopen:
	event_free(wh.reopen);
free_door:
	/* LEV_OPT_CLOSE_ON_FREE: this closes the listening socket too. */
	evconnlistener_free(wh.door);
free_base:
	event_base_free(wh.base);
close_books:
	market_free(m);
	return status;
}

/*
 * The listener accepted a fisherman (non-blocking, close-on-exec) and calls
 * here once per connection, accepting more in the same callback round
 * until nobody else waits, or until we disable it.
 */
static void greet_fisherman(struct evconnlistener *door, evutil_socket_t fd,
                            struct sockaddr *peer, int peerlen, void *arg)
{
	(void)door;
	welcome_fisherman(arg, fd, peer, (socklen_t)peerlen);
}

/*
 * accept() failed with something other than EAGAIN, EINTR or ECONNABORTED
 * (on those libevent quietly returns to the loop and tries again at the next
 * wake-up).  On EMFILE the listener would call here again at once, forever:
 * the waiting connection keeps the socket readable.
 */
static void door_jammed(struct evconnlistener *door, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();

	(void)door;
	if (accept_trouble(err) == ACCEPT_PAUSE)
		pause_door(arg);
	else
		fprintf(stderr, "fishmarket: accept: %s\n",
		        evutil_socket_error_to_string(err));
}

/*
 * A fisherman is in, fd already non-blocking: give him a bufferevent and
 * open his books.  If he cannot be served, he is sent home (fd closed) and
 * the market goes on.
 */
static void welcome_fisherman(struct warehouse *wh, evutil_socket_t fd,
                              const struct sockaddr *peer, socklen_t peerlen)
{
	struct market *m = &wh->market;
	struct fisherman *f = calloc(1, sizeof *f);
	if (f == NULL) {
		fprintf(stderr, "fishmarket: out of memory, turning a fisherman away\n");
		evutil_closesocket(fd);
		return;
	}
	f->wh = wh;

	/* BEV_OPT_CLOSE_ON_FREE: bufferevent_free() closes the socket too. */
	f->bev = bufferevent_socket_new(wh->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (f->bev == NULL) {
		fprintf(stderr, "fishmarket: cannot create a bufferevent, turning a fisherman away\n");
		evutil_closesocket(fd);
		free(f);
		return;
	}
	bufferevent_setcb(f->bev, buy_fish, reply_sent, watch_fisherman, f);
	/*
	 * The idle timeout: no byte read while reading, or no byte written
	 * while replies are pending.  -t 0 sets none: a new bufferevent has
	 * none, and NULL, not a zero timeval, is the documented "no timeout".
	 */
	if (m->opts.idle_timeout > 0) {
		struct timeval idle = { .tv_sec = (time_t)m->opts.idle_timeout };
		bufferevent_set_timeouts(f->bev, &idle, &idle);
	}
	/*
	 * reply_sent runs whenever a write leaves at most OUTPUT_LOW bytes
	 * unsent (not only when the output is empty): the moment to read again
	 * after backpressure.  No read high-watermark: see docs/DESIGN.md.
	 */
	bufferevent_setwatermark(f->bev, EV_WRITE, OUTPUT_LOW, 0);
	/* A new bufferevent writes but does not read until told to. */
	if (bufferevent_enable(f->bev, EV_READ) < 0) {
		fprintf(stderr, "fishmarket: cannot read from a fisherman, turning him away\n");
		bufferevent_free(f->bev);
		free(f);
		return;
	}

	ledger_open(m, &f->ledger, f, peer, peerlen);
	/* Full: the next ones wait in the listen backlog, unaccepted. */
	if (market_full(m))
		shut_door(wh);
}

/*
 * Bytes arrived.  Weigh every complete line, pay once for the lot, and
 * keep any partial line in the input for next time.
 */
static void buy_fish(struct bufferevent *bev, void *arg)
{
	struct fisherman *f = arg;
	struct evbuffer *input = bufferevent_get_input(bev);

	if (f->hung_up) {
		/* Lingering (hang_up): what he still sends is thrown away. */
		f->discarded += evbuffer_get_length(input);
		evbuffer_drain(input, evbuffer_get_length(input));
		if (f->discarded > LINGER_BYTES)
			see_off(f, f->leaving);
		return;
	}

	/*
	 * The whole input as one block: never more than one read plus a
	 * partial line (at most --max-line), since every complete line is
	 * drained below.  Not evbuffer_readline(): it ends a line at any CR.
	 */
	size_t len = evbuffer_get_length(input);
	const char *catch = (const char *)evbuffer_pullup(input, -1);
	struct weighing w = weigh_catch(&f->wh->market, &f->ledger, catch, len,
	                                false);

	evbuffer_drain(input, w.used);
	if (w.pay && !pay_tally(f))
		return;
	if (w.error != NULL)
		send_away(f, w.error);
	else if (evbuffer_get_length(bufferevent_get_output(bev)) >= OUTPUT_HIGH)
		/* He sends but does not read: stop reading until he does. */
		bufferevent_disable(bev, EV_READ);
}

/*
 * Something other than data: end of input, an error, or a timeout.
 * BEV_EVENT_CONNECTED cannot happen (that is for bufferevent_socket_connect),
 * nor can EOF while writing (only a read sees EOF).  libevent has already
 * disabled the direction that failed or timed out.
 */
static void watch_fisherman(struct bufferevent *bev, short what, void *arg)
{
	struct fisherman *f = arg;

	if (f->hung_up) {
		/* He closed too, or reset, or was silent for LINGER_SECONDS. */
		see_off(f, f->leaving);
	} else if (what & BEV_EVENT_EOF) {
		/* He half-closed: what follows the last LF is one final line. */
		struct evbuffer *input = bufferevent_get_input(bev);
		size_t len = evbuffer_get_length(input);
		const char *catch = (const char *)evbuffer_pullup(input, -1);
		struct weighing w = weigh_catch(&f->wh->market, &f->ledger,
		                                catch, len, true);

		f->heard_eof = true;
		evbuffer_drain(input, w.used);
		if (w.pay && !pay_tally(f))
			return;
		if (w.error != NULL)
			send_away(f, w.error);
		else
			finish_up(f, WHY_EOF);
	} else if (what & BEV_EVENT_ERROR) {
		/* Reset, or the like: nobody is listening, close at once. */
		see_off(f, WHY_RESET);
	} else if (what & BEV_EVENT_READING) {
		/* Read timeout: he sent nothing for -t seconds. */
		send_away(f, WHY_IDLE);
	} else {
		/*
		 * Write timeout: replies pending and nothing moved for -t
		 * seconds (also a closing fisherman who never reads): an ERROR
		 * line would not get through either.
		 */
		see_off(f, f->leaving != NULL ? f->leaving : WHY_IDLE);
	}
}

/*
 * A write left at most OUTPUT_LOW bytes unsent.  A fisherman on his way
 * out goes once everything is sent; any other may be read again.
 */
static void reply_sent(struct bufferevent *bev, void *arg)
{
	struct fisherman *f = arg;

	if (f->leaving != NULL) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			hang_up(f);
		return;
	}
	bufferevent_enable(bev, EV_READ);
}

/*
 * Append his running tally to the output.  False if he had to be seen off
 * (out of memory): the caller must not touch him again.
 */
static bool pay_tally(struct fisherman *f)
{
	char reply[TALLY_REPLY_MAX];
	size_t n = pay_fisherman(&f->wh->market, &f->ledger, reply);

	if (bufferevent_write(f->bev, reply, n) < 0) {
		fprintf(stderr, "fishmarket: out of memory, closing %s\n",
		        f->ledger.peer);
		see_off(f, WHY_RESET);
		return false;
	}
	return true;
}

/* "ERROR <why>", then he goes once it is sent. */
static void send_away(struct fisherman *f, const char *why)
{
	char reply[ERROR_REPLY_MAX];
	size_t n = error_reply(reply, why);

	/* Best effort: if even this cannot be queued, he just goes. */
	(void)bufferevent_write(f->bev, reply, n);
	finish_up(f, why);
}

/*
 * Stop reading and close once every reply is sent.  bufferevent_free()
 * does not flush: freeing now would drop his last tally mid-payment.
 */
static void finish_up(struct fisherman *f, const char *why)
{
	bufferevent_disable(f->bev, EV_READ);
	f->leaving = why;
	if (evbuffer_get_length(bufferevent_get_output(f->bev)) == 0)
		hang_up(f);
	/* else reply_sent hangs up once the output is empty */
}

/*
 * Everything is sent: close, but gently.  close() with unread input makes
 * the kernel answer with a reset, and the reset makes his kernel throw away
 * whatever he has not read yet: his last tally, the ERROR line.  So shut
 * only our sending side (he reads the replies, then end of file), and read
 * and discard until he closes too.  If he already has, close at once.
 */
static void hang_up(struct fisherman *f)
{
	struct timeval linger = { .tv_sec = LINGER_SECONDS };

	if (f->heard_eof || shutdown(bufferevent_getfd(f->bev), SHUT_WR) < 0) {
		see_off(f, f->leaving);
		return;
	}
	f->hung_up = true;
	bufferevent_set_timeouts(f->bev, &linger, NULL);
	if (bufferevent_enable(f->bev, EV_READ) < 0)
		see_off(f, f->leaving);
}

/* He is gone: close the books, free the bufferevent (and the socket). */
static void see_off(struct fisherman *f, const char *why)
{
	struct warehouse *wh = f->wh;
	struct market *m = &wh->market;
	bool was_full = market_full(m);

	ledger_close(m, &f->ledger, why);
	bufferevent_free(f->bev);
	free(f);

	if (was_full)
		open_door(wh);
	/* Closing time and the last one left: the loop may end. */
	if (m->closing && m->open_count == 0)
		event_base_loopexit(wh->base, NULL);
}

static void see_everyone_off(struct warehouse *wh)
{
	struct fisherman *f;

	/* One already sent away keeps his reason in the -v log. */
	while ((f = market_first(&wh->market)) != NULL)
		see_off(f, f->leaving != NULL ? f->leaving : WHY_SHUTDOWN);
}

/*
 * SIGINT or SIGTERM.  The first: stop accepting, let the open connections
 * finish for up to -g seconds.  The second: leave at once, status 1.
 */
static void close_market(evutil_socket_t sig, short what, void *arg)
{
	struct warehouse *wh = arg;
	struct market *m = &wh->market;

	(void)sig;
	(void)what;
	if (m->closing) {
		m->exit_status = 1;
		/* loopbreak: at once, unlike loopexit, which ends the round. */
		event_base_loopbreak(wh->base);
		return;
	}
	m->closing = true;
	shut_door(wh);
	evtimer_del(wh->reopen);

	if (m->open_count == 0) {
		event_base_loopexit(wh->base, NULL);
	} else if (m->opts.grace == 0) {
		see_everyone_off(wh);   /* the last see_off ends the loop */
	} else {
		struct timeval grace = { .tv_sec = (time_t)m->opts.grace };
		if (evtimer_add(wh->grace, &grace) < 0) {
			fprintf(stderr, "fishmarket: cannot start the grace timer\n");
			see_everyone_off(wh);
		}
	}
}

/* The grace period is over: whoever is still in is closed. */
static void grace_over(evutil_socket_t fd, short what, void *arg)
{
	struct warehouse *wh = arg;

	(void)fd;
	(void)what;
	see_everyone_off(wh);   /* the last see_off ends the loop */
}

/* The EMFILE back-off is over: try accepting again. */
static void reopen_door(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	open_door(arg);
}

/*
 * Accept again, unless it is closing time, the market is full, or the
 * EMFILE back-off is running (a one-shot timer is no longer pending once
 * its callback runs, so reopen_door gets through).
 */
static void open_door(struct warehouse *wh)
{
	struct market *m = &wh->market;

	if (m->closing || market_full(m) || evtimer_pending(wh->reopen, NULL))
		return;
	if (evconnlistener_enable(wh->door) < 0) {
		fprintf(stderr, "fishmarket: cannot enable the listener\n");
		m->exit_status = 1;
		event_base_loopbreak(wh->base);
	}
}

/* Stop accepting: whoever connects now waits in the listen backlog. */
static void shut_door(struct warehouse *wh)
{
	evconnlistener_disable(wh->door);
}

/*
 * Out of file descriptors (EMFILE/ENFILE).  The waiting connection stays
 * in the backlog, so the listening socket stays readable: keep watching it
 * and the loop spins at 100% CPU.  Stop watching for a while instead.
 */
static void pause_door(struct warehouse *wh)
{
	shut_door(wh);
	if (evtimer_add(wh->reopen, &emfile_pause) < 0) {
		fprintf(stderr, "fishmarket: cannot start the back-off timer\n");
		open_door(wh);
	}
}

/* --version: the backend is known only once a base has picked it. */
static int show_version(void)
{
	struct event_base *base = event_base_new();
	if (base == NULL) {
		fprintf(stderr, "fishmarket: cannot create an event base\n");
		return 1;
	}
	int status = print_version(VARIANT, event_get_version(), event_base_get_method(base));
	event_base_free(base);
	return status;
}
