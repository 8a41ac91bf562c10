/*
 * tally.h - the running tally of one fisherman (section 5): it never wraps.
 */
#ifndef FISH_TALLY_H
#define FISH_TALLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TALLY_MAX ((uint64_t)INT64_MAX)      /* 2^63 - 1 */
#define TALLY_REPLY_MAX 24                   /* "9223372036854775807\r\n" + NUL */

/*
 * Add value to *tally.  Returns false, leaving *tally untouched, if the
 * sum would pass TALLY_MAX.
 */
bool tally_add(uint64_t *tally, uint64_t value);

/* Write "<digits>\r\n" into reply (no NUL counted); returns its length. */
size_t tally_format(char reply[TALLY_REPLY_MAX], uint64_t tally);

#endif
