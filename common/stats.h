/*
 * stats.h - the market's books and the summary line of section 7:
 *
 *     served N connections, L lines (R rejected), paid $T
 *
 * T is a sum of up to millions of tallies of up to 2^63 - 1 each, which
 * can pass 2^64; `struct money` keeps it exact in base 10^18.
 */
#ifndef FISH_STATS_H
#define FISH_STATS_H

#include <stddef.h>
#include <stdint.h>

struct money {
	uint64_t high;   /* multiples of 10^18 */
	uint64_t low;    /* always < 10^18 */
};

struct stats {
	uint64_t connections;   /* accepted */
	uint64_t lines;         /* non-blank lines consumed, final lines included */
	uint64_t rejected;      /* malformed lines among them */
	struct money paid;      /* sum of the last tally written to each */
};

void money_add(struct money *m, uint64_t dollars);

/* *m += *more: the sum of several fishmongers' books (section 8). */
void money_add_money(struct money *m, const struct money *more);

/* The summary line, without newline, into buf; returns what snprintf does. */
int stats_summary(const struct stats *s, char *buf, size_t len);

#endif
