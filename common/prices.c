/*
 * prices.c - the price list of section 4 and its file format.
 *
 * The list is an open-addressing hash table (linear probing, at most half
 * full) over lower-cased names.  A lookup folds and hashes the fish name in
 * place: no copy, no allocation, no strcasecmp() (which is locale-bound),
 * and a name longer than any on the list is turned away before hashing.
 */
#include "prices.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A price file larger than this is refused: it is a list of fish. */
#define PRICE_FILE_MAX (16u * 1024 * 1024)

struct slot {
	size_t off;        /* name in list->names, lower case */
	size_t len;        /* 0 = empty slot (names are never empty) */
	size_t line;       /* where it was defined, for "duplicate" messages */
	uint32_t hash;
	uint32_t price;
};

struct price_list {
	struct slot *slots;
	size_t mask;       /* slots - 1, a power of two minus one */
	size_t count;
	size_t max_len;    /* longest name: longer fish are not looked up */
	char *names;       /* every name, lower case, back to back */
	size_t names_len, names_cap;
};

static inline unsigned char fold(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

/* FNV-1a over the ASCII-lower-cased bytes. */
static uint32_t hash_name(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= fold((unsigned char)s[i]);
		h *= 16777619u;
	}
	return h;
}

static bool same_name(const char *lower, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)lower[i] != fold((unsigned char)s[i]))
			return false;
	return true;
}

static struct price_list *list_new(void)
{
	struct price_list *list = calloc(1, sizeof *list);

	if (list == NULL)
		return NULL;
	list->mask = 15;
	list->slots = calloc(list->mask + 1, sizeof *list->slots);
	if (list->slots == NULL) {
		free(list);
		return NULL;
	}
	return list;
}

void prices_free(struct price_list *list)
{
	if (list == NULL)
		return;
	free(list->names);
	free(list->slots);
	free(list);
}

size_t prices_count(const struct price_list *list)
{
	return list->count;
}

/* The slot holding name, or the empty slot where it would go. */
static struct slot *find_slot(const struct price_list *list, const char *name,
                              size_t len, uint32_t h)
{
	size_t i = h & list->mask;

	for (;;) {
		struct slot *s = &list->slots[i];

		if (s->len == 0)
			return s;
		if (s->hash == h && s->len == len &&
		    same_name(list->names + s->off, name, len))
			return s;
		i = (i + 1) & list->mask;
	}
}

static bool grow_slots(struct price_list *list)
{
	size_t n = (list->mask + 1) * 2;
	struct slot *old = list->slots;
	size_t old_n = list->mask + 1;
	struct slot *slots = calloc(n, sizeof *slots);

	if (slots == NULL)
		return false;
	list->slots = slots;
	list->mask = n - 1;
	for (size_t i = 0; i < old_n; i++) {
		if (old[i].len == 0)
			continue;
		size_t j = old[i].hash & list->mask;
		while (slots[j].len != 0)
			j = (j + 1) & list->mask;
		slots[j] = old[i];
	}
	free(old);
	return true;
}

enum add_result { ADD_OK, ADD_DUPLICATE, ADD_NOMEM };

/* Add a name (already checked: ASCII letters, digits, '-'). */
static enum add_result list_add(struct price_list *list, const char *name,
                                size_t len, uint32_t price, size_t line,
                                size_t *first_line)
{
	uint32_t h = hash_name(name, len);
	struct slot *s = find_slot(list, name, len, h);

	if (s->len != 0) {
		*first_line = s->line;
		return ADD_DUPLICATE;
	}
	/* Keep the table at most half full, so probes stay short. */
	if ((list->count + 1) * 2 > list->mask + 1) {
		if (!grow_slots(list))
			return ADD_NOMEM;
		s = find_slot(list, name, len, h);
	}
	if (len > list->names_cap - list->names_len) {
		size_t cap = list->names_cap ? list->names_cap : 64;
		while (len > cap - list->names_len) {
			if (cap > SIZE_MAX / 2)
				return ADD_NOMEM;
			cap *= 2;
		}
		char *names = realloc(list->names, cap);
		if (names == NULL)
			return ADD_NOMEM;
		list->names = names;
		list->names_cap = cap;
	}
	for (size_t i = 0; i < len; i++)
		list->names[list->names_len + i] = (char)fold((unsigned char)name[i]);
	s->off = list->names_len;
	s->len = len;
	s->line = line;
	s->hash = h;
	s->price = price;
	list->names_len += len;
	list->count++;
	if (len > list->max_len)
		list->max_len = len;
	return ADD_OK;
}

