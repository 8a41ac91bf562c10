/*
 * test_options.c - section 7's command line: every flag, both sides of
 * every limit, every kind of bad value, through the pure parser.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "options.h"
#include "suites.h"

static struct options o;
static char err[256];

/* options_parse("fishmarket-test", args..., NULL) */
static enum opt_action run(const char *first, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;

	argv[argc++] = (char *)"fishmarket-test";
	va_start(ap, first);
	for (const char *a = first; a != NULL; a = va_arg(ap, const char *)) {
		ck_assert_int_lt(argc, 31);
		argv[argc++] = (char *)a;
	}
	va_end(ap);
	argv[argc] = NULL;
	memset(&o, 0x5a, sizeof o);        /* garbage: defaults must be set */
	strcpy(err, "(untouched)");
	return options_parse(&o, argc, argv, err, sizeof err);
}

#define ok(...) ck_assert_msg(run(__VA_ARGS__, NULL) == OPT_RUN, "%s", err)

static void error_is(enum opt_action act, const char *message)
{
	ck_assert_int_eq(act, OPT_ERROR);
	ck_assert_str_eq(err, message);
}

#define fails(message, ...) error_is(run(__VA_ARGS__, NULL), (message))

static unsigned bound_port(void)
{
	if (o.addr.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&o.addr)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&o.addr)->sin6_port);
}

static const char *bound_addr(void)
{
	static char buf[FISH_ADDRSTRLEN];

	return format_sockaddr((struct sockaddr *)&o.addr, buf, sizeof buf);
}

/* --- 7 defaults ----------------------------------------------------------- */

START_TEST(defaults)
{
	char *argv[] = { (char *)"fishmarket", NULL };

	memset(&o, 0x5a, sizeof o);
	ck_assert_int_eq(options_parse(&o, 1, argv, err, sizeof err), OPT_RUN);
	ck_assert_uint_eq(o.port, 8080);
	ck_assert_uint_eq(o.max_line, 1024);
	ck_assert_uint_eq(o.idle_timeout, 60);
	ck_assert_uint_eq(o.max_conns, 10000);
	ck_assert_uint_eq(o.grace, 5);
	ck_assert_uint_eq(o.workers, 1);
	ck_assert_ptr_null(o.prices_path);
	ck_assert_int_eq(o.verbosity, VERBOSITY_NORMAL);
	ck_assert_int_eq(o.addr.ss_family, AF_INET);
	ck_assert_uint_eq(o.addrlen, sizeof(struct sockaddr_in));
	ck_assert_str_eq(bound_addr(), "127.0.0.1:8080");
	/* argc 0 (execve with an empty argv) is not a crash either. */
	ck_assert_int_eq(options_parse(&o, 0, argv, err, sizeof err), OPT_RUN);
	ck_assert_str_eq(bound_addr(), "127.0.0.1:8080");
}
END_TEST

/* --- 7 port ---------------------------------------------------------------- */

START_TEST(port_values)
{
	ok("-p", "0");
	ck_assert_uint_eq(o.port, 0);
	ck_assert_uint_eq(bound_port(), 0);
	ok("-p", "1");
	ck_assert_uint_eq(bound_port(), 1);
	ok("-p", "65535");
	ck_assert_uint_eq(o.port, 65535);
	ck_assert_uint_eq(bound_port(), 65535);
	ok("-p", "08080");
	ck_assert_uint_eq(o.port, 8080);
	fails("invalid port '65536' (0 to 65535)", "-p", "65536");
	fails("invalid port '70000' (0 to 65535)", "-p", "70000");
	fails("invalid port '4294967297' (0 to 65535)", "-p", "4294967297");
	fails("invalid port '99999999999999999999999' (0 to 65535)",
	      "-p", "99999999999999999999999");
	/* 2^64 + 80: a wrapping accumulator would read it as 80. */
	fails("invalid port '18446744073709551696' (0 to 65535)",
	      "-p", "18446744073709551696");
	fails("invalid port '4294967376' (0 to 65535)", "-p", "4294967376");
	fails("invalid max-conns '18446744073709551617' (1 to 1000000)",
	      "-c", "18446744073709551617");
}
END_TEST

