/*
 * test_market.c - the fishmonger's side of sections 3 to 7 that needs no
 * event loop: weighing a catch (value, line limit, final line, overflow),
 * paying, the books, the open list, the listening socket, start-up.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "market.h"
#include "suites.h"

static struct market M;
static struct ledger L;

/* A market as market_prepare() leaves it, without its side effects. */
static void market_init(const char *max_line, const char *price_text)
{
	char *argv[] = { (char *)"fishmarket-test", (char *)"-m",
	                 (char *)max_line, NULL };
	char err[256];

	memset(&M, 0, sizeof M);
	M.open.next = M.open.prev = &M.open;
	ck_assert_int_eq(options_parse(&M.opts, 3, argv, err, sizeof err),
	                 OPT_RUN);
	if (price_text != NULL)
		M.prices = prices_parse("test", price_text, strlen(price_text),
		                        err, sizeof err);
	else
		M.prices = prices_default();
	ck_assert_ptr_nonnull(M.prices);
	ledger_open(&M, &L, &L, NULL, 0);
}

static void setup_default(void)
{
	market_init("1024", NULL);
}

static void setup_short_lines(void)
{
	market_init("11", NULL);     /* "1 lb of cod" is the longest line */
}

static void setup_whales(void)
{
	market_init("1024", "whale 1000000000\nsprat 1\nfree 0\n");
}

static void teardown(void)
{
	prices_free(M.prices);
	M.prices = NULL;
}

/* Weigh text from an exact-size copy, as a read callback would. */
static struct weighing weigh_n(const char *text, size_t len, bool at_eof)
{
	char *copy = exact_copy(text, len);
	struct weighing w = weigh_catch(&M, &L, copy, len, at_eof);

	free(copy);
	ck_assert_uint_le(w.used, len);
	return w;
}

#define weigh(text, at_eof) weigh_n((text), strlen(text), (at_eof))

static void books_are(uint64_t tally, uint64_t lines, uint64_t rejected)
{
	ck_assert_uint_eq(L.tally, tally);
	ck_assert_uint_eq(L.lines, lines);
	ck_assert_uint_eq(L.rejected, rejected);
	/* One fisherman: the market's books are his. */
	ck_assert_uint_eq(M.stats.lines, lines);
	ck_assert_uint_eq(M.stats.rejected, rejected);
}

/* --- 3 value: count * price, 0 if not listed, malformed rejected -------- */

START_TEST(value_one_line)
{
	struct weighing w = weigh("3 pounds of cod\n", false);

	ck_assert_uint_eq(w.used, 16);
	ck_assert(w.pay);
	ck_assert_ptr_null(w.error);
	books_are(24, 1, 0);
}
END_TEST

START_TEST(value_many_lines)
{
	struct weighing w = weigh("3 pounds of cod\n"
	                          "5 lbs of SALMON\r\n"
	                          "2 lb of  Tuna \t\r\n"
	                          "2 lb of shark\n"
	                          "2 lb of cod fish\n"
	                          "two lb of cod\n"
	                          "\n"
	                          "1000000 pounds of halibut\n", false);

	ck_assert_ptr_null(w.error);
	ck_assert(w.pay);
	ck_assert_uint_eq(w.used, 16 + 17 + 17 + 14 + 17 + 14 + 1 + 26);
	/* 24 + 60 + 30 + 0 + 0 + 0 + 14000000 */
	books_are(14000114, 7, 1);
}
END_TEST

START_TEST(value_zero_and_unlisted)
{
	weigh("0 pounds of tuna\n", false);
	books_are(0, 1, 0);
	weigh("7 lb of unobtainium\n", false);
	books_are(0, 2, 0);
	weigh("7 lb of \xe9\xb1\x88\n", false);
	books_are(0, 3, 0);
}
END_TEST

START_TEST(value_malformed)
{
	struct weighing w = weigh("1000001 lb of cod\n5 pounds of\n"
	                          "5 pounds ofcod\n1 lb of c\x01od\n"
	                          "1 lb of \xff\n", false);

	ck_assert(w.pay);
	ck_assert_ptr_null(w.error);
	books_are(0, 5, 5);
}
END_TEST

START_TEST(value_blank_lines)
{
	/* Blank lines are worth 0, not counted, not rejected, but consumed:
	 * they do make a reply. */
	struct weighing w = weigh("\n\r\n  \t\n \r\n", false);

	ck_assert_uint_eq(w.used, 1 + 2 + 4 + 3);
	ck_assert(w.pay);
	ck_assert_ptr_null(w.error);
	books_are(0, 0, 0);
}
END_TEST

/* --- 5 one reply per read ------------------------------------------------ */

START_TEST(read_partial_lines)
{
	struct weighing w;

	w = weigh("", false);
	ck_assert_uint_eq(w.used, 0);
	ck_assert(!w.pay);
	w = weigh("3 pounds of c", false);
	ck_assert_uint_eq(w.used, 0);
	ck_assert(!w.pay);
	ck_assert_ptr_null(w.error);
	books_are(0, 0, 0);
	/* The rest arrives with the start of the next line. */
	w = weigh("3 pounds of cod\n4 lb of tr", false);
	ck_assert_uint_eq(w.used, 16);
	ck_assert(w.pay);
	books_are(24, 1, 0);
	w = weigh("4 lb of trout\r", false);
	ck_assert_uint_eq(w.used, 0);
	ck_assert(!w.pay);
	w = weigh("4 lb of trout\r\n", false);
	ck_assert_uint_eq(w.used, 15);
	ck_assert(w.pay);
	books_are(52, 2, 0);
}
END_TEST

/*
 * A line that arrives a byte at a time is searched for its LF once, not
 * once per read: each call looks only at the bytes that are new since the
 * last.  To prove it, the bytes already searched are made unreadable
 * before the next call: reading them again would be a SIGSEGV, which Check
 * reports as a failed test.
 */
START_TEST(read_scans_new_bytes_only)
{
	long page = sysconf(_SC_PAGESIZE);
	char *two = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE,
	                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct weighing w;

	ck_assert(two != MAP_FAILED);
	/* 100 bytes of a line at the end of the first page, then 5 more. */
	char *catch = two + page - 100;
	memset(catch, 'x', 105);
	w = weigh_catch(&M, &L, catch, 100, false);
	ck_assert_uint_eq(w.used, 0);
	ck_assert_uint_eq(L.scanned, 100);
	ck_assert_int_eq(mprotect(two, (size_t)page, PROT_NONE), 0);
	w = weigh_catch(&M, &L, catch, 105, false);
	ck_assert_uint_eq(w.used, 0);
	ck_assert(!w.pay);
	ck_assert_ptr_null(w.error);
	ck_assert_uint_eq(L.scanned, 105);
	/* The LF comes: only then is the whole line read, and weighed. */
	ck_assert_int_eq(mprotect(two, (size_t)page, PROT_READ | PROT_WRITE), 0);
	catch[105] = '\n';
	w = weigh_catch(&M, &L, catch, 106, false);
	ck_assert_uint_eq(w.used, 106);
	ck_assert(w.pay);
	ck_assert_uint_eq(L.scanned, 0);
	books_are(0, 1, 1);
	ck_assert_int_eq(munmap(two, (size_t)page * 2), 0);
}
END_TEST

