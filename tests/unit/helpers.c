/*
 * helpers.c - what several suites need: capturing output, exact-size
 * buffers, temporary files.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "suites.h"

void capture_begin(struct capture *c, int fd)
{
	char path[] = "/tmp/fish-unit-capture-XXXXXX";

	fflush(fd == 1 ? stdout : stderr);
	c->fd = fd;
	c->tmp = mkstemp(path);
	ck_assert_int_ge(c->tmp, 0);
	unlink(path);
	c->saved = dup(fd);
	ck_assert_int_ge(c->saved, 0);
	ck_assert_int_eq(dup2(c->tmp, fd), fd);
}

const char *capture_end(struct capture *c)
{
	static char text[65536];
	size_t len = 0;
	ssize_t n;

	fflush(c->fd == 1 ? stdout : stderr);
	ck_assert_int_eq(dup2(c->saved, c->fd), c->fd);
	close(c->saved);
	ck_assert_int_eq(lseek(c->tmp, 0, SEEK_SET), 0);
	while (len < sizeof text - 1 &&
	       (n = read(c->tmp, text + len, sizeof text - 1 - len)) > 0)
		len += (size_t)n;
	text[len] = '\0';
	close(c->tmp);
	return text;
}

char *exact_copy(const char *s, size_t len)
{
	/* malloc(0) may return NULL: keep one byte, but never read it. */
	char *p = malloc(len ? len : 1);

	ck_assert_ptr_nonnull(p);
	if (len)
		memcpy(p, s, len);
	return p;
}

/*
 * Temporary files live in one directory made by main() before any test
 * runs, and main() empties and removes it after the last.  So a failing
 * test leaves nothing behind: in fork mode Check ends a failed test's child
 * with _exit(), which runs no atexit() handler and no teardown in the child,
 * but the parent, which knows the directory, cleans up.
 */
static char temp_dir[64];

void temp_dir_create(void)
{
	snprintf(temp_dir, sizeof temp_dir, "/tmp/fish-unit-XXXXXX");
	if (mkdtemp(temp_dir) == NULL) {
		perror("unit-tests: mkdtemp");
		exit(EXIT_FAILURE);
	}
}

void temp_dir_remove(void)
{
	DIR *d = opendir(temp_dir);
	struct dirent *e;
	char path[sizeof temp_dir + 256];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", temp_dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(temp_dir);
}

const char *temp_file(const char *text, size_t len)
{
	static char path[sizeof temp_dir + 32];
	int fd;

	ck_assert_msg(temp_dir[0] != '\0', "temp_dir_create() not called");
	snprintf(path, sizeof path, "%s/prices-XXXXXX", temp_dir);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}