START_TEST(port_spellings)
{
	ok("-p8081");
	ck_assert_uint_eq(o.port, 8081);
	ok("-p", "8082");
	ck_assert_uint_eq(o.port, 8082);
	ok("--port=8083");
	ck_assert_uint_eq(o.port, 8083);
	ok("--port", "8084");
	ck_assert_uint_eq(o.port, 8084);
	/* The last one given wins. */
	ok("-p", "1", "--port", "2");
	ck_assert_uint_eq(o.port, 2);
}
END_TEST

START_TEST(port_bad_numbers)
{
	fails("invalid port '' (0 to 65535)", "-p", "");
	fails("invalid port '' (0 to 65535)", "--port=");
	fails("invalid port '-1' (0 to 65535)", "-p", "-1");
	fails("invalid port '-1' (0 to 65535)", "-p-1");
	fails("invalid port '+80' (0 to 65535)", "-p", "+80");
	fails("invalid port ' 80' (0 to 65535)", "-p", " 80");
	fails("invalid port '80 ' (0 to 65535)", "-p", "80 ");
	fails("invalid port '0x50' (0 to 65535)", "-p", "0x50");
	fails("invalid port '80abc' (0 to 65535)", "-p", "80abc");
	fails("invalid port '8.0' (0 to 65535)", "-p", "8.0");
	fails("invalid port 'http' (0 to 65535)", "-p", "http");
	fails("invalid port '1e3' (0 to 65535)", "--port", "1e3");
}
END_TEST

/* --- 7 limits: -m, -t, -c, -g ------------------------------------------ */

START_TEST(max_line)
{
	fails("invalid max-line '0' (1 to 1048576)", "-m", "0");
	ok("-m", "1");
	ck_assert_uint_eq(o.max_line, 1);
	ok("-m1048576");
	ck_assert_uint_eq(o.max_line, 1048576);
	fails("invalid max-line '1048577' (1 to 1048576)", "-m", "1048577");
	ok("--max-line=4096");
	ck_assert_uint_eq(o.max_line, 4096);
	ok("--max-line", "7");
	ck_assert_uint_eq(o.max_line, 7);
	fails("invalid max-line '-1' (1 to 1048576)", "--max-line=-1");
	fails("invalid max-line '' (1 to 1048576)", "--max-line=");
	fails("invalid max-line '1k' (1 to 1048576)", "-m", "1k");
}
END_TEST

START_TEST(idle_timeout)
{
	ok("-t", "0");
	ck_assert_uint_eq(o.idle_timeout, 0);
	ok("-t", "1");
	ck_assert_uint_eq(o.idle_timeout, 1);
	ok("-t86400");
	ck_assert_uint_eq(o.idle_timeout, 86400);
	fails("invalid idle-timeout '86401' (0 to 86400)", "-t", "86401");
	ok("--idle-timeout=30");
	ck_assert_uint_eq(o.idle_timeout, 30);
	ok("--idle-timeout", "31");
	ck_assert_uint_eq(o.idle_timeout, 31);
	fails("invalid idle-timeout '-1' (0 to 86400)", "-t", "-1");
	fails("invalid idle-timeout '1.5' (0 to 86400)", "-t", "1.5");
	fails("invalid idle-timeout '' (0 to 86400)", "--idle-timeout=");
}
END_TEST

START_TEST(max_conns)
{
	fails("invalid max-conns '0' (1 to 1000000)", "-c", "0");
	ok("-c", "1");
	ck_assert_uint_eq(o.max_conns, 1);
	ok("-c1000000");
	ck_assert_uint_eq(o.max_conns, 1000000);
	fails("invalid max-conns '1000001' (1 to 1000000)", "-c", "1000001");
	ok("--max-conns=50");
	ck_assert_uint_eq(o.max_conns, 50);
	ok("--max-conns", "51");
	ck_assert_uint_eq(o.max_conns, 51);
	fails("invalid max-conns '-5' (1 to 1000000)", "-c", "-5");
	fails("invalid max-conns '' (1 to 1000000)", "-c", "");
}
END_TEST

/*
 * Section 8: -w 0 to 64, 0 meaning one per CPU (market_prepare resolves it:
 * the parser stays pure).  65 is an unusable value, exit 2 like any other.
 */