/* What follows a line's LF in the same read is searched from its start. */
START_TEST(read_scan_resumes_after_lines)
{
	struct weighing w;

	w = weigh("1 lb of cod\n2 lb", false);
	ck_assert_uint_eq(w.used, 12);
	ck_assert_uint_eq(L.scanned, 4);
	w = weigh("2 lb of cod\n3 lb of cod\n4", false);
	ck_assert_uint_eq(w.used, 24);
	ck_assert_uint_eq(L.scanned, 1);
	books_are(48, 3, 0);
	/* At EOF the rest is a line of its own, and nothing is left. */
	w = weigh("4 lb of cod", true);
	ck_assert_uint_eq(w.used, 11);
	ck_assert_uint_eq(L.scanned, 0);
	books_are(80, 4, 0);
}
END_TEST

/* --- 5 end of input: the rest is one final line --------------------------- */

START_TEST(eof_final_line)
{
	struct weighing w = weigh("1 lb of cod\n2 lb of cod", true);

	ck_assert_uint_eq(w.used, 23);
	ck_assert(w.pay);
	ck_assert_ptr_null(w.error);
	books_are(24, 2, 0);
}
END_TEST

START_TEST(eof_final_cr_or_blanks)
{
	struct weighing w;

	/* A CR alone: as if the LF followed it, a blank line, and a reply. */
	w = weigh("\r", true);
	ck_assert_uint_eq(w.used, 1);
	ck_assert(w.pay);
	books_are(0, 0, 0);
	w = weigh("  \t", true);
	ck_assert_uint_eq(w.used, 3);
	ck_assert(w.pay);
	books_are(0, 0, 0);
	w = weigh("1 lb of cod\r", true);
	ck_assert_uint_eq(w.used, 12);
	books_are(8, 1, 0);
	w = weigh("1 lb of cod\r\r", true);
	ck_assert_uint_eq(w.used, 13);
	books_are(8, 2, 1);
	w = weigh("junk", true);
	ck_assert(w.pay);
	books_are(8, 3, 2);
}
END_TEST

START_TEST(eof_nothing_left)
{
	struct weighing w;

	/* Nothing after the last LF: no final line. */
	w = weigh("1 lb of cod\n", true);
	ck_assert_uint_eq(w.used, 12);
	books_are(8, 1, 0);
	w = weigh("", true);
	ck_assert_uint_eq(w.used, 0);
	ck_assert(!w.pay);
	ck_assert_ptr_null(w.error);
	/* Without EOF the rest waits for its LF. */
	w = weigh("1 lb of cod", false);
	ck_assert_uint_eq(w.used, 0);
	ck_assert(!w.pay);
	books_are(8, 1, 0);
}
END_TEST

/* --- 6 line length: bytes before the LF, a CR included --------------------- */

START_TEST(length_limit_edges)
{
	struct weighing w;

	/* max_line 11: exactly 11 bytes is fine, 12 is not. */
	w = weigh("1 lb of cod\n", false);
	ck_assert_ptr_null(w.error);
	ck_assert_uint_eq(w.used, 12);
	books_are(8, 1, 0);
	w = weigh("1 lb of cod \n", false);
	ck_assert_str_eq(w.error, WHY_TOO_LONG);
	ck_assert_uint_eq(w.used, 0);
	ck_assert(!w.pay);
	books_are(8, 1, 0);
}
END_TEST

START_TEST(length_cr_counts)
{
	struct weighing w;

	/* 10 bytes + CR = 11: fine.  11 bytes + CR = 12: too long, though
	 * the CR would be stripped. */
	w = weigh("1 lb of co\r\n", false);
	ck_assert_ptr_null(w.error);
	ck_assert_uint_eq(w.used, 12);
	w = weigh("1 lb of cod\r\n", false);
	ck_assert_str_eq(w.error, WHY_TOO_LONG);
	ck_assert_uint_eq(w.used, 0);
	ck_assert(!w.pay);
}
END_TEST

START_TEST(length_unterminated)
{
	struct weighing w;

	/* Fires as soon as more than max_line bytes without an LF wait. */
	w = weigh("1 lb of cod", false);
	ck_assert_ptr_null(w.error);
	ck_assert_uint_eq(w.used, 0);
	w = weigh("1 lb of cod ", false);
	ck_assert_str_eq(w.error, WHY_TOO_LONG);
	ck_assert_uint_eq(w.used, 0);
	/* A CR waiting for its LF counts too. */
	w = weigh("1 lb of cod\r", false);
	ck_assert_str_eq(w.error, WHY_TOO_LONG);
	books_are(0, 0, 0);
}
END_TEST

START_TEST(length_final_line)
{
	struct weighing w;

	/* At EOF the final line has the same limit. */
	w = weigh("1 lb of cod", true);
	ck_assert_ptr_null(w.error);
	ck_assert_uint_eq(w.used, 11);
	ck_assert(w.pay);
	books_are(8, 1, 0);
	w = weigh("1 lb of co\r", true);      /* fish "co": worth 0 */
	ck_assert_ptr_null(w.error);
	ck_assert_uint_eq(w.used, 11);
	books_are(8, 2, 0);
	w = weigh("1 lb of cod\r", true);
	ck_assert_str_eq(w.error, WHY_TOO_LONG);
	ck_assert_uint_eq(w.used, 0);
	ck_assert(!w.pay);
	books_are(8, 2, 0);
}
END_TEST

START_TEST(length_lines_before)
{
	struct weighing w;

	/* The lines before the offending one are valued and paid for. */
	w = weigh("1 lb of cod\n2 lb of cod\nxxxxxxxxxxxx\n1 lb of cod\n", false);
	ck_assert_str_eq(w.error, WHY_TOO_LONG);
	ck_assert_uint_eq(w.used, 24);
	ck_assert(w.pay);
	books_are(24, 2, 0);
	/* The same with the offender still unterminated, and at EOF. */
	w = weigh("\n1 lb of cod\nxxxxxxxxxxxx", false);
	ck_assert_str_eq(w.error, WHY_TOO_LONG);
	ck_assert_uint_eq(w.used, 13);
	ck_assert(w.pay);
	books_are(32, 3, 0);
	w = weigh("1 lb of cod\nxxxxxxxxxxxx", true);
	ck_assert_str_eq(w.error, WHY_TOO_LONG);
	ck_assert_uint_eq(w.used, 12);
	books_are(40, 4, 0);
	/* Nothing after it is weighed. */
	w = weigh("xxxxxxxxxxxx\n1 lb of cod\n", false);
	ck_assert_str_eq(w.error, WHY_TOO_LONG);
	ck_assert_uint_eq(w.used, 0);
	ck_assert(!w.pay);
	books_are(40, 4, 0);
}
END_TEST

