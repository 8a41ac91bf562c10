/*
 * tally.c - the running tally: checked addition and the reply line.
 */
#include "tally.h"

bool tally_add(uint64_t *tally, uint64_t value)
{
	/* Compare before adding: "*tally + value > TALLY_MAX" could itself
	 * wrap for a large enough value and pass the check. */
	if (*tally > TALLY_MAX || value > TALLY_MAX - *tally)
		return false;
	*tally += value;
	return true;
}

size_t tally_format(char reply[TALLY_REPLY_MAX], uint64_t tally)
{
	char digits[20];
	size_t n = 0, len = 0;

	/* By hand, least significant digit first: no snprintf on the hot
	 * path, and no PRIu64 format string to get wrong. */
	do {
		digits[n++] = (char)('0' + tally % 10);
		tally /= 10;
	} while (tally != 0);
	while (n > 0)
		reply[len++] = digits[--n];
	reply[len++] = '\r';
	reply[len++] = '\n';
	reply[len] = '\0';   /* convenience only; not counted */
	return len;
}