START_TEST(workers)
{
	ok("-w", "0");
	ck_assert_uint_eq(o.workers, 0);
	ok("-w", "1");
	ck_assert_uint_eq(o.workers, 1);
	ok("-w64");
	ck_assert_uint_eq(o.workers, 64);
	fails("invalid workers '65' (0 to 64)", "-w", "65");
	ok("--workers=2");
	ck_assert_uint_eq(o.workers, 2);
	ok("--workers", "3");
	ck_assert_uint_eq(o.workers, 3);
	fails("invalid workers '-1' (0 to 64)", "-w", "-1");
	fails("invalid workers '' (0 to 64)", "--workers=");
	fails("invalid workers '2x' (0 to 64)", "-w", "2x");
	fails("option '-w' needs a value", "-w");
}
END_TEST

START_TEST(grace)
{
	ok("-g", "0");
	ck_assert_uint_eq(o.grace, 0);
	ok("-g", "86400");
	ck_assert_uint_eq(o.grace, 86400);
	fails("invalid grace '86401' (0 to 86400)", "-g", "86401");
	ok("--grace=9");
	ck_assert_uint_eq(o.grace, 9);
	ok("--grace", "10");
	ck_assert_uint_eq(o.grace, 10);
	ok("-g1");
	ck_assert_uint_eq(o.grace, 1);
	fails("invalid grace '-1' (0 to 86400)", "-g", "-1");
	fails("invalid grace 'x' (0 to 86400)", "--grace", "x");
}
END_TEST

/* --- 7 prices ------------------------------------------------------------ */

START_TEST(prices_option)
{
	ok("--prices", "fish.txt");
	ck_assert_str_eq(o.prices_path, "fish.txt");
	ok("--prices=/etc/fish prices.txt");
	ck_assert_str_eq(o.prices_path, "/etc/fish prices.txt");
	/* A file name may start with a dash when given separately. */
	ok("--prices", "-weird");
	ck_assert_str_eq(o.prices_path, "-weird");
	fails("option '--prices' needs a file name", "--prices=");
	fails("option '--prices' needs a file name", "--prices", "");
	fails("option '--prices' needs a value", "--prices");
	/* Long only. */
	fails("unknown option '-P'", "-P", "x");
}
END_TEST

/* --- 7 bind ---------------------------------------------------------------- */

START_TEST(bind_literals)
{
	ok("-b", "0.0.0.0");
	ck_assert_str_eq(bound_addr(), "0.0.0.0:8080");
	ok("-b", "::1");
	ck_assert_int_eq(o.addr.ss_family, AF_INET6);
	ck_assert_uint_eq(o.addrlen, sizeof(struct sockaddr_in6));
	ck_assert_str_eq(bound_addr(), "[::1]:8080");
	ok("--bind=::");
	ck_assert_str_eq(bound_addr(), "[::]:8080");
	ok("--bind", "10.1.2.3");
	ck_assert_str_eq(bound_addr(), "10.1.2.3:8080");
	ok("-b::ffff:127.0.0.1");
	ck_assert_str_eq(bound_addr(), "[::ffff:127.0.0.1]:8080");
}
END_TEST

START_TEST(bind_not_names)
{
	fails("invalid address 'localhost' (numeric IPv4 or IPv6 only)",
	      "-b", "localhost");
	fails("invalid address 'example.com' (numeric IPv4 or IPv6 only)",
	      "-b", "example.com");
	fails("invalid address '' (numeric IPv4 or IPv6 only)", "-b", "");
	fails("invalid address '' (numeric IPv4 or IPv6 only)", "--bind=");
	fails("invalid address '[::1]' (numeric IPv4 or IPv6 only)",
	      "-b", "[::1]");
	fails("invalid address '127.0.0.1:80' (numeric IPv4 or IPv6 only)",
	      "-b", "127.0.0.1:80");
	fails("invalid address '256.0.0.1' (numeric IPv4 or IPv6 only)",
	      "-b", "256.0.0.1");
	fails("invalid address '1.2.3' (numeric IPv4 or IPv6 only)",
	      "-b", "1.2.3");
	fails("invalid address ' 1.2.3.4' (numeric IPv4 or IPv6 only)",
	      "-b", " 1.2.3.4");
}
END_TEST