START_TEST(length_default_1024)
{
	char line[1100];
	struct weighing w;

	memset(line, ' ', sizeof line);
	memcpy(line, "1 lb of cod", 11);
	line[1024] = '\n';
	w = weigh_n(line, 1025, false);
	ck_assert_ptr_null(w.error);
	ck_assert_uint_eq(w.used, 1025);
	books_are(8, 1, 0);
	line[1024] = ' ';
	line[1025] = '\n';
	w = weigh_n(line, 1026, false);
	ck_assert_str_eq(w.error, WHY_TOO_LONG);
	w = weigh_n(line, 1024, false);
	ck_assert_ptr_null(w.error);
	w = weigh_n(line, 1025, false);
	ck_assert_str_eq(w.error, WHY_TOO_LONG);
}
END_TEST

START_TEST(length_max_line_1)
{
	struct weighing w;

	teardown();
	market_init("1", NULL);
	w = weigh("\n\r\nx\n \n", false);
	ck_assert_ptr_null(w.error);
	ck_assert_uint_eq(w.used, 7);
	books_are(0, 1, 1);
	w = weigh("x", false);
	ck_assert_ptr_null(w.error);
	w = weigh("xx", false);
	ck_assert_str_eq(w.error, WHY_TOO_LONG);
	w = weigh(" \r\n", false);
	ck_assert_str_eq(w.error, WHY_TOO_LONG);
}
END_TEST

/* --- 5 tally overflow ------------------------------------------------------ */

START_TEST(overflow_exact_max)
{
	struct weighing w;

	L.tally = TALLY_MAX - 1000000000000000u;
	w = weigh("1000000 lb of whale\n", false);
	ck_assert_ptr_null(w.error);
	ck_assert(w.pay);
	ck_assert_uint_eq(L.tally, TALLY_MAX);
	/* At the top, lines worth 0 are still fine. */
	w = weigh("0 lb of whale\n5 lb of free\n5 lb of cod\nbad\n\n", false);
	ck_assert_ptr_null(w.error);
	ck_assert_uint_eq(L.tally, TALLY_MAX);
	books_are(TALLY_MAX, 5, 1);
}
END_TEST

START_TEST(overflow_one_past)
{
	struct weighing w;

	L.tally = TALLY_MAX;
	w = weigh("1 lb of sprat\n1 lb of sprat\n", false);
	ck_assert_str_eq(w.error, WHY_OVERFLOW);
	/* The line is consumed and counted (not rejected), not added, and
	 * is no reason to pay: the tally sent before it stands. */
	ck_assert_uint_eq(w.used, 14);
	ck_assert(!w.pay);
	books_are(TALLY_MAX, 1, 0);
}
END_TEST

START_TEST(overflow_lines_before)
{
	struct weighing w;

	L.tally = TALLY_MAX - 5;
	w = weigh("\n5 lb of sprat\n1 lb of sprat\n1 lb of sprat\n", false);
	ck_assert_str_eq(w.error, WHY_OVERFLOW);
	ck_assert_uint_eq(w.used, 1 + 14 + 14);
	ck_assert(w.pay);
	books_are(TALLY_MAX, 2, 0);
}
END_TEST

START_TEST(overflow_final_line)
{
	struct weighing w;

	L.tally = TALLY_MAX - 1;
	w = weigh("1 lb of sprat\n1 lb of sprat", true);
	ck_assert_str_eq(w.error, WHY_OVERFLOW);
	ck_assert_uint_eq(w.used, 27);
	ck_assert(w.pay);
	books_are(TALLY_MAX, 2, 0);
}
END_TEST

START_TEST(overflow_big_values)
{
	/* The largest line value, 10^6 * 10^9, over and over: 9223 lines
	 * fit, the 9224th does not. */
	struct weighing w;
	size_t n = 9224;
	const char *line = "1000000 lb of whale\n";
	size_t ll = strlen(line);
	char *text = malloc(n * ll);

	ck_assert_ptr_nonnull(text);
	for (size_t i = 0; i < n; i++)
		memcpy(text + i * ll, line, ll);
	w = weigh_n(text, n * ll, false);
	free(text);
	ck_assert_str_eq(w.error, WHY_OVERFLOW);
	ck_assert_uint_eq(w.used, n * ll);
	ck_assert_uint_eq(L.tally, 9223u * 1000000000000000u);
	books_are(9223u * 1000000000000000u, 9224, 0);
}
END_TEST

/* --- 5 paying: the reply, and the books of what was paid ------------------ */

/* The reply a variant queues, then books with pay_fisherman(). */
static size_t reply_and_pay(struct ledger *l, char reply[TALLY_REPLY_MAX])
{
	size_t n = tally_format(reply, l->tally);

	pay_fisherman(&M, l);
	return n;
}

START_TEST(pay_reply)
{
	char reply[TALLY_REPLY_MAX];

	ck_assert_uint_eq(reply_and_pay(&L, reply), 3);
	ck_assert(memcmp(reply, "0\r\n", 3) == 0);
	weigh("3 pounds of cod\n", false);
	ck_assert_uint_eq(reply_and_pay(&L, reply), 4);
	ck_assert(memcmp(reply, "24\r\n", 4) == 0);
	ck_assert_uint_eq(L.paid, 24);
	ck_assert_uint_eq(M.stats.paid.low, 24);
	weigh("1 lb of cod\n", false);
	/* Not yet paid: the books hold only what was written. */
	ck_assert_uint_eq(L.paid, 24);
	ck_assert_uint_eq(M.stats.paid.low, 24);
	ck_assert_uint_eq(reply_and_pay(&L, reply), 4);
	ck_assert(memcmp(reply, "32\r\n", 4) == 0);
	/* The last tally, not the sum of every reply (24 + 32). */
	ck_assert_uint_eq(M.stats.paid.low, 32);
	pay_fisherman(&M, &L);
	ck_assert_uint_eq(M.stats.paid.low, 32);
	ck_assert_uint_eq(M.stats.paid.high, 0);
}
END_TEST

/*
 * Formatting the reply books nothing: a tally that could not be queued
 * (bufferevent_write() failed) was never written, so it is not in T.
 */
START_TEST(pay_only_when_booked)
{
	char reply[TALLY_REPLY_MAX];

	weigh("3 pounds of cod\n", false);
	ck_assert_uint_eq(tally_format(reply, L.tally), 4);
	ck_assert_uint_eq(L.paid, 0);
	ck_assert_uint_eq(M.stats.paid.low, 0);
	pay_fisherman(&M, &L);
	ck_assert_uint_eq(L.paid, 24);
	ck_assert_uint_eq(M.stats.paid.low, 24);
}
END_TEST

