/*
 * weigh_catch.c - libFuzzer harness for weighing a catch (weigh_catch(),
 * pay_fisherman() and error_reply() in common/market.c) with a small
 * market: the default price list and a -m chosen by the input.
 *
 * Input: 3 header bytes, then the byte stream one fisherman sends.
 *   byte 0, bit 0: the fisherman half-closes after the stream (at_eof);
 *          bits 1-2: where his tally starts (0, or just below TALLY_MAX,
 *          so that an overflow is reachable within a few lines);
 *   byte 1: -m (1..255, 0 = the default 1024);
 *   byte 2: how TCP splits the stream: reads of this many bytes (0 = the
 *          whole stream in one read).
 * The harness plays the read callback of a variant: append a read to the
 * input buffer, weigh, pay if asked, drain .used, stop at an error; at the
 * end, weigh once more with at_eof if the fisherman half-closed.
 *
 * Oracles:
 * - .used <= len; with no error and no EOF, what is left has no LF and is
 *   at most -m bytes, and what was used ends with an LF; at EOF without
 *   error everything is used; .pay implies something was used;
 * - the tally never goes above TALLY_MAX and never goes down; the reply
 *   is the tally in decimal plus CRLF; rejected <= lines; the market's
 *   books equal the one fisherman's;
 * - the split does not matter (section 5: "the last tally a connection
 *   receives never does"): one read of the whole stream ends with the same
 *   tally, paid amount, lines, rejected and error as the split reads.
 * Each weighing sees the buffer in an exactly sized heap block, so ASan
 * catches a read past it (the pitfall: memchr/strchr over a pulled-up
 * evbuffer that is not NUL-terminated).
 */
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "market.h"

static struct market market;

static void fail(const char *what)
{
	fprintf(stderr, "weigh_catch oracle: %s\n", what);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char prog[] = "fishmarket-fuzz", quiet[] = "-q";
	char *args[] = { prog, quiet, NULL };

	(void)argc;
	(void)argv;
	if (market_prepare(&market, 2, args) != MARKET_OPEN)
		abort();
	return 0;
}

struct run {
	struct ledger l;
	uint64_t start;
	const char *error;
};

static void check_reply(const struct ledger *l, const char *reply, size_t n)
{
	char want[32];
	int k = snprintf(want, sizeof want, "%" PRIu64 "\r\n", l->tally);

	if (k < 0 || (size_t)k != n || memcmp(reply, want, n) != 0)
		fail("reply is not the tally and CRLF");
}

/* One weighing of buf[0, len) in an exactly sized copy; returns .used. */
static size_t weigh(struct run *r, const char *buf, size_t len, bool at_eof)
{
	char *copy = malloc(len ? len : 1);
	uint64_t before = r->l.tally;

	if (copy == NULL)
		abort();
	if (len)
		memcpy(copy, buf, len);
	struct weighing w = weigh_catch(&market, &r->l, copy, len, at_eof);

	if (w.used > len)
		fail(".used past the input");
	if (w.pay && w.used == 0)
		fail("paid for nothing consumed");
	if (r->l.tally > TALLY_MAX || r->l.tally < before)
		fail("tally above TALLY_MAX or going down");
	if (r->l.rejected > r->l.lines)
		fail("more rejected than lines");
	if (w.error == NULL) {
		if (at_eof && w.used != len)
			fail("bytes left over at EOF");
		if (!at_eof && w.used > 0 && copy[w.used - 1] != '\n')
			fail("consumed part does not end with an LF");
		if (!at_eof && memchr(copy + w.used, '\n', len - w.used))
			fail("complete line left unweighed");
		if (!at_eof && len - w.used > market.opts.max_line)
			fail("more than -m bytes left buffered");
	} else if (strcmp(w.error, WHY_TOO_LONG) != 0 &&
	           strcmp(w.error, WHY_OVERFLOW) != 0) {
		fail("unknown error");
	}
	if (w.pay) {
		char reply[TALLY_REPLY_MAX];
		size_t n = tally_format(reply, r->l.tally);
		check_reply(&r->l, reply, n);
		pay_fisherman(&market, &r->l);
		if (r->l.paid != r->l.tally)
			fail("paid is not the tally");
	}
	if (w.error != NULL) {
		char reply[ERROR_REPLY_MAX];
		size_t n = error_reply(reply, w.error);
		if (n < 8 || memcmp(reply, "ERROR ", 6) != 0 ||
		    memcmp(reply + n - 2, "\r\n", 2) != 0)
			fail("bad ERROR line");
		r->error = w.error;
	}
	free(copy);
	return w.used;
}

/* A fisherman's whole visit, the stream cut into reads of `chunk` bytes. */
static void visit(struct run *r, const uint8_t *s, size_t n, size_t chunk,
                  bool at_eof)
{
	char *buf = malloc(n ? n : 1);
	size_t have = 0, fed = 0;
	struct sockaddr_in peer = { .sin_family = AF_INET };

	if (buf == NULL)
		abort();
	memset(&market.stats, 0, sizeof market.stats);
	ledger_open(&market, &r->l, r, (struct sockaddr *)&peer, sizeof peer);
	r->l.tally = r->l.paid = r->start;
	r->error = NULL;

	while (fed < n && r->error == NULL) {
		size_t k = chunk == 0 || chunk > n - fed ? n - fed : chunk;
		memcpy(buf + have, s + fed, k);
		have += k;
		fed += k;
		size_t used = weigh(r, buf, have, false);
		memmove(buf, buf + used, have - used);
		have -= used;
	}
	if (r->error == NULL && at_eof) {
		size_t used = weigh(r, buf, have, true);
		if (have == 0 && used != 0)
			fail("weighed something out of nothing at EOF");
	}

	/* One fisherman, fresh books: the market's must be his. */
	const struct stats *st = &market.stats;
	if (st->connections != 1 || st->lines != r->l.lines ||
	    st->rejected != r->l.rejected)
		fail("market's books differ from the fisherman's");
	uint64_t paid_now = r->l.paid - r->start;
	if (st->paid.high != paid_now / 1000000000000000000u ||
	    st->paid.low != paid_now % 1000000000000000000u)
		fail("market paid something else than the fisherman got");

	ledger_close(&market, &r->l, r->error ? r->error : WHY_EOF);
	if (market.open_count != 0 || market_first(&market) != NULL)
		fail("ledger still open after close");
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t starts[4] = {
		0, TALLY_MAX - 1000, TALLY_MAX - 1000000000000000u, TALLY_MAX
	};
	struct run split, whole;

	if (size < 3)
		return 0;
	bool at_eof = data[0] & 1;
	split.start = whole.start = starts[(data[0] >> 1) & 3];
	market.opts.max_line = data[1] ? data[1] : OPT_DEFAULT_MAX_LINE;
	size_t chunk = data[2];

	visit(&split, data + 3, size - 3, chunk, at_eof);
	visit(&whole, data + 3, size - 3, 0, at_eof);
	if (split.l.tally != whole.l.tally || split.l.paid != whole.l.paid ||
	    split.l.lines != whole.l.lines ||
	    split.l.rejected != whole.l.rejected ||
	    (split.error == NULL) != (whole.error == NULL) ||
	    (split.error && strcmp(split.error, whole.error) != 0))
		fail("the way TCP split the stream changed the outcome");
	return 0;
}
