/*
 * test_alloc.c - common/ when malloc, calloc, realloc or read() fail: every
 * allocation of the price list and of start-up fails in turn, the way
 * SQLite tests its own (docs/TESTING.md, "Faults").
 *
 * The test double: the unit tests link a copy of libfishcommon in which
 * objcopy has renamed common/'s calls to malloc, calloc, realloc, free and
 * read to test_malloc and so on (the Makefile, UNIT_DOUBLE).  They are
 * defined below, and pass each call on to the real function unless told
 * to fail it.  Calls made by the tests, Check or libc are not redirected:
 * only common/'s are counted.  While tracking, every live block common/
 * allocated is remembered, so a test can say that nothing was leaked.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "market.h"
#include "options.h"
#include "prices.h"
#include "suites.h"

void *test_malloc(size_t size);
void *test_calloc(size_t n, size_t size);
void *test_realloc(void *p, size_t size);
void test_free(void *p);
ssize_t test_read(int fd, void *buf, size_t n);

#define LIVE_MAX 4096

static struct {
	bool tracking;        /* count and remember, between track() and done() */
	long fail_at;         /* fail the Nth allocation (1-based), 0: none */
	long calls;           /* allocations seen while tracking */
	bool failed;          /* the Nth was failed */
	void *live[LIVE_MAX]; /* blocks allocated while tracking, not yet freed */
	long read_fail_at;    /* the Nth read() fails with read_errno */
	int read_errno;
	bool read_every;      /* every read from the Nth on fails */
	long reads;
} A;

static void track(long fail_at)
{
	memset(&A, 0, sizeof A);
	A.fail_at = fail_at;
	A.tracking = true;
}

/* Stop tracking; returns how many blocks allocated since track() are
 * still live. */
static int done(void)
{
	int n = 0;

	A.tracking = false;
	for (int i = 0; i < LIVE_MAX; i++)
		n += A.live[i] != NULL;
	return n;
}

static void remember(void *p)
{
	for (int i = 0; p != NULL && i < LIVE_MAX; i++)
		if (A.live[i] == NULL) {
			A.live[i] = p;
			return;
		}
}

static void forget(void *p)
{
	for (int i = 0; p != NULL && i < LIVE_MAX; i++)
		if (A.live[i] == p) {
			A.live[i] = NULL;
			return;
		}
}

/* Should this allocation fail? */
static bool fail_now(void)
{
	if (!A.tracking)
		return false;
	A.calls++;
	if (A.calls == A.fail_at) {
		A.failed = true;
		errno = ENOMEM;
		return true;
	}
	return false;
}

void *test_malloc(size_t size)
{
	if (fail_now())
		return NULL;
	void *p = malloc(size);
	if (A.tracking)
		remember(p);
	return p;
}

void *test_calloc(size_t n, size_t size)
{
	if (fail_now())
		return NULL;
	void *p = calloc(n, size);
	if (A.tracking)
		remember(p);
	return p;
}

void *test_realloc(void *old, size_t size)
{
	if (fail_now())
		return NULL;    /* and old is still live, as realloc() says */
	void *p = realloc(old, size);
	if (A.tracking && p != NULL) {
		forget(old);
		remember(p);
	}
	return p;
}

void test_free(void *p)
{
	forget(p);
	free(p);
}

ssize_t test_read(int fd, void *buf, size_t n)
{
	if (A.read_fail_at > 0 &&
	    (++A.reads == A.read_fail_at ||
	     (A.read_every && A.reads > A.read_fail_at))) {
		errno = A.read_errno;
		return -1;
	}
	return read(fd, buf, n);
}

/* A price file of 40 fish: the table grows (twice) and so does the block
 * of names, so every kind of allocation of the price list happens. */
static const char *many_fish(size_t *len)
{
	static char text[4096];
	size_t n = 0;

	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(text + n, sizeof text - n,
		                      "fish-number-%02d %d\n", i, i + 1);
	*len = n;
	return text;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t a = strlen(s), b = strlen(tail);
	return a >= b && strcmp(s + a - b, tail) == 0;
}

