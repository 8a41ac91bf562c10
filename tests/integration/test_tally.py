"""
Section 5: the running tally.  One reply per read event that consumed a
line; the last tally never depends on how TCP split the stream; end of
input makes the bytes after the last LF a final line; a fisherman who has
been paid sees the connection close only after his payment.
"""

import random

import harness
import reference
from contract import clause
from harness import Script, run_conversations

pytestmark = clause("tally", "The server keeps one running tally per connection: the "
                    "sum of the values of every line that connection has sent.")

# A pause that is part of the scenario, never a synchronisation: each batch
# is one small write and the test waits for its reply before the next, so
# each batch is one read event on the server and the reply sequence is exact.


def test_running_tally_over_paced_batches(variant, market):
    server = market()
    c = server.connect()
    batches = [
        (b"3 pounds of cod\n", "24"),
        (b"2 pounds of tuna\n1 lb of trout\n", "61"),     # two lines, one reply
        (b"\n", "61"),                                    # a blank line is consumed too
        (b"bad line\n", "61"),                            # malformed: worth 0, still a reply
        (b"1 pound of whale\n", "61"),                    # unknown fish
        (b"4 pounds of sal", None),                       # no complete line: no reply
        (b"mon\n10 lbs of bream\n", str(61 + 48 + 50)),
        (b"1 pound of cod\r\n", str(159 + 8)),
    ]
    got = []
    for data, want in batches:
        c.send(data)
        if want is not None:
            got.append(c.read_reply())
    c.half_close()
    got += c.replies()
    assert got == [w for _, w in batches if w is not None]
    assert c.ended == "eof"
    assert server.stop() == 0
    # Non-blank lines: cod, tuna, trout, bad, whale, salmon, bream, cod.
    assert server.summary() == (1, 8, 1, 167)


@clause("tally", "Interim replies depend on how TCP split the stream; the last tally a "
        "connection receives never does.")
def test_batch_dribbled_one_byte_at_a_time(variant, market):
    server = market()
    rng = random.Random(7)
    fish = list(reference.DEFAULT_PRICES)
    data = b"".join(b"%d %s of %s\n" % (rng.randint(0, 999),
                                        rng.choice([b"lb", b"lbs", b"pound", b"pounds"]),
                                        rng.choice(fish))
                    for _ in range(40))
    data += b"7 lbs of tuna"          # and a final line without LF
    c = server.connect()
    c.send_pieces([data[i:i + 1] for i in range(len(data))])
    c.half_close()
    replies = c.replies()
    steps = reference.prefix_tallies(data)
    # Every interim reply is the tally after some prefix of lines, in order,
    # and the last one is the whole catch.
    tallies = [int(r) for r in replies]
    assert tallies == sorted(tallies)
    assert set(tallies) <= set(steps)
    assert tallies[-1] == steps[-1] == reference.visit(data)
    assert c.ended == "eof"


@clause("tally", "any bytes after the last LF (even only blanks or a CR) are treated as "
        "one final line, as if an LF followed them.")
def test_final_line_without_lf_is_paid_then_eof(variant, market):
    server = market()
    c = server.connect()
    c.send(b"3 pounds of cod\n2 pounds of tuna")
    c.half_close()
    # The read event pays the complete line; end of input the final one.
    assert c.replies() == ["24", "54"]
    assert c.ended == "eof"
    # Only a final line: one reply, at end of input.
    c = server.connect()
    c.send(b"5 pounds of salmon")
    c.half_close()
    assert c.replies() == ["60"]
    assert c.ended == "eof"
    assert server.stop() == 0
    assert server.summary() == (2, 3, 0, 54 + 60)


@clause("tally", "any bytes after the last LF (even only blanks or a CR) are treated as "
        "one final line")
