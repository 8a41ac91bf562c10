/*
 * test_catch.c - section 3 of the contract, clause by clause, against
 * catch_parse().  Every line is parsed from an exact-size heap copy, so a
 * read past its end is an ASan/valgrind error, not a silent pass.
 */
#include <stdlib.h>
#include <string.h>

#include "catch.h"
#include "suites.h"

static struct catch_line parse_n(const char *s, size_t len)
{
	struct catch_line c;
	char *copy = exact_copy(s, len);

	memset(&c, 0xa5, sizeof c);      /* garbage: every field must be set */
	catch_parse(copy, len, &c);
	/* The fish points into the line: translate it back into s. */
	if (c.kind == CATCH_FISH) {
		ck_assert_ptr_nonnull(c.fish);
		ck_assert(c.fish >= copy && c.fish + c.fish_len <= copy + len);
		c.fish = s + (c.fish - copy);
	}
	free(copy);
	return c;
}

#define parse(s) parse_n((s), strlen(s))

static void fish_n(const char *s, size_t len, uint32_t count, const char *fish)
{
	struct catch_line c = parse_n(s, len);

	ck_assert_msg(c.kind == CATCH_FISH, "'%s': kind %d (%s)", s, c.kind,
	              c.kind == CATCH_MALFORMED ? c.reason : "-");
	ck_assert_uint_eq(c.count, count);
	ck_assert_uint_eq(c.fish_len, strlen(fish));
	ck_assert_msg(memcmp(c.fish, fish, c.fish_len) == 0,
	              "'%s': fish '%.*s', expected '%s'", s, (int)c.fish_len,
	              c.fish, fish);
}

static void malformed_n(const char *s, size_t len)
{
	struct catch_line c = parse_n(s, len);

	ck_assert_msg(c.kind == CATCH_MALFORMED, "'%s' (%zu bytes): kind %d, "
	              "expected malformed", s, len, c.kind);
	ck_assert_ptr_nonnull(c.reason);
	ck_assert_uint_gt(strlen(c.reason), 0);
}

static void blank_n(const char *s, size_t len)
{
	struct catch_line c = parse_n(s, len);

	ck_assert_msg(c.kind == CATCH_BLANK, "'%s': kind %d, expected blank",
	              s, c.kind);
}

#define is_fish(s, count, fish) fish_n((s), strlen(s), (count), (fish))
#define is_malformed(s) malformed_n((s), strlen(s))
#define is_blank(s) blank_n((s), strlen(s))

/* --- 3 grammar: <count> <unit> of <fish>, case-insensitive ------------- */

START_TEST(grammar_basic)
{
	is_fish("5 pounds of cod", 5, "cod");
	is_fish("1 lb of tuna", 1, "tuna");
	is_fish("10 lbs of salmon", 10, "salmon");
	is_fish("3 pound of trout", 3, "trout");
}
END_TEST

START_TEST(grammar_case)
{
	is_fish("5 POUNDS OF COD", 5, "COD");
	is_fish("5 Pounds Of Cod", 5, "Cod");
	is_fish("5 pOuNdS oF cOd", 5, "cOd");
	is_fish("2 LB of x", 2, "x");
	is_fish("2 Lbs OF x", 2, "x");
	/* Case folding is ASCII: the Kelvin sign or a dotless i is not a
	 * letter of the grammar. */
	is_malformed("2 pound\xc5\xbf of cod");   /* U+017F long s */
	is_malformed("2 lb o\xe2\x84\xaa cod");   /* not 'of' */
}
END_TEST

START_TEST(grammar_order)
{
	is_malformed("pounds 5 of cod");
	is_malformed("5 of pounds cod");
	is_malformed("5 pounds cod");
	is_malformed("cod");
	is_malformed("5");
	is_malformed("5 pounds");
	is_malformed("of cod");
}
END_TEST

/* --- 3 blanks: runs of spaces/tabs separate, ends ignored -------------- */

START_TEST(blanks_runs)
{
	is_fish("5  pounds   of    cod", 5, "cod");
	is_fish("5\tpounds\tof\tcod", 5, "cod");
	is_fish("5 \t \tpounds\t \tof \t cod", 5, "cod");
	is_fish("   5 pounds of cod", 5, "cod");
	is_fish("\t5 pounds of cod", 5, "cod");
	is_fish("5 pounds of cod   ", 5, "cod");
	is_fish("5 pounds of cod\t \t", 5, "cod");
	is_fish(" \t 5 pounds of cod \t ", 5, "cod");
}
END_TEST

