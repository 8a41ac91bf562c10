/*
 * options.c - the command line of section 7.
 *
 * A hand-written parser rather than getopt_long(): getopt prints its own
 * messages, keeps state in globals (optind) that make it awkward to call
 * twice (a unit test calls it hundreds of times), accepts abbreviated long
 * options (--pri for --prices) and permutes operands.  This one is pure:
 * argv in, struct options or one line of error out.
 *
 * Order: arguments are read left to right and the first one that ends the
 * parse wins: an error, -h/--help or --version.  So `-h --frob` is help,
 * `--frob -h` is an error, and `--version -h` prints the version.  Every
 * value is still checked as it is met, so the error named is always the
 * leftmost one.
 */
#include "options.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

enum opt_id {
	O_BIND, O_PORT, O_MAX_LINE, O_IDLE, O_MAX_CONNS, O_WORKERS, O_PRICES,
	O_GRACE, O_VERBOSE, O_QUIET, O_HELP, O_VERSION
};

static const struct opt_spec {
	char short_name;       /* 0: long only */
	const char *long_name;
	bool takes_value;
	enum opt_id id;
} specs[] = {
	{ 'b', "bind",         true,  O_BIND },
	{ 'p', "port",         true,  O_PORT },
	{ 'm', "max-line",     true,  O_MAX_LINE },
	{ 't', "idle-timeout", true,  O_IDLE },
	{ 'c', "max-conns",    true,  O_MAX_CONNS },
	{ 'w', "workers",      true,  O_WORKERS },
	{ 0,   "prices",       true,  O_PRICES },
	{ 'g', "grace",        true,  O_GRACE },
	{ 'v', "verbose",      false, O_VERBOSE },
	{ 'q', "quiet",        false, O_QUIET },
	{ 'h', "help",         false, O_HELP },
	{ 0,   "version",      false, O_VERSION },
};
#define NSPECS (sizeof specs / sizeof specs[0])

static void say(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	/* The message quotes what the user typed, which may hold a newline
	 * or an escape sequence: keep it one printable line. */
	for (char *c = err; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

/*
 * Decimal digits only, lo..hi.  No strtoul(): it skips leading white space,
 * accepts a sign (and "-1" becomes ULONG_MAX), "0x" with base 0, and needs
 * care with errno to see overflow.  Saturating keeps any length safe.
 */
static bool parse_number(const char *s, unsigned long lo, unsigned long hi,
                         unsigned long *out)
{
	unsigned long v = 0;

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v <= hi)
			v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* A numeric option's value, or its one-line error naming the range. */
static bool number_option(const char *name, const char *value,
                          unsigned long lo, unsigned long hi,
                          unsigned long *out, char *err, size_t errlen)
{
	if (parse_number(value, lo, hi, out))
		return true;
	say(err, errlen, "invalid %s '%s' (%lu to %lu)", name, value, lo, hi);
	return false;
}

bool options_parse_addr(const char *addr, unsigned port,
                        struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof *ss);
	if (port > 65535)
		return false;
	/* inet_pton only: a host name is never looked up (section 7), so a
	 * typo cannot silently bind somewhere else or stall on DNS. */
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len = sizeof *sin;
		return true;
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	memset(ss, 0, sizeof *ss);
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof *sin6;
		return true;
	}
	memset(ss, 0, sizeof *ss);
	return false;
}

char *format_sockaddr(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (len == 0)
		return buf;
	if (sa != NULL && sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		if (inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host)) {
			snprintf(buf, len, "%s:%u", host,
			         (unsigned)ntohs(sin->sin_port));
			return buf;
		}
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 =
			(const struct sockaddr_in6 *)sa;
		if (inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host)) {
			snprintf(buf, len, "[%s]:%u", host,
			         (unsigned)ntohs(sin6->sin6_port));
			return buf;
		}
	}
	snprintf(buf, len, "?");
	return buf;
}

