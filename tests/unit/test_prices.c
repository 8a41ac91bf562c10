/*
 * test_prices.c - section 4: the default list, the price file format and
 * every way a price file is refused, with its exact line number.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prices.h"
#include "suites.h"

static char err[512];

/* Parse from an exact-size copy (no NUL after it: no overread). */
static struct price_list *parse_n(const char *text, size_t len)
{
	char *copy = exact_copy(text, len);
	struct price_list *list;

	strcpy(err, "(untouched)");
	list = prices_parse("p.txt", copy, len, err, sizeof err);
	free(copy);
	return list;
}

#define parse(text) parse_n((text), strlen(text))

static uint32_t price_of(const struct price_list *list, const char *fish)
{
	uint32_t price = 0xdeadbeef;

	ck_assert_msg(prices_lookup(list, fish, strlen(fish), &price),
	              "'%s' not on the list", fish);
	return price;
}

static bool listed(const struct price_list *list, const char *fish)
{
	uint32_t price;

	return prices_lookup(list, fish, strlen(fish), &price);
}

/* The file is refused with exactly this message. */
static void refused_n(const char *text, size_t len, const char *message)
{
	struct price_list *list = parse_n(text, len);

	ck_assert_msg(list == NULL, "accepted: %s", text);
	ck_assert_str_eq(err, message);
}

#define refused(text, message) refused_n((text), strlen(text), (message))

/* --- 4 default list ------------------------------------------------------ */

START_TEST(default_list)
{
	static const struct { const char *fish; uint32_t price; } want[] = {
		{ "bream", 5 }, { "cod", 8 }, { "haddock", 9 },
		{ "halibut", 14 }, { "mackerel", 4 }, { "plaice", 6 },
		{ "salmon", 12 }, { "sardine", 3 }, { "trout", 7 },
		{ "tuna", 15 },
	};
	struct price_list *list = prices_default();

	ck_assert_ptr_nonnull(list);
	ck_assert_uint_eq(prices_count(list), 10);
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		ck_assert_uint_eq(price_of(list, want[i].fish), want[i].price);
	ck_assert(!listed(list, "shark"));
	ck_assert(!listed(list, "co"));
	ck_assert(!listed(list, "codd"));
	ck_assert(!listed(list, "cod "));
	ck_assert(!listed(list, ""));
	prices_free(list);
}
END_TEST

START_TEST(default_case_insensitive)
{
	struct price_list *list = prices_default();

	ck_assert_ptr_nonnull(list);
	ck_assert_uint_eq(price_of(list, "COD"), 8);
	ck_assert_uint_eq(price_of(list, "Cod"), 8);
	ck_assert_uint_eq(price_of(list, "hAlIbUt"), 14);
	ck_assert_uint_eq(price_of(list, "TUNA"), 15);
	/* ASCII folding only: no locale tricks. */
	ck_assert(!listed(list, "TUN\xc3\x81"));
	prices_free(list);
}
END_TEST

START_TEST(lookup_bounds)
{
	struct price_list *list = prices_default();
	uint32_t price = 0;
	char *fish;

	ck_assert_ptr_nonnull(list);
	/* The name is not NUL-terminated: only len bytes count. */
	fish = exact_copy("codfish", 3);
	ck_assert(prices_lookup(list, fish, 3, &price));
	ck_assert_uint_eq(price, 8);
	free(fish);
	fish = exact_copy("salmon", 6);
	ck_assert(!prices_lookup(list, fish, 5, &price));
	free(fish);
	/* Longer than any name on the list: refused, however long. */
	size_t n = 1 << 20;
	fish = malloc(n);
	ck_assert_ptr_nonnull(fish);
	memset(fish, 'a', n);
	ck_assert(!prices_lookup(list, fish, n, &price));
	free(fish);
	prices_free(list);
}
END_TEST

/* --- 4 price file format -------------------------------------------------- */

START_TEST(format_basic)
{
	struct price_list *list = parse("cod 8\nshark 100\n");

	ck_assert_msg(list != NULL, "%s", err);
	ck_assert_uint_eq(prices_count(list), 2);
	ck_assert_uint_eq(price_of(list, "cod"), 8);
	ck_assert_uint_eq(price_of(list, "shark"), 100);
	/* It replaces the default list: no tuna any more. */
	ck_assert(!listed(list, "tuna"));
	prices_free(list);
}
END_TEST

