/*
 * options.h - the one command line of section 7, shared by all variants.
 *
 *     fishmarket-<variant> [-b ADDR] [-p PORT] [-m BYTES] [-t SECONDS]
 *                          [-c CONNS] [-w WORKERS] [--prices FILE]
 *                          [-g SECONDS] [-v] [-q] [-h] [--version]
 *
 * The parser is pure: it never prints and never exits, so every flag and
 * every bad value can be unit tested.  fishmarket_prepare() (market.h) is
 * the part that prints usage and picks the exit status.
 */
#ifndef FISH_OPTIONS_H
#define FISH_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#define OPT_DEFAULT_ADDR      "127.0.0.1"
#define OPT_DEFAULT_PORT      8080
#define OPT_DEFAULT_MAX_LINE  1024
#define OPT_DEFAULT_IDLE      60
#define OPT_DEFAULT_MAX_CONNS 10000
#define OPT_DEFAULT_GRACE     5
#define OPT_DEFAULT_WORKERS   1

/* Upper bounds the contract leaves open; written down in the README. */
#define OPT_MAX_MAX_LINE      (1u << 20)     /* -m: 1 .. 1 MiB */
#define OPT_MAX_SECONDS       86400u         /* -t, -g: 0 .. one day */
#define OPT_MAX_MAX_CONNS     1000000u       /* -c: 1 .. 10^6 */
#define OPT_MAX_WORKERS       64u            /* -w: 0 .. 64 (section 8) */

enum verbosity { VERBOSITY_QUIET, VERBOSITY_NORMAL, VERBOSITY_VERBOSE };

struct options {
	struct sockaddr_storage addr;  /* address and port to bind */
	socklen_t addrlen;
	unsigned port;                 /* 0 .. 65535, 0 = ephemeral */
	size_t max_line;               /* -m */
	unsigned idle_timeout;         /* -t seconds, 0 = none */
	unsigned max_conns;            /* -c */
	unsigned grace;                /* -g seconds */
	unsigned workers;              /* -w, 0 = one per online CPU */
	const char *prices_path;       /* --prices, NULL = default list */
	enum verbosity verbosity;      /* -q / -v: the last one given wins */
};

enum opt_action {
	OPT_RUN,       /* start the server */
	OPT_HELP,      /* -h: usage on stdout, exit 0 */
	OPT_VERSION,   /* --version: the variant prints it, exit 0 */
	OPT_ERROR      /* err holds one line; usage on stderr, exit 2 */
};

/* Parse argv (argv[0] is the program).  Fills o with defaults first. */
enum opt_action options_parse(struct options *o, int argc, char *const argv[],
                              char *err, size_t errlen);

/* The usage text, naming the program by the base name of argv0. */
void options_usage(FILE *out, const char *argv0);

/*
 * Parse a numeric IPv4 or IPv6 literal (never a name) and a port into a
 * sockaddr.  Returns false if addr is not a literal.
 */
bool options_parse_addr(const char *addr, unsigned port,
                        struct sockaddr_storage *ss, socklen_t *len);

/*
 * Format "ADDR:PORT", or "[ADDR]:PORT" for IPv6, into buf.  Returns buf.
 * FISH_ADDRSTRLEN is enough for any address.
 */
#define FISH_ADDRSTRLEN 64
char *format_sockaddr(const struct sockaddr *sa, char *buf, size_t len);

#endif
