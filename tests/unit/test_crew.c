/*
 * test_crew.c - section 8 without an event loop: how many workers -w
 * means, each one's share of -c, the notify pipes, and the threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "crew.h"
#include "suites.h"

/* --- 8 how many, and each one's share of -c -------------------------------- */

START_TEST(size_from_option)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	ck_assert_uint_eq(crew_size(1), 1);
	ck_assert_uint_eq(crew_size(64), 64);
	/* -w 0: one per online CPU, never more than 64, never none. */
	ck_assert_uint_eq(crew_size(0), cpus > 64 ? 64 : (unsigned)cpus);
	ck_assert_uint_ge(crew_size(0), 1);
}
END_TEST

START_TEST(share_of_max_conns)
{
	ck_assert_uint_eq(crew_share(10000, 1), 10000);
	ck_assert_uint_eq(crew_share(4, 2), 2);
	ck_assert_uint_eq(crew_share(5, 2), 3);
	ck_assert_uint_eq(crew_share(1, 64), 1);
	ck_assert_uint_eq(crew_share(64, 64), 1);
	ck_assert_uint_eq(crew_share(65, 64), 2);
	ck_assert_uint_eq(crew_share(1000000, 3), 333334);
	/* ceil(c / n): the crew holds c when n divides it, and never more
	 * than n - 1 above it. */
	for (unsigned n = 1; n <= 64; n++)
		for (unsigned c = 1; c <= 200; c++) {
			unsigned share = crew_share(c, n);
			ck_assert_uint_ge(share * n, c);
			ck_assert_uint_lt(share * n - c, n);
			ck_assert_uint_ge(share, 1);
		}
}
END_TEST

/* --- 8 news: one byte down a fishmonger's pipe ----------------------------- */

START_TEST(news_pipes)
{
	struct crew c;

	ck_assert_int_eq(crew_hire(&c, 3), 0);
	ck_assert_uint_eq(c.size, 3);
	for (unsigned i = 0; i < 3; i++) {
		int fd = crew_news_fd(&c, i);
		ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
		ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
		ck_assert(fcntl(c.news[i][1], F_GETFD) & FD_CLOEXEC);
		/* Nothing yet: the loop's callback must not block on it. */
		ck_assert_int_eq(crew_hear(fd), -1);
	}
	crew_tell(&c, 1, NEWS_DONE);
	ck_assert_int_eq(crew_hear(crew_news_fd(&c, 0)), -1);
	ck_assert_int_eq(crew_hear(crew_news_fd(&c, 1)), NEWS_DONE);
	ck_assert_int_eq(crew_hear(crew_news_fd(&c, 1)), -1);
	crew_tell_all(&c, NEWS_CLOSE);
	crew_tell_all(&c, NEWS_QUIT);
	for (unsigned i = 0; i < 3; i++) {
		/* In the order sent. */
		ck_assert_int_eq(crew_hear(crew_news_fd(&c, i)), NEWS_CLOSE);
		ck_assert_int_eq(crew_hear(crew_news_fd(&c, i)), NEWS_QUIT);
		ck_assert_int_eq(crew_hear(crew_news_fd(&c, i)), -1);
	}
	int fd = crew_news_fd(&c, 2);
	crew_dismiss(&c);
	ck_assert_uint_eq(c.size, 0);
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
	ck_assert_int_eq(errno, EBADF);
}
END_TEST

/* --- 8 threads: signals stay with the main thread -------------------------- */

static void *note_mask(void *arg)
{
	sigset_t *mask = arg;

	pthread_sigmask(SIG_SETMASK, NULL, mask);
	return NULL;
}

START_TEST(threads_leave_signals_to_main)
{
	struct crew c;
	sigset_t seen[3], before, after;

	ck_assert_int_eq(crew_hire(&c, 3), 0);
	pthread_sigmask(SIG_SETMASK, NULL, &before);
	ck_assert_int_eq(crew_start(&c, 1, note_mask, &seen[1]), 0);
	ck_assert_int_eq(crew_start(&c, 2, note_mask, &seen[2]), 0);
	ck_assert_uint_eq(c.started, 2);
	crew_join(&c);
	ck_assert_uint_eq(c.started, 0);
	for (unsigned i = 1; i < 3; i++) {
		ck_assert(sigismember(&seen[i], SIGINT));
		ck_assert(sigismember(&seen[i], SIGTERM));
		/* Only those two: the others keep their default behaviour. */
		ck_assert(!sigismember(&seen[i], SIGPIPE));
		ck_assert(!sigismember(&seen[i], SIGSEGV));
	}
	/* The main thread's own mask is as it was. */
	pthread_sigmask(SIG_SETMASK, NULL, &after);
	ck_assert_int_eq(sigismember(&after, SIGINT),
	                 sigismember(&before, SIGINT));
	ck_assert_int_eq(sigismember(&after, SIGTERM),
	                 sigismember(&before, SIGTERM));
	crew_dismiss(&c);
}
END_TEST

Suite *crew_suite(void)
{
	Suite *s = suite_create("crew");
	TCase *tc;

	tc = tcase_create("8 workers");
	tcase_add_test(tc, size_from_option);
	tcase_add_test(tc, share_of_max_conns);
	suite_add_tcase(s, tc);

	tc = tcase_create("8 news");
	tcase_add_test(tc, news_pipes);
	suite_add_tcase(s, tc);

	tc = tcase_create("8 threads");
	tcase_add_test(tc, threads_leave_signals_to_main);
	suite_add_tcase(s, tc);

	return s;
}