START_TEST(format_blanks_comments)
{
	struct price_list *list = parse(
		"# the price list\n"
		"\n"
		"   \t \n"
		"  cod 8\n"
		"\tshark\t\t100\t\n"
		"eel 3 # cheap today\n"
		"ray 4# no blank before the comment\n"
		"   # indented comment\n"
		"#cod 99\n"
		"skate     5      \n");

	ck_assert_msg(list != NULL, "%s", err);
	ck_assert_uint_eq(prices_count(list), 5);
	ck_assert_uint_eq(price_of(list, "cod"), 8);
	ck_assert_uint_eq(price_of(list, "shark"), 100);
	ck_assert_uint_eq(price_of(list, "eel"), 3);
	ck_assert_uint_eq(price_of(list, "ray"), 4);
	ck_assert_uint_eq(price_of(list, "skate"), 5);
	prices_free(list);
}
END_TEST

START_TEST(format_line_ends)
{
	struct price_list *list;

	list = parse("cod 8\r\nshark 100\r\n# x\r\n\r\n");
	ck_assert_msg(list != NULL, "%s", err);
	ck_assert_uint_eq(prices_count(list), 2);
	ck_assert_uint_eq(price_of(list, "shark"), 100);
	prices_free(list);
	/* No line end after the last line. */
	list = parse("cod 8\nshark 100");
	ck_assert_msg(list != NULL, "%s", err);
	ck_assert_uint_eq(price_of(list, "shark"), 100);
	prices_free(list);
	/* Mixed LF and CRLF. */
	list = parse("cod 8\r\nshark 100\n");
	ck_assert_msg(list != NULL, "%s", err);
	prices_free(list);
	/* A comment may hold anything but NUL and CR, UTF-8 or not. */
	list = parse("cod 8 # Kabeljau \xc3\xa4 \xff\x01\n");
	ck_assert_msg(list != NULL, "%s", err);
	prices_free(list);
}
END_TEST

START_TEST(format_names)
{
	struct price_list *list = parse(
		"Red-Snapper 20\nCOD 8\nbass2 3\n-x- 1\n9 9\n");

	ck_assert_msg(list != NULL, "%s", err);
	ck_assert_uint_eq(price_of(list, "red-snapper"), 20);
	ck_assert_uint_eq(price_of(list, "RED-SNAPPER"), 20);
	ck_assert_uint_eq(price_of(list, "cod"), 8);
	ck_assert_uint_eq(price_of(list, "Bass2"), 3);
	ck_assert_uint_eq(price_of(list, "-X-"), 1);
	ck_assert_uint_eq(price_of(list, "9"), 9);
	prices_free(list);
}
END_TEST

START_TEST(format_prices)
{
	struct price_list *list = parse(
		"free 0\nlow 1\nmax 1000000000\nzeros 0000000000000000000000042\n"
		"zmax 000001000000000\n");

	ck_assert_msg(list != NULL, "%s", err);
	ck_assert_uint_eq(price_of(list, "free"), 0);
	ck_assert_uint_eq(price_of(list, "low"), 1);
	ck_assert_uint_eq(price_of(list, "max"), 1000000000);
	ck_assert_uint_eq(price_of(list, "zeros"), 42);
	ck_assert_uint_eq(price_of(list, "zmax"), 1000000000);
	prices_free(list);
}
END_TEST

START_TEST(format_many_fish)
{
	/* Enough names to make the table grow several times. */
	size_t cap = 3000 * 24, len = 0;
	char *text = malloc(cap);
	struct price_list *list;

	ck_assert_ptr_nonnull(text);
	for (unsigned i = 0; i < 3000; i++)
		len += (size_t)snprintf(text + len, cap - len, "fish-%u %u\n",
		                        i, i * 7);
	list = parse_n(text, len);
	free(text);
	ck_assert_msg(list != NULL, "%s", err);
	ck_assert_uint_eq(prices_count(list), 3000);
	for (unsigned i = 0; i < 3000; i++) {
		char name[32];
		snprintf(name, sizeof name, "FISH-%u", i);
		ck_assert_uint_eq(price_of(list, name), i * 7);
	}
	ck_assert(!listed(list, "fish-3000"));
	ck_assert(!listed(list, "fish-"));
	prices_free(list);
}
END_TEST

/* --- 4 price file errors: "FILE:LINE: reason" ------------------------------ */

START_TEST(errors_duplicate)
{
	refused("# list\ncod 8\nshark 1\ncod 9\n",
	        "p.txt:4: duplicate fish 'cod' (first on line 2)");
	refused("cod 8\nCOD 8\n",
	        "p.txt:2: duplicate fish 'COD' (first on line 1)");
	refused("\n\nA-b 1\n\n\n\na-B 2\n",
	        "p.txt:7: duplicate fish 'a-B' (first on line 3)");
}
END_TEST