START_TEST(blanks_required)
{
	is_malformed("5pounds of cod");
	is_malformed("5 poundsof cod");
	is_malformed("5 pounds ofcod");
	is_malformed("5lb of cod");
}
END_TEST

START_TEST(blanks_only_space_tab)
{
	/* Other white space is not a blank: VT and FF are control
	 * characters, NBSP (U+00A0) is an ordinary character. */
	is_malformed("5\vpounds of cod");
	is_malformed("5\fpounds of cod");
	is_malformed("5 pounds\vof cod");
	is_malformed("5\xc2\xa0pounds of cod");
	is_malformed("5 pounds of\xc2\xa0" "cod");
	/* ... but inside the fish NBSP is just a character of its name. */
	is_fish("5 pounds of cod\xc2\xa0", 5, "cod\xc2\xa0");
}
END_TEST

/* --- 3 count: digits, 0 to 1000000, leading zeros ----------------------- */

START_TEST(count_values)
{
	is_fish("0 pounds of cod", 0, "cod");
	is_fish("1 pounds of cod", 1, "cod");
	is_fish("999999 pounds of cod", 999999, "cod");
	is_fish("1000000 pounds of cod", 1000000, "cod");
	is_malformed("1000001 pounds of cod");
	is_malformed("9999999 pounds of cod");
	is_malformed("10000000 pounds of cod");
	/* Would wrap a 32-bit and a 64-bit accumulator. */
	is_malformed("4294967296 pounds of cod");
	is_malformed("18446744073709551617 pounds of cod");
	is_malformed("99999999999999999999999999999999999999 pounds of cod");
}
END_TEST

START_TEST(count_leading_zeros)
{
	char line[300];

	is_fish("007 pounds of cod", 7, "cod");
	is_fish("00 pounds of cod", 0, "cod");
	is_fish("01000000 pounds of cod", 1000000, "cod");
	is_malformed("01000001 pounds of cod");
	/* Any number of zeros: 250 of them, then 1000000. */
	memset(line, '0', 250);
	strcpy(line + 250, "1000000 lb of cod");
	is_fish(line, 1000000, "cod");
	strcpy(line + 250, "1000001 lb of cod");
	is_malformed(line);
}
END_TEST

START_TEST(count_syntax)
{
	is_malformed("+5 pounds of cod");
	is_malformed("-5 pounds of cod");
	is_malformed("-0 pounds of cod");
	is_malformed("5.0 pounds of cod");
	is_malformed("5.5 pounds of cod");
	is_malformed(".5 pounds of cod");
	is_malformed("5, pounds of cod");
	is_malformed("1e3 pounds of cod");
	is_malformed("0x10 pounds of cod");
	is_malformed("five pounds of cod");
	is_malformed("5five pounds of cod");
	is_malformed("\xd9\xa3 pounds of cod");      /* Arabic-Indic 3 */
	is_malformed("\xef\xbc\x95 pounds of cod");  /* fullwidth 5 */
}
END_TEST

/* --- 3 unit: pound, pounds, lb, lbs ------------------------------------- */

START_TEST(unit_words)
{
	is_fish("2 pound of cod", 2, "cod");
	is_fish("2 pounds of cod", 2, "cod");
	is_fish("2 lb of cod", 2, "cod");
	is_fish("2 lbs of cod", 2, "cod");
	/* No agreement with the count is enforced. */
	is_fish("1 pounds of cod", 1, "cod");
	is_fish("7 pound of cod", 7, "cod");
}
END_TEST

START_TEST(unit_others)
{
	is_malformed("2 kg of cod");
	is_malformed("2 l of cod");
	is_malformed("2 lbss of cod");
	is_malformed("2 poundss of cod");
	is_malformed("2 poun of cod");
	is_malformed("2 lb. of cod");
	is_malformed("2 lbs. of cod");
	is_malformed("2 pounds, of cod");
	is_malformed("2 pounds pounds of cod");
	is_malformed("2 ounces of cod");
}
END_TEST

/* --- 3 of: "of" and its blank, then a fish -------------------------------- */

START_TEST(of_word)
{
	is_fish("2 lb of cod", 2, "cod");
	is_fish("2 lb OF cod", 2, "cod");
	is_fish("2 lb Of cod", 2, "cod");
	is_malformed("2 lb off cod");
	is_malformed("2 lb o cod");
	is_malformed("2 lb f cod");
	is_malformed("2 lb of");
	is_malformed("2 lb of ");
	is_malformed("2 lb of \t ");
	is_malformed("2 lb ofcod");
	is_malformed("5 pounds of");
	is_malformed("5 pounds ofcod");
	/* "of" may also be the fish's first word. */
	is_fish("2 lb of of", 2, "of");
}
END_TEST