START_TEST(bind_order)
{
	/* -p applies to -b whichever comes first. */
	ok("-b", "::1", "-p", "9000");
	ck_assert_str_eq(bound_addr(), "[::1]:9000");
	ok("-p", "9001", "-b", "::1");
	ck_assert_str_eq(bound_addr(), "[::1]:9001");
	ok("-p", "9002", "-b", "127.0.0.2");
	ck_assert_str_eq(bound_addr(), "127.0.0.2:9002");
	ok("-b", "::1", "-b", "127.0.0.3");
	ck_assert_str_eq(bound_addr(), "127.0.0.3:8080");
}
END_TEST

/* --- 7 verbosity ---------------------------------------------------------- */

START_TEST(verbosity)
{
	ok("-v");
	ck_assert_int_eq(o.verbosity, VERBOSITY_VERBOSE);
	ok("--verbose");
	ck_assert_int_eq(o.verbosity, VERBOSITY_VERBOSE);
	ok("-q");
	ck_assert_int_eq(o.verbosity, VERBOSITY_QUIET);
	ok("--quiet");
	ck_assert_int_eq(o.verbosity, VERBOSITY_QUIET);
	/* The last one given wins. */
	ok("-vq");
	ck_assert_int_eq(o.verbosity, VERBOSITY_QUIET);
	ok("-qv");
	ck_assert_int_eq(o.verbosity, VERBOSITY_VERBOSE);
	ok("-v", "--quiet");
	ck_assert_int_eq(o.verbosity, VERBOSITY_QUIET);
	ok("--quiet", "-v");
	ck_assert_int_eq(o.verbosity, VERBOSITY_VERBOSE);
}
END_TEST

START_TEST(clusters)
{
	ok("-vp", "9000");
	ck_assert_int_eq(o.verbosity, VERBOSITY_VERBOSE);
	ck_assert_uint_eq(o.port, 9000);
	ok("-vp9001");
	ck_assert_uint_eq(o.port, 9001);
	ok("-qvm", "64");
	ck_assert_int_eq(o.verbosity, VERBOSITY_VERBOSE);
	ck_assert_uint_eq(o.max_line, 64);
	/* A value ends the cluster: "-pv" is port "v". */
	fails("invalid port 'v' (0 to 65535)", "-pv");
	fails("unknown option '-x'", "-vx");
}
END_TEST

/* --- 7 help and version ------------------------------------------------- */

START_TEST(help_version)
{
	ck_assert_int_eq(run("-h", NULL), OPT_HELP);
	ck_assert_int_eq(run("--help", NULL), OPT_HELP);
	ck_assert_int_eq(run("-vh", NULL), OPT_HELP);
	ck_assert_int_eq(run("-p", "1", "-h", NULL), OPT_HELP);
	ck_assert_int_eq(run("--version", NULL), OPT_VERSION);
	ck_assert_int_eq(run("-q", "--version", NULL), OPT_VERSION);
	/* Left to right, the first that ends the parse wins. */
	ck_assert_int_eq(run("-h", "--frob", NULL), OPT_HELP);
	ck_assert_int_eq(run("-h", "--version", NULL), OPT_HELP);
	ck_assert_int_eq(run("--version", "-h", NULL), OPT_VERSION);
	ck_assert_int_eq(run("--version", "-p", "99999", NULL), OPT_VERSION);
	fails("unknown option '--frob'", "--frob", "-h");
	fails("invalid port '99999' (0 to 65535)", "-p", "99999", "--help");
	/* "-p -h": -h is the port value, not help. */
	fails("invalid port '-h' (0 to 65535)", "-p", "-h");
	fails("option '--help' takes no value", "--help=1");
	fails("option '--version' takes no value", "--version=2");
}
END_TEST

/* --- 7 syntax errors ------------------------------------------------------ */