START_TEST(errors_price)
{
	refused("cod 8\nshark x\n", "p.txt:2: bad price 'x'");
	refused("cod -1\n", "p.txt:1: bad price '-1'");
	refused("cod +1\n", "p.txt:1: bad price '+1'");
	refused("cod 1.5\n", "p.txt:1: bad price '1.5'");
	refused("cod 0x10\n", "p.txt:1: bad price '0x10'");
	refused("cod 8$\n", "p.txt:1: bad price '8$'");
	refused("a 1\nb 2\ncod 1000000001\n",
	        "p.txt:3: price out of range (0 to 1000000000)");
	refused("cod 4294967296\n",
	        "p.txt:1: price out of range (0 to 1000000000)");
	refused("cod 99999999999999999999999999999999999999999\n",
	        "p.txt:1: price out of range (0 to 1000000000)");
	/* 2^64 + 5 and 2^32 + 5: a wrapping accumulator would read 5. */
	refused("cod 18446744073709551621\n",
	        "p.txt:1: price out of range (0 to 1000000000)");
	refused("cod 4294967301\n",
	        "p.txt:1: price out of range (0 to 1000000000)");
	/* An unprintable token is not echoed to the terminal. */
	refused("cod 8\x1b[31m\n", "p.txt:1: bad price");
}
END_TEST

START_TEST(errors_name)
{
	refused("cod 8\nred_snapper 3\n", "p.txt:2: bad fish name 'red_snapper'");
	refused("k\xc3\xa4se 3\n", "p.txt:1: bad fish name");
	refused("cod.x 3\n", "p.txt:1: bad fish name 'cod.x'");
	refused("\"cod\" 3\n", "p.txt:1: bad fish name '\"cod\"'");
	refused("cod\x01 3\n", "p.txt:1: bad fish name");
	refused("co\fd 3\n", "p.txt:1: bad fish name");
}
END_TEST

START_TEST(errors_shape)
{
	refused("cod 8\n\ncod\n", "p.txt:3: expected 'name price'");
	refused("cod # 8\n", "p.txt:1: expected 'name price'");
	refused("  cod   \n", "p.txt:1: expected 'name price'");
	refused("cod 8 9\n", "p.txt:1: unexpected text after price");
	refused("cod 8 x # y\n", "p.txt:1: unexpected text after price");
	refused("cod 8 \xc2\xa0\n", "p.txt:1: unexpected text after price");
	/* "cod8" is one token: a name with no price. */
	refused("cod8\n", "p.txt:1: expected 'name price'");
}
END_TEST

START_TEST(errors_bytes)
{
	refused_n("cod 8\nsh\0ark 1\n", 15, "p.txt:2: NUL byte");
	refused_n("cod 8\n# \0\n", 10, "p.txt:2: NUL byte");
	refused_n("cod 8\0", 6, "p.txt:1: NUL byte");
	/* A CR anywhere but directly before an LF. */
	refused("cod 8\rshark 1\n", "p.txt:1: stray carriage return");
	refused("cod 8\n\rshark 1\n", "p.txt:2: stray carriage return");
	refused("cod 8\r\r\n", "p.txt:1: stray carriage return");
	refused("cod 8\n# a\rb\n", "p.txt:2: stray carriage return");
	/* A CR at the very end of the file has no LF after it. */
	refused("cod 8\nshark 1\r", "p.txt:2: stray carriage return");
	/* Vertical tab and form feed are not blanks. */
	refused("cod\v8\n", "p.txt:1: bad fish name");
	refused("cod 8\f\n", "p.txt:1: bad price");
}
END_TEST

START_TEST(errors_no_prices)
{
	refused_n("", 0, "p.txt: no prices");
	refused("\n", "p.txt: no prices");
	refused("# only a comment\n\n   \n", "p.txt: no prices");
	refused("\r\n\r\n", "p.txt: no prices");
}
END_TEST

START_TEST(errors_first_wins)
{
	/* The first bad line is named, not a later one. */
	refused("cod 8\ncod x\nshark\n", "p.txt:2: bad price 'x'");
	refused("a 1\nb 2\nc 3\nd 4\ne 5\nf 6\ng 7\nh 8\ni 9\nj 10\nk 11 12\n",
	        "p.txt:11: unexpected text after price");
}
END_TEST

/* --- 4 price file loading ------------------------------------------------- */

START_TEST(load_file)
{
	const char *text = "# test\ncod 8\r\nshark 100\n";
	const char *path = temp_file(text, strlen(text));
	char msg[600];
	struct price_list *list = prices_load(path, err, sizeof err);

	ck_assert_msg(list != NULL, "%s", err);
	ck_assert_uint_eq(prices_count(list), 2);
	ck_assert_uint_eq(price_of(list, "shark"), 100);
	prices_free(list);
	unlink(path);

	/* Errors name the file as given. */
	text = "cod 8\nhalibut -14\n";
	path = temp_file(text, strlen(text));
	ck_assert_ptr_null(prices_load(path, err, sizeof err));
	snprintf(msg, sizeof msg, "%s:2: bad price '-14'", path);
	ck_assert_str_eq(err, msg);
	unlink(path);
}
END_TEST

