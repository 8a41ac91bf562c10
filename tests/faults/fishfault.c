/*
 * fishfault.so - what the fault tests need beyond libfiu 1.1's POSIX preload
 * (fiu_posix_preload.so).  Preloaded between libfiu's two libraries:
 *
 *   LD_PRELOAD="fiu_run_preload.so fishfault.so fiu_posix_preload.so"
 *
 * 1. Fault points for calls the servers make that libfiu 1.1 does not wrap
 *    (docs/TESTING.md, "What the faults can reach", lists what it wraps):
 *
 *      fishfault/net/accept4     accept4(): libfiu wraps accept() only, so
 *                                without this v2-raw and v2-listener (which
 *                                accept with accept4) would never see an
 *                                accept fail while v1-style does.  Same
 *                                errnos as libfiu's accept(); like it, the
 *                                real call is not made, so the connection
 *                                stays in the backlog.
 *      fishfault/net/epoll_ctl   EPOLL_CTL_ADD only, ENOMEM or ENOSPC: the
 *                                only ways the kernel fails an ADD that is
 *                                not a programming error (a MOD or DEL of a
 *                                valid fd cannot fail for want of memory).
 *      fishfault/net/epoll_wait  EINTR only, the one error a correct caller
 *                                can get.
 *
 *    Their names sit under fishfault/, not posix/, so that nobody takes
 *    them for libfiu's: the net family of the harness enables both the
 *    posix/io/net/ points of libfiu and these fishfault/net/ ones.
 *
 * 2. A count of every fault injected, by point.  fiu_fail() itself is
 *    interposed (libfiu's wrappers call it through the PLT, and this library
 *    comes before libfiu.so in the lookup order), and each failing answer is
 *    counted in $FISHFAULT_REPORT, a file mapped shared: the counts are
 *    there even if the process dies by a signal.  Layout (little endian):
 *      "FISHFLT1", u64 nth_calls, u64 nth_failed, u64 0,
 *      then FF_SLOTS x { char name[56] (NUL-padded), u64 injected }.
 *
 * 3. FISHFAULT_NTH="POINT[+POINT...][@FUNC]:N[:ERRNO]": the Nth call of any
 *    POINT (a libfiu name, or a pattern: a prefix such as libc/mm/ and a
 *    star), counting only the calls made
 *    with the exported function FUNC on the stack if @FUNC is given, fails,
 *    once; with errno ERRNO (a number) if given, else one of the point's
 *    own.  Deterministic, where a rate is not: the regression tests use it.
 *    nth_calls in the report says how many matching calls were seen, so a
 *    test knows whether the Nth was reached; FISHFAULT_TRACE=1 prints the
 *    stack of the call failed on stderr.  Only calls made while main()
 *    runs are counted: __libc_start_main() is interposed to know when that
 *    is.  Before main(), a failed allocation would hit LeakSanitizer's own
 *    start-up (it CHECK-fails), and after it, its leak check; neither is
 *    the server's code.
 *
 * Nothing here allocates after the constructor, and the few system calls it
 * makes for itself go through syscall(2) or are made before any fault is
 * enabled, so that it never fails itself.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <link.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Without FIU_ENABLE, fiu.h makes fiu_fail() a macro that says 0. */
#define FIU_ENABLE 1
#include <fiu.h>
#include <fiu-control.h>

#define FF_MAGIC     "FISHFLT1"
#define FF_NAME_MAX  56
#define FF_SLOTS     126

struct ff_slot {
	char name[FF_NAME_MAX];
	uint64_t injected;
};

struct ff_report {
	char magic[8];
	uint64_t nth_calls;
	uint64_t nth_failed;
	uint64_t reserved;
	struct ff_slot slot[FF_SLOTS];
};

/* The counts: the mapped file, or this if there is none. */
static struct ff_report local_report;
static struct ff_report *report = &local_report;
static int slot_lock;