/* --- 3 fish: the rest, trailing blanks removed -------------------------- */

START_TEST(fish_rest)
{
	is_fish("3 lb of cod", 3, "cod");
	is_fish("3 lb of red snapper", 3, "red snapper");
	is_fish("3 lb of red \t snapper \t ", 3, "red \t snapper");
	is_fish("3 lb of of cod", 3, "of cod");
	is_fish("3 lb of 5 pounds of cod", 3, "5 pounds of cod");
	is_fish("3 lb of x", 3, "x");
	is_fish("3 lb of #!/$%&'()*", 3, "#!/$%&'()*");
	/* Not on any list, but well formed: a fish worth 0, not an error. */
	is_fish("3 lb of unobtainium", 3, "unobtainium");
	is_fish("3 lb of Kabeljau \xc3\xa4\xc3\xb6\xc3\xbc", 3,
	        "Kabeljau \xc3\xa4\xc3\xb6\xc3\xbc");
	is_fish("3 lb of \xe9\xb1\x88", 3, "\xe9\xb1\x88");          /* 鱈 */
	is_fish("3 lb of \xf0\x9f\x90\x9f", 3, "\xf0\x9f\x90\x9f");  /* 🐟 */
}
END_TEST

START_TEST(fish_points_into_line)
{
	const char *s = "12 lbs of  halibut  ";
	struct catch_line c = parse(s);

	ck_assert_int_eq(c.kind, CATCH_FISH);
	ck_assert_ptr_eq(c.fish, s + 11);
	ck_assert_uint_eq(c.fish_len, 7);
}
END_TEST

/* --- 3 line end: one CR directly before the LF is stripped --------------- */

START_TEST(line_end_cr)
{
	is_fish("5 pounds of cod\r", 5, "cod");
	is_fish("5 pounds of cod  \r", 5, "cod");
	is_fish("5 pounds of red snapper\r", 5, "red snapper");
	/* Only one CR; another is a control character. */
	is_malformed("5 pounds of cod\r\r");
	is_malformed("abc\r\r");
	is_malformed("5 pounds of cod\r ");
	is_malformed("5 pounds\rof cod");
	is_malformed("5 pounds of c\rod");
	is_malformed("\r5 pounds of cod");
	is_malformed("5\r pounds of cod");
}
END_TEST

START_TEST(line_end_bounds)
{
	/* Only [line, line + len) counts: what follows is not read. */
	const char *s = "5 pounds of codfish";
	struct catch_line c;

	catch_parse(s, 15, &c);
	ck_assert_int_eq(c.kind, CATCH_FISH);
	ck_assert_uint_eq(c.fish_len, 3);
	catch_parse(s, 12, &c);
	ck_assert_int_eq(c.kind, CATCH_MALFORMED);
	catch_parse(s, 0, &c);
	ck_assert_int_eq(c.kind, CATCH_BLANK);
	/* A sequence cut by len is truncated, whatever follows in memory. */
	catch_parse("1 lb of \xe2\x82\xac", 10, &c);
	ck_assert_int_eq(c.kind, CATCH_MALFORMED);
	catch_parse("1 lb of \xf0\x9f\x90\x9f", 11, &c);
	ck_assert_int_eq(c.kind, CATCH_MALFORMED);
	catch_parse("1 lb of \xc3\xa4", 9, &c);
	ck_assert_int_eq(c.kind, CATCH_MALFORMED);
	/* A CR just past len is not "the CR at the end". */
	catch_parse("5 lb of cod\r\r", 12, &c);
	ck_assert_int_eq(c.kind, CATCH_FISH);
	ck_assert_uint_eq(c.fish_len, 3);
}
END_TEST

/* --- 3 blank line: empty after trimming, worth 0, not rejected ------------ */

START_TEST(blank_lines)
{
	blank_n("", 0);
	is_blank(" ");
	is_blank("\t");
	is_blank("  \t  \t ");
	is_blank("\r");
	is_blank(" \t \r");
	is_malformed("\r\r");
	is_malformed(" \r ");
	is_malformed("\v");
	blank_n("\0", 0);
}
END_TEST

/* --- 3 control characters: C0 except TAB, DEL, C1, NUL ------------------- */

