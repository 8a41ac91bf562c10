/*
 * catch_parse.c - libFuzzer harness for the line parser (common/catch.c).
 *
 * The input is one line as the server hands it over: the bytes before the
 * LF, possibly ending in the CR of a CRLF.  Besides "no crash, no read out
 * of bounds" (ASan sees every byte past the exactly sized input), it checks
 * what the contract promises about the verdict:
 *
 * - CATCH_FISH: count <= 1000000, the fish lies inside the line, is at least
 *   one byte, and neither starts nor ends with a blank;
 * - CATCH_MALFORMED: a reason is given; CATCH_BLANK: nothing is set;
 * - case-insensitive: upper-casing the ASCII letters changes nothing;
 * - blanks around the line change nothing (leading blanks always; trailing
 *   ones only if the line does not end in CR, since a CR followed by a blank
 *   is no longer "directly before the LF");
 * - one CR appended (a CRLF line end) changes nothing, unless the line
 *   already ends in CR (then the first CR becomes a control character).
 *
 * Every variant of the input is copied into its own exactly sized heap block
 * so that ASan catches a read past its end too.  The pitfall: checking a
 * variant in a larger scratch buffer hides exactly that overread.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catch.h"

static void fail(const char *what)
{
	fprintf(stderr, "catch_parse oracle: %s\n", what);
	abort();
}

static void check_one(const char *line, size_t len, struct catch_line *out)
{
	catch_parse(line, len, out);
	switch (out->kind) {
	case CATCH_FISH:
		if (out->count > CATCH_MAX_COUNT)
			fail("count above the maximum");
		if (out->fish == NULL || out->fish_len == 0)
			fail("fish without a name");
		if (out->fish < line || out->fish_len > len ||
		    (size_t)(out->fish - line) > len - out->fish_len)
			fail("fish outside the line");
		if (out->fish[0] == ' ' || out->fish[0] == '\t' ||
		    out->fish[out->fish_len - 1] == ' ' ||
		    out->fish[out->fish_len - 1] == '\t')
			fail("fish not trimmed");
		break;
	case CATCH_MALFORMED:
		if (out->reason == NULL || out->reason[0] == '\0')
			fail("malformed without a reason");
		break;
	case CATCH_BLANK:
		if (out->count != 0 || out->fish != NULL || out->fish_len != 0)
			fail("blank line with content");
		break;
	default:
		fail("unknown kind");
	}
}

/* Parse a copy of [pre][data][post] in an exactly sized block. */
static void check_variant(const uint8_t *data, size_t size, const char *pre,
                          const char *post, int upper,
                          const struct catch_line *want)
{
	size_t npre = strlen(pre), npost = strlen(post);
	size_t len = npre + size + npost;
	char *buf = malloc(len ? len : 1);

	if (buf == NULL)
		return;
	memcpy(buf, pre, npre);
	if (size)
		memcpy(buf + npre, data, size);
	memcpy(buf + npre + size, post, npost);
	if (upper)
		for (size_t i = 0; i < len; i++)
			if (buf[i] >= 'a' && buf[i] <= 'z')
				buf[i] = (char)(buf[i] - 'a' + 'A');

	struct catch_line got;
	check_one(buf, len, &got);
	if (got.kind != want->kind)
		fail("verdict depends on case, blanks or a CRLF");
	if (got.kind == CATCH_FISH &&
	    (got.count != want->count || got.fish_len != want->fish_len))
		fail("count or fish depends on case, blanks or a CRLF");
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct catch_line want;
	int ends_cr = size > 0 && data[size - 1] == '\r';

	check_one((const char *)data, size, &want);
	check_variant(data, size, "", "", 1, &want);
	check_variant(data, size, " \t ", "", 0, &want);
	if (!ends_cr) {
		check_variant(data, size, "", "\t \t", 0, &want);
		check_variant(data, size, "", "\r", 0, &want);
	}
	return 0;
}