def test_final_cr_after_last_lf_gets_one_more_reply(variant, market):
    server = market()
    c = server.connect()
    c.send(b"3 pounds of cod\n\r")
    c.half_close()
    assert c.replies() == ["24", "24"]
    assert c.ended == "eof"
    assert server.stop() == 0
    assert server.summary() == (1, 1, 0, 24)     # the final "\r" is blank


@clause("tally", "any bytes after the last LF (even only blanks or a CR) are treated as "
        "one final line")
def test_final_blanks_after_last_lf_get_one_more_reply(variant, market):
    server = market()
    c = server.connect()
    c.send(b"3 pounds of cod\n \t ")
    c.half_close()
    assert c.replies() == ["24", "24"]
    assert c.ended == "eof"
    assert server.stop() == 0
    assert server.summary() == (1, 1, 0, 24)


@clause("tally", "A fisherman who has been paid is never cut off mid-payment.")
def test_never_cut_off_mid_payment(variant, market):
    # Thousands of lines and a final one in one write, then the half-close:
    # the server reads them over several read events and pays the final
    # line at end of input.  Every byte of those payments must reach him
    # before the close; the pitfall is to free the connection (and with it
    # the replies still in its output buffer) right after the last write.
    server = market()
    c = server.connect()
    c.send(b"1 lb of cod\n" * 3000 + b"2 lb of tuna")
    c.half_close()
    replies = c.replies()
    assert replies[-1:] == [str(3000 * 8 + 30)], replies[-3:]
    assert c.ended == "eof"
    assert server.stop() == 0
    assert server.summary() == (1, 3001, 0, 3000 * 8 + 30)


@clause("tally", "If that final line exists, the server writes the tally once more.")
def test_nothing_after_last_lf_no_extra_reply(variant, market):
    server = market()
    c = server.connect()
    c.send(b"3 pounds of cod\n2 pounds of tuna\n")
    c.half_close()
    assert c.replies() == ["54"]          # one small write: exactly one reply
    assert c.ended == "eof"
    # A fisherman who brings nothing is paid nothing, and not even told 0.
    c = server.connect()
    c.half_close()
    assert c.replies() == []
    assert c.ended == "eof"
    assert server.stop() == 0
    assert server.summary() == (2, 2, 0, 54)


@clause("signals", "L the non-blank lines consumed (final lines included), R the "
        "malformed ones among them")
def test_final_malformed_line_is_counted(variant, market):
    server = market()
    c = server.connect()
    c.send(b"3 pounds of cod\n3 pounds of \xff")
    c.half_close()
    assert c.replies() == ["24", "24"]
    assert server.stop() == 0
    assert server.summary() == (1, 2, 1, 24)


@clause("tally", "The tally never wraps")
def test_tally_overflow(variant, market, tmp_path):
    prices = tmp_path / "prices.txt"
    prices.write_text("x 1000000000\ncod 8\n")
    server = market("--prices", str(prices))
    # Each line is worth 10^15; 9223 of them make 9.223e18 <= 2^63 - 1,
    # the 9224th would pass it.
    line = b"1000000 pounds of x\n"
    assert 9223 * 10**15 <= harness.TALLY_MAX < 9224 * 10**15
    c = server.connect()
    c.send(line * 9224 + b"1 pound of cod\n" * 10, may_close=True)
    replies = c.replies()
    assert replies[-1] == "ERROR tally overflow"
    assert replies[-2] == str(9223 * 10**15)
    tallies = [int(r) for r in replies[:-1]]
    assert tallies == sorted(tallies)
    # Nothing after the offending line was valued: a reply for the cod lines
    # would have been 9223e15 + 8 or more.
    assert all(t % 10**15 == 0 for t in tallies)
    assert server.stop() == 0
    # The overflowing line counts as consumed (DESIGN.md), not as rejected;
    # the tally before it is what he was paid.
    assert server.summary() == (1, 9224, 0, 9223 * 10**15)