START_TEST(load_missing)
{
	ck_assert_ptr_null(prices_load("/nonexistent/fish.txt", err, sizeof err));
	ck_assert_str_eq(err, "/nonexistent/fish.txt: No such file or directory");
	ck_assert_ptr_null(prices_load("", err, sizeof err));
	ck_assert_str_eq(err, ": No such file or directory");
}
END_TEST

START_TEST(load_directory)
{
	ck_assert_ptr_null(prices_load("/tmp", err, sizeof err));
	ck_assert_str_eq(err, "/tmp: Is a directory");
}
END_TEST

START_TEST(load_unreadable)
{
	const char *path = temp_file("cod 8\n", 6);
	char msg[600];

	ck_assert_int_eq(chmod(path, 0), 0);
	/* root reads any file: then there is nothing to test here. */
	if (access(path, R_OK) == 0) {
		unlink(path);
		return;
	}
	ck_assert_ptr_null(prices_load(path, err, sizeof err));
	snprintf(msg, sizeof msg, "%s: Permission denied", path);
	ck_assert_str_eq(err, msg);
	unlink(path);
}
END_TEST

START_TEST(load_empty)
{
	const char *path = temp_file("", 0);
	char msg[600];

	ck_assert_ptr_null(prices_load(path, err, sizeof err));
	snprintf(msg, sizeof msg, "%s: no prices", path);
	ck_assert_str_eq(err, msg);
	unlink(path);
}
END_TEST

START_TEST(load_too_large)
{
	/* 16 MiB is accepted in size (then parsed), 16 MiB + 1 is not.  A
	 * file of that many comment bytes keeps the parse cheap. */
	const char *path = temp_file("", 0);
	char msg[600];
	int fd = open(path, O_WRONLY);
	static char block[65536];

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "cod 8\n#", 7), 7);
	memset(block, 'x', sizeof block);
	size_t total = 7;
	while (total < 16u * 1024 * 1024) {
		size_t n = 16u * 1024 * 1024 - total;
		if (n > sizeof block)
			n = sizeof block;
		ck_assert_int_eq(write(fd, block, n), (ssize_t)n);
		total += n;
	}
	struct price_list *list = prices_load(path, err, sizeof err);
	ck_assert_msg(list != NULL, "%s", err);
	ck_assert_uint_eq(price_of(list, "cod"), 8);
	prices_free(list);

	ck_assert_int_eq(write(fd, "x", 1), 1);
	close(fd);
	ck_assert_ptr_null(prices_load(path, err, sizeof err));
	snprintf(msg, sizeof msg, "%s: too large (more than 16777216 bytes)",
	         path);
	ck_assert_str_eq(err, msg);
	unlink(path);
}
END_TEST

Suite *prices_suite(void)
{
	Suite *s = suite_create("prices");
	TCase *tc;

	tc = tcase_create("4 default list");
	tcase_add_test(tc, default_list);
	tcase_add_test(tc, default_case_insensitive);
	tcase_add_test(tc, lookup_bounds);
	suite_add_tcase(s, tc);

	tc = tcase_create("4 price file format");
	tcase_add_test(tc, format_basic);
	tcase_add_test(tc, format_blanks_comments);
	tcase_add_test(tc, format_line_ends);
	tcase_add_test(tc, format_names);
	tcase_add_test(tc, format_prices);
	tcase_add_test(tc, format_many_fish);
	suite_add_tcase(s, tc);

	tc = tcase_create("4 price file errors");
	tcase_add_test(tc, errors_duplicate);
	tcase_add_test(tc, errors_price);
	tcase_add_test(tc, errors_name);
	tcase_add_test(tc, errors_shape);
	tcase_add_test(tc, errors_bytes);
	tcase_add_test(tc, errors_no_prices);
	tcase_add_test(tc, errors_first_wins);
	suite_add_tcase(s, tc);

	tc = tcase_create("4 price file loading");
	tcase_add_test(tc, load_file);
	tcase_add_test(tc, load_missing);
	tcase_add_test(tc, load_directory);
	tcase_add_test(tc, load_unreadable);
	tcase_add_test(tc, load_empty);
	tcase_add_test(tc, load_too_large);
	tcase_set_timeout(tc, 30);   /* 16 MiB under valgrind */
	suite_add_tcase(s, tc);

	return s;
}
