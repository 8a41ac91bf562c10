/*
 * Pitfall 7.8, and what the fisherman reads: a read callback that sums the
 * lines of *that read* in a local variable and appends the sum as bare
 * digits, with no line end, after every read.  That is the shape of the
 * original article's buyfish (the code here is ours): lines taken with
 * evbuffer_readln(..., EVBUFFER_EOL_CRLF), a tally local to the callback,
 * the reply appended with evbuffer_add_printf() and no CRLF, the
 * bufferevent freed on EOF.
 *
 * Fred's catch (5 haddock, 3 trout, 4 bream: $86 on the contract's price
 * list) arrives in one write, then split in two at two places, as TCP may
 * split it, then in one write whose last line has no line end (the
 * contract weighs it at end of input; a line reader never returns it).  After each part the loop runs until the read callback has
 * seen it.  Then the fisherman half-closes, the fishmonger frees on EOF,
 * and every byte the fisherman received is printed.  Last, the size of one
 * read: 144 lines of the largest count the contract allows, in one write.
 */
#include <limits.h>
#include <poll.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "demo.h"

/* The contract's default price list, dollars per pound. */
static const struct { const char *fish; int price; } prices[] = {
	{ "bream", 5 }, { "cod", 8 }, { "haddock", 9 }, { "halibut", 14 },
	{ "mackerel", 4 }, { "plaice", 6 }, { "salmon", 12 }, { "sardine", 3 },
	{ "trout", 7 }, { "tuna", 15 },
};

struct stall {
	int reads;                   /* read callbacks so far */
	int freed;                   /* the event callback freed the bev */
	long long last_sum;          /* what the last read callback summed */
};

/* "N pound(s) of FISH": N times the price; anything else is worth 0. */
static long long weigh(const char *line)
{
	char *end;
	long n = strtol(line, &end, 10);
	const char *of = strstr(end, " of ");

	if (end == line || of == NULL)
		return 0;
	for (size_t i = 0; i < sizeof prices / sizeof prices[0]; i++)
		if (strcasecmp(of + 4, prices[i].fish) == 0)
			return (long long)n * prices[i].price;
	return 0;
}

/*
 * The pitfall: the tally lives and dies with one callback, and the reply
 * has no end.  (The article's tally is an int; this one is wide so that
 * the last case can show the sum instead of overflowing.)
 */
static void buy_per_read(struct bufferevent *bev, void *arg)
{
	struct stall *s = arg;
	struct evbuffer *input = bufferevent_get_input(bev);
	long long tally = 0;
	char *line;

	s->reads++;
	while ((line = evbuffer_readln(input, NULL, EVBUFFER_EOL_CRLF)) != NULL) {
		tally += weigh(line);
		free(line);
	}
	s->last_sum = tally;
	if (evbuffer_add_printf(bufferevent_get_output(bev), "%lld", tally) < 0)
		die("evbuffer_add_printf");
}

static void free_on_eof(struct bufferevent *bev, short what, void *arg)
{
	struct stall *s = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		bufferevent_free(bev);
		s->freed = 1;
	}
}

/*
 * One fisherman: send the parts, each followed by loop turns until the
 * read callback has seen it, half-close, and collect what he receives
 * until end of file.  Returns the number of read callbacks.
 */
static int visit(struct event_base *base, const char *const parts[], int nparts,
                 char *got, size_t gotsize, struct stall *s)
{
	int srv, cli;
	size_t have = 0;
	struct bufferevent *bev;

	memset(s, 0, sizeof *s);
	tcp_pair(&srv, &cli);
	if (evutil_make_socket_nonblocking(srv) < 0)
		die("evutil_make_socket_nonblocking");
	bev = bufferevent_socket_new(base, srv, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		die("bufferevent_socket_new");
	bufferevent_setcb(bev, buy_per_read, NULL, free_on_eof, s);
	if (bufferevent_enable(bev, EV_READ | EV_WRITE) < 0)
		die("bufferevent_enable");

	for (int i = 0; i < nparts; i++) {
		size_t len = strlen(parts[i]);
		int before = s->reads;

		if (write(cli, parts[i], len) != (ssize_t)len)
			die("write");
		while (s->reads == before)
			if (event_base_loop(base, EVLOOP_ONCE) < 0)
				die("event_base_loop");
	}
	if (shutdown(cli, SHUT_WR) < 0)
		die("shutdown");
	while (!s->freed)
		if (event_base_loop(base, EVLOOP_ONCE) < 0)
			die("event_base_loop");
	/* libevent 2.1 finishes freeing (and closes) from the loop: one turn. */
	if (event_base_loop(base, EVLOOP_NONBLOCK) < 0)
		die("event_base_loop");

	for (;;) {
		struct pollfd p = { .fd = cli, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 2000) != 1) {
			errno = ETIMEDOUT;
			die("waiting for end of file");
		}
		n = read(cli, got + have, gotsize - 1 - have);
		if (n < 0)
			die("read");
		if (n == 0)
			break;
		have += (size_t)n;
		if (have == gotsize - 1)
			break;
	}
	got[have] = '\0';
	close(cli);
	return s->reads;
}

int main(void)
{
	static const char *const whole[] = {
		"5 pounds of haddock\r\n3 pounds of trout\r\n4 pounds of bream\r\n" };
	static const char *const after_line[] = {
		"5 pounds of haddock\r\n", "3 pounds of trout\r\n4 pounds of bream\r\n" };
	static const char *const in_line[] = {
		"5 pounds of hadd", "ock\r\n3 pounds of trout\r\n4 pounds of bream\r\n" };
	static const char *const no_end[] = {
		"5 pounds of haddock\r\n3 pounds of trout\r\n4 pounds of bream" };
	static const struct {
		const char *how;
		const char *const *parts;
		int nparts;
	} cases[] = {
		{ "in one write", whole, 1 },
		{ "split after the first line", after_line, 2 },
		{ "split inside the first line", in_line, 2 },
		{ "no CRLF after the last line", no_end, 1 },
	};
	static char big[144 * 24 + 1];
	const char *big_parts[1] = { big };
	char got[256], quoted[300];
	struct stall s;
	struct event_base *base = event_base_new();

	if (base == NULL)
		die("event_base_new");
	printf("tally-per-read: Fred's catch is worth $86; a fishmonger who sums each "
	       "read on its own, replies with bare digits and frees at end of input "
	       "sends him:\n");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int reads = visit(base, cases[i].parts, cases[i].nparts, got, sizeof got, &s);
		snprintf(quoted, sizeof quoted, "\"%s\"", got);
		printf("  %-28s %-8s (%d read callback%s)\n", cases[i].how, quoted,
		       reads, reads == 1 ? "" : "s");
	}

	for (int i = 0; i < 144; i++)
		memcpy(big + 24 * i, "1000000 pounds of tuna\r\n", 24);
	visit(base, big_parts, 1, got, sizeof got, &s);
	printf("tally-per-read: 144 lines of \"1000000 pounds of tuna\" (%zu bytes) in one "
	       "write: %d read callback, whose sum is %lld, past INT_MAX (%d)\n",
	       strlen(big), s.reads, s.last_sum, INT_MAX);
	event_base_free(base);
	return 0;
}
