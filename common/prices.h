/*
 * prices.h - the price list (section 4): dollars per pound, by fish name.
 *
 * Lookup runs once per line on the hot path, so it is a small open-
 * addressing hash table over lower-cased names: no allocation, no strcmp
 * chain.
 */
#ifndef FISH_PRICES_H
#define FISH_PRICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PRICE_MAX 1000000000u

struct price_list;

/* The default list of section 4.  NULL only if out of memory. */
struct price_list *prices_default(void);

/*
 * Parse a price file's text (the format of section 4).  `name` is the file
 * name used in messages.  On error returns NULL and writes one line, without
 * a newline, into err: "FILE:LINE: reason" (or "FILE: reason" when no line
 * is to blame, e.g. "FILE: no prices").
 */
struct price_list *prices_parse(const char *name, const char *text, size_t len,
                                char *err, size_t errlen);

/* Read and parse a price file; as prices_parse(), plus "FILE: strerror". */
struct price_list *prices_load(const char *path, char *err, size_t errlen);

/* Price of a fish, case-insensitive.  false if the fish is not on the list. */
bool prices_lookup(const struct price_list *list, const char *fish,
                   size_t len, uint32_t *price);

size_t prices_count(const struct price_list *list);

void prices_free(struct price_list *list);

#endif