/*
 * One way of making a price list, for each_allocation(): the list, or NULL
 * with a message in err (prices_default() has none to give).
 */
struct making {
	const char *name;        /* the file name its messages start with */
	const char *text;
	size_t len;
	struct price_list *(*make)(const struct making *mk, char *err,
	                           size_t errlen);
};

static struct price_list *make_default(const struct making *mk, char *err,
                                       size_t errlen)
{
	(void)mk;
	snprintf(err, errlen, "%s: out of memory", "(default)");
	return prices_default();
}

static struct price_list *make_parse(const struct making *mk, char *err,
                                     size_t errlen)
{
	return prices_parse(mk->name, mk->text, mk->len, err, errlen);
}

static struct price_list *make_load(const struct making *mk, char *err,
                                    size_t errlen)
{
	return prices_load(mk->name, err, errlen);
}

/*
 * Every allocation of mk fails in turn: NULL, one line naming the file
 * and saying out of memory, nothing live.  The run in which none failed
 * ends the loop, and must give the whole list, of `fish` prices.  Returns
 * how many runs there were.
 */
static long each_allocation(const struct making *mk, size_t fish)
{
	char err[512];
	long n;

	for (n = 1;; n++) {
		err[0] = '\0';
		track(n);
		struct price_list *list = mk->make(mk, err, sizeof err);
		bool failed = A.failed;
		if (list != NULL) {
			ck_assert_uint_eq(prices_count(list), fish);
			prices_free(list);
		}
		ck_assert_msg(done() == 0, "allocation %ld failed: a leak", n);
		if (!failed)
			return n;
		ck_assert_msg(list == NULL, "allocation %ld failed, and yet a "
		              "list came back", n);
		ck_assert_msg(starts(err, mk->name) &&
		              ends_with(err, ": out of memory"),
		              "allocation %ld: %s", n, err);
	}
}

START_TEST(default_each_allocation)
{
	struct making mk = { "(default)", NULL, 0, make_default };

	/* The list, its slots, its names. */
	ck_assert_int_ge(each_allocation(&mk, 10), 3);
}
END_TEST

START_TEST(parse_each_allocation)
{
	struct making mk = { "p.txt", NULL, 0, make_parse };

	mk.text = many_fish(&mk.len);
	/* Then the slots grown twice, and the names grown. */
	ck_assert_int_ge(each_allocation(&mk, 40), 5);
}
END_TEST

START_TEST(load_each_allocation)
{
	char path[256];
	struct making mk = { path, NULL, 0, make_load };

	mk.text = many_fish(&mk.len);
	snprintf(path, sizeof path, "%s", temp_file(mk.text, mk.len));
	/* The file's buffer, then as prices_parse(). */
	ck_assert_int_ge(each_allocation(&mk, 40), 6);
}
END_TEST

/* read() interrupted is tried again; any other error is one line. */
START_TEST(load_read_errors)
{
	size_t len;
	const char *text = many_fish(&len);
	char path[256], err[512];
	struct price_list *list;

	snprintf(path, sizeof path, "%s", temp_file(text, len));
	for (long n = 1; n <= 3; n++) {
		track(0);
		A.read_fail_at = n;
		A.read_errno = EINTR;
		list = prices_load(path, err, sizeof err);
		ck_assert_msg(list != NULL, "EINTR on read %ld: %s", n, err);
		ck_assert_uint_eq(prices_count(list), 40);
		prices_free(list);
		ck_assert_int_eq(done(), 0);
	}
	for (long n = 1; n <= 2; n++) {
		track(0);
		A.read_fail_at = n;
		A.read_errno = EIO;
		A.read_every = true;
		list = prices_load(path, err, sizeof err);
		ck_assert_ptr_null(list);
		ck_assert_msg(starts(err, path) &&
		              ends_with(err, ": Input/output error"), "%s", err);
		ck_assert_int_eq(done(), 0);
	}
	A.read_fail_at = 0;
}
END_TEST

