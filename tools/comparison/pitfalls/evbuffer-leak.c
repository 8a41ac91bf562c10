/*
 * The original article's buyfish makes an evbuffer with evbuffer_new() on
 * every call, never uses it and never frees it: one lost evbuffer per read
 * callback.  Count libevent's live allocations (event_set_mem_functions(),
 * before any other libevent call) across 1000 read callbacks, once with a
 * callback of that shape (ours) and once without the evbuffer_new().
 */
#include <malloc.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "demo.h"

#define CALLBACKS 1000

static long live_blocks;
static long long live_bytes;

/* libevent's allocations, counted (usable sizes, as glibc reports them). */
static void *count_malloc(size_t n)
{
	void *p = malloc(n);

	if (p != NULL) {
		live_blocks++;
		live_bytes += (long long)malloc_usable_size(p);
	}
	return p;
}

static void *count_realloc(void *old, size_t n)
{
	size_t was = old != NULL ? malloc_usable_size(old) : 0;
	void *p = realloc(old, n);

	if (p != NULL) {
		if (old == NULL)
			live_blocks++;
		live_bytes += (long long)malloc_usable_size(p) - (long long)was;
	}
	return p;
}

static void count_free(void *p)
{
	if (p != NULL) {
		live_blocks--;
		live_bytes -= (long long)malloc_usable_size(p);
	}
	free(p);
}

static int reads;
/* Kept only so that this program can free them once they are counted. */
static struct evbuffer *forgotten[CALLBACKS + 1];

/* The shape of buyfish: an evbuffer made on every call, then forgotten. */
static void buy_with_spare_bucket(struct bufferevent *bev, void *arg)
{
	struct evbuffer *input = bufferevent_get_input(bev);
	struct evbuffer *spare = evbuffer_new();

	(void)arg;
	forgotten[reads] = spare;    /* the pitfall: the callback never frees it */
	reads++;
	evbuffer_drain(input, evbuffer_get_length(input));
}

static void buy(struct bufferevent *bev, void *arg)
{
	struct evbuffer *input = bufferevent_get_input(bev);

	(void)arg;
	reads++;
	evbuffer_drain(input, evbuffer_get_length(input));
}

/* CALLBACKS reads through one bufferevent; returns the growth in live blocks. */
static long run(bufferevent_data_cb readcb, long long *grew_bytes)
{
	int peer;
	long blocks;
	long long bytes;
	struct event_base *base = event_base_new();
	struct bufferevent *bev;

	if (base == NULL)
		die("event_base_new");
	bev = socketpair_bufferevent(base, &peer);
	bufferevent_setcb(bev, readcb, NULL, NULL, NULL);
	if (bufferevent_enable(bev, EV_READ) < 0)
		die("bufferevent_enable");

	/* One warm-up read, so that buffers libevent keeps are counted before. */
	reads = 0;
	if (write(peer, "1 pound of cod\r\n", 16) != 16)
		die("write");
	while (reads < 1)
		if (event_base_loop(base, EVLOOP_ONCE) < 0)
			die("event_base_loop");
	blocks = live_blocks;
	bytes = live_bytes;
	for (int i = 0; i < CALLBACKS; i++) {
		if (write(peer, "1 pound of cod\r\n", 16) != 16)
			die("write");
		while (reads < i + 2)
			if (event_base_loop(base, EVLOOP_ONCE) < 0)
				die("event_base_loop");
	}
	blocks = live_blocks - blocks;
	*grew_bytes = live_bytes - bytes;
	for (int i = 0; i <= CALLBACKS; i++)
		if (forgotten[i] != NULL)
			evbuffer_free(forgotten[i]);
	memset(forgotten, 0, sizeof forgotten);
	bufferevent_free(bev);
	close(peer);
	event_base_free(base);
	return blocks;
}

int main(void)
{
	long leaked, clean;
	long long leaked_bytes, clean_bytes;

	/* Before any other libevent call, or it has no effect. */
	event_set_mem_functions(count_malloc, count_realloc, count_free);
	leaked = run(buy_with_spare_bucket, &leaked_bytes);
	clean = run(buy, &clean_bytes);
	printf("evbuffer-leak: after %d read callbacks, %ld more libevent allocations "
	       "are live (%lld bytes) when each makes an evbuffer and forgets it; "
	       "%ld (%lld bytes) without it\n", CALLBACKS, leaked, leaked_bytes,
	       clean, clean_bytes);
	return 0;
}