/* Apply one option with its value (NULL for a flag). */
static enum opt_action apply(struct options *o, const struct opt_spec *sp,
                             const char *value, const char **bind,
                             char *err, size_t errlen)
{
	unsigned long v;

	/* Only flags come without a value (the callers see to that); ""
	 * keeps every case below free of NULL checks, and lets the static
	 * analyzers, which cannot read the spec table, see it too. */
	if (value == NULL)
		value = "";
	switch (sp->id) {
	case O_BIND: {
		struct sockaddr_storage ss;
		socklen_t len;
		if (!options_parse_addr(value, 0, &ss, &len)) {
			say(err, errlen, "invalid address '%s' (numeric IPv4 "
			    "or IPv6 only)", value);
			return OPT_ERROR;
		}
		*bind = value;
		break;
	}
	case O_PORT:
		if (!number_option("port", value, 0, 65535,
		                   &v, err, errlen))
			return OPT_ERROR;
		o->port = (unsigned)v;
		break;
	case O_MAX_LINE:
		if (!number_option("max-line", value, 1, OPT_MAX_MAX_LINE,
		                   &v, err, errlen))
			return OPT_ERROR;
		o->max_line = (size_t)v;
		break;
	case O_IDLE:
		if (!number_option("idle-timeout", value, 0, OPT_MAX_SECONDS,
		                   &v, err, errlen))
			return OPT_ERROR;
		o->idle_timeout = (unsigned)v;
		break;
	case O_MAX_CONNS:
		if (!number_option("max-conns", value, 1, OPT_MAX_MAX_CONNS,
		                   &v, err, errlen))
			return OPT_ERROR;
		o->max_conns = (unsigned)v;
		break;
	case O_WORKERS:
		if (!number_option("workers", value, 0, OPT_MAX_WORKERS,
		                   &v, err, errlen))
			return OPT_ERROR;
		o->workers = (unsigned)v;
		break;
	case O_GRACE:
		if (!number_option("grace", value, 0, OPT_MAX_SECONDS,
		                   &v, err, errlen))
			return OPT_ERROR;
		o->grace = (unsigned)v;
		break;
	case O_PRICES:
		if (*value == '\0') {
			say(err, errlen, "option '--prices' needs a file name");
			return OPT_ERROR;
		}
		o->prices_path = value;
		break;
	case O_VERBOSE:
		o->verbosity = VERBOSITY_VERBOSE;
		break;
	case O_QUIET:
		o->verbosity = VERBOSITY_QUIET;
		break;
	case O_HELP:
		return OPT_HELP;
	case O_VERSION:
		return OPT_VERSION;
	}
	return OPT_RUN;
}

enum opt_action options_parse(struct options *o, int argc, char *const argv[],
                              char *err, size_t errlen)
{
	const char *bind = OPT_DEFAULT_ADDR;
	enum opt_action act;
	int i;

	memset(o, 0, sizeof *o);
	o->port = OPT_DEFAULT_PORT;
	o->max_line = OPT_DEFAULT_MAX_LINE;
	o->idle_timeout = OPT_DEFAULT_IDLE;
	o->max_conns = OPT_DEFAULT_MAX_CONNS;
	o->grace = OPT_DEFAULT_GRACE;
	o->workers = OPT_DEFAULT_WORKERS;
	o->prices_path = NULL;
	o->verbosity = VERBOSITY_NORMAL;
	if (errlen > 0)
		err[0] = '\0';

	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (strcmp(arg, "--") == 0) {
			i++;
			break;                 /* the rest are operands */
		}
		if (arg[0] == '-' && arg[1] == '-') {
			/* --name, --name=value or --name value; no
			 * abbreviations: --ver must not mean --verbose. */
			const char *name = arg + 2;
			const char *eq = strchr(name, '=');
			size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
			const struct opt_spec *sp = NULL;

			for (size_t k = 0; k < NSPECS; k++) {
				if (strlen(specs[k].long_name) == nlen &&
				    memcmp(specs[k].long_name, name, nlen) == 0) {
					sp = &specs[k];
					break;
				}
			}
			if (sp == NULL) {
				say(err, errlen, "unknown option '--%.*s'",
				    (int)nlen, name);
				return OPT_ERROR;
			}
			const char *value = NULL;
			if (sp->takes_value) {
				if (eq != NULL) {
					value = eq + 1;
				} else if (i + 1 < argc) {
					value = argv[++i];
				} else {
					say(err, errlen, "option '--%s' needs a "
					    "value", sp->long_name);
					return OPT_ERROR;
				}
			} else if (eq != NULL) {
				say(err, errlen, "option '--%s' takes no value",
				    sp->long_name);
				return OPT_ERROR;
			}
			act = apply(o, sp, value, &bind, err, errlen);
			if (act != OPT_RUN)
				return act;
			continue;
		}
		if (arg[0] == '-' && arg[1] != '\0') {
			/* A cluster of short options: -vq, -p8080, -vp 8080. */
			for (const char *c = arg + 1; *c != '\0'; c++) {
				const struct opt_spec *sp = NULL;

				for (size_t k = 0; k < NSPECS; k++) {
					if (specs[k].short_name == *c) {
						sp = &specs[k];
						break;
					}
				}
				if (sp == NULL) {
					if ((unsigned char)*c >= 0x20 &&
					    (unsigned char)*c < 0x7f)
						say(err, errlen, "unknown option "
						    "'-%c'", *c);
					else
						say(err, errlen, "unknown option "
						    "in '%s'", arg);
					return OPT_ERROR;
				}
				const char *value = NULL;
				bool last = false;
				if (sp->takes_value) {
					if (c[1] != '\0') {
						value = c + 1;
					} else if (i + 1 < argc) {
						value = argv[++i];
					} else {
						say(err, errlen, "option '-%c' "
						    "needs a value", *c);
						return OPT_ERROR;
					}
					last = true;   /* the value ends it */
				}
				act = apply(o, sp, value, &bind, err, errlen);
				if (act != OPT_RUN)
					return act;
				if (last)
					break;
			}
			continue;
		}
		/* A lone "-" or a word: the server takes no operands. */
		say(err, errlen, "unexpected argument '%s'", arg);
		return OPT_ERROR;
	}
	if (i < argc) {
		say(err, errlen, "unexpected argument '%s'", argv[i]);
		return OPT_ERROR;
	}

	/* Only now, with the final -p and -b known: `-p 1 -b ::1` and
	 * `-b ::1 -p 1` must mean the same thing. */
	if (!options_parse_addr(bind, o->port, &o->addr, &o->addrlen)) {
		say(err, errlen, "invalid address '%s'", bind);
		return OPT_ERROR;
	}
	return OPT_RUN;
}

