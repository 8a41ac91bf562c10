/*
 * catch.h - the line parser: one complete line in, a verdict out.
 *
 * Exactly the grammar of section 3 of the fish exchange contract:
 *
 *     <count> <unit> of <fish>
 *
 * matched case-insensitively, runs of blanks (space, tab) as separators,
 * leading and trailing blanks ignored.  The parser never allocates and never
 * reads outside [line, line + len): the caller may hand it bytes straight
 * out of a network buffer.
 */
#ifndef FISH_CATCH_H
#define FISH_CATCH_H

#include <stddef.h>
#include <stdint.h>

#define CATCH_MAX_COUNT 1000000u

enum catch_kind {
	CATCH_BLANK,     /* empty after trimming: worth 0, not rejected */
	CATCH_FISH,      /* well formed: count and fish are set */
	CATCH_MALFORMED  /* worth 0 and rejected: reason is set */
};

struct catch_line {
	enum catch_kind kind;
	uint32_t count;        /* 0 to CATCH_MAX_COUNT */
	const char *fish;      /* points into the line; not NUL-terminated */
	size_t fish_len;       /* trailing blanks removed; at least 1 */
	const char *reason;    /* static string, for CATCH_MALFORMED only */
};

/*
 * Parse one line.  `line` holds the bytes before the LF (the LF itself is
 * not passed); one CR directly at the end (directly before the LF) is
 * stripped here.  Any other control character, a NUL byte, or bytes that
 * are not valid UTF-8 make the line malformed.
 */
void catch_parse(const char *line, size_t len, struct catch_line *out);

#endif
