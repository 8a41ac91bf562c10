/*
 * catch.c - the line grammar of section 3, in one pass over the line.
 *
 *     <count> <unit> of <fish>
 *
 * Pitfalls this file avoids on purpose:
 * - No sscanf("%u %s of %s"): %u accepts a sign and wraps on overflow, %s
 *   stops at any isspace() (so a form feed or CR would count as a blank),
 *   and the fish may contain inner blanks.
 * - No strlen/strchr: the bytes come straight from a network buffer, are not
 *   NUL-terminated, and may contain NUL themselves.
 * - No tolower()/strcasecmp(): they depend on the locale, and under some
 *   locales fold bytes >= 0x80; the grammar is ASCII, so fold by hand.
 *
 * The count, unit and "of" are ASCII, so any byte outside their grammar
 * (a control character, a byte >= 0x80) already makes the line malformed
 * when it is met there.  Only the fish may hold arbitrary UTF-8, and it is
 * validated as it is scanned for its last non-blank byte.
 */
#include "catch.h"

#include <stdbool.h>

static inline bool is_blank(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* ASCII lower case; leaves every other byte alone (unlike tolower()). */
static inline unsigned char fold(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

static void malformed(struct catch_line *out, const char *reason)
{
	out->kind = CATCH_MALFORMED;
	out->reason = reason;
}

/*
 * Validate fish bytes [p, end) as UTF-8 without control characters, and
 * return the end of the last non-blank character (the trimmed end), or NULL
 * if the bytes are not acceptable (*why set).
 */
static const unsigned char *scan_fish(const unsigned char *p,
                                      const unsigned char *end,
                                      const char **why)
{
	const unsigned char *last = p;

	while (p < end) {
		unsigned char c = *p;

		if (c < 0x80) {
			/* TAB is a blank; every other C0 control and DEL is not
			 * allowed (this includes NUL and a CR that is not the
			 * one directly before the LF). */
			if (c == ' ' || c == '\t') {
				p++;
				continue;
			}
			if (c < 0x20 || c == 0x7f) {
				*why = "control character";
				return NULL;
			}
			last = ++p;
			continue;
		}

		/* Multi-byte sequence: the lead byte fixes the length and the
		 * allowed range of the second byte, which is what rules out
		 * overlong forms (C0, C1, E0 80..9F, F0 80..8F), surrogates
		 * (ED A0..BF) and code points above U+10FFFF (F4 90.., F5..). */
		size_t n;
		unsigned char lo = 0x80, hi = 0xbf;

		if (c >= 0xc2 && c <= 0xdf) {
			n = 2;
			/* U+0080..U+009F are the C1 control characters. */
			if (c == 0xc2)
				lo = 0xa0;
		} else if (c == 0xe0) {
			n = 3;
			lo = 0xa0;
		} else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) {
			n = 3;
		} else if (c == 0xed) {
			n = 3;
			hi = 0x9f;
		} else if (c == 0xf0) {
			n = 4;
			lo = 0x90;
		} else if (c >= 0xf1 && c <= 0xf3) {
			n = 4;
		} else if (c == 0xf4) {
			n = 4;
			hi = 0x8f;
		} else {
			*why = "invalid UTF-8";   /* 80..C1 or F5..FF as lead */
			return NULL;
		}
		if ((size_t)(end - p) < n) {
			*why = "invalid UTF-8";   /* truncated at the line end */
			return NULL;
		}
		if (p[1] < lo || p[1] > hi) {
			/* C2 80..9F is valid UTF-8 but a C1 control. */
			*why = (c == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			       ? "control character" : "invalid UTF-8";
			return NULL;
		}
		for (size_t i = 2; i < n; i++) {
			if ((p[i] & 0xc0) != 0x80) {
				*why = "invalid UTF-8";
				return NULL;
			}
		}
		p += n;
		last = p;
	}
	return last;
}

/* True if the token [p, p + n) equals the lower-case word w (of length n). */
static inline bool word_is(const unsigned char *p, size_t n, const char *w,
                           size_t wn)
{
	if (n != wn)
		return false;
	for (size_t i = 0; i < n; i++)
		if (fold(p[i]) != (unsigned char)w[i])
			return false;
	return true;
}

/* The reason for a byte met where the ASCII grammar wanted something else. */
static const char *odd_byte(unsigned char c, const char *otherwise)
{
	if (c < 0x20 || c == 0x7f)
		return "control character";
	return otherwise;
}

void catch_parse(const char *line, size_t len, struct catch_line *out)
{
	const unsigned char *p = (const unsigned char *)line;
	const unsigned char *end = p + len;

	out->kind = CATCH_BLANK;
	out->count = 0;
	out->fish = NULL;
	out->fish_len = 0;
	out->reason = NULL;

	/* One CR directly before the LF belongs to the line end (CRLF). */
	if (p < end && end[-1] == '\r')
		end--;

	while (p < end && is_blank(*p))
		p++;
	if (p == end)
		return;                          /* CATCH_BLANK */

	/* count: digits only.  Saturate instead of overflowing, so that any
	 * number of leading zeros is fine and 99999999999999999999 is simply
	 * "too large" rather than undefined behaviour or a wrapped value. */
	if (*p < '0' || *p > '9') {
		malformed(out, odd_byte(*p, "bad count"));
		return;
	}
	uint32_t count = 0;
	while (p < end && *p >= '0' && *p <= '9') {
		if (count <= CATCH_MAX_COUNT)
			count = count * 10 + (uint32_t)(*p - '0');
		p++;
	}
	if (p == end) {
		malformed(out, "missing unit");
		return;
	}
	if (!is_blank(*p)) {
		malformed(out, odd_byte(*p, "bad count"));   /* sign, '.', 'e' */
		return;
	}
	if (count > CATCH_MAX_COUNT) {
		malformed(out, "count too large");
		return;
	}
	while (p < end && is_blank(*p))
		p++;

	/* unit: the token up to the next blank. */
	const unsigned char *tok = p;
	while (p < end && !is_blank(*p))
		p++;
	size_t n = (size_t)(p - tok);
	if (n == 0) {
		malformed(out, "missing unit");
		return;
	}
	if (!word_is(tok, n, "lb", 2) && !word_is(tok, n, "lbs", 3) &&
	    !word_is(tok, n, "pound", 5) && !word_is(tok, n, "pounds", 6)) {
		malformed(out, "bad unit");
		return;
	}
	while (p < end && is_blank(*p))
		p++;

	/* "of", followed by at least one blank: "ofcod" is not "of cod". */
	tok = p;
	while (p < end && !is_blank(*p))
		p++;
	if (!word_is(tok, (size_t)(p - tok), "of", 2)) {
		malformed(out, "expected 'of'");
		return;
	}
	while (p < end && is_blank(*p))
		p++;
	if (p == end) {
		malformed(out, "missing fish");
		return;
	}

	/* fish: the rest, trailing blanks removed.  p is at a non-blank. */
	const char *why = NULL;
	const unsigned char *last = scan_fish(p, end, &why);
	if (last == NULL) {
		malformed(out, why);
		return;
	}
	out->kind = CATCH_FISH;
	out->count = count;
	out->fish = (const char *)p;
	out->fish_len = (size_t)(last - p);
}