START_TEST(pay_many_fishermen)
{
	char reply[TALLY_REPLY_MAX];
	struct ledger other;

	ledger_open(&M, &other, &other, NULL, 0);
	L.tally = TALLY_MAX;
	other.tally = TALLY_MAX;
	ck_assert_uint_eq(reply_and_pay(&L, reply), 21);
	ck_assert(memcmp(reply, "9223372036854775807\r\n", 21) == 0);
	pay_fisherman(&M, &other);
	/* 2 * (2^63 - 1) = 18446744073709551614, past 10^18 */
	ck_assert_uint_eq(M.stats.paid.high, 18);
	ck_assert_uint_eq(M.stats.paid.low, 446744073709551614u);
	ledger_close(&M, &other, WHY_EOF);
}
END_TEST

/* --- 6 the ERROR line -------------------------------------------------- */

START_TEST(error_lines)
{
	char reply[ERROR_REPLY_MAX];
	char why[100];

	ck_assert_uint_eq(error_reply(reply, WHY_TOO_LONG), 21);
	ck_assert(memcmp(reply, "ERROR line too long\r\n", 21) == 0);
	ck_assert_uint_eq(error_reply(reply, WHY_OVERFLOW), 22);
	ck_assert(memcmp(reply, "ERROR tally overflow\r\n", 22) == 0);
	ck_assert_uint_eq(error_reply(reply, WHY_IDLE), 20);
	ck_assert(memcmp(reply, "ERROR idle timeout\r\n", 20) == 0);
	/* Never past the buffer. */
	memset(why, 'x', sizeof why - 1);
	why[sizeof why - 1] = '\0';
	ck_assert_uint_eq(error_reply(reply, why), ERROR_REPLY_MAX - 1);
}
END_TEST

/* --- 6 open connections: the list, max-conns, the -v log ------------------ */

static struct sockaddr_in v4(const char *addr, unsigned port)
{
	struct sockaddr_storage ss;
	socklen_t len;

	ck_assert(options_parse_addr(addr, port, &ss, &len));
	return *(struct sockaddr_in *)&ss;
}

START_TEST(open_list)
{
	struct ledger a, b, c;
	char buf[FISH_ADDRSTRLEN];
	int oa, ob, oc;
	struct sockaddr_storage ss;
	socklen_t len;
	struct sockaddr_in sin = v4("127.0.0.1", 5000);

	/* The fixture's own ledger first: close it, leaving an empty list. */
	ledger_close(&M, &L, WHY_EOF);
	ck_assert_uint_eq(M.open_count, 0);
	ck_assert_ptr_null(market_first(&M));
	M.opts.max_conns = 3;

	ck_assert(options_parse_addr("::1", 6000, &ss, &len));
	ledger_open(&M, &a, &oa, (struct sockaddr *)&sin, sizeof sin);
	ledger_open(&M, &b, &ob, (struct sockaddr *)&ss, len);
	ck_assert(!market_full(&M));
	ledger_open(&M, &c, &oc, NULL, 0);
	ck_assert_str_eq(ledger_peer(&a, buf), "127.0.0.1:5000");
	ck_assert_str_eq(ledger_peer(&b, buf), "[::1]:6000");
	ck_assert_str_eq(ledger_peer(&c, buf), "?");
	ck_assert_ptr_eq(a.owner, &oa);
	ck_assert_uint_eq(M.stats.connections, 4);
	ck_assert_uint_eq(M.open_count, 3);
	ck_assert(market_full(&M));
	ck_assert_ptr_eq(market_first(&M), &oa);

	ledger_close(&M, &b, WHY_EOF);
	ck_assert(!market_full(&M));
	ck_assert_ptr_eq(market_first(&M), &oa);
	ck_assert_ptr_eq(a.next, &c);
	ck_assert_ptr_eq(c.prev, &a);
	ledger_close(&M, &a, WHY_RESET);
	ck_assert_ptr_eq(market_first(&M), &oc);
	/* Closing twice changes nothing. */
	ledger_close(&M, &a, WHY_RESET);
	ck_assert_uint_eq(M.open_count, 1);
	ck_assert_ptr_eq(market_first(&M), &oc);
	ledger_close(&M, &c, WHY_SHUTDOWN);
	ck_assert_uint_eq(M.open_count, 0);
	ck_assert_ptr_null(market_first(&M));
	ck_assert_ptr_eq(M.open.next, &M.open);
	ck_assert_ptr_eq(M.open.prev, &M.open);
	ck_assert_uint_eq(M.stats.connections, 4);
}
END_TEST

START_TEST(open_peer_unknown)
{
	struct ledger a;
	char buf[FISH_ADDRSTRLEN];
	struct sockaddr_in sin = v4("10.0.0.1", 1);
	struct sockaddr_storage un;

	/* A peer address cut short is not read past its length. */
	ledger_open(&M, &a, NULL, (struct sockaddr *)&sin, sizeof sin - 1);
	ck_assert_str_eq(ledger_peer(&a, buf), "?");
	ledger_close(&M, &a, WHY_EOF);
	memset(&un, 0, sizeof un);
	un.ss_family = AF_UNIX;
	ledger_open(&M, &a, NULL, (struct sockaddr *)&un, sizeof un);
	ck_assert_str_eq(ledger_peer(&a, buf), "?");
	ledger_close(&M, &a, WHY_EOF);
}
END_TEST

START_TEST(open_verbose_log)
{
	struct capture cap;
	struct ledger a;
	struct sockaddr_in sin = v4("127.0.0.1", 5000);
	const char *text;

	ledger_open(&M, &a, NULL, (struct sockaddr *)&sin, sizeof sin);
	weigh_catch(&M, &a, "3 lb of cod\nbad\n", 16, false);
	pay_fisherman(&M, &a);
	weigh_catch(&M, &a, "1 lb of cod\n", 12, false);   /* not paid */

	/* Normal verbosity: nothing. */
	capture_begin(&cap, 2);
	ledger_close(&M, &a, WHY_EOF);
	ck_assert_str_eq(capture_end(&cap), "");

	ledger_open(&M, &a, NULL, (struct sockaddr *)&sin, sizeof sin);
	weigh_catch(&M, &a, "3 lb of cod\nbad\n", 16, false);
	pay_fisherman(&M, &a);
	weigh_catch(&M, &a, "1 lb of cod\n", 12, false);
	M.opts.verbosity = VERBOSITY_VERBOSE;
	capture_begin(&cap, 2);
	ledger_close(&M, &a, WHY_TOO_LONG);
	text = capture_end(&cap);
	/* The tally logged is the one he was paid. */
	ck_assert_str_eq(text, "fishmarket: 127.0.0.1:5000 closed (line too "
	                 "long): 3 lines, 1 rejected, tally 24\n");
}
END_TEST

/* Accepted and turned away before any books: still a connection, and a
 * -v line, and nothing left open. */