@clause("tally", "if a line would take it past 2^63 - 1")
def test_tally_may_reach_exactly_the_maximum(variant, market, tmp_path):
    # 2^63 - 1 = 9223372036854775807 is reachable without overflow: the
    # check is "past the maximum", not "at it".
    rest = harness.TALLY_MAX - 9223 * 10**15          # 372036854775807
    prices = tmp_path / "prices.txt"
    prices.write_text(f"x 1000000000\nlast {rest // 1000000 % 10**9}\none 1\n")
    server = market("--prices", str(prices))
    price_last = rest // 1000000
    ones = rest - 1000000 * price_last
    c = server.connect()
    c.send(b"1000000 pounds of x\n" * 9223 + b"1000000 lb of last\n" +
           b"%d lb of one\n" % ones)
    c.half_close()
    replies = c.replies()
    assert replies[-1] == str(harness.TALLY_MAX)
    assert c.ended == "eof"
    c = server.connect()
    c.send(b"1000000 pounds of x\n" * 9223 + b"1000000 lb of last\n" +
           b"%d lb of one\n" % (ones + 1), may_close=True)
    c.half_close(may_close=True)
    replies = c.replies()
    assert replies[-2:] == [str(harness.TALLY_MAX - ones), "ERROR tally overflow"]


@clause("signals", "T the sum over connections of the last tally written to each (a "
        "connection that ended in an ERROR included)")
def test_summary_totals_equal_payments(variant, market):
    server = market("-m", "64")
    catches = [
        b"3 pounds of cod\n2 lbs of tuna\n",
        b"1 pound of salmon\nnonsense\n\n7 lb of bream",
        b"\n\n\n",
        b"",
        b"10 pounds of halibut\n" + b"x" * 100,     # ends in ERROR line too long
        b"4 pounds of plaice\r\n\x00\r\n",
    ]
    paid = []
    for data in catches:
        c = server.connect()
        c.send(data, may_close=True)
        c.half_close(may_close=True)
        paid.append(harness.last_tally(c.replies()))
    assert paid == [24 + 30, 12 + 35, 0, 0, 140, 24]
    assert server.stop() == 0
    n, lines, rejected, total = server.summary()
    assert (n, lines, rejected) == (6, 2 + 3 + 0 + 0 + 1 + 2, 2)
    assert total == sum(paid)


@clause("story", "thousands can be unloading at once.")
def test_thousand_fishermen_at_once(variant, market):
    server = market("-v")
    rng = random.Random(1000)
    fish = list(reference.DEFAULT_PRICES) + [b"whale"]
    scripts, catches = [], []
    for _ in range(1000):
        data = b"".join(b"%d %s of %s\n" % (rng.randint(0, 1000000),
                                            rng.choice([b"lb", b"pounds"]),
                                            rng.choice(fish))
                        for _ in range(rng.randint(1, 6)))
        if rng.random() < 0.3:
            data += b"2 lb of cod"            # some end without LF
        # Two or three writes, random pauses between, random arrival.
        cuts = sorted(rng.sample(range(1, len(data)), 2))
        parts = [data[:cuts[0]], data[cuts[0]:cuts[1]], data[cuts[1]:]]
        steps = [(rng.uniform(0, 0.05), p) for p in parts]
        scripts.append(Script(steps=steps, start=rng.uniform(0, 0.3)))
        catches.append(data)
    outcomes = run_conversations(server.host, server.port, scripts, timeout=60)
    books = reference.Books()
    wrong = []
    for i, (data, out) in enumerate(zip(catches, outcomes)):
        want = reference.visit(data, books=books)
        if out.paid != want or out.ended != "eof" or out.error:
            wrong.append((i, want, out.replies[-3:], out.ended, out.error))
    assert not wrong, f"{len(wrong)} of 1000 not paid right, e.g. {wrong[:5]}"
    assert server.stop() == 0
    assert server.summary() == books.summary()
    # -v: one log line per closed connection.
    if variant.ours:
        assert sum(" closed (eof): " in l for l in server.stderr.splitlines()) == 1000
    assert len(server.log_lines()) == 1000
