/*
 * crew.h - more than one core (section 8): what the workers need that is not
 * libevent.  How many fishmongers to hire (-w, with 0 = one per online CPU),
 * each one's share of -c, the thread each but the first runs on, and the
 * notify pipe each one listens to for news from the main thread.
 *
 * Each variant hires its crew with its own libevent calls: one event base
 * per fishmonger, one listening socket each (SO_REUSEPORT), and one event
 * on his notify pipe.  Nothing here is shared by two fishmongers while they
 * work: the main thread writes one byte down a pipe, and each worker reads
 * his own.
 */
#ifndef FISH_CREW_H
#define FISH_CREW_H

#include <pthread.h>

/* -w: at most this many fishmongers (section 8); -w 0 is capped here too. */
#define CREW_MAX 64

/*
 * The news a fishmonger can hear on his pipe, one byte each.  The main
 * thread sends CLOSE to everyone on the first SIGINT or SIGTERM and QUIT on
 * the second; a fishmonger whose loop has ended sends DONE to the first
 * fishmonger, who runs on the main thread and waits for them all.
 */
enum news {
	NEWS_CLOSE = 'c',    /* closing time: stop accepting, start the grace */
	NEWS_QUIT  = 'q',    /* a second signal: leave at once */
	NEWS_DONE  = 'd'     /* (to the first only) another one has finished */
};

struct crew {
	unsigned size;                 /* how many fishmongers, 1 .. CREW_MAX */
	unsigned started;              /* threads running, for crew_join() */
	pthread_t threads[CREW_MAX];   /* [0] unused: the first is main() */
	int news[CREW_MAX][2];         /* [i][0] his to read, [i][1] ours */
};

/* -w N as the server runs it: N, or with N = 0 the online CPUs (<= 64). */
unsigned crew_size(unsigned workers);

/*
 * Each fishmonger's share of -c: ceil(max_conns / size), so the crew holds
 * max_conns when size divides it and never more than size - 1 above it.
 */
unsigned crew_share(unsigned max_conns, unsigned size);

/*
 * Open the notify pipe of each of size fishmongers (non-blocking,
 * close-on-exec).  On failure prints one line to stderr, closes what it
 * opened and returns -1.
 */
int crew_hire(struct crew *c, unsigned size);

/* Close every pipe crew_hire() opened.  Call after crew_join(). */
void crew_dismiss(struct crew *c);

/* Fishmonger i's end of his notify pipe: the fd his news event watches. */
int crew_news_fd(const struct crew *c, unsigned i);

/*
 * Start fishmonger i (1 .. size - 1) on a thread of his own: run(arg).  The
 * thread is started with SIGINT and SIGTERM blocked, so that the kernel
 * delivers them to the main thread.  Returns 0, or -1 after printing one
 * line.  Start them in order: crew_join() joins threads 1 .. started.
 */
int crew_start(struct crew *c, unsigned i, void *(*run)(void *), void *arg);

/* Wait for every thread crew_start() started. */
void crew_join(struct crew *c);

/*
 * Send news to fishmonger i (tell) or to all (tell_all), one byte down his
 * pipe.  A pipe holds far more than the few bytes ever sent, so a write
 * cannot block; a failed one is reported on stderr.
 */
void crew_tell(const struct crew *c, unsigned i, enum news news);
void crew_tell_all(const struct crew *c, enum news news);

/* The next piece of news on a notify pipe, or -1 once it is empty. */
int crew_hear(int fd);

#endif