START_TEST(refused_counted_and_logged)
{
	struct capture cap;
	struct sockaddr_in sin = v4("127.0.0.1", 5001);
	uint64_t connections = M.stats.connections;
	size_t open = M.open_count;

	M.opts.verbosity = VERBOSITY_VERBOSE;
	capture_begin(&cap, 2);
	ledger_refuse(&M, (struct sockaddr *)&sin, sizeof sin);
	ck_assert_str_eq(capture_end(&cap), "fishmarket: 127.0.0.1:5001 closed "
	                 "(turned away): 0 lines, 0 rejected, tally 0\n");
	ck_assert_uint_eq(M.stats.connections, connections + 1);
	ck_assert_uint_eq(M.open_count, open);
}
END_TEST

/* --- 6 idle timeout: asking the socket --------------------------------- */

/*
 * What watch_fisherman() asks before calling a timeout idleness: a byte
 * waiting, or his end (EOF), makes the socket ready to read; a full send
 * buffer makes it not ready to write, and room made by his reading makes
 * it ready again.
 */
START_TEST(socket_ready_each_way)
{
	int sv[2];
	char buf[65536];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	ck_assert(!socket_ready(sv[0], false));          /* nothing sent */
	ck_assert(socket_ready(sv[0], true));            /* room to write */
	ck_assert_int_eq(write(sv[1], "1 lb of cod\n", 12), 12);
	ck_assert(socket_ready(sv[0], false));
	ck_assert_int_eq(read(sv[0], buf, sizeof buf), 12);
	ck_assert(!socket_ready(sv[0], false));          /* read: idle again */

	/* He never reads: fill until the kernel takes no more. */
	memset(buf, '8', sizeof buf);
	while (write(sv[0], buf, sizeof buf) > 0)
		;
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert(!socket_ready(sv[0], true));
	/* He reads it all: room again. */
	while (read(sv[1], buf, sizeof buf) > 0)
		;
	ck_assert(socket_ready(sv[0], true));

	/* His end is something to read too: the read meets EOF. */
	ck_assert_int_eq(shutdown(sv[1], SHUT_WR), 0);
	ck_assert(socket_ready(sv[0], false));
	close(sv[1]);
	close(sv[0]);
}
END_TEST

/* --- 6 accept trouble -------------------------------------------------- */

START_TEST(accept_errors)
{
	static const struct { int err; enum accept_trouble what; } cases[] = {
		{ EAGAIN, ACCEPT_DONE }, { EWOULDBLOCK, ACCEPT_DONE },
		{ EMFILE, ACCEPT_PAUSE }, { ENFILE, ACCEPT_PAUSE },
		{ ENOBUFS, ACCEPT_PAUSE }, { ENOMEM, ACCEPT_PAUSE },
		{ EINTR, ACCEPT_AGAIN }, { ECONNABORTED, ACCEPT_AGAIN },
		{ EPROTO, ACCEPT_AGAIN }, { EPERM, ACCEPT_AGAIN },
		{ ENETDOWN, ACCEPT_AGAIN }, { EHOSTUNREACH, ACCEPT_AGAIN },
		/* A lasting error must not make the accept loop spin. */
		{ EBADF, ACCEPT_PAUSE }, { EINVAL, ACCEPT_PAUSE },
		{ ENOTSOCK, ACCEPT_PAUSE },
	};
	struct capture cap;

	capture_begin(&cap, 2);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		M.jammed = false;
		ck_assert_int_eq(accept_trouble(&M, cases[i].err), cases[i].what);
	}
	capture_end(&cap);
	/* 0.1 to 1 s (section 6). */
	long usec = emfile_pause.tv_sec * 1000000L + emfile_pause.tv_usec;
	ck_assert_int_ge(usec, 100000);
	ck_assert_int_le(usec, 1000000);
	ck_assert_int_lt(emfile_pause.tv_usec, 1000000);
}
END_TEST

/*
 * A pause is worth one line on stderr, once per jam: EMFILE that lasts a
 * minute retries 240 times, and must not print 240 lines.  The next jam,
 * after a fisherman got in, is news again.  Retriable errors (one
 * fisherman's aborted connect) print nothing.
 */
START_TEST(accept_errors_said_once)
{
	struct capture cap;
	struct ledger a;

	capture_begin(&cap, 2);
	ck_assert_int_eq(accept_trouble(&M, ECONNABORTED), ACCEPT_AGAIN);
	ck_assert_int_eq(accept_trouble(&M, EAGAIN), ACCEPT_DONE);
	ck_assert_str_eq(capture_end(&cap), "");

	capture_begin(&cap, 2);
	ck_assert_int_eq(accept_trouble(&M, EMFILE), ACCEPT_PAUSE);
	ck_assert_int_eq(accept_trouble(&M, EMFILE), ACCEPT_PAUSE);
	ck_assert_int_eq(accept_trouble(&M, ENFILE), ACCEPT_PAUSE);
	ck_assert_str_eq(capture_end(&cap), "fishmarket: accept: Too many open "
	                 "files; pausing for 250 ms\n");

	ledger_open(&M, &a, NULL, NULL, 0);
	capture_begin(&cap, 2);
	ck_assert_int_eq(accept_trouble(&M, ENFILE), ACCEPT_PAUSE);
	ck_assert_str_eq(capture_end(&cap), "fishmarket: accept: Too many open "
	                 "files in system; pausing for 250 ms\n");
	ledger_close(&M, &a, WHY_EOF);
}
END_TEST

/* --- 6 listening socket: SO_REUSEADDR, SOMAXCONN, "listening on" -------- */

static void use_address(const char *addr, unsigned port)
{
	ck_assert(options_parse_addr(addr, port, &M.opts.addr,
	                             &M.opts.addrlen));
	M.opts.port = port;
}

START_TEST(listen_v4)
{
	struct capture cap;
	int fd, one = 0;
	socklen_t len = sizeof one;
	struct sockaddr_in sin;
	char want[64];

	use_address("127.0.0.1", 0);
	fd = open_warehouse(&M);
	ck_assert_int_ge(fd, 0);
	ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
	ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, &len), 0);
	ck_assert_int_eq(one, 1);
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &one, &len), 0);
	ck_assert_int_eq(one, 1);

	len = sizeof sin;
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	ck_assert_uint_ne(ntohs(sin.sin_port), 0);
	snprintf(want, sizeof want, "listening on 127.0.0.1:%u\n",
	         (unsigned)ntohs(sin.sin_port));
	capture_begin(&cap, 1);
	ck_assert_int_eq(announce_warehouse(&M, fd), 0);
	ck_assert_str_eq(capture_end(&cap), want);
	close(fd);
}
END_TEST

/*
 * SO_KEEPALIVE on every door, as evconnlistener_new_bind() sets it, so that
 * all three variants' connections behave alike; Linux passes it on to the
 * accepted socket.  SO_REUSEPORT only for a crew (section 8: -w 1 sets none).
 */
