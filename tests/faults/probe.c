/*
 * probe.c - which of the calls the servers make a fault family can fail on
 * this machine, and with which errno.  Run by tests/faults/faults.py under
 * the same preloads as the servers (libfiu 1.1 and fishfault.so), with no
 * fault enabled at start:
 *
 *     probe FAMILY=PATTERN[+PATTERN...] ...
 *
 * For each family it enables its patterns (probability 1, in this process,
 * through libfiu's API), makes each call PROBE_TRIES times, and prints
 *
 *     probe FAMILY CALL POINTS ERRNOS
 *
 * where POINTS are the fault points fishfault.so counted for that call
 * ("-" if none: the family cannot fail it) and ERRNOS the distinct errnos
 * the call returned.  Everything a call needs (data to read, a connection
 * to accept) is set up with raw system calls, which no wrapper sees, so a
 * call fails only because a fault was injected.  The harness compares the
 * table with what docs/TESTING.md says, so that a libfiu that wraps more
 * (or less) is noticed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define FIU_ENABLE 1
#include <fiu.h>
#include <fiu-control.h>

#define PROBE_TRIES 400

/* fishfault.so's report, mapped: the same layout as there. */
struct ff_report {
	char magic[8];
	uint64_t nth_calls, nth_failed, reserved;
	struct { char name[56]; uint64_t injected; } slot[126];
};
static const struct ff_report *report;

static int lfd, sv[2], ep;
static struct sockaddr_in where;

/*
 * One client waiting in the listening socket's backlog, by raw system
 * calls.  A failed (injected) accept leaves it there, so a new one is made
 * only once the last was accepted; its client end is closed then.
 */
static int waiting = -1;

static void backlog_one(void)
{
	if (waiting >= 0)
		return;
	waiting = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	syscall(SYS_connect, waiting, &where, (long)sizeof where);
}

static int accepted(int fd)
{
	if (fd < 0)
		return -1;
	syscall(SYS_close, fd);
	syscall(SYS_close, waiting);
	waiting = -1;
	return 0;
}

/* A byte waiting in sv[1]. */
static void one_byte(void)
{
	char b = 'x';
	syscall(SYS_write, sv[0], &b, 1L);
}

/* Empty sv[1] again; returns 0 if r == 1 (the call under test moved its
 * byte), else -1 with the call's errno, which draining must not clobber. */
static int drain(long r)
{
	int e = errno;
	char b[4096];

	while (syscall(SYS_recvfrom, sv[1], b, sizeof b, MSG_DONTWAIT, NULL,
	               NULL) > 0)
		;
	errno = e;
	return r == 1 ? 0 : -1;
}

/* Each probe returns 0 on success, -1 with errno on failure, and cleans up
 * after a success. */
static int p_malloc(void)
{
	void *p = malloc(100);
	if (p == NULL)
		return -1;
	free(p);
	return 0;
}

static int p_calloc(void)
{
	void *p = calloc(10, 10);
	if (p == NULL)
		return -1;
	free(p);
	return 0;
}

/* A live block, made in main() before any fault is enabled. */
static void *block;

static int p_realloc(void)
{
	static size_t size = 16;
	void *q = realloc(block, size ^= 48);   /* 32, 16, 32, ... */
	if (q == NULL)
		return -1;
	block = q;
	return 0;
}

static int p_realloc_null(void)
{
	void *p = realloc(NULL, 100);
	if (p == NULL)
		return -1;
	free(p);
	return 0;
}

static int p_read(void)
{
	char b;
	one_byte();
	return drain(read(sv[1], &b, 1));
}

static int p_readv(void)
{
	char b;
	struct iovec iov = { &b, 1 };
	one_byte();
	return drain(readv(sv[1], &iov, 1));
}

static int p_recv(void)
{
	char b;
	one_byte();
	return drain(recv(sv[1], &b, 1, 0));
}

static int p_write(void)
{
	return drain(write(sv[0], "x", 1));
}

static int p_writev(void)
{
	struct iovec iov = { "x", 1 };
	return drain(writev(sv[0], &iov, 1));
}

static int p_send(void)
{
	return drain(send(sv[0], "x", 1, 0));
}

static int p_accept(void)
{
	backlog_one();
	return accepted(accept(lfd, NULL, NULL));
}

static int p_accept4(void)
{
	backlog_one();
	return accepted(accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
}

static int p_epoll_ctl_add(void)
{
	struct epoll_event ev = { .events = EPOLLIN };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev) < 0)
		return -1;
	syscall(SYS_epoll_ctl, ep, EPOLL_CTL_DEL, sv[1], &ev);
	return 0;
}

static int p_epoll_ctl_mod(void)
{
	struct epoll_event ev = { .events = EPOLLIN };
	syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, sv[1], &ev);
	int r = epoll_ctl(ep, EPOLL_CTL_MOD, sv[1], &ev);
	syscall(SYS_epoll_ctl, ep, EPOLL_CTL_DEL, sv[1], &ev);
	return r;
}

static int p_epoll_wait(void)
{
	struct epoll_event ev;
	return epoll_wait(ep, &ev, 1, 0) < 0 ? -1 : 0;
}

static int p_ioctl(void)
{
	int n;
	return ioctl(sv[1], FIONREAD, &n);
}

static int p_shutdown(void)
{
	int s[2];
	syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, s);
	int r = shutdown(s[0], SHUT_WR);
	syscall(SYS_close, s[0]);
	syscall(SYS_close, s[1]);
	return r;
}