START_TEST(syntax_errors)
{
	fails("unknown option '--frob'", "--frob");
	fails("unknown option '--frob'", "--frob=1");
	fails("unknown option '-x'", "-x");
	fails("unknown option '-V'", "-V");
	/* No abbreviations: --ver is neither --verbose nor --version. */
	fails("unknown option '--ver'", "--ver");
	fails("unknown option '--p'", "--p", "80");
	fails("unknown option '--PORT'", "--PORT", "80");
	fails("option '-p' needs a value", "-p");
	fails("option '-b' needs a value", "-b");
	fails("option '-m' needs a value", "-vm");
	fails("option '--port' needs a value", "--port");
	fails("option '--grace' needs a value", "--grace");
	fails("option '--verbose' takes no value", "--verbose=1");
	fails("option '--quiet' takes no value", "--quiet=");
}
END_TEST

START_TEST(operands)
{
	/* The server takes no operands. */
	fails("unexpected argument '8080'", "8080");
	fails("unexpected argument 'fish.txt'", "-v", "fish.txt");
	fails("unexpected argument '-'", "-");
	/* "--" ends the options: what follows is an operand. */
	ok("--");
	ok("-v", "--");
	fails("unexpected argument '-v'", "--", "-v");
	fails("unexpected argument 'x'", "--", "x");
	/* An option's value is not an operand. */
	ok("-b", "::1", "-p", "0");
	/* A value may look like "--" */
	fails("invalid port '--' (0 to 65535)", "-p", "--");
}
END_TEST

START_TEST(error_is_one_line)
{
	/* A value is quoted in the message: a newline or an escape in it must
	 * not split the line or reach the terminal (found by fuzzing). */
	fails("invalid port '?' (0 to 65535)", "-p", "\n");
	fails("unknown option '--a?b'", "--a\x1b" "b");
	fails("unexpected argument 'x?y'", "x\x7fy");
}
END_TEST

/* --- 7 usage --------------------------------------------------------------- */

START_TEST(usage_text)
{
	struct capture cap;
	const char *text;

	capture_begin(&cap, 1);
	options_usage(stdout, "/usr/local/bin/fishmarket-v2-raw");
	text = capture_end(&cap);
	ck_assert_msg(starts(text, "usage: fishmarket-v2-raw [-b ADDR] [-p PORT] "
	              "[-m BYTES] [-t SECONDS]\n"), "%s", text);
	/* Continuation lines line up under the first option. */
	ck_assert_ptr_nonnull(strstr(text, "\n                         [-c CONNS] "
	                             "[-w WORKERS] [--prices FILE]\n"));
	ck_assert_ptr_nonnull(strstr(text, "\n                         [-g SECONDS] "
	                             "[-v] [-q] [-h] [--version]\n"));
	static const char *const lines[] = {
		"-b, --bind ADDR", "-p, --port PORT", "-m, --max-line BYTES",
		"-t, --idle-timeout SECONDS", "-c, --max-conns CONNS",
		"-w, --workers WORKERS", "0 = one per CPU (default 1)",
		"--prices FILE", "-g, --grace SECONDS", "-v, --verbose",
		"-q, --quiet", "-h, --help", "--version",
		"(default 127.0.0.1)", "(default 8080)", "1 to 1048576 (default 1024)",
		"0 to 86400, 0 = never (default 60)", "1 to 1000000 (default 10000)",
		"0 to 86400 (default 5)",
	};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
		ck_assert_msg(strstr(text, lines[i]) != NULL, "no '%s' in:\n%s",
		              lines[i], text);
	/* Every line ends with a newline and nothing is left dangling. */
	ck_assert(text[strlen(text) - 1] == '\n');

	capture_begin(&cap, 2);
	options_usage(stderr, "fishmarket-v1-style");
	text = capture_end(&cap);
	ck_assert(starts(text, "usage: fishmarket-v1-style [-b ADDR]"));
	capture_begin(&cap, 2);
	options_usage(stderr, NULL);
	text = capture_end(&cap);
	ck_assert(starts(text, "usage: fishmarket [-b ADDR]"));
}
END_TEST

/* --- 7 addresses: parsing and "listening on" formatting ----------------- */

