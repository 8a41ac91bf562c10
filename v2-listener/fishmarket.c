/*
 * fishmarket v2-listener: the fish market server written against the
 * libevent 2 API, with an evconnlistener accepting for it.
 *
 * Fishermen connect, send lines such as "3 pounds of trout", and get back
 * the running value of their catch, "21\r\n", after every read (the fish
 * exchange contract, docs/fish-exchange.md).  Each fishmonger (worker) runs
 * one event loop: an evconnlistener accepts, one bufferevent per fisherman
 * reads his lines and writes his tally.  With -w N there are
 * N of them, one per thread, each with his own base and his own listening
 * socket on the same port; the first one runs on the main thread, and with
 * -w 1 (the default) he is the only one.
 *
 * libevent generation: 2.x, the event_base API.  Everything hangs off an
 * explicit struct event_base (event_base_new, event_new,
 * bufferevent_socket_new); nothing uses a hidden global, so each thread can
 * have a base of its own.  socket(), bind(), listen() and the accept() loop
 * are libevent's (evconnlistener_new_bind): greet_fisherman is called once
 * per accepted connection.  Compare v2-raw (the same program with the
 * listening socket and accept loop by hand) and v1-style (the same program
 * in the libevent 1.x API).
 *
 * It stops on SIGINT or SIGTERM: every fishmonger stops accepting, lets his
 * open connections finish for up to -g seconds, closes what is left; then
 * the summary line of all of them, and exit 0.  A second signal exits at
 * once with status 1.
 *
 * Every libevent call of this variant is in this file; everything else
 * (options, prices, weighing, the books, messages, threads) is in common/.
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

/* One fishmonger (worker): an event loop, and every event it watches. */
struct fishmonger {
	struct market market;        /* his books and his share of -c */
	struct warehouse *wh;
	unsigned id;                 /* 0: the first, on the main thread */
	struct event_base *base;
	struct evconnlistener *door; /* accepts, calls greet_fisherman */
	struct event *reopen;        /* EMFILE back-off: reopen_door */
	struct event *grace;         /* closing time is over: grace_over */
	struct event *news;          /* his notify pipe: hear_news */
};

/* The market: its crew of fishmongers, and the signals. */
struct warehouse {
	struct market market;        /* options, prices; at the end, all books */
	struct crew crew;            /* threads and notify pipes (common/) */
	struct fishmonger fm[CREW_MAX];
	struct event *sigint, *sigterm;
	bool signalled;              /* a first signal came */
};

