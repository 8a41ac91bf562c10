/*
 * stats.c - the books: money in base 10^18 and the summary line.
 */
#include "stats.h"

#include <inttypes.h>
#include <stdio.h>

#define MONEY_BASE 1000000000000000000u   /* 10^18 */

void money_add(struct money *m, uint64_t dollars)
{
	/* Split dollars (< 1.85 * 10^19) into base-10^18 digits first; then
	 * low + dollars % 10^18 < 2 * 10^18 < 2^64 cannot wrap, and one
	 * carry is enough. */
	m->low += dollars % MONEY_BASE;
	m->high += dollars / MONEY_BASE;
	if (m->low >= MONEY_BASE) {
		m->low -= MONEY_BASE;
		m->high++;
	}
}

void money_add_money(struct money *m, const struct money *more)
{
	/* Both low parts are < 10^18, so their sum is < 2^64: one carry. */
	m->low += more->low;
	m->high += more->high;
	if (m->low >= MONEY_BASE) {
		m->low -= MONEY_BASE;
		m->high++;
	}
}

int stats_summary(const struct stats *s, char *buf, size_t len)
{
	char paid[48];

	/* With a high part the low part is printed as exactly 18 digits,
	 * zeros included: high=1 low=5 is 1000000000000000005, not 15. */
	if (s->paid.high != 0)
		snprintf(paid, sizeof paid, "%" PRIu64 "%018" PRIu64,
		         s->paid.high, s->paid.low);
	else
		snprintf(paid, sizeof paid, "%" PRIu64, s->paid.low);
	return snprintf(buf, len,
	                "served %" PRIu64 " connections, %" PRIu64
	                " lines (%" PRIu64 " rejected), paid $%s",
	                s->connections, s->lines, s->rejected, paid);
}