static int (*real_fiu_fail)(const char *);
/* __SOCKADDR_ARG: glibc's own type for the address (a transparent union
 * under _GNU_SOURCE); with struct sockaddr * the definition would not
 * match its declaration. */
static int (*real_accept4)(int, __SOCKADDR_ARG, socklen_t *restrict, int);
static int (*real_epoll_ctl)(int, int, int, struct epoll_event *);
static int (*real_epoll_wait)(int, struct epoll_event *, int, int);

/* FISHFAULT_NTH, parsed: the points are NUL-separated in nth_points. */
static char nth_points[4 * FF_NAME_MAX];
static char nth_func[128];
static void *nth_func_start;
static size_t nth_func_size;
static uint64_t nth_n;
static long nth_errno;
/* FISHFAULT_TRACE set: print where the Nth call was failed. */
static bool nth_trace;
/* main() is running: the only time FISHFAULT_NTH counts. */
static int in_main;
static int (*real_main)(int, char **, char **);

/*
 * The next definition of name after this library (libfiu's or libc's).
 * ISO C has no conversion from void * to a function pointer; POSIX
 * guarantees the representation, so copy the bytes.
 */
#define next_function(fp, name) do { \
		void *sym_ = dlsym(RTLD_NEXT, name); \
		_Static_assert(sizeof sym_ == sizeof *(fp), "pointer sizes"); \
		memcpy((fp), &sym_, sizeof sym_); \
	} while (0)

/* A message on stderr without stdio (which could allocate, or be wrapped). */
static void say(const char *a, const char *b)
{
	(void)!syscall(SYS_write, 2, a, strlen(a));
	(void)!syscall(SYS_write, 2, b, strlen(b));
	(void)!syscall(SYS_write, 2, "\n", 1);
}

static void count_injected(const char *name)
{
	struct ff_slot *s = NULL;

	/* A spin lock, not a mutex: pthread_mutex_lock is no safer here and
	 * the section is a few instructions long. */
	while (__atomic_exchange_n(&slot_lock, 1, __ATOMIC_ACQUIRE))
		;
	for (int i = 0; i < FF_SLOTS; i++) {
		if (report->slot[i].name[0] == '\0') {
			strncpy(report->slot[i].name, name, FF_NAME_MAX - 1);
			s = &report->slot[i];
			break;
		}
		if (strncmp(report->slot[i].name, name, FF_NAME_MAX - 1) == 0) {
			s = &report->slot[i];
			break;
		}
	}
	__atomic_store_n(&slot_lock, 0, __ATOMIC_RELEASE);
	if (s != NULL)
		__atomic_add_fetch(&s->injected, 1, __ATOMIC_RELAXED);
}

/*
 * libfiu's wrappers call fiu_fail() before deciding; so does the code above.
 * Before the constructor has found the real one nothing can be enabled yet.
 */
int fiu_fail(const char *name)
{
	if (real_fiu_fail == NULL)
		return 0;
	int r = real_fiu_fail(name);
	if (r != 0)
		count_injected(name);
	return r;
}

/* Is FUNC on the stack?  backtrace() and dladdr1() allocate nothing once
 * the constructor has warmed backtrace() up (it loads libgcc_s once). */
static bool func_on_stack(void)
{
	void *frames[64];
	int n = backtrace(frames, 64);

	for (int i = 0; i < n; i++) {
		char *pc = frames[i];
		if (pc >= (char *)nth_func_start &&
		    pc < (char *)nth_func_start + nth_func_size)
			return true;
	}
	return false;
}