START_TEST(control_c0)
{
	char line[32];

	for (int c = 0; c < 0x20; c++) {
		if (c == '\t')
			continue;
		/* In the fish (where anything else is allowed) ... */
		memcpy(line, "1 lb of co?d", 12);
		line[10] = (char)c;
		malformed_n(line, 12);
		/* ... at the start, in the count, alone. */
		line[0] = (char)c;
		if (c == '\r')
			blank_n(line, 1);     /* "\r" alone: CRLF, a blank line */
		else
			malformed_n(line, 1);
		memcpy(line, "1? lb of cod", 12);
		line[1] = (char)c;
		malformed_n(line, 12);
		/* At the end: only a single CR there is a line end. */
		memcpy(line, "1 lb of cod?", 12);
		line[11] = (char)c;
		if (c == '\r')
			fish_n(line, 12, 1, "cod");
		else
			malformed_n(line, 12);
	}
	/* TAB is a blank everywhere. */
	is_fish("1\tlb\tof\tcod\t", 1, "cod");
}
END_TEST

START_TEST(control_del_nul)
{
	is_malformed("1 lb of co\x7f" "d");
	is_malformed("\x7f");
	is_malformed("1 lb of cod\x7f");
	malformed_n("1 lb of co\0d", 12);
	malformed_n("1 lb of cod\0", 12);
	malformed_n("\0" "1 lb of cod", 12);
	malformed_n("1 lb\0of cod", 11);
	malformed_n("\0", 1);
	malformed_n("\0\r", 2);
}
END_TEST

START_TEST(control_c1)
{
	char line[32];

	/* U+0080..U+009F, encoded C2 80 .. C2 9F. */
	for (int b = 0x80; b <= 0x9f; b++) {
		memcpy(line, "1 lb of c??d", 12);
		line[9] = (char)0xc2;
		line[10] = (char)b;
		malformed_n(line, 12);
	}
	/* Their neighbours are fine: U+007E, U+00A0, U+00FF. */
	is_fish("1 lb of c~d", 1, "c~d");
	is_fish("1 lb of c\xc2\xa0" "d", 1, "c\xc2\xa0" "d");
	is_fish("1 lb of c\xc3\xbf" "d", 1, "c\xc3\xbf" "d");
	/* A raw C1 byte (Latin-1 style) is invalid UTF-8 anyway. */
	is_malformed("1 lb of c\x85" "d");
}
END_TEST

/* --- 3 invalid UTF-8 ------------------------------------------------------ */

START_TEST(utf8_valid_edges)
{
	is_fish("1 lb of \xc2\xa0", 1, "\xc2\xa0");                 /* U+00A0 */
	is_fish("1 lb of \xdf\xbf", 1, "\xdf\xbf");                 /* U+07FF */
	is_fish("1 lb of \xe0\xa0\x80", 1, "\xe0\xa0\x80");         /* U+0800 */
	is_fish("1 lb of \xed\x9f\xbf", 1, "\xed\x9f\xbf");         /* U+D7FF */
	is_fish("1 lb of \xee\x80\x80", 1, "\xee\x80\x80");         /* U+E000 */
	is_fish("1 lb of \xef\xbf\xbf", 1, "\xef\xbf\xbf");         /* U+FFFF */
	is_fish("1 lb of \xf0\x90\x80\x80", 1, "\xf0\x90\x80\x80"); /* U+10000 */
	is_fish("1 lb of \xf4\x8f\xbf\xbf", 1, "\xf4\x8f\xbf\xbf"); /* U+10FFFF */
	is_fish("1 lb of \xef\xbb\xbf" "cod", 1, "\xef\xbb\xbf" "cod"); /* BOM */
}
END_TEST

START_TEST(utf8_overlong)
{
	is_malformed("1 lb of \xc0\x80");          /* NUL, 2 bytes */
	is_malformed("1 lb of \xc0\xaf");          /* '/' */
	is_malformed("1 lb of \xc1\xbf");
	is_malformed("1 lb of \xe0\x80\x80");
	is_malformed("1 lb of \xe0\x9f\xbf");      /* U+07FF in 3 bytes */
	is_malformed("1 lb of \xf0\x80\x80\x80");
	is_malformed("1 lb of \xf0\x8f\xbf\xbf");  /* U+FFFF in 4 bytes */
}
END_TEST

