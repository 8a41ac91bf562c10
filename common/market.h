/*
 * market.h - the fishmonger's books and everything a server does that is
 * not libevent: start-up (options, price list, SIGPIPE), the listening
 * socket, weighing a catch, paying, the -v log and the summary line.
 *
 * A variant embeds a `struct ledger` in its own per-connection struct and
 * makes every libevent call itself; it hands this module raw bytes and gets
 * back what to drain, whether to pay, and whether to send the fisherman
 * away.
 */
#ifndef FISH_MARKET_H
#define FISH_MARKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>

#include "crew.h"
#include "options.h"
#include "prices.h"
#include "stats.h"
#include "tally.h"

/*
 * Unsent reply bytes one connection may hold (section 6): at or above
 * OUTPUT_HIGH the server stops reading that connection; it reads again once
 * the output has drained to OUTPUT_LOW.
 */
#define OUTPUT_HIGH (64 * 1024)
#define OUTPUT_LOW  (16 * 1024)

/*
 * The lingering close: once every reply is handed to the kernel for a
 * fisherman who has not closed his side, the server shuts down only its
 * sending side and reads and discards what he still sends, until he closes,
 * LINGER_SECONDS pass in silence, or LINGER_BYTES are thrown away.  Closing
 * at once with his bytes unread would make the kernel send a reset at once
 * and drop what it had not transmitted yet: the tail of his replies, the
 * ERROR line.
 */
#define LINGER_SECONDS 2
#define LINGER_BYTES   (1024 * 1024)

/* How long to stop accepting after EMFILE/ENFILE (section 6: 0.1 to 1 s). */
extern const struct timeval emfile_pause;

/* Reasons a connection closes, for the -v log and the ERROR line. */
#define WHY_EOF       "eof"
#define WHY_RESET     "reset"
#define WHY_TOO_LONG  "line too long"
#define WHY_OVERFLOW  "tally overflow"
#define WHY_IDLE      "idle timeout"
#define WHY_SHUTDOWN  "shutdown"
#define WHY_TURNED_AWAY "turned away"

struct ledger {
	uint64_t tally;              /* running tally, never above TALLY_MAX */
	uint64_t paid;               /* the last tally written to him */
	uint64_t lines;              /* non-blank lines consumed */
	uint64_t rejected;           /* malformed ones among them */
	size_t scanned;              /* leading input bytes known to hold no LF */
	/*
	 * His address as accept() gave it, AF_UNSPEC if unknown.  Formatted
	 * only when printed (ledger_peer): a snprintf per connection costs
	 * more instructions than libevent's reading his catch, and most
	 * connections are never named in a message.
	 */
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} peer;
	void *owner;                 /* the variant's per-connection struct */
	struct ledger *prev, *next;  /* in market.open, for closing time */
};

/*
 * One fishmonger's books.  market_prepare() fills the one main() keeps;
 * with workers (section 8) each fishmonger gets his own copy from
 * market_hire(), with his share of -c and books of his own, so that
 * nothing on a connection's path is shared between threads.  The price
 * list is shared, read-only, and owned by main()'s market.
 */
struct market {
	struct options opts;         /* opts.workers: the crew's size, >= 1 */
	struct price_list *prices;
	struct stats stats;
	struct ledger open;          /* list head of open connections */
	size_t open_count;
	bool closing;                /* closing time: accept no one new */
	bool jammed;                 /* accept is paused and we said so */
	unsigned others_working;     /* the first fishmonger waits for these */
	int exit_status;             /* 0, or 1 after a second signal */
};

/*
 * Everything before the first libevent call: parse options (usage and exit
 * codes of section 7), ignore SIGPIPE, load the price list, settle the
 * crew's size (-w 0: one per online CPU) and, for a crew on a fixed port,
 * make sure no other server listens there (see market.c).  Returns
 * MARKET_OPEN to go on, MARKET_VERSION if --version was asked (no price
 * list loaded), or the exit status to return from main().
 */
#define MARKET_OPEN    (-1)
#define MARKET_VERSION (-2)
int market_prepare(struct market *m, int argc, char *argv[]);

/*
 * libevent's log callback (event_set_log_callback(), in 1.x and 2.x alike):
 * its warnings and errors go to stderr as one line each, "fishmarket:
 * libevent: ...", like every other message.  Without it they would be
 * "[warn] ..." and "[err] ...", and event_init()'s fatal one among them.
 * (The signature is libevent's event_log_cb, in plain C types.)
 */
void libevent_says(int severity, const char *msg);

/* Free what market_prepare() made. */
void market_free(struct market *m);

/*
 * Fishmonger i of size: a copy of main()'s market m with empty books, an
 * empty open list, his share of -c (crew_share), and for the first one the
 * count of the others he waits for at closing time.  He borrows m's price
 * list: never market_free() his copy.
 */
void market_hire(struct market *hired, const struct market *m, unsigned i,
                 unsigned size);

/* Add a fishmonger's books (and exit status) to main()'s, after he ended. */
void market_add_books(struct market *m, const struct market *hired);