/* The fiu_enable_external callback of FISHFAULT_NTH. */
static int nth_decide(const char *name, int *failnum, void **failinfo,
                      unsigned int *flags)
{
	(void)name;
	(void)failnum;
	(void)flags;
	if (!__atomic_load_n(&in_main, __ATOMIC_RELAXED))
		return 0;
	if (nth_func_start != NULL && !func_on_stack())
		return 0;
	uint64_t calls = __atomic_add_fetch(&report->nth_calls, 1,
	                                    __ATOMIC_RELAXED);
	if (calls != nth_n)
		return 0;
	*failinfo = (void *)nth_errno;
	__atomic_store_n(&report->nth_failed, 1, __ATOMIC_RELAXED);
	if (nth_trace) {
		/* Where it failed, for whoever debugs a sweep: raw frames on
		 * stderr (backtrace_symbols_fd() does not allocate). */
		void *frames[64];
		int n = backtrace(frames, 64);
		say("fishfault: failing this call: ", name);
		backtrace_symbols_fd(frames, n, 2);
	}
	return 1;
}

/* libfiu's own convention: failinfo, if set, is the errno; else one of the
 * call's errnos at random (libfiu uses random() for that too). */
static void set_errno(const int *errnos, size_t n)
{
	long info = (long)fiu_failinfo();

	errno = info != 0 ? (int)info : errnos[(size_t)random() % n];
}

int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *restrict len, int flags)
{
	/* libfiu 1.1's list for accept(), in the same order. */
	static const int errnos[] = {
		EAGAIN, EBADF, ECONNABORTED, EINTR, EINVAL, EMFILE, ENFILE,
		ENOTSOCK, EOPNOTSUPP, ENOBUFS, ENOMEM, EPROTO
	};

	if (fiu_fail("fishfault/net/accept4")) {
		set_errno(errnos, sizeof errnos / sizeof errnos[0]);
		return -1;
	}
	return real_accept4(fd, addr, len, flags);
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	static const int errnos[] = { ENOMEM, ENOSPC };

	if (op == EPOLL_CTL_ADD && fiu_fail("fishfault/net/epoll_ctl")) {
		set_errno(errnos, sizeof errnos / sizeof errnos[0]);
		return -1;
	}
	return real_epoll_ctl(epfd, op, fd, ev);
}

int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	static const int errnos[] = { EINTR };

	if (fiu_fail("fishfault/net/epoll_wait")) {
		set_errno(errnos, 1);
		return -1;
	}
	return real_epoll_wait(epfd, evs, max, timeout);
}

/* main(), between the two moments FISHFAULT_NTH must leave alone. */
static int counted_main(int argc, char **argv, char **envp)
{
	__atomic_store_n(&in_main, 1, __ATOMIC_RELAXED);
	int r = real_main(argc, argv, envp);
	__atomic_store_n(&in_main, 0, __ATOMIC_RELAXED);
	return r;
}

/*
 * glibc's _start calls this with main.  The real one is the next
 * definition (libc's); ours only slips counted_main() in between.
 */
int __libc_start_main(int (*main)(int, char **, char **), int argc,
                      char **argv, void (*init)(void), void (*fini)(void),
                      void (*rtld_fini)(void), void *stack_end);
int __libc_start_main(int (*main)(int, char **, char **), int argc,
                      char **argv, void (*init)(void), void (*fini)(void),
                      void (*rtld_fini)(void), void *stack_end)
{
	int (*real)(int (*)(int, char **, char **), int, char **,
	            void (*)(void), void (*)(void), void (*)(void), void *);

	next_function(&real, "__libc_start_main");
	real_main = main;
	return real(counted_main, argc, argv, init, fini, rtld_fini, stack_end);
}


static void map_report(const char *path)
{
	int fd = (int)syscall(SYS_openat, AT_FDCWD, path,
	                      O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		say("fishfault: cannot create ", path);
		return;
	}
	if (syscall(SYS_ftruncate, fd, (long)sizeof(struct ff_report)) < 0) {
		say("fishfault: cannot size ", path);
		syscall(SYS_close, fd);
		return;
	}
	void *p = (void *)syscall(SYS_mmap, NULL, sizeof(struct ff_report),
	                          PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0L);
	syscall(SYS_close, fd);
	if (p == MAP_FAILED) {
		say("fishfault: cannot map ", path);
		return;
	}
	report = p;
	memcpy(report->magic, FF_MAGIC, 8);
}