bool prices_lookup(const struct price_list *list, const char *fish,
                   size_t len, uint32_t *price)
{
	if (len == 0 || len > list->max_len)
		return false;
	const struct slot *s = find_slot(list, fish, len, hash_name(fish, len));
	if (s->len == 0)
		return false;
	*price = s->price;
	return true;
}

struct price_list *prices_default(void)
{
	static const struct {
		const char *name;
		uint32_t price;
	} table[] = {
		{ "bream", 5 }, { "cod", 8 }, { "haddock", 9 },
		{ "halibut", 14 }, { "mackerel", 4 }, { "plaice", 6 },
		{ "salmon", 12 }, { "sardine", 3 }, { "trout", 7 },
		{ "tuna", 15 },
	};
	struct price_list *list = list_new();

	if (list == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		size_t first;
		if (list_add(list, table[i].name, strlen(table[i].name),
		             table[i].price, i + 1, &first) != ADD_OK) {
			prices_free(list);
			return NULL;
		}
	}
	return list;
}

/* ---- the file format ---------------------------------------------------- */

static inline bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static inline bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-';
}

/*
 * Quote a token in a message only if it is short printable ASCII: a name
 * full of escape sequences must not reach the user's terminal.
 */
static const char *quotable(const char *tok, size_t len, int *n)
{
	if (len > 40)
		return NULL;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)tok[i] < 0x20 || (unsigned char)tok[i] > 0x7e)
			return NULL;
	*n = (int)len;
	return tok;
}

/* "reason 'token'" (the token only if quotable) into buf. */
static void with_token(char *buf, size_t len, const char *reason,
                       const char *tok, size_t toklen)
{
	int n = 0;
	const char *q = quotable(tok, toklen, &n);

	if (q != NULL)
		snprintf(buf, len, "%s '%.*s'", reason, n, q);
	else
		snprintf(buf, len, "%s", reason);
}

/*
 * Parse one line (without its line end) into name and price.  Returns NULL
 * for a line without a price (blank or comment only), "" for a good line,
 * or writes the reason into why and returns why.
 */
static const char *parse_line(const char *p, const char *end,
                              const char **name, size_t *name_len,
                              uint32_t *price, char *why, size_t whylen)
{
	/* NUL and CR are checked over the whole line, comment included: a
	 * NUL usually means a binary file, a lone CR a mangled line end. */
	if (memchr(p, '\0', (size_t)(end - p)) != NULL) {
		snprintf(why, whylen, "NUL byte");
		return why;
	}
	if (memchr(p, '\r', (size_t)(end - p)) != NULL) {
		snprintf(why, whylen, "stray carriage return");
		return why;
	}
	const char *hash = memchr(p, '#', (size_t)(end - p));
	if (hash != NULL)
		end = hash;
	while (p < end && is_blank(*p))
		p++;
	while (end > p && is_blank(end[-1]))
		end--;
	if (p == end)
		return NULL;

	const char *tok = p;
	while (p < end && !is_blank(*p))
		p++;
	*name = tok;
	*name_len = (size_t)(p - tok);
	for (const char *c = tok; c < p; c++) {
		if (!is_name_char(*c)) {
			with_token(why, whylen, "bad fish name", tok, *name_len);
			return why;
		}
	}
	while (p < end && is_blank(*p))
		p++;
	if (p == end) {
		snprintf(why, whylen, "expected 'name price'");
		return why;
	}

	tok = p;
	while (p < end && !is_blank(*p))
		p++;
	/* Digits only (no sign); saturate so a long number cannot overflow. */
	uint64_t v = 0;
	for (const char *c = tok; c < p; c++) {
		if (*c < '0' || *c > '9') {
			with_token(why, whylen, "bad price", tok, (size_t)(p - tok));
			return why;
		}
		if (v <= PRICE_MAX)
			v = v * 10 + (uint64_t)(*c - '0');
	}
	if (v > PRICE_MAX) {
		snprintf(why, whylen, "price out of range (0 to %u)", PRICE_MAX);
		return why;
	}
	if (p != end) {
		snprintf(why, whylen, "unexpected text after price");
		return why;
	}
	*price = (uint32_t)v;
	why[0] = '\0';
	return why;
}