START_TEST(addresses)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[FISH_ADDRSTRLEN];

	ck_assert(options_parse_addr("127.0.0.1", 0, &ss, &len));
	ck_assert_str_eq(format_sockaddr((struct sockaddr *)&ss, buf, sizeof buf),
	                 "127.0.0.1:0");
	ck_assert(options_parse_addr("::1", 65535, &ss, &len));
	ck_assert_uint_eq(len, sizeof(struct sockaddr_in6));
	ck_assert_str_eq(format_sockaddr((struct sockaddr *)&ss, buf, sizeof buf),
	                 "[::1]:65535");
	ck_assert(options_parse_addr("fe80::1:2:3:4", 1, &ss, &len));
	ck_assert_str_eq(format_sockaddr((struct sockaddr *)&ss, buf, sizeof buf),
	                 "[fe80::1:2:3:4]:1");
	ck_assert(!options_parse_addr("localhost", 1, &ss, &len));
	ck_assert(!options_parse_addr("::1", 65536, &ss, &len));

	/* The longest IPv6 text still fits in FISH_ADDRSTRLEN. */
	ck_assert(options_parse_addr("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
	                             65535, &ss, &len));
	format_sockaddr((struct sockaddr *)&ss, buf, sizeof buf);
	ck_assert_str_eq(buf, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	memset(&sin6->sin6_addr, 0, sizeof sin6->sin6_addr);
	sin6->sin6_addr.s6_addr[10] = 0xff;
	sin6->sin6_addr.s6_addr[11] = 0xff;
	memset(&sin6->sin6_addr.s6_addr[12], 0xff, 4);
	format_sockaddr((struct sockaddr *)&ss, buf, sizeof buf);
	ck_assert_str_eq(buf, "[::ffff:255.255.255.255]:65535");

	/* Anything else is "?". */
	memset(&ss, 0, sizeof ss);
	ss.ss_family = AF_UNIX;
	ck_assert_str_eq(format_sockaddr((struct sockaddr *)&ss, buf, sizeof buf),
	                 "?");
	ss.ss_family = AF_UNSPEC;
	ck_assert_str_eq(format_sockaddr((struct sockaddr *)&ss, buf, sizeof buf),
	                 "?");
	/* A short buffer is cut, never overrun. */
	ck_assert(options_parse_addr("127.0.0.1", 8080, &ss, &len));
	char small[6];
	ck_assert_str_eq(format_sockaddr((struct sockaddr *)&ss, small,
	                                 sizeof small), "127.0");
}
END_TEST

Suite *options_suite(void)
{
	Suite *s = suite_create("options");
	TCase *tc;

	tc = tcase_create("7 defaults");
	tcase_add_test(tc, defaults);
	suite_add_tcase(s, tc);

	tc = tcase_create("7 port");
	tcase_add_test(tc, port_values);
	tcase_add_test(tc, port_spellings);
	tcase_add_test(tc, port_bad_numbers);
	suite_add_tcase(s, tc);

	tc = tcase_create("7 limits");
	tcase_add_test(tc, max_line);
	tcase_add_test(tc, idle_timeout);
	tcase_add_test(tc, max_conns);
	tcase_add_test(tc, grace);
	suite_add_tcase(s, tc);

	tc = tcase_create("8 workers");
	tcase_add_test(tc, workers);
	suite_add_tcase(s, tc);

	tc = tcase_create("7 prices");
	tcase_add_test(tc, prices_option);
	suite_add_tcase(s, tc);

	tc = tcase_create("7 bind");
	tcase_add_test(tc, bind_literals);
	tcase_add_test(tc, bind_not_names);
	tcase_add_test(tc, bind_order);
	suite_add_tcase(s, tc);

	tc = tcase_create("7 verbosity");
	tcase_add_test(tc, verbosity);
	tcase_add_test(tc, clusters);
	suite_add_tcase(s, tc);

	tc = tcase_create("7 help and version");
	tcase_add_test(tc, help_version);
	suite_add_tcase(s, tc);

	tc = tcase_create("7 usage errors");
	tcase_add_test(tc, syntax_errors);
	tcase_add_test(tc, operands);
	tcase_add_test(tc, error_is_one_line);
	suite_add_tcase(s, tc);

	tc = tcase_create("7 usage text");
	tcase_add_test(tc, usage_text);
	suite_add_tcase(s, tc);

	tc = tcase_create("7 listening address");
	tcase_add_test(tc, addresses);
	suite_add_tcase(s, tc);

	return s;
}