/*
 * Closing time is over for this fishmonger: it is closing time, his last
 * fisherman has left and, for the first one, every other has finished.
 * Then his loop may end.
 */
bool market_closed(const struct market *m);

/*
 * "fishmarket VARIANT, libevent VERSION, backend METHOD" on stdout.  Returns
 * the exit status: 0, or 1 if stdout cannot be written (--version >/dev/full).
 */
int print_version(const char *variant, const char *libevent_version,
                   const char *backend);

/*
 * The listening socket, non-blocking: socket(), SO_REUSEADDR *before*
 * bind(), SO_REUSEPORT too if there is more than one fishmonger,
 * SO_KEEPALIVE, bind(), listen(SOMAXCONN).  On failure prints one line to
 * stderr and returns -1.  (v2-listener lets evconnlistener_new_bind do
 * this.)
 */
int open_warehouse(const struct market *m);

/*
 * After the first door is open on port 0: the port the kernel picked,
 * written into m's options so that every other fishmonger binds the same
 * one.  Returns 0, or -1 after printing one line.
 */
int market_pin_port(struct market *m, int fd);

/* getsockname() and print "listening on ADDR:PORT" on stdout, flushed. */
int announce_warehouse(const struct market *m, int fd);

/*
 * What to do about an accept() that failed with errno err.  On
 * ACCEPT_PAUSE it also says so on stderr, one line per jam: not again
 * until a fisherman has been let in since.
 */
enum accept_trouble {
	ACCEPT_DONE,     /* EAGAIN: nobody else is waiting */
	ACCEPT_AGAIN,    /* EINTR, ECONNABORTED, ...: try the next one */
	ACCEPT_PAUSE     /* EMFILE, ENFILE, ENOBUFS, ENOMEM, or anything
	                    unknown (EBADF, EINVAL): back off */
};
enum accept_trouble accept_trouble(struct market *m, int err);

/*
 * send() what is owed on a non-blocking socket at once, without waiting for
 * the loop to say it is writable: how many bytes the kernel took (0 if its
 * buffer is full, EAGAIN, or the call was interrupted, EINTR), or -1 if the
 * socket failed (reset, broken pipe: what libevent treats as fatal too).
 * MSG_NOSIGNAL: no SIGPIPE, whatever the process's disposition.
 */
ssize_t hand_over(int fd, const char *bytes, size_t n);

/*
 * Whether a fisherman's socket has something for us this very moment:
 * bytes (or his end, or an error) to read when !writing, room to write
 * when writing.  poll() with no wait: false if not, or if poll() fails.
 * For a timeout that the loop noticed too late: see watch_fisherman().
 */
bool socket_ready(int fd, bool writing);

/* A fisherman walks in: count him, keep his address, link him in. */
void ledger_open(struct market *m, struct ledger *l, void *owner,
                 const struct sockaddr *peer, socklen_t peerlen);

/* "ADDR:PORT" ("[ADDR]:PORT" for IPv6, "?" if unknown) into buf; buf. */
const char *ledger_peer(const struct ledger *l, char buf[FISH_ADDRSTRLEN]);

/* He leaves: unlink, and log one line under -v. */
void ledger_close(struct market *m, struct ledger *l, const char *why);

/*
 * A fisherman accepted and then turned away before his books were opened
 * (out of memory, say): still an accepted connection for the summary line
 * (section 7's N), and logged under -v as closed (turned away).
 */
void ledger_refuse(struct market *m, const struct sockaddr *peer,
                   socklen_t peerlen);

/* True if max-conns fishermen are in: stop accepting until one leaves. */
bool market_full(const struct market *m);

/* The first open fisherman's owner, or NULL: for closing time. */
void *market_first(const struct market *m);

struct weighing {
	size_t used;          /* bytes to drain from the input */
	bool pay;             /* at least one line consumed: write the tally */
	const char *error;    /* NULL, WHY_TOO_LONG or WHY_OVERFLOW */
};

/*
 * Weigh every complete line in catch[0, len).  With at_eof, bytes after the
 * last LF are one final line.  Lines before an offending one are valued
 * (and .pay is set for them); .error says why to send him away.  The
 * caller drains .used bytes and hands back the rest, with whatever arrived
 * since, next time: the ledger remembers how much of it was already
 * searched for an LF, so a line that arrives a byte at a time costs time
 * linear, not quadratic, in its length.
 */
struct weighing weigh_catch(struct market *m, struct ledger *l,
                            const char *catch, size_t len, bool at_eof);

/*
 * Book his running tally as paid.  Call it once the reply (tally_format of
 * l->tally) is queued: section 7's T counts the last tally written to each
 * fisherman, and one that could not even be queued was never written.
 */
void pay_fisherman(struct market *m, struct ledger *l);

/* "ERROR <why>\r\n" into reply (at most 64 bytes); returns its length. */
#define ERROR_REPLY_MAX 64
size_t error_reply(char reply[ERROR_REPLY_MAX], const char *why);

/* The summary line on stderr, unless -q. */
void market_summary(const struct market *m);

#endif