/* "POINT[+POINT...][@FUNC]:N[:ERRNO]" */
static void parse_nth(const char *spec)
{
	const char *colon = strchr(spec, ':');
	const char *at = memchr(spec, '@', colon ? (size_t)(colon - spec) : 0);
	const char *end = at ? at : colon;
	char *rest;

	if (colon == NULL || end == spec ||
	    (size_t)(end - spec) >= sizeof nth_points - 1) {
		say("fishfault: bad FISHFAULT_NTH ", spec);
		return;
	}
	memcpy(nth_points, spec, (size_t)(end - spec));
	for (char *p = nth_points; *p; p++)
		if (*p == '+')
			*p = '\0';
	if (at != NULL) {
		size_t n = (size_t)(colon - at - 1);
		if (n == 0 || n >= sizeof nth_func) {
			say("fishfault: bad function in FISHFAULT_NTH ", spec);
			return;
		}
		memcpy(nth_func, at + 1, n);
		/* Where FUNC starts and how long it is: only an exported
		 * function of a loaded library can be found this way. */
		void *addr = dlsym(RTLD_DEFAULT, nth_func);
		Dl_info info;
		const ElfW(Sym) *sym = NULL;
		if (addr == NULL ||
		    !dladdr1(addr, &info, (void **)&sym, RTLD_DL_SYMENT) ||
		    sym == NULL || sym->st_size == 0) {
			say("fishfault: no function to watch: ", nth_func);
			return;
		}
		nth_func_start = addr;
		nth_func_size = sym->st_size;
		/* backtrace() loads libgcc_s on its first call, allocating:
		 * now, not when a fault is being decided.  (LeakSanitizer
		 * reports that allocation of the dynamic loader as a leak:
		 * tests/faults/lsan.supp.) */
		void *frames[4];
		(void)backtrace(frames, 4);
	}
	nth_n = strtoull(colon + 1, &rest, 10);
	if (*rest == ':')
		nth_errno = strtol(rest + 1, &rest, 10);
	if (nth_n == 0 || *rest != '\0') {
		say("fishfault: bad count in FISHFAULT_NTH ", spec);
		return;
	}
	/* Every point shares the one count (nth_decide's). */
	for (char *p = nth_points; *p; p += strlen(p) + 1)
		if (fiu_enable_external(p, 1, NULL, 0, nth_decide) != 0)
			say("fishfault: cannot enable ", p);
}


/* Run before main(): the dynamic loader runs it after libfiu.so's (a
 * dependency), in an order against fiu_run_preload.so's it does not
 * promise.  Faults FIU_ENABLE enables are not counted before this ran: the
 * harness enables none at start-up, only with fiu-ctrl once the server is
 * listening. */
__attribute__((constructor)) static void fishfault_init(void)
{
	next_function(&real_fiu_fail, "fiu_fail");
	next_function(&real_accept4, "accept4");
	next_function(&real_epoll_ctl, "epoll_ctl");
	next_function(&real_epoll_wait, "epoll_wait");
	if (real_fiu_fail == NULL || real_accept4 == NULL ||
	    real_epoll_ctl == NULL || real_epoll_wait == NULL) {
		say("fishfault: ", "cannot find the real functions; is libfiu loaded?");
		abort();
	}
	const char *path = getenv("FISHFAULT_REPORT");
	if (path != NULL && *path != '\0')
		map_report(path);
	const char *spec = getenv("FISHFAULT_NTH");
	nth_trace = getenv("FISHFAULT_TRACE") != NULL;
	if (nth_trace) {
		void *frames[4];
		(void)backtrace(frames, 4);   /* loads libgcc_s now */
	}
	if (spec != NULL && *spec != '\0') {
		fiu_init(0);
		parse_nth(spec);
	}
}
