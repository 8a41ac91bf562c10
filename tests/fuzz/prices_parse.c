/*
 * prices_parse.c - libFuzzer harness for the price-file loader
 * (prices_parse() in common/prices.c).
 *
 * The input is the whole text of a price file.  Oracles:
 * - success means at least one price (a file with none must be refused);
 * - refusal means one message, without a newline, that names the file
 *   ("FILE:LINE: reason" or "FILE: reason"), never truncated into nothing;
 * - every "name price" line of the file that the loader accepted can be
 *   looked up again, case-insensitively, at that price (checked for the
 *   simple lines the harness can parse itself: letters/digits/'-' name,
 *   blanks, digits, nothing else).
 * The text is handed over in an exactly sized block and is not NUL-
 * terminated, as when it comes from a read(): the pitfall is a loader that
 * uses strtoul()/strchr() and runs off the end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prices.h"

#define NAME "fuzz.prices"

static void fail(const char *what)
{
	fprintf(stderr, "prices_parse oracle: %s\n", what);
	abort();
}

static int is_name_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-';
}

/* For each plain "name price" line, check the list has that price. */
static void check_lookups(const struct price_list *list, const uint8_t *p,
                          size_t size)
{
	const uint8_t *end = p + size;

	while (p < end) {
		const uint8_t *eol = memchr(p, '\n', (size_t)(end - p));
		const uint8_t *stop = eol ? eol : end;
		const uint8_t *q = p, *name;
		size_t name_len;
		uint64_t price = 0;
		int digits = 0;

		if (stop > q && stop[-1] == '\r')
			stop--;
		while (q < stop && (*q == ' ' || *q == '\t'))
			q++;
		name = q;
		while (q < stop && is_name_byte(*q))
			q++;
		name_len = (size_t)(q - name);
		if (name_len == 0 || q == stop || (*q != ' ' && *q != '\t'))
			goto next;
		while (q < stop && (*q == ' ' || *q == '\t'))
			q++;
		while (q < stop && *q >= '0' && *q <= '9' && digits < 19) {
			price = price * 10 + (uint64_t)(*q - '0');
			q++;
			digits++;
		}
		while (q < stop && (*q == ' ' || *q == '\t'))
			q++;
		if (digits == 0 || digits == 19 || q != stop || price > PRICE_MAX)
			goto next;

		uint32_t got;
		if (!prices_lookup(list, (const char *)name, name_len, &got))
			fail("accepted fish not on the list");
		if (got != price)
			fail("accepted fish at another price");
next:
		p = eol ? eol + 1 : end;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1);
	char err[256];

	if (text == NULL)
		return 0;
	if (size)
		memcpy(text, data, size);
	memset(err, 'X', sizeof err);

	struct price_list *list = prices_parse(NAME, text, size, err, sizeof err);
	if (list != NULL) {
		if (prices_count(list) == 0)
			fail("a list with no price");
		check_lookups(list, data, size);
		prices_free(list);
	} else {
		size_t n = strnlen(err, sizeof err);
		if (n == sizeof err)
			fail("error message not terminated");
		if (strncmp(err, NAME ":", sizeof NAME) != 0)
			fail("error message does not name the file");
		if (n <= sizeof NAME || memchr(err, '\n', n) != NULL)
			fail("error message empty or with a newline");
	}
	free(text);
	return 0;
}