START_TEST(utf8_surrogates_and_range)
{
	is_malformed("1 lb of \xed\xa0\x80");      /* U+D800 */
	is_malformed("1 lb of \xed\xaf\xbf");      /* U+DBFF */
	is_malformed("1 lb of \xed\xb0\x80");      /* U+DC00 */
	is_malformed("1 lb of \xed\xbf\xbf");      /* U+DFFF */
	is_malformed("1 lb of \xf4\x90\x80\x80");  /* U+110000 */
	is_malformed("1 lb of \xf5\x80\x80\x80");
	is_malformed("1 lb of \xf7\xbf\xbf\xbf");
	is_malformed("1 lb of \xf8\x88\x80\x80\x80");
	is_malformed("1 lb of \xfc\x84\x80\x80\x80\x80");
	is_malformed("1 lb of \xfe");
	is_malformed("1 lb of \xff");
}
END_TEST

START_TEST(utf8_truncated_and_stray)
{
	is_malformed("1 lb of \xc3");               /* truncated at the end */
	is_malformed("1 lb of \xe2\x82");
	is_malformed("1 lb of \xf0\x9f\x90");
	is_malformed("1 lb of \xc3 cod");           /* followed by a blank */
	is_malformed("1 lb of \xe2\x28\xa1");       /* bad 2nd byte */
	is_malformed("1 lb of \xe2\x82\x28");       /* bad 3rd byte */
	is_malformed("1 lb of \xf0\x9f\x90\x28");   /* bad 4th byte */
	/* A lead byte where a continuation byte belongs. */
	is_malformed("1 lb of \xe2\xc3\xa4");
	is_malformed("1 lb of \xe2\x82\xc3\xa4");
	is_malformed("1 lb of \xf0\x9f\xc3\xa4");
	is_malformed("1 lb of \xf0\x9f\x90\xf0\x9f\x90\x9f");
	is_malformed("1 lb of \xe2\x82\xff");
	is_malformed("1 lb of \x80");               /* stray continuation */
	is_malformed("1 lb of cod\xbf");
	is_malformed("1 lb of \xc3\xa4\xa4");       /* one too many */
	/* Truncated just before a CR, which then is not the line end. */
	is_malformed("1 lb of \xe2\x82\r");
	/* Outside the fish, too. */
	is_malformed("\xff" "1 lb of cod");
	is_malformed("1 lb\xff of cod");
	is_malformed("1 lb of\xc3 cod");
}
END_TEST

Suite *catch_suite(void)
{
	Suite *s = suite_create("catch");
	TCase *tc;

	tc = tcase_create("3 grammar");
	tcase_add_test(tc, grammar_basic);
	tcase_add_test(tc, grammar_case);
	tcase_add_test(tc, grammar_order);
	suite_add_tcase(s, tc);

	tc = tcase_create("3 blanks");
	tcase_add_test(tc, blanks_runs);
	tcase_add_test(tc, blanks_required);
	tcase_add_test(tc, blanks_only_space_tab);
	suite_add_tcase(s, tc);

	tc = tcase_create("3 count");
	tcase_add_test(tc, count_values);
	tcase_add_test(tc, count_leading_zeros);
	tcase_add_test(tc, count_syntax);
	suite_add_tcase(s, tc);

	tc = tcase_create("3 unit");
	tcase_add_test(tc, unit_words);
	tcase_add_test(tc, unit_others);
	suite_add_tcase(s, tc);

	tc = tcase_create("3 of");
	tcase_add_test(tc, of_word);
	suite_add_tcase(s, tc);

	tc = tcase_create("3 fish");
	tcase_add_test(tc, fish_rest);
	tcase_add_test(tc, fish_points_into_line);
	suite_add_tcase(s, tc);

	tc = tcase_create("3 line end");
	tcase_add_test(tc, line_end_cr);
	tcase_add_test(tc, line_end_bounds);
	suite_add_tcase(s, tc);

	tc = tcase_create("3 blank line");
	tcase_add_test(tc, blank_lines);
	suite_add_tcase(s, tc);

	tc = tcase_create("3 control characters");
	tcase_add_test(tc, control_c0);
	tcase_add_test(tc, control_del_nul);
	tcase_add_test(tc, control_c1);
	suite_add_tcase(s, tc);

	tc = tcase_create("3 invalid UTF-8");
	tcase_add_test(tc, utf8_valid_edges);
	tcase_add_test(tc, utf8_overlong);
	tcase_add_test(tc, utf8_surrogates_and_range);
	tcase_add_test(tc, utf8_truncated_and_stray);
	suite_add_tcase(s, tc);

	return s;
}
