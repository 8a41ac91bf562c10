/*
 * crew.c - the workers' threads and notify pipes: everything about more
 * than one core that is not libevent.
 */
#include "crew.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

unsigned crew_size(unsigned workers)
{
	if (workers != 0)
		return workers;
	/* "One per online CPU" (section 8): not the configured ones, some of
	 * which may be offline. */
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus < 1)
		return 1;
	return cpus > CREW_MAX ? CREW_MAX : (unsigned)cpus;
}

unsigned crew_share(unsigned max_conns, unsigned size)
{
	return max_conns / size + (max_conns % size != 0);
}

int crew_hire(struct crew *c, unsigned size)
{
	memset(c, 0, sizeof *c);
	for (unsigned i = 0; i < size; i++) {
		if (pipe2(c->news[i], O_NONBLOCK | O_CLOEXEC) < 0) {
			fprintf(stderr, "fishmarket: cannot make a notify pipe: %s\n",
			        strerror(errno));
			crew_dismiss(c);
			return -1;
		}
		c->size = i + 1;
	}
	return 0;
}

void crew_dismiss(struct crew *c)
{
	for (unsigned i = c->size; i-- > 0; ) {
		close(c->news[i][1]);
		close(c->news[i][0]);
	}
	c->size = 0;
}

int crew_news_fd(const struct crew *c, unsigned i)
{
	return c->news[i][0];
}

int crew_start(struct crew *c, unsigned i, void *(*run)(void *), void *arg)
{
	sigset_t stop, old;
	int err;

	/*
	 * A new thread inherits the signal mask of the thread that makes it:
	 * block SIGINT and SIGTERM around pthread_create() so that the workers
	 * never take them and the kernel hands them to the main thread.  Not
	 * needed for correctness (libevent's handler, whichever thread runs
	 * it, only writes a byte down the signal base's internal pipe: a
	 * pipe2() on Linux, evutil.c:2684, signal.c:378-405) but it keeps the
	 * workers' loops out of it, and every signal in one known place.
	 */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, &old);
	err = pthread_create(&c->threads[i], NULL, run, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		fprintf(stderr, "fishmarket: cannot start a worker thread: %s\n",
		        strerror(err));
		return -1;
	}
	c->started = i;
	return 0;
}

void crew_join(struct crew *c)
{
	for (unsigned i = 1; i <= c->started; i++)
		pthread_join(c->threads[i], NULL);
	c->started = 0;
}

void crew_tell(const struct crew *c, unsigned i, enum news news)
{
	char byte = (char)news;
	ssize_t n;

	do
		n = write(c->news[i][1], &byte, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		fprintf(stderr, "fishmarket: cannot tell worker %u: %s\n", i,
		        n < 0 ? strerror(errno) : "short write");
}

void crew_tell_all(const struct crew *c, enum news news)
{
	for (unsigned i = 0; i < c->size; i++)
		crew_tell(c, i, news);
}

int crew_hear(int fd)
{
	unsigned char byte;
	ssize_t n;

	do
		n = read(fd, &byte, 1);
	while (n < 0 && errno == EINTR);
	return n == 1 ? byte : -1;
}
