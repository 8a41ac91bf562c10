/*
 * test_books.c - section 5's running tally (never wraps) and section 7's
 * summary line with its exact money.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "stats.h"
#include "suites.h"
#include "tally.h"

/* --- 5 tally ------------------------------------------------------------- */

START_TEST(tally_adds)
{
	uint64_t t = 0;

	ck_assert(tally_add(&t, 0));
	ck_assert_uint_eq(t, 0);
	ck_assert(tally_add(&t, 24));
	ck_assert(tally_add(&t, 62));
	ck_assert_uint_eq(t, 86);
	ck_assert(tally_add(&t, 1000000000000000u));
	ck_assert_uint_eq(t, 1000000000000086u);
}
END_TEST

START_TEST(tally_reply)
{
	char reply[TALLY_REPLY_MAX];

	ck_assert_uint_eq(tally_format(reply, 0), 3);
	ck_assert(memcmp(reply, "0\r\n", 3) == 0);
	ck_assert_uint_eq(tally_format(reply, 86), 4);
	ck_assert(memcmp(reply, "86\r\n", 4) == 0);
	ck_assert_uint_eq(tally_format(reply, 1000), 6);
	ck_assert(memcmp(reply, "1000\r\n", 6) == 0);
	ck_assert_uint_eq(tally_format(reply, TALLY_MAX), 21);
	ck_assert(memcmp(reply, "9223372036854775807\r\n", 21) == 0);
	/* Not a valid tally, but the buffer is big enough for any uint64. */
	ck_assert_uint_eq(tally_format(reply, UINT64_MAX), 22);
	ck_assert(memcmp(reply, "18446744073709551615\r\n", 22) == 0);
}
END_TEST

START_TEST(tally_overflow)
{
	uint64_t t = TALLY_MAX - 10;

	/* Exactly TALLY_MAX is fine ... */
	ck_assert(tally_add(&t, 10));
	ck_assert_uint_eq(t, TALLY_MAX);
	ck_assert(tally_add(&t, 0));
	ck_assert_uint_eq(t, TALLY_MAX);
	/* ... one past is refused, and the tally stands. */
	ck_assert(!tally_add(&t, 1));
	ck_assert_uint_eq(t, TALLY_MAX);

	t = TALLY_MAX - 10;
	ck_assert(!tally_add(&t, 11));
	ck_assert_uint_eq(t, TALLY_MAX - 10);
	/* A value that would wrap a naive 64-bit "t + v > MAX" check. */
	ck_assert(!tally_add(&t, UINT64_MAX));
	ck_assert(!tally_add(&t, UINT64_MAX - TALLY_MAX + 11));
	ck_assert_uint_eq(t, TALLY_MAX - 10);
	t = 0;
	ck_assert(tally_add(&t, TALLY_MAX));
	t = 0;
	ck_assert(!tally_add(&t, TALLY_MAX + 1));
	ck_assert_uint_eq(t, 0);
}
END_TEST

/* --- 7 summary: money -------------------------------------------------- */

START_TEST(money_carry)
{
	struct money m = { 0, 0 };

	money_add(&m, 999999999999999999u);
	ck_assert_uint_eq(m.high, 0);
	ck_assert_uint_eq(m.low, 999999999999999999u);
	money_add(&m, 1);
	ck_assert_uint_eq(m.high, 1);
	ck_assert_uint_eq(m.low, 0);
	money_add(&m, 5);
	ck_assert_uint_eq(m.high, 1);
	ck_assert_uint_eq(m.low, 5);
	money_add(&m, 999999999999999999u);
	ck_assert_uint_eq(m.high, 2);
	ck_assert_uint_eq(m.low, 4);
	/* The largest addend: 18446744073709551615 = 18 * 10^18 + rest. */
	money_add(&m, UINT64_MAX);
	ck_assert_uint_eq(m.high, 2 + 18);
	ck_assert_uint_eq(m.low, 446744073709551619u);
	/* ... and with a carry out of the low part. */
	m.high = 0;
	m.low = 600000000000000000u;
	money_add(&m, UINT64_MAX);
	ck_assert_uint_eq(m.high, 19);
	ck_assert_uint_eq(m.low, 46744073709551615u);
}
END_TEST

START_TEST(money_many_max_tallies)
{
	/* A million connections each paid TALLY_MAX: about 9.2 * 10^24,
	 * far beyond 2^64, exact to the dollar. */
	struct money m = { 0, 0 };

	for (int i = 0; i < 1000000; i++)
		money_add(&m, TALLY_MAX);
	/* 9223372036854775807 * 10^6 = 9223372036854775807000000 */
	ck_assert_uint_eq(m.high, 9223372u);
	ck_assert_uint_eq(m.low, 36854775807000000u);
}
END_TEST