START_TEST(listen_socket_options)
{
	int fd, c, a, on;
	socklen_t len = sizeof on;
	struct sockaddr_in sin;
	socklen_t slen = sizeof sin;

	use_address("127.0.0.1", 0);
	M.opts.workers = 1;
	fd = open_warehouse(&M);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, &len), 0);
	ck_assert_int_eq(on, 1);
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, &len), 0);
	ck_assert_int_eq(on, 0);

	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	c = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(c, (struct sockaddr *)&sin, slen), 0);
	fcntl(fd, F_SETFL, 0);     /* a blocking accept: the connect is done */
	a = accept(fd, NULL, NULL);
	ck_assert_int_ge(a, 0);
	ck_assert_int_eq(getsockopt(a, SOL_SOCKET, SO_KEEPALIVE, &on, &len), 0);
	ck_assert_int_eq(on, 1);
	close(a);
	close(c);
	close(fd);

	M.opts.workers = 2;
	fd = open_warehouse(&M);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, &len), 0);
	ck_assert_int_eq(on, 1);
	close(fd);
}
END_TEST

/*
 * A crew on port 0: the first door gets a port from the kernel, and
 * market_pin_port() hands it to the next doors, which bind the same one
 * (SO_REUSEPORT).  Without the pin each would get a port of its own.
 */
START_TEST(listen_crew_one_port)
{
	struct capture cap;
	struct sockaddr_in a, b;
	socklen_t len = sizeof a;
	int fd1, fd2;

	use_address("127.0.0.1", 0);
	M.opts.workers = 2;
	fd1 = open_warehouse(&M);
	ck_assert_int_ge(fd1, 0);
	ck_assert_int_eq(market_pin_port(&M, fd1), 0);
	ck_assert_int_eq(getsockname(fd1, (struct sockaddr *)&a, &len), 0);
	ck_assert_uint_eq(M.opts.port, ntohs(a.sin_port));
	ck_assert_uint_eq(((struct sockaddr_in *)&M.opts.addr)->sin_port,
	                  a.sin_port);
	fd2 = open_warehouse(&M);
	ck_assert_int_ge(fd2, 0);
	len = sizeof b;
	ck_assert_int_eq(getsockname(fd2, (struct sockaddr *)&b, &len), 0);
	ck_assert_uint_eq(a.sin_port, b.sin_port);
	close(fd2);
	close(fd1);
	capture_begin(&cap, 2);
	ck_assert_int_eq(market_pin_port(&M, -1), -1);
	ck_assert_str_eq(capture_end(&cap), "fishmarket: getsockname: Bad file "
	                 "descriptor\n");
}
END_TEST

START_TEST(listen_v6)
{
	struct capture cap;
	int fd, one = 0;
	socklen_t len = sizeof one;
	struct sockaddr_in6 sin6;
	char want[64];

	use_address("::1", 0);
	fd = open_warehouse(&M);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, &len), 0);
	ck_assert_int_eq(one, 1);
	len = sizeof sin6;
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin6, &len), 0);
	snprintf(want, sizeof want, "listening on [::1]:%u\n",
	         (unsigned)ntohs(sin6.sin6_port));
	capture_begin(&cap, 1);
	ck_assert_int_eq(announce_warehouse(&M, fd), 0);
	ck_assert_str_eq(capture_end(&cap), want);
	close(fd);
}
END_TEST

START_TEST(listen_in_use)
{
	struct capture cap;
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	char want[128];
	int fd, fd2;

	use_address("127.0.0.1", 0);
	fd = open_warehouse(&M);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	/* SO_REUSEADDR does not let a second server take a port that is
	 * being listened on. */
	use_address("127.0.0.1", ntohs(sin.sin_port));
	capture_begin(&cap, 2);
	fd2 = open_warehouse(&M);
	snprintf(want, sizeof want, "fishmarket: cannot bind 127.0.0.1:%u: "
	         "Address already in use\n", (unsigned)ntohs(sin.sin_port));
	ck_assert_str_eq(capture_end(&cap), want);
	ck_assert_int_eq(fd2, -1);
	close(fd);
}
END_TEST

START_TEST(listen_not_ours)
{
	struct capture cap;
	int fd;

	/* TEST-NET-1: an address no interface here has. */
	use_address("192.0.2.1", 8080);
	capture_begin(&cap, 2);
	fd = open_warehouse(&M);
	ck_assert_str_eq(capture_end(&cap), "fishmarket: cannot bind "
	                 "192.0.2.1:8080: Cannot assign requested address\n");
	ck_assert_int_eq(fd, -1);
}
END_TEST

START_TEST(listen_bad_fd)
{
	struct capture cap;
	const char *text;

	capture_begin(&cap, 2);
	ck_assert_int_eq(announce_warehouse(&M, -1), -1);
	text = capture_end(&cap);
	ck_assert_str_eq(text, "fishmarket: getsockname: Bad file descriptor\n");
}
END_TEST

/* --- 7 exit codes: market_prepare ---------------------------------------- */

struct prepared {
	int status;
	char out[4096];
	char err[4096];
};

static struct prepared prepare(const char *first, ...)
{
	static struct prepared p;
	struct capture co, ce;
	char *argv[16];
	int argc = 0;
	va_list ap;

