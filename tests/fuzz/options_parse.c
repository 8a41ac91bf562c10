/*
 * options_parse.c - libFuzzer harness for the command line (section 7,
 * options_parse() in common/options.c).
 *
 * The input is split on NUL bytes into argv[1..]; argv[0] is the program.
 * Every argument is its own exactly sized heap block (ASan catches a read
 * past the terminator).  Oracles, for whatever argv:
 * - OPT_ERROR comes with one non-empty message line, terminated, no newline;
 * - OPT_RUN gives values inside the documented bounds (DESIGN.md, Limits):
 *   port 0..65535, -m 1..1 MiB, -t and -g 0..86400, -c 1..10^6, and an
 *   address of the right family and length whose port is the one parsed;
 * - the parser is pure: parsing the same argv twice gives the same answer
 *   (the pitfall: getopt's global optind/optarg state not reset between
 *   calls, so the second parse silently skips arguments).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

#define MAX_ARGS 64

static void fail(const char *what)
{
	fprintf(stderr, "options_parse oracle: %s\n", what);
	abort();
}

static void check_run(const struct options *o)
{
	if (o->port > 65535)
		fail("port out of range");
	if (o->max_line < 1 || o->max_line > OPT_MAX_MAX_LINE)
		fail("-m out of range");
	if (o->idle_timeout > OPT_MAX_SECONDS || o->grace > OPT_MAX_SECONDS)
		fail("-t or -g out of range");
	if (o->max_conns < 1 || o->max_conns > OPT_MAX_MAX_CONNS)
		fail("-c out of range");
	if (o->verbosity != VERBOSITY_QUIET && o->verbosity != VERBOSITY_NORMAL &&
	    o->verbosity != VERBOSITY_VERBOSE)
		fail("bad verbosity");
	if (o->addr.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)&o->addr;
		if (o->addrlen != sizeof *in || ntohs(in->sin_port) != o->port)
			fail("IPv4 address and port disagree");
	} else if (o->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)&o->addr;
		if (o->addrlen != sizeof *in6 || ntohs(in6->sin6_port) != o->port)
			fail("IPv6 address and port disagree");
	} else {
		fail("address family neither IPv4 nor IPv6");
	}
}

static void check_err(const char *err, size_t errlen)
{
	size_t n = strnlen(err, errlen);
	if (n == 0 || n == errlen || memchr(err, '\n', n) != NULL)
		fail("error message empty, unterminated or with a newline");
}

/*
 * Build argv from the input, split on NUL ("-p\0" "0" -> {"-p", "0"}; a
 * trailing NUL ends the last argument, so "-b\0\0" gives {"-b", ""}).
 * Fresh copies every time: getopt may permute argv.
 */
static int make_argv(const uint8_t *data, size_t size, char **argv)
{
	int argc = 0;
	size_t start = 0;

	argv[argc] = strdup("fishmarket-fuzz");
	if (argv[argc] == NULL)
		return -1;
	argc++;
	while (start < size && argc < MAX_ARGS) {
		const uint8_t *nul = memchr(data + start, '\0', size - start);
		size_t end = nul ? (size_t)(nul - data) : size;
		char *a = malloc(end - start + 1);
		if (a == NULL)
			break;
		memcpy(a, data + start, end - start);
		a[end - start] = '\0';
		argv[argc++] = a;
		start = end + 1;
	}
	argv[argc] = NULL;
	return argc;
}

static void free_argv(char **argv, int argc)
{
	for (int i = 0; i < argc; i++)
		free(argv[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_ARGS + 1], *argv2[MAX_ARGS + 1];
	char err[256], err2[256];
	struct options o, o2;

	int argc = make_argv(data, size, argv);
	if (argc < 0)
		return 0;
	int argc2 = make_argv(data, size, argv2);
	if (argc2 != argc) {
		free_argv(argv, argc);
		if (argc2 > 0)
			free_argv(argv2, argc2);
		return 0;
	}

	memset(err, 'X', sizeof err);
	enum opt_action a = options_parse(&o, argc, argv, err, sizeof err);
	switch (a) {
	case OPT_RUN:
		check_run(&o);
		break;
	case OPT_ERROR:
		check_err(err, sizeof err);
		break;
	case OPT_HELP:
	case OPT_VERSION:
		break;
	default:
		fail("unknown action");
	}

	enum opt_action a2 = options_parse(&o2, argc2, argv2, err2, sizeof err2);
	if (a2 != a)
		fail("second parse of the same argv differs: global state?");
	if (a == OPT_RUN &&
	    (o2.port != o.port || o2.max_line != o.max_line ||
	     o2.idle_timeout != o.idle_timeout || o2.max_conns != o.max_conns ||
	     o2.grace != o.grace || o2.verbosity != o.verbosity ||
	     o2.addrlen != o.addrlen ||
	     memcmp(&o2.addr, &o.addr, o.addrlen) != 0))
		fail("second parse of the same argv differs: global state?");
	if (a == OPT_ERROR && strcmp(err, err2) != 0)
		fail("second parse gives another error");

	free_argv(argv, argc);
	free_argv(argv2, argc2);
	return 0;
}