/* Section 8: the books of several fishmongers, added up exactly. */
START_TEST(money_add_money_carries)
{
	struct money a = { 0, 999999999999999999u };
	struct money b = { 2, 1 };

	money_add_money(&a, &b);
	ck_assert_uint_eq(a.high, 3);
	ck_assert_uint_eq(a.low, 0);
	money_add_money(&a, &b);
	ck_assert_uint_eq(a.high, 5);
	ck_assert_uint_eq(a.low, 1);
	/* The same as adding the dollars one by one. */
	struct money one_by_one = { 0, 0 }, part = { 0, 0 }, sum = { 0, 0 };
	for (int i = 0; i < 5; i++) {
		money_add(&one_by_one, UINT64_MAX);
		money_add(&part, UINT64_MAX);
		if (i % 2 == 1) {
			money_add_money(&sum, &part);
			part = (struct money){ 0, 0 };
		}
	}
	money_add_money(&sum, &part);
	ck_assert_uint_eq(sum.high, one_by_one.high);
	ck_assert_uint_eq(sum.low, one_by_one.low);
}
END_TEST

START_TEST(summary_format)
{
	struct stats s;
	char buf[256];
	int n;

	memset(&s, 0, sizeof s);
	n = stats_summary(&s, buf, sizeof buf);
	ck_assert_str_eq(buf, "served 0 connections, 0 lines (0 rejected), paid $0");
	ck_assert_int_eq(n, (int)strlen(buf));

	/* "even for 1": no singular forms. */
	s.connections = 1;
	s.lines = 1;
	s.rejected = 1;
	money_add(&s.paid, 1);
	stats_summary(&s, buf, sizeof buf);
	ck_assert_str_eq(buf, "served 1 connections, 1 lines (1 rejected), paid $1");

	s.connections = 3;
	s.lines = 7;
	s.rejected = 2;
	s.paid.high = 0;
	s.paid.low = 86;
	stats_summary(&s, buf, sizeof buf);
	ck_assert_str_eq(buf, "served 3 connections, 7 lines (2 rejected), paid $86");
}
END_TEST

START_TEST(summary_big_money)
{
	struct stats s;
	char buf[256];

	memset(&s, 0, sizeof s);
	s.paid.high = 1;
	s.paid.low = 5;
	stats_summary(&s, buf, sizeof buf);
	ck_assert_str_eq(buf, "served 0 connections, 0 lines (0 rejected), "
	                 "paid $1000000000000000005");
	s.paid.high = 0;
	s.paid.low = 999999999999999999u;
	stats_summary(&s, buf, sizeof buf);
	ck_assert_str_eq(buf, "served 0 connections, 0 lines (0 rejected), "
	                 "paid $999999999999999999");
	s.paid.high = 9223372u;
	s.paid.low = 36854775807000000u;
	s.connections = UINT64_MAX;
	s.lines = UINT64_MAX;
	s.rejected = UINT64_MAX;
	stats_summary(&s, buf, sizeof buf);
	ck_assert_str_eq(buf, "served 18446744073709551615 connections, "
	                 "18446744073709551615 lines (18446744073709551615 "
	                 "rejected), paid $9223372036854775807000000");
	/* The high part can itself be large. */
	s.paid.high = UINT64_MAX;
	s.paid.low = 0;
	s.connections = s.lines = s.rejected = 0;
	stats_summary(&s, buf, sizeof buf);
	ck_assert_str_eq(buf, "served 0 connections, 0 lines (0 rejected), "
	                 "paid $18446744073709551615000000000000000000");
}
END_TEST

START_TEST(summary_truncates)
{
	struct stats s;
	char buf[10];

	memset(&s, 0, sizeof s);
	/* Like snprintf: the full length back, the buffer cut and ended. */
	ck_assert_int_eq(stats_summary(&s, buf, sizeof buf), 51);
	ck_assert_str_eq(buf, "served 0 ");
}
END_TEST

Suite *books_suite(void)
{
	Suite *s = suite_create("books");
	TCase *tc;

	tc = tcase_create("5 tally");
	tcase_add_test(tc, tally_adds);
	tcase_add_test(tc, tally_reply);
	suite_add_tcase(s, tc);

	tc = tcase_create("5 tally overflow");
	tcase_add_test(tc, tally_overflow);
	suite_add_tcase(s, tc);

	tc = tcase_create("7 summary money");
	tcase_add_test(tc, money_carry);
	tcase_add_test(tc, money_many_max_tallies);
	tcase_add_test(tc, money_add_money_carries);
	suite_add_tcase(s, tc);

	tc = tcase_create("7 summary line");
	tcase_add_test(tc, summary_format);
	tcase_add_test(tc, summary_big_money);
	tcase_add_test(tc, summary_truncates);
	suite_add_tcase(s, tc);

	return s;
}