/* One open connection. */
struct fisherman {
	struct ledger ledger;        /* his books, linked into market.open */
	struct fishmonger *fm;       /* who serves him, from accept to close */
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
static void hear_news(evutil_socket_t fd, short what, void *arg);
static void grace_over(evutil_socket_t fd, short what, void *arg);
static void reopen_door(evutil_socket_t fd, short what, void *arg);

/* The helpers they share. */
static bool hire_fishmonger(struct warehouse *wh, unsigned i);
static void dismiss_fishmonger(struct fishmonger *fm);
static void *work(void *arg);
static void welcome_fisherman(struct fishmonger *fm, evutil_socket_t fd,
                              const struct sockaddr *peer, socklen_t peerlen);
static bool weigh_bucket(struct fisherman *f, bool at_eof);
static bool pay_tally(struct fisherman *f);
static ssize_t write_through(struct fisherman *f, const char *bytes, size_t n);
static void out_of_memory(struct fisherman *f);
static void send_away(struct fisherman *f, const char *why);
static void finish_up(struct fisherman *f, const char *why);
static void write_for_sure(struct fisherman *f);
static void hang_up(struct fisherman *f);
static void see_off(struct fisherman *f, const char *why);
static void see_everyone_off(struct fishmonger *fm);
static void closing_time(struct fishmonger *fm);
static void end_the_day(struct fishmonger *fm);
static void open_door(struct fishmonger *fm);
static void shut_door(struct fishmonger *fm);
static void pause_door(struct fishmonger *fm);
static int show_version(void);

int main(int argc, char *argv[])
{
	static struct warehouse wh;    /* 64 fishmongers: not on the stack */
	struct market *m = &wh.market;
	unsigned hired = 0;

	/* First, so that every message of libevent's looks like ours. */
	event_set_log_callback(libevent_says);
	int status = market_prepare(m, argc, argv);
	if (status == MARKET_VERSION)
		return show_version();
	if (status != MARKET_OPEN)
		return status;
	status = 1;   /* until the market has run */

	/* A notify pipe for each: how news reaches a fishmonger's loop. */
	if (crew_hire(&wh.crew, m->opts.workers) < 0)
		goto close_books;
	/*
	 * Every base, door and event is made here, on the main thread, before
	 * any worker starts; from then on each is touched by its own
	 * fishmonger's thread only.
	 */
	for (; hired < wh.crew.size; hired++)
		if (!hire_fishmonger(&wh, hired))
			goto dismiss;

	/*
	 * libevent turns a signal into an ordinary callback run by the loop, so
	 * close_market may do anything, unlike a signal(2) handler.  Only one
	 * base can have signal events (libevent has one handler per process):
	 * the first fishmonger's, whose loop runs on this thread.
	 */
	wh.sigint = evsignal_new(wh.fm[0].base, SIGINT, close_market, &wh);
	if (wh.sigint == NULL) {
		fprintf(stderr, "fishmarket: cannot create the SIGINT event\n");
		goto dismiss;
	}
	wh.sigterm = evsignal_new(wh.fm[0].base, SIGTERM, close_market, &wh);
	if (wh.sigterm == NULL) {
		fprintf(stderr, "fishmarket: cannot create the SIGTERM event\n");
		goto free_sigint;
	}
	if (event_add(wh.sigint, NULL) < 0 || event_add(wh.sigterm, NULL) < 0) {
		fprintf(stderr, "fishmarket: cannot add the events to the loop\n");
		goto free_sigterm;
	}

	/* The others work on threads of their own (none with -w 1). */
	for (unsigned i = 1; i < hired; i++)
		if (crew_start(&wh.crew, i, work, &wh.fm[i]) < 0)
			goto stop_crew;
	if (announce_warehouse(m, evconnlistener_get_fd(wh.fm[0].door)) < 0)
		goto stop_crew;

	/* The story happens in here, until closing time is over. */
	work(&wh.fm[0]);
	/* The others have finished by now, unless the first one's loop failed. */
	crew_tell_all(&wh.crew, NEWS_QUIT);
	crew_join(&wh.crew);
	for (unsigned i = 0; i < hired; i++)
		market_add_books(m, &wh.fm[i].market);
	market_summary(m);
	status = m->exit_status;
	goto free_sigterm;

stop_crew:
	crew_tell_all(&wh.crew, NEWS_QUIT);
	crew_join(&wh.crew);
free_sigterm:
	event_free(wh.sigterm);
free_sigint:
	event_free(wh.sigint);
dismiss:
	while (hired > 0)
		dismiss_fishmonger(&wh.fm[--hired]);
	crew_dismiss(&wh.crew);
close_books:
	market_free(m);
	return status;
}

/*
 * Fishmonger i: his books, his event base, his door (with a crew, each
 * door a listening socket of its own on the one port), his timers and his
 * news event.  False, after one line on stderr, with nothing of his left.
 */
static bool hire_fishmonger(struct warehouse *wh, unsigned i)
{
	struct fishmonger *fm = &wh->fm[i];
	unsigned flags;

	market_hire(&fm->market, &wh->market, i, wh->crew.size);
	fm->wh = wh;
	fm->id = i;
	fm->base = event_base_new();
	if (fm->base == NULL) {
		fprintf(stderr, "fishmarket: cannot create an event base\n");
		return false;
	}

	/*
	 * socket(), SO_KEEPALIVE, SO_REUSEADDR (LEV_OPT_REUSEABLE, set before
	 * bind() as it must be), SO_REUSEPORT for a crew
	 * (LEV_OPT_REUSEABLE_PORT), bind(), listen(), O_NONBLOCK, and the
	 * accept loop: all libevent's.  The backlog must be given: -1 means
	 * 128 in libevent 2.1, not SOMAXCONN, too few for a burst of 1000
	 * connects.  IPV6_V6ONLY as open_warehouse() sets it, for IPv6 only
	 * (it fails on IPv4).  LEV_OPT_DISABLED, enabled below: the pitfall is
	 * that evconnlistener_new() enables the listener itself and ignores a
	 * failure to (listener.c:204), and a server that cannot watch its
	 * listening socket then says "listening" and never accepts anyone.
	 */
	flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC |
	        LEV_OPT_DISABLED;
	if (fm->market.opts.workers > 1)
		flags |= LEV_OPT_REUSEABLE_PORT;
	if (fm->market.opts.addr.ss_family == AF_INET6)
		flags |= LEV_OPT_BIND_IPV6ONLY;
	fm->door = evconnlistener_new_bind(fm->base, greet_fisherman, fm, flags,
	                                   SOMAXCONN,
	                                   (struct sockaddr *)&fm->market.opts.addr,
	                                   (int)fm->market.opts.addrlen);
	if (fm->door == NULL) {
		char where[FISH_ADDRSTRLEN];
		fprintf(stderr, "fishmarket: cannot bind %s: %s\n",
		        format_sockaddr((struct sockaddr *)&fm->market.opts.addr,
		                        where, sizeof where), strerror(errno));
		goto fail;
	}
	/* Without it, EMFILE makes the listener log and retry: it spins. */
	evconnlistener_set_error_cb(fm->door, door_jammed);
	fm->reopen = evtimer_new(fm->base, reopen_door, fm);
	if (fm->reopen == NULL) {
		fprintf(stderr, "fishmarket: cannot create the back-off timer\n");
		goto fail;
	}
	fm->grace = evtimer_new(fm->base, grace_over, fm);
	if (fm->grace == NULL) {
		fprintf(stderr, "fishmarket: cannot create the grace timer\n");
		goto fail;
	}
	/* The notify pipe is a descriptor like any socket: watch it. */
	fm->news = event_new(fm->base, crew_news_fd(&wh->crew, i),
	                     EV_READ | EV_PERSIST, hear_news, fm);
	if (fm->news == NULL) {
		fprintf(stderr, "fishmarket: cannot create the news event\n");
		goto fail;
	}
	if (evconnlistener_enable(fm->door) < 0 || event_add(fm->news, NULL) < 0) {
		fprintf(stderr, "fishmarket: cannot add the events to the loop\n");
		goto fail;
	}
	/* -p 0: the kernel picked the first door's port; the others take it. */
	if (i == 0 &&
	    market_pin_port(&wh->market, evconnlistener_get_fd(fm->door)) < 0)
		goto fail;
	return true;

fail:
	dismiss_fishmonger(fm);
	return false;
}

/*
 * What hire_fishmonger() made, in reverse order.  What it did not get to
 * make is still NULL: event_free(NULL) would crash.
 */
static void dismiss_fishmonger(struct fishmonger *fm)
{
	if (fm->news != NULL)
		event_free(fm->news);
	if (fm->grace != NULL)
		event_free(fm->grace);
	if (fm->reopen != NULL)
		event_free(fm->reopen);
	/* LEV_OPT_CLOSE_ON_FREE: this closes the listening socket too. */
	if (fm->door != NULL)
		evconnlistener_free(fm->door);
	event_base_free(fm->base);
}

/*
 * A fishmonger's day: his loop, until closing time is over for him (or a
 * second signal).  The first one's runs on the main thread; the others'
 * each on a thread of their own, which ends here.
 */
static void *work(void *arg)
{
	struct fishmonger *fm = arg;

	if (event_base_dispatch(fm->base) < 0) {
		fprintf(stderr, "fishmarket: the event loop failed\n");
		fm->market.exit_status = 1;
	}
	/* After a second signal some are still in: close them, in the books. */
	see_everyone_off(fm);
	/* The first one waits for the others before his loop may end. */
	if (fm->id != 0)
		crew_tell(&fm->wh->crew, 0, NEWS_DONE);
	return NULL;
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
 * the waiting connection keeps the socket readable.  The decision, and the
 * one line on stderr it is worth, are common/'s accept_trouble(), as in the
 * variants that accept by hand.
 */
static void door_jammed(struct evconnlistener *door, void *arg)
{
	struct fishmonger *fm = arg;

	(void)door;
	if (accept_trouble(&fm->market, EVUTIL_SOCKET_ERROR()) == ACCEPT_PAUSE)
		pause_door(fm);
}

/*
 * A fisherman is in, fd already non-blocking: give him a bufferevent and
 * open his books.  If he cannot be served, he is sent home (fd closed) and
 * the market goes on.
 */
static void welcome_fisherman(struct fishmonger *fm, evutil_socket_t fd,
                              const struct sockaddr *peer, socklen_t peerlen)
{
	struct market *m = &fm->market;
	struct fisherman *f = calloc(1, sizeof *f);
	if (f == NULL) {
		fprintf(stderr, "fishmarket: out of memory, turning a fisherman away\n");
		ledger_refuse(m, peer, peerlen);
		evutil_closesocket(fd);
		return;
	}
	f->fm = fm;

	/*
	 * BEV_OPT_CLOSE_ON_FREE: the bufferevent owns the socket, and closes
	 * it once it is finalized, after bufferevent_free() (see_off).
	 */
	f->bev = bufferevent_socket_new(fm->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (f->bev == NULL) {
		fprintf(stderr, "fishmarket: cannot create a bufferevent, turning a fisherman away\n");
		ledger_refuse(m, peer, peerlen);
		evutil_closesocket(fd);
		free(f);
		return;
	}
	bufferevent_setcb(f->bev, buy_fish, reply_sent, watch_fisherman, f);
	/*
	 * The idle timeout: no byte read while reading, or no byte written
	 * while replies are pending.  -t 0 sets none: a new bufferevent has
	 * none.  (To remove one, pass NULL, the documented "no timeout";
	 * libevent 2.1 also takes a zero timeval so, but does not promise it.)
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
		ledger_refuse(m, peer, peerlen);
		bufferevent_free(f->bev);
		free(f);
		return;
	}

	ledger_open(m, &f->ledger, f, peer, peerlen);
	/* Full: the next ones wait in the listen backlog, unaccepted. */
	if (market_full(m))
		shut_door(fm);
}

/* Bytes arrived: weigh and pay, then mind the backpressure. */
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
	if (!weigh_bucket(f, false))
		return;
	if (evbuffer_get_length(bufferevent_get_output(bev)) >= OUTPUT_HIGH) {
		/* He sends but does not read: stop reading until he does. */
		bufferevent_disable(bev, EV_READ);
		/* Reading again waits on the output draining: see
		 * write_for_sure(). */
		write_for_sure(f);
	}
}

/*
 * Something other than data: end of input, an error, or a timeout, with
 * BEV_EVENT_READING or BEV_EVENT_WRITING saying which direction.
 * BEV_EVENT_CONNECTED cannot happen (that is for bufferevent_socket_connect).
 * libevent has already disabled the direction that failed or timed out.
 */
static void watch_fisherman(struct bufferevent *bev, short what, void *arg)
{
	struct fisherman *f = arg;
	short way = (what & BEV_EVENT_WRITING) ? EV_WRITE : EV_READ;

	if ((what & BEV_EVENT_TIMEOUT) &&
	    socket_ready(bufferevent_getfd(bev), way == EV_WRITE) &&
	    bufferevent_enable(bev, way) == 0) {
		/*
		 * A timeout that is none: the loop came round late (a loaded
		 * machine, a long turn of callbacks) and found both his socket
		 * ready and his deadline past.  timeout_process() (event.c)
		 * then deletes the event, which takes the ready EV_READ or
		 * EV_WRITE off the active queue, and hands it back with
		 * EV_TIMEOUT alone.  Taken at its word, a line he sent in time
		 * would be lost with him.  So the socket is asked, and if it is
		 * ready the direction libevent disabled is watched again: his
		 * clock restarts and the loop reads or writes as usual.  If
		 * even that fails, the timeout stands.
		 */
	} else if (f->hung_up) {
		/* He closed too, or reset, or was silent for LINGER_SECONDS. */
		see_off(f, f->leaving);
	} else if (what & BEV_EVENT_ERROR) {
		/* Reset, or the like: nobody is listening, close at once. */
		see_off(f, WHY_RESET);
	} else if (what & BEV_EVENT_WRITING) {
		/*
		 * Write timeout: replies pending and nothing moved for -t
		 * seconds (also a closing fisherman who never reads): an ERROR
		 * line would not get through either.  Or, without TIMEOUT, EOF
		 * while writing: libevent says so when a write returns 0, which
		 * a write of pending bytes to a TCP socket does not do; if it
		 * ever did, nobody would be reading.
		 */
		if (what & BEV_EVENT_TIMEOUT)
			see_off(f, f->leaving != NULL ? f->leaving : WHY_IDLE);
		else
			see_off(f, WHY_RESET);
	} else if (what & BEV_EVENT_EOF) {
		/* He half-closed: what follows the last LF is one final line. */
		f->heard_eof = true;
		if (weigh_bucket(f, true))
			finish_up(f, WHY_EOF);
	} else {
		/* Read timeout: he sent nothing for -t seconds. */
		send_away(f, WHY_IDLE);
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
	/*
	 * Read him again, after backpressure.  If the output has drained to
	 * nothing, this adds the read event anew (epoll_ctl ADD), which can
	 * fail for want of kernel memory; ignored, he would never be read
	 * again, and with neither event pending no timeout runs: he and his
	 * fd would wait for ever.
	 */
	if (bufferevent_enable(bev, EV_READ) < 0) {
		char peer[FISH_ADDRSTRLEN];
		fprintf(stderr, "fishmarket: cannot read from %s, closing\n",
		        ledger_peer(&f->ledger, peer));
		see_off(f, WHY_RESET);
	}
}

/*
 * Weigh every complete line in his bucket (at EOF, the last one too), pay
 * once for the lot, and keep any partial line for next time.  False if he
 * is gone (sent away, or seen off): the caller must not touch him again.
 */
static bool weigh_bucket(struct fisherman *f, bool at_eof)
{
	struct evbuffer *input = bufferevent_get_input(f->bev);
	size_t len = evbuffer_get_length(input);
	/*
	 * The whole input as one block: never more than one read plus a
	 * partial line (at most --max-line), since every complete line is
	 * drained below.  Not evbuffer_readline(): it ends a line at any CR.
	 * If the bytes span several chains, evbuffer_pullup() copies them into
	 * the first when it has room, else into a new chain, an allocation
	 * that can fail.  (With nothing buffered it returns NULL too, with len
	 * 0: nothing to weigh.)
	 */
	const char *catch = (const char *)evbuffer_pullup(input, -1);
	if (catch == NULL && len > 0) {
		out_of_memory(f);
		return false;
	}
	struct weighing w = weigh_catch(&f->fm->market, &f->ledger, catch, len,
	                                at_eof);

	evbuffer_drain(input, w.used);
	if (w.pay && !pay_tally(f))
		return false;
	if (w.error != NULL) {
		send_away(f, w.error);
		return false;
	}
	return true;
}

/*
 * Pay him: his running tally to the socket, or to the output if it cannot
 * go yet, and only then book it as paid.  False if he had to be seen off
 * (the socket failed, or out of memory): the caller must not touch him
 * again.
 */
static bool pay_tally(struct fisherman *f)
{
	char reply[TALLY_REPLY_MAX];
	size_t n = tally_format(reply, f->ledger.tally);
	ssize_t sent = write_through(f, reply, n);

	if (sent < 0) {
		see_off(f, WHY_RESET);
		return false;
	}
	if ((size_t)sent < n &&
	    bufferevent_write(f->bev, reply + sent, n - (size_t)sent) < 0) {
		out_of_memory(f);
		return false;
	}
	pay_fisherman(&f->fm->market, &f->ledger);
	return true;
}

/* No memory to go on with him: say so, and see him off at once. */
static void out_of_memory(struct fisherman *f)
{
	char peer[FISH_ADDRSTRLEN];

	fprintf(stderr, "fishmarket: out of memory, closing %s\n",
	        ledger_peer(&f->ledger, peer));
	see_off(f, WHY_RESET);
}

/*
 * The optimisation of issue 11: write through when nothing is queued.
 * bufferevent_write() alone is correct, but it only appends to the output
 * and arms write interest (an epoll_ctl); the loop then waits for the
 * socket to be writable, which it nearly always is, writes on the next
 * turn and disarms write interest again (a second epoll_ctl).  So if
 * nothing is queued, send() now and leave to the bufferevent only what the
 * kernel did not take: it then writes that, keeps its write timeout and
 * the backpressure of OUTPUT_HIGH, exactly as before.  Returns how many
 * bytes the kernel took, or -1 if the socket failed (then he is reset, as
 * a failed write in the bufferevent would have him).
 *
 * The pitfall: with anything queued, bytes sent now would overtake it.
 * And evbuffer_write() on the bufferevent's own output cannot stand in for
 * send(): the bufferevent freezes that buffer's front against anyone but
 * itself (evbuffer_write fails at once), and adding to it first arms write
 * interest anyway, which is what this saves.
 */
static ssize_t write_through(struct fisherman *f, const char *bytes, size_t n)
{
	if (evbuffer_get_length(bufferevent_get_output(f->bev)) > 0)
		return 0;
	return hand_over(bufferevent_getfd(f->bev), bytes, n);
}

/* "ERROR <why>", then he goes once it is sent. */
static void send_away(struct fisherman *f, const char *why)
{
	char reply[ERROR_REPLY_MAX];
	size_t n = error_reply(reply, why);
	ssize_t sent = write_through(f, reply, n);

	if (sent < 0) {
		see_off(f, WHY_RESET);
		return;
	}
	/* Best effort: if even this cannot be queued, he just goes. */
	if ((size_t)sent < n)
		(void)bufferevent_write(f->bev, reply + sent, n - (size_t)sent);
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
	else
		write_for_sure(f);   /* reply_sent hangs up once it is empty */
}

/*
 * Make sure the output is being written, before waiting on it with reading
 * off (no read timeout then).  libevent arms the write event from a
 * callback on the output buffer, and 2.1.12 may leave it unarmed: the
 * allocation that registers that callback is not checked in
 * bufferevent_socket_new() (bufferevent_sock.c:375), and the callback
 * ignores a failure to add the event (bufferevent_sock.c:145).  Then
 * nothing he is owed is ever written, no write timeout runs, and he and
 * his fd wait for ever.  Enabling EV_WRITE arms it; if it was armed, this
 * only restarts the write timeout.  If even that fails, he goes, with what
 * is still unsent: "reset", as for any failed write, not the reason he
 * was leaving for ("eof" would say he had been paid in full).
 */
static void write_for_sure(struct fisherman *f)
{
	if (bufferevent_enable(f->bev, EV_WRITE) < 0) {
		char peer[FISH_ADDRSTRLEN];
		fprintf(stderr, "fishmarket: cannot write to %s, closing\n",
		        ledger_peer(&f->ledger, peer));
		see_off(f, WHY_RESET);
	}
}

/*
 * Everything is sent: close, but gently.  "Sent" means handed to our
 * kernel: close() with his bytes still unread would make it answer with a
 * reset at once and drop what it has not transmitted yet, the tail of his
 * replies or the ERROR line.  So shut only our sending side (the kernel
 * delivers everything, then end of file), and read and discard until he
 * closes too.  If he already has, close at once.
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

/*
 * He is gone: close the books and free the bufferevent.  From inside one of
 * its callbacks (the usual case) libevent deletes its events only once that
 * callback returns; either way it closes the socket (BEV_OPT_CLOSE_ON_FREE)
 * when it finalizes the bufferevent, later in this turn of the loop (or in
 * event_base_free() once the loop has ended).
 */
static void see_off(struct fisherman *f, const char *why)
{
	struct fishmonger *fm = f->fm;
	struct market *m = &fm->market;
	bool was_full = market_full(m);

	ledger_close(m, &f->ledger, why);
	bufferevent_free(f->bev);
	free(f);

	if (was_full)
		open_door(fm);
	/* Closing time and the last one left: the loop may end. */
	if (market_closed(m))
		end_the_day(fm);
}

/*
 * End the loop once this round of callbacks is over.  The pitfall:
 * loopexit allocates (it is an event_base_once() timer) and fails if it
 * cannot, and ignoring that leaves a market that took the signal, stopped
 * accepting, and never exits.  loopbreak allocates nothing.
 */
static void end_the_day(struct fishmonger *fm)
{
	if (event_base_loopexit(fm->base, NULL) < 0)
		event_base_loopbreak(fm->base);
}

static void see_everyone_off(struct fishmonger *fm)
{
	struct fisherman *f;

	/* One already sent away keeps his reason in the -v log. */
	while ((f = market_first(&fm->market)) != NULL)
		see_off(f, f->leaving != NULL ? f->leaving : WHY_SHUTDOWN);
}

/*
 * SIGINT or SIGTERM, on the main thread.  The first: every fishmonger
 * closes, each in his own thread when he hears it.  The second: they all
 * leave at once, status 1.  Only news crosses threads, down the pipes.
 */
static void close_market(evutil_socket_t sig, short what, void *arg)
{
	struct warehouse *wh = arg;

	(void)sig;
	(void)what;
	crew_tell_all(&wh->crew, wh->signalled ? NEWS_QUIT : NEWS_CLOSE);
	wh->signalled = true;
}

/* His notify pipe is readable: news from the main thread or the crew. */
static void hear_news(evutil_socket_t fd, short what, void *arg)
{
	struct fishmonger *fm = arg;
	struct market *m = &fm->market;
	int news;

	(void)what;
	while ((news = crew_hear(fd)) >= 0) {
		switch (news) {
		case NEWS_CLOSE:
			closing_time(fm);
			break;
		case NEWS_QUIT:
			m->closing = true;
			m->exit_status = 1;
			/* loopbreak: at once, unlike loopexit, which ends the round. */
			event_base_loopbreak(fm->base);
			return;
		case NEWS_DONE:
			/* To the first one: another fishmonger has finished. */
			m->others_working--;
			if (!m->closing) {
				/*
				 * Before closing time: his loop failed.  Close
				 * the market, status 1: his door would keep
				 * taking its share of fishermen, unserved.
				 */
				m->exit_status = 1;
				crew_tell_all(&fm->wh->crew, NEWS_CLOSE);
			} else if (market_closed(m)) {
				end_the_day(fm);
			}
			break;
		}
	}
}

/*
 * Closing time for one fishmonger: stop accepting, let his fishermen finish
 * for up to -g seconds.
 */
static void closing_time(struct fishmonger *fm)
{
	struct market *m = &fm->market;

	if (m->closing)
		return;
	m->closing = true;
	shut_door(fm);
	evtimer_del(fm->reopen);

	if (market_closed(m)) {
		end_the_day(fm);
	} else if (m->opts.grace == 0) {
		see_everyone_off(fm);   /* the last see_off may end the loop */
	} else {
		struct timeval grace = { .tv_sec = (time_t)m->opts.grace };
		if (evtimer_add(fm->grace, &grace) < 0) {
			fprintf(stderr, "fishmarket: cannot start the grace timer\n");
			see_everyone_off(fm);
		}
	}
}

/* The grace period is over: whoever is still in is closed. */
static void grace_over(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	see_everyone_off(arg);   /* the last see_off may end the loop */
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
static void open_door(struct fishmonger *fm)
{
	struct market *m = &fm->market;

	if (m->closing || market_full(m) || evtimer_pending(fm->reopen, NULL))
		return;
	if (evconnlistener_enable(fm->door) < 0) {
		/*
		 * epoll_ctl() fails for want of kernel memory (ENOMEM, ENOSPC):
		 * a passing trouble, like EMFILE, and no reason to close the
		 * market with everyone in it.  Try again after the same
		 * back-off; give up only if even that timer cannot be set.
		 */
		fprintf(stderr, "fishmarket: cannot watch the listening socket, trying again\n");
		if (evtimer_add(fm->reopen, &emfile_pause) < 0) {
			fprintf(stderr, "fishmarket: cannot start the back-off timer\n");
			m->exit_status = 1;
			event_base_loopbreak(fm->base);
		}
	}
}

/* Stop accepting: whoever connects now waits in the listen backlog. */
static void shut_door(struct fishmonger *fm)
{
	evconnlistener_disable(fm->door);
}

/*
 * Out of file descriptors (EMFILE/ENFILE).  The waiting connection stays
 * in the backlog, so the listening socket stays readable: keep watching it
 * and the loop spins at 100% CPU.  Stop watching for a while instead.
 */
static void pause_door(struct fishmonger *fm)
{
	shut_door(fm);
	if (evtimer_add(fm->reopen, &emfile_pause) < 0) {
		fprintf(stderr, "fishmarket: cannot start the back-off timer\n");
		open_door(fm);
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