void options_usage(FILE *out, const char *argv0)
{
	const char *prog = argv0 != NULL && *argv0 != '\0' ? argv0 : "fishmarket";
	const char *slash = strrchr(prog, '/');

	/* basename() may modify its argument (POSIX) or not (GNU): do it by
	 * hand on a const string. */
	if (slash != NULL && slash[1] != '\0')
		prog = slash + 1;
	int w = (int)strlen("usage: ") + (int)strlen(prog) + 1;

	fprintf(out,
	        "usage: %s [-b ADDR] [-p PORT] [-m BYTES] [-t SECONDS]\n"
	        "%*s[-c CONNS] [-w WORKERS] [--prices FILE]\n"
	        "%*s[-g SECONDS] [-v] [-q] [-h] [--version]\n"
	        "\n"
	        "  -b, --bind ADDR             numeric IPv4/IPv6 address "
	        "(default %s)\n"
	        "  -p, --port PORT             0 to 65535, 0 = any free port "
	        "(default %u)\n"
	        "  -m, --max-line BYTES        longest line, 1 to %u "
	        "(default %u)\n"
	        "  -t, --idle-timeout SECONDS  0 to %u, 0 = never (default %u)\n"
	        "  -c, --max-conns CONNS       open connections, 1 to %u "
	        "(default %u)\n"
	        "  -w, --workers WORKERS       event loops, one per thread, "
	        "0 to %u,\n"
	        "                              0 = one per CPU (default %u)\n"
	        "      --prices FILE           price list file "
	        "(default: the built-in list)\n"
	        "  -g, --grace SECONDS         shutdown grace, 0 to %u "
	        "(default %u)\n"
	        "  -v, --verbose               log every closed connection\n"
	        "  -q, --quiet                 errors only, no summary line\n"
	        "  -h, --help                  print this help and exit\n"
	        "      --version               print the version and exit\n",
	        prog, w, "", w, "",
	        OPT_DEFAULT_ADDR, (unsigned)OPT_DEFAULT_PORT,
	        OPT_MAX_MAX_LINE, (unsigned)OPT_DEFAULT_MAX_LINE,
	        OPT_MAX_SECONDS, (unsigned)OPT_DEFAULT_IDLE,
	        OPT_MAX_MAX_CONNS, (unsigned)OPT_DEFAULT_MAX_CONNS,
	        OPT_MAX_WORKERS, (unsigned)OPT_DEFAULT_WORKERS,
	        OPT_MAX_SECONDS, (unsigned)OPT_DEFAULT_GRACE);
}