struct price_list *prices_parse(const char *name, const char *text, size_t len,
                                char *err, size_t errlen)
{
	struct price_list *list = list_new();
	const char *p = text;
	const char *end = text + len;
	size_t line = 0;
	char why[128];

	if (list == NULL) {
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		const char *eol = lf ? lf : end;
		const char *next = lf ? lf + 1 : end;

		line++;
		/* CRLF: the CR directly before the LF is part of the line
		 * end.  A CR at the very end of the file with no LF after it
		 * is not a line end; it is left for parse_line to refuse. */
		if (lf != NULL && eol > p && eol[-1] == '\r')
			eol--;

		const char *fish = NULL;
		size_t fish_len = 0;
		uint32_t price = 0;
		const char *r = parse_line(p, eol, &fish, &fish_len, &price,
		                           why, sizeof why);
		p = next;
		if (r == NULL)
			continue;
		if (r[0] != '\0') {
			snprintf(err, errlen, "%s:%zu: %s", name, line, r);
			prices_free(list);
			return NULL;
		}
		size_t first = 0;
		switch (list_add(list, fish, fish_len, price, line, &first)) {
		case ADD_OK:
			break;
		case ADD_DUPLICATE:
			with_token(why, sizeof why, "duplicate fish", fish,
			           fish_len);
			snprintf(err, errlen, "%s:%zu: %s (first on line %zu)",
			         name, line, why, first);
			prices_free(list);
			return NULL;
		case ADD_NOMEM:
			snprintf(err, errlen, "%s:%zu: out of memory", name, line);
			prices_free(list);
			return NULL;
		}
	}
	if (list->count == 0) {
		snprintf(err, errlen, "%s: no prices", name);
		prices_free(list);
		return NULL;
	}
	return list;
}

struct price_list *prices_load(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;
	size_t len = 0, cap;

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	/* open() succeeds on a directory; read() would then fail with EISDIR
	 * on Linux, but say so plainly up front. */
	if (S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: %s", path, strerror(EISDIR));
		close(fd);
		return NULL;
	}
	/* st_size is only a hint (0 for a pipe, and the file may change
	 * under us): read until EOF, growing the buffer, up to the cap. */
	cap = (S_ISREG(st.st_mode) && st.st_size > 0 &&
	       (uintmax_t)st.st_size < PRICE_FILE_MAX)
	      ? (size_t)st.st_size + 1 : 4096;
	buf = malloc(cap);
	if (buf == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		close(fd);
		return NULL;
	}
	for (;;) {
		if (len == cap) {
			/* Grows to at most one byte past the cap: reading that
			 * byte is how a too-large file is noticed. */
			cap = cap > PRICE_FILE_MAX / 2 ? PRICE_FILE_MAX + 1
			                               : cap * 2;
			char *nbuf = realloc(buf, cap);
			if (nbuf == NULL) {
				snprintf(err, errlen, "%s: out of memory", path);
				goto fail;
			}
			buf = nbuf;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > PRICE_FILE_MAX) {
			snprintf(err, errlen, "%s: too large (more than %u bytes)",
			         path, PRICE_FILE_MAX);
			goto fail;
		}
	}
	close(fd);
	struct price_list *list = prices_parse(path, buf, len, err, errlen);
	free(buf);
	return list;
fail:
	free(buf);
	close(fd);
	return NULL;
}