	argv[argc++] = (char *)"./build/fishmarket-v2-raw";
	va_start(ap, first);
	for (const char *a = first; a != NULL; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;

	prices_free(M.prices);      /* the fixture's */
	M.prices = NULL;
	capture_begin(&co, 1);
	capture_begin(&ce, 2);
	p.status = market_prepare(&M, argc, argv);
	snprintf(p.err, sizeof p.err, "%s", capture_end(&ce));
	snprintf(p.out, sizeof p.out, "%s", capture_end(&co));
	return p;
}

START_TEST(exit_help)
{
	struct prepared p = prepare("-h", NULL);

	ck_assert_int_eq(p.status, 0);
	ck_assert(starts(p.out, "usage: fishmarket-v2-raw [-b ADDR]"));
	ck_assert_str_eq(p.err, "");
	p = prepare("-p", "1", "--help", NULL);
	ck_assert_int_eq(p.status, 0);
	ck_assert(starts(p.out, "usage: "));
}
END_TEST

START_TEST(exit_usage_error)
{
	struct prepared p = prepare("--frob", NULL);

	ck_assert_int_eq(p.status, 2);
	ck_assert_str_eq(p.out, "");
	ck_assert(starts(p.err, "fishmarket: unknown option '--frob'\n"
	                 "usage: fishmarket-v2-raw [-b ADDR]"));
	p = prepare("-p", "65536", NULL);
	ck_assert_int_eq(p.status, 2);
	ck_assert(starts(p.err, "fishmarket: invalid port '65536' (0 to 65535)"
	                 "\nusage: "));
	p = prepare("extra", NULL);
	ck_assert_int_eq(p.status, 2);
	p = prepare("-m", "0", NULL);
	ck_assert_int_eq(p.status, 2);
}
END_TEST

START_TEST(exit_version)
{
	struct prepared p = prepare("--version", NULL);

	ck_assert_int_eq(p.status, MARKET_VERSION);
	ck_assert_ptr_null(M.prices);
	ck_assert_str_eq(p.out, "");
	ck_assert_str_eq(p.err, "");
}
END_TEST

START_TEST(exit_price_file)
{
	struct prepared p = prepare("--prices", "/nonexistent/fish", NULL);
	const char *path;
	char want[256];

	ck_assert_int_eq(p.status, 1);
	ck_assert_str_eq(p.err, "fishmarket: /nonexistent/fish: No such file "
	                 "or directory\n");
	ck_assert_str_eq(p.out, "");
	ck_assert_ptr_null(M.prices);

	path = temp_file("cod 8\ncod 9\n", 12);
	p = prepare("--prices", path, NULL);
	ck_assert_int_eq(p.status, 1);
	snprintf(want, sizeof want, "fishmarket: %s:2: duplicate fish 'cod' "
	         "(first on line 1)\n", path);
	ck_assert_str_eq(p.err, want);
	unlink(path);
}
END_TEST

START_TEST(exit_open)
{
	struct sigaction old, now;
	struct prepared p;
	const char *path;

	ck_assert_int_eq(sigaction(SIGPIPE, NULL, &old), 0);
	p = prepare("-p", "0", "-q", NULL);
	ck_assert_int_eq(p.status, MARKET_OPEN);
	ck_assert_str_eq(p.out, "");
	ck_assert_str_eq(p.err, "");
	ck_assert_ptr_nonnull(M.prices);
	ck_assert_uint_eq(prices_count(M.prices), 10);
	ck_assert_uint_eq(M.opts.port, 0);
	ck_assert_int_eq(M.opts.verbosity, VERBOSITY_QUIET);
	ck_assert_uint_eq(M.open_count, 0);
	ck_assert_ptr_null(market_first(&M));
	ck_assert_uint_eq(M.stats.connections, 0);
	ck_assert(!M.closing);
	ck_assert_int_eq(M.exit_status, 0);
	/* SIGPIPE never kills the server. */
	ck_assert_int_eq(sigaction(SIGPIPE, NULL, &now), 0);
	ck_assert(now.sa_handler == SIG_IGN);
	ck_assert_int_eq(sigaction(SIGPIPE, &old, NULL), 0);
	market_free(&M);
	ck_assert_ptr_null(M.prices);

	path = temp_file("shark 100\n", 10);
	p = prepare("--prices", path, NULL);
	ck_assert_int_eq(p.status, MARKET_OPEN);
	ck_assert_uint_eq(prices_count(M.prices), 1);
	unlink(path);
	ck_assert_int_eq(sigaction(SIGPIPE, &old, NULL), 0);
}
END_TEST

/*
 * Section 8 at start-up: -w 0 becomes the online CPUs (at most 64), and a
 * crew refuses a fixed port someone already listens on, as a server of one
 * would (exit 1), although SO_REUSEPORT would let it bind.
 */
START_TEST(exit_workers)
{
	struct prepared p;
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	char port[8], want[128];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int fd, one = 1;

	p = prepare("-p", "0", "-w", "0", NULL);
	ck_assert_int_eq(p.status, MARKET_OPEN);
	ck_assert_uint_eq(M.opts.workers, cpus > 64 ? 64 : (unsigned)cpus);
	market_free(&M);
	p = prepare("-p", "0", "-w", "3", NULL);
	ck_assert_int_eq(p.status, MARKET_OPEN);
	ck_assert_uint_eq(M.opts.workers, 3);
	market_free(&M);

	/* Another crew's door: it listens with SO_REUSEPORT, as ours would. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
	                            sizeof one), 0);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = 0;
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(port, sizeof port, "%u", (unsigned)ntohs(sin.sin_port));
	p = prepare("-p", port, "-w", "2", NULL);
	ck_assert_int_eq(p.status, 1);
	snprintf(want, sizeof want, "fishmarket: cannot bind 127.0.0.1:%s: "
	         "Address already in use\n", port);
	ck_assert_str_eq(p.err, want);
	ck_assert_ptr_null(M.prices);
	close(fd);
	/* Once it is gone, the port is free again. */
	p = prepare("-p", port, "-w", "2", NULL);
	ck_assert_int_eq(p.status, MARKET_OPEN);
	market_free(&M);
}
END_TEST

/* --- 8 the crew's books ----------------------------------------------------- */

/*
 * Each fishmonger gets a copy of the market with books of his own and his
 * share of -c; the first one counts the others he waits for.
 */
START_TEST(crew_hire_books)
{
	struct market a, b;
	struct ledger la, lb, lc;

	M.opts.max_conns = 5;
	market_hire(&a, &M, 0, 2);
	market_hire(&b, &M, 1, 2);
	ck_assert_uint_eq(a.opts.max_conns, 3);
	ck_assert_uint_eq(b.opts.max_conns, 3);
	ck_assert_ptr_eq(a.prices, M.prices);
	ck_assert_uint_eq(a.others_working, 1);
	ck_assert_uint_eq(b.others_working, 0);
	ck_assert_ptr_null(market_first(&a));
	ck_assert_uint_eq(a.stats.connections, 0);

	ledger_open(&a, &la, &la, NULL, 0);
	ledger_open(&b, &lb, &lb, NULL, 0);
	ledger_open(&b, &lc, &lc, NULL, 0);
	/* His own open list: the other's fishermen are not in it. */
	ck_assert_ptr_eq(market_first(&a), &la);
	ck_assert_uint_eq(a.open_count, 1);
	ck_assert_uint_eq(b.open_count, 2);
	la.tally = TALLY_MAX;
	lb.tally = TALLY_MAX;
	lc.tally = 7;
	pay_fisherman(&a, &la);
	pay_fisherman(&b, &lb);
	pay_fisherman(&b, &lc);
	b.stats.lines = 5;
	b.stats.rejected = 2;
	b.exit_status = 1;
	ledger_close(&a, &la, WHY_EOF);
	ledger_close(&b, &lb, WHY_EOF);
	ledger_close(&b, &lc, WHY_EOF);

	/* The summary counts every fishmonger (section 8). */
	memset(&M.stats, 0, sizeof M.stats);
	market_add_books(&M, &a);
	market_add_books(&M, &b);
	ck_assert_uint_eq(M.stats.connections, 3);
	ck_assert_uint_eq(M.stats.lines, 5);
	ck_assert_uint_eq(M.stats.rejected, 2);
	/* 2 * (2^63 - 1) + 7 = 18446744073709551621 */
	ck_assert_uint_eq(M.stats.paid.high, 18);
	ck_assert_uint_eq(M.stats.paid.low, 446744073709551621u);
	ck_assert_int_eq(M.exit_status, 1);
}
END_TEST

/* Closing time is over: closing, nobody in, and no other still working. */
START_TEST(crew_closed)
{
	struct market a;
	struct ledger la;

	market_hire(&a, &M, 0, 2);
	ck_assert(!market_closed(&a));
	a.closing = true;
	ck_assert(!market_closed(&a));       /* the other one works */
	a.others_working = 0;
	ck_assert(market_closed(&a));
	ledger_open(&a, &la, &la, NULL, 0);
	ck_assert(!market_closed(&a));       /* a fisherman is still in */
	ledger_close(&a, &la, WHY_EOF);
	ck_assert(market_closed(&a));
}
END_TEST

/* --- 7 summary and version lines ------------------------------------------- */

START_TEST(summary_line)
{
	struct capture cap;

	weigh("3 lb of cod\nbad\n\n", false);
	pay_fisherman(&M, &L);
	capture_begin(&cap, 2);
	market_summary(&M);
	ck_assert_str_eq(capture_end(&cap), "served 1 connections, 2 lines "
	                 "(1 rejected), paid $24\n");
	M.opts.verbosity = VERBOSITY_VERBOSE;
	capture_begin(&cap, 2);
	market_summary(&M);
	ck_assert_str_eq(capture_end(&cap), "served 1 connections, 2 lines "
	                 "(1 rejected), paid $24\n");
	/* -q silences it. */
	M.opts.verbosity = VERBOSITY_QUIET;
	capture_begin(&cap, 2);
	market_summary(&M);
	ck_assert_str_eq(capture_end(&cap), "");
}
END_TEST

/* libevent's warnings and errors look like every other message. */
START_TEST(libevent_log_line)
{
	struct capture cap;

	capture_begin(&cap, 2);
	libevent_says(3, "event_init: Unable to construct event_base");
	ck_assert_str_eq(capture_end(&cap), "fishmarket: libevent: event_init: "
	                 "Unable to construct event_base\n");
}
END_TEST

START_TEST(version_line)
{
	struct capture cap;

	capture_begin(&cap, 1);
	ck_assert_int_eq(print_version("v2-raw", "2.1.12-stable", "epoll"), 0);
	ck_assert_str_eq(capture_end(&cap),
	                 "fishmarket v2-raw, libevent 2.1.12-stable, backend epoll\n");
}
END_TEST

static TCase *with_fixture(const char *name, void (*setup)(void))
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	return tc;
}

