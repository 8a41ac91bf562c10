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
#include <sys/socket.h>
#include <sys/time.h>

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
 * The lingering close: once every reply is sent to a fisherman who has not
 * closed his side, the server shuts down only its sending side and reads
 * and discards what he still sends, until he closes, LINGER_SECONDS pass
 * in silence, or LINGER_BYTES are thrown away.  Closing at once with his
 * bytes unread would make the kernel send a reset, and the reset destroys
 * the tally and ERROR line he has not read yet.
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

struct ledger {
	uint64_t tally;              /* running tally, never above TALLY_MAX */
	uint64_t paid;               /* the last tally written to him */
	uint64_t lines;              /* non-blank lines consumed */
	uint64_t rejected;           /* malformed ones among them */
	char peer[FISH_ADDRSTRLEN];  /* "ADDR:PORT" of the fisherman */
	void *owner;                 /* the variant's per-connection struct */
	struct ledger *prev, *next;  /* in market.open, for closing time */
};

struct market {
	struct options opts;
	struct price_list *prices;
	struct stats stats;
	struct ledger open;          /* list head of open connections */
	size_t open_count;
	bool closing;                /* a signal came: accept no one new */
	int exit_status;             /* 0, or 1 after a second signal */
};

/*
 * Everything before the first libevent call: parse options (usage and exit
 * codes of section 7), ignore SIGPIPE, load the price list.  Returns
 * MARKET_OPEN to go on, MARKET_VERSION if --version was asked (no price
 * list loaded), or the exit status to return from main().
 */
#define MARKET_OPEN    (-1)
#define MARKET_VERSION (-2)
int market_prepare(struct market *m, int argc, char *argv[]);

/* Free what market_prepare() made. */
void market_free(struct market *m);

/*
 * "fishmarket VARIANT, libevent VERSION, backend METHOD" on stdout.  Returns
 * the exit status: 0, or 1 if stdout cannot be written (--version >/dev/full).
 */
int print_version(const char *variant, const char *libevent_version,
                   const char *backend);

/*
 * The listening socket, non-blocking: socket(), SO_REUSEADDR *before*
 * bind(), bind(), listen(SOMAXCONN).  On failure prints one line to stderr
 * and returns -1.  (v2-listener lets evconnlistener_new_bind do this.)
 */
int open_warehouse(const struct market *m);

/* getsockname() and print "listening on ADDR:PORT" on stdout, flushed. */
int announce_warehouse(const struct market *m, int fd);

/* What to do about an accept() that failed with errno err. */
enum accept_trouble {
	ACCEPT_DONE,     /* EAGAIN: nobody else is waiting */
	ACCEPT_AGAIN,    /* EINTR, ECONNABORTED, ...: try the next one */
	ACCEPT_PAUSE     /* EMFILE, ENFILE, ENOBUFS, ENOMEM, or anything
	                    unknown (EBADF, EINVAL): back off */
};
enum accept_trouble accept_trouble(int err);

/* A fisherman walks in: count him, note his address, link him in. */
void ledger_open(struct market *m, struct ledger *l, void *owner,
                 const struct sockaddr *peer, socklen_t peerlen);

/* He leaves: unlink, and log one line under -v. */
void ledger_close(struct market *m, struct ledger *l, const char *why);

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
 * (and .pay is set for them); .error says why to send him away.
 */
struct weighing weigh_catch(struct market *m, struct ledger *l,
                            const char *catch, size_t len, bool at_eof);

/* The reply "<tally>\r\n" into reply; books what was paid. */
size_t pay_fisherman(struct market *m, struct ledger *l,
                     char reply[TALLY_REPLY_MAX]);

/* "ERROR <why>\r\n" into reply (at most 64 bytes); returns its length. */
#define ERROR_REPLY_MAX 64
size_t error_reply(char reply[ERROR_REPLY_MAX], const char *why);

/* The summary line on stderr, unless -q. */
void market_summary(const struct market *m);

#endif
