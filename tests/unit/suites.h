/*
 * suites.h - the unit test suites of tests/unit/, one per module, and the
 * small helpers they share.  main.c runs them all.
 */
#ifndef FISH_TEST_SUITES_H
#define FISH_TEST_SUITES_H

#include <check.h>
#include <stddef.h>
#include <string.h>

Suite *catch_suite(void);
Suite *prices_suite(void);
Suite *books_suite(void);     /* tally and stats */
Suite *options_suite(void);
Suite *market_suite(void);
Suite *crew_suite(void);
Suite *alloc_suite(void);      /* allocation and read failures */

/*
 * Capture what is written to a file descriptor (1 or 2) between
 * capture_begin() and capture_end(): the stdio stream is flushed and the
 * descriptor pointed at a temporary file, so it works whether or not Check
 * forks.  capture_end() returns the text, NUL-terminated (static buffer,
 * truncated at 64 KiB).
 */
struct capture {
	int fd;        /* 1 or 2 */
	int saved;     /* dup of the original */
	int tmp;       /* the temporary file */
};
void capture_begin(struct capture *c, int fd);
const char *capture_end(struct capture *c);

/* A private copy of bytes in a buffer of exactly len bytes, so that ASan
 * and valgrind catch any read past the end.  Free with free(). */
char *exact_copy(const char *s, size_t len);

/*
 * Write text to a new temporary file; returns its path (static buffer).
 * The files live in a directory main() makes with temp_dir_create() and
 * removes, whatever happened, with temp_dir_remove().
 */
const char *temp_file(const char *text, size_t len);
void temp_dir_create(void);
void temp_dir_remove(void);

/* s begins with prefix. */
#define starts(s, prefix) (strncmp((s), (prefix), strlen(prefix)) == 0)

#endif