Suite *market_suite(void)
{
	Suite *s = suite_create("market");
	TCase *tc;

	tc = with_fixture("3 value", setup_default);
	tcase_add_test(tc, value_one_line);
	tcase_add_test(tc, value_many_lines);
	tcase_add_test(tc, value_zero_and_unlisted);
	tcase_add_test(tc, value_malformed);
	tcase_add_test(tc, value_blank_lines);
	suite_add_tcase(s, tc);

	tc = with_fixture("5 one reply per read", setup_default);
	tcase_add_test(tc, read_partial_lines);
	tcase_add_test(tc, read_scans_new_bytes_only);
	tcase_add_test(tc, read_scan_resumes_after_lines);
	suite_add_tcase(s, tc);

	tc = with_fixture("5 end of input", setup_default);
	tcase_add_test(tc, eof_final_line);
	tcase_add_test(tc, eof_final_cr_or_blanks);
	tcase_add_test(tc, eof_nothing_left);
	suite_add_tcase(s, tc);

	tc = with_fixture("6 line length", setup_short_lines);
	tcase_add_test(tc, length_limit_edges);
	tcase_add_test(tc, length_cr_counts);
	tcase_add_test(tc, length_unterminated);
	tcase_add_test(tc, length_final_line);
	tcase_add_test(tc, length_lines_before);
	tcase_add_test(tc, length_max_line_1);
	suite_add_tcase(s, tc);

	tc = with_fixture("6 line length default", setup_default);
	tcase_add_test(tc, length_default_1024);
	suite_add_tcase(s, tc);

	tc = with_fixture("5 tally overflow in a catch", setup_whales);
	tcase_add_test(tc, overflow_exact_max);
	tcase_add_test(tc, overflow_one_past);
	tcase_add_test(tc, overflow_lines_before);
	tcase_add_test(tc, overflow_final_line);
	tcase_add_test(tc, overflow_big_values);
	suite_add_tcase(s, tc);

	tc = with_fixture("5 paying", setup_default);
	tcase_add_test(tc, pay_reply);
	tcase_add_test(tc, pay_only_when_booked);
	tcase_add_test(tc, pay_many_fishermen);
	suite_add_tcase(s, tc);

	tc = tcase_create("6 error line");
	tcase_add_test(tc, error_lines);
	suite_add_tcase(s, tc);

	tc = with_fixture("6 open connections", setup_default);
	tcase_add_test(tc, open_list);
	tcase_add_test(tc, open_peer_unknown);
	tcase_add_test(tc, open_verbose_log);
	tcase_add_test(tc, refused_counted_and_logged);
	suite_add_tcase(s, tc);

	tc = with_fixture("6 idle timeout", setup_default);
	tcase_add_test(tc, socket_ready_each_way);
	suite_add_tcase(s, tc);

	tc = with_fixture("6 accept trouble", setup_default);
	tcase_add_test(tc, accept_errors);
	tcase_add_test(tc, accept_errors_said_once);
	suite_add_tcase(s, tc);

	tc = with_fixture("6 listening socket", setup_default);
	tcase_add_test(tc, listen_v4);
	tcase_add_test(tc, listen_socket_options);
	tcase_add_test(tc, listen_crew_one_port);
	tcase_add_test(tc, listen_v6);
	tcase_add_test(tc, listen_in_use);
	tcase_add_test(tc, listen_not_ours);
	tcase_add_test(tc, listen_bad_fd);
	suite_add_tcase(s, tc);

	tc = with_fixture("7 exit codes", setup_default);
	tcase_add_test(tc, exit_help);
	tcase_add_test(tc, exit_usage_error);
	tcase_add_test(tc, exit_version);
	tcase_add_test(tc, exit_price_file);
	tcase_add_test(tc, exit_open);
	suite_add_tcase(s, tc);

	tc = with_fixture("8 workers at start-up", setup_default);
	tcase_add_test(tc, exit_workers);
	suite_add_tcase(s, tc);

	tc = with_fixture("8 the crew's books", setup_default);
	tcase_add_test(tc, crew_hire_books);
	tcase_add_test(tc, crew_closed);
	suite_add_tcase(s, tc);

	tc = with_fixture("7 summary and version lines", setup_default);
	tcase_add_test(tc, summary_line);
	tcase_add_test(tc, version_line);
	tcase_add_test(tc, libevent_log_line);
	suite_add_tcase(s, tc);

	return s;
}