/*
 * Start-up: market_prepare() with the default list and with --prices, each
 * allocation failing in turn: exit status 1, one line on stderr that says
 * out of memory, nothing live.
 */
static void prepare_each_allocation(int argc, char *argv[])
{
	struct market m;
	struct capture cap;
	long n;

	for (n = 1;; n++) {
		track(n);
		capture_begin(&cap, 2);
		int status = market_prepare(&m, argc, argv);
		const char *text = capture_end(&cap);
		bool failed = A.failed;
		if (status == MARKET_OPEN)
			market_free(&m);
		ck_assert_msg(done() == 0, "allocation %ld failed: a leak", n);
		if (!failed) {
			ck_assert_int_eq(status, MARKET_OPEN);
			break;
		}
		ck_assert_int_eq(status, 1);
		ck_assert_msg(starts(text, "fishmarket: ") &&
		              ends_with(text, "out of memory\n") &&
		              strchr(text, '\n') == text + strlen(text) - 1,
		              "allocation %ld: %s", n, text);
	}
	ck_assert_int_ge(n, 2);
}

START_TEST(prepare_default_each_allocation)
{
	char *argv[] = { "fishmarket", NULL };

	prepare_each_allocation(1, argv);
}
END_TEST

START_TEST(prepare_prices_each_allocation)
{
	size_t len;
	const char *text = many_fish(&len);
	char path[256];
	char *argv[] = { "fishmarket", "--prices", path, NULL };

	snprintf(path, sizeof path, "%s", temp_file(text, len));
	prepare_each_allocation(3, argv);
}
END_TEST

/*
 * What must never allocate: options, weighing, paying, the ERROR line and
 * the summary.  A failure there could not happen, so none is handled: this
 * test says so, and fails the day one of them starts to allocate.
 */
START_TEST(no_allocation_on_the_way)
{
	char *argv[] = { "fishmarket", "-p", "0", "-m", "100", "-t", "5",
	                 "-c", "10", "-b", "::1", "-q", NULL };
	struct market m;
	struct ledger l;
	char err[512], reply[TALLY_REPLY_MAX], line[ERROR_REPLY_MAX], buf[256];
	const char *catch = "3 lb of cod\r\nfive pounds of cod\n\n2 lb of tuna\n7";

	memset(&m, 0, sizeof m);
	m.open.next = m.open.prev = &m.open;
	m.prices = prices_default();
	ck_assert_ptr_nonnull(m.prices);
	track(1);               /* the first allocation would fail */
	ck_assert_int_eq(options_parse(&m.opts, 12, argv, err, sizeof err),
	                 OPT_RUN);
	ledger_open(&m, &l, NULL, NULL, 0);
	struct weighing w = weigh_catch(&m, &l, catch, strlen(catch), true);
	ck_assert_uint_eq(w.used, strlen(catch));
	ck_assert_uint_eq(tally_format(reply, l.tally), 4);
	pay_fisherman(&m, &l);
	(void)error_reply(line, WHY_IDLE);
	stats_summary(&m.stats, buf, sizeof buf);
	ledger_close(&m, &l, WHY_EOF);
	ck_assert_int_eq(A.calls, 0);
	ck_assert_int_eq(done(), 0);
	prices_free(m.prices);
}
END_TEST

Suite *alloc_suite(void)
{
	Suite *s = suite_create("allocation and read failures");
	TCase *tc = tcase_create("each in turn");

	tcase_add_test(tc, default_each_allocation);
	tcase_add_test(tc, parse_each_allocation);
	tcase_add_test(tc, load_each_allocation);
	tcase_add_test(tc, load_read_errors);
	tcase_add_test(tc, prepare_default_each_allocation);
	tcase_add_test(tc, prepare_prices_each_allocation);
	tcase_add_test(tc, no_allocation_on_the_way);
	suite_add_tcase(s, tc);
	return s;
}