/* A close() that "fails" under libfiu has not closed the fd: say so. */
static int p_close(void)
{
	int fd = (int)syscall(SYS_dup, sv[1]);
	if (close(fd) == 0)
		return 0;
	int e = errno;
	if (syscall(SYS_fcntl, fd, F_GETFD) >= 0) {
		syscall(SYS_close, fd);
		e = -e;    /* negative: failed, and the fd stayed open */
	}
	errno = e;
	return -1;
}

static int p_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	syscall(SYS_close, fd);
	return 0;
}

static const struct probe {
	const char *name;
	int (*fn)(void);
} probes[] = {
	{ "malloc", p_malloc },
	{ "calloc", p_calloc },
	{ "realloc", p_realloc },
	{ "realloc(NULL)", p_realloc_null },
	{ "read", p_read },
	{ "readv", p_readv },
	{ "recv", p_recv },
	{ "write", p_write },
	{ "writev", p_writev },
	{ "send", p_send },
	{ "accept", p_accept },
	{ "accept4", p_accept4 },
	{ "epoll_ctl(ADD)", p_epoll_ctl_add },
	{ "epoll_ctl(MOD)", p_epoll_ctl_mod },
	{ "epoll_wait", p_epoll_wait },
	{ "ioctl(FIONREAD)", p_ioctl },
	{ "shutdown", p_shutdown },
	{ "close", p_close },
	{ "socket", p_socket },
};

/* The injected count of every point, to see which ones a call moved. */
static void snapshot(uint64_t *counts)
{
	for (int i = 0; i < 126; i++)
		counts[i] = report->slot[i].injected;
}

static void run_family(const char *family, char *patterns)
{
	for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
		uint64_t before[126], after[126];
		unsigned char seen[512] = {0};
		int fails = 0;
		bool left_open = false;

		snapshot(before);
		for (char *p = patterns; *p; p += strlen(p) + 1)
			fiu_enable_random(p, 1, NULL, 0, 1.0f);
		for (int t = 0; t < PROBE_TRIES; t++) {
			errno = 0;
			if (probes[i].fn() < 0) {
				int e = errno;
				fails++;
				if (e < 0) {
					left_open = true;
					e = -e;
				}
				if (e >= 0 && e < 512)
					seen[e] = 1;
			}
		}
		for (char *p = patterns; *p; p += strlen(p) + 1)
			fiu_disable(p);
		snapshot(after);

		printf("probe %s %s ", family, probes[i].name);
		int named = 0;
		for (int s = 0; s < 126; s++)
			if (after[s] != before[s])
				printf("%s%s", named++ ? "," : "",
				       report->slot[s].name);
		if (!named)
			printf("-");
		printf(" ");
		int listed = 0;
		for (int e = 0; e < 512; e++)
			if (seen[e])
				printf("%s%s", listed++ ? "," : "",
				       strerrorname_np(e) ? strerrorname_np(e) : "?");
		if (!listed)
			printf("-");
		printf(" %d/%d%s\n", fails, PROBE_TRIES,
		       left_open ? " fd-left-open" : "");
		fflush(stdout);
	}
}

int main(int argc, char *argv[])
{
	socklen_t len = sizeof where;

	if (argc < 2) {
		fprintf(stderr, "usage: probe FAMILY=PATTERN[+PATTERN...] ...\n");
		return 2;
	}
	report = NULL;
	/* fishfault.so maps its report here; find it through the same path. */
	const char *path = getenv("FISHFAULT_REPORT");
	if (path == NULL) {
		fprintf(stderr, "probe: FISHFAULT_REPORT is not set\n");
		return 2;
	}
	int rfd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY);
	if (rfd < 0) {
		fprintf(stderr, "probe: cannot open %s (is fishfault.so preloaded?)\n",
		        path);
		return 2;
	}
	report = (void *)syscall(SYS_mmap, NULL, sizeof *report, PROT_READ,
	                         MAP_SHARED, rfd, 0L);
	if (report == MAP_FAILED || memcmp(report->magic, "FISHFLT1", 8) != 0) {
		fprintf(stderr, "probe: %s is not a fishfault report\n", path);
		return 2;
	}

	/* Everything before the first fault is enabled. */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	where.sin_family = AF_INET;
	where.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&where, sizeof where) < 0 ||
	    listen(lfd, 4096) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&where, &len) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0 ||
	    (ep = epoll_create1(0)) < 0 || (block = malloc(16)) == NULL) {
		perror("probe: set-up");
		return 1;
	}
	if (fiu_init(0) != 0) {
		fprintf(stderr, "probe: fiu_init failed\n");
		return 1;
	}

	for (int a = 1; a < argc; a++) {
		char *eq = strchr(argv[a], '=');
		if (eq == NULL) {
			fprintf(stderr, "probe: expected FAMILY=PATTERNS, got %s\n",
			        argv[a]);
			return 2;
		}
		*eq = '\0';
		/* "a+b" -> "a\0b\0\0" */
		size_t n = strlen(eq + 1);
		char *patterns = calloc(1, n + 2);
		if (patterns == NULL)
			return 1;
		memcpy(patterns, eq + 1, n);
		for (char *p = patterns; *p; p++)
			if (*p == '+')
				*p = '\0';
		run_family(argv[a], patterns);
		free(patterns);
	}
	return 0;
}
