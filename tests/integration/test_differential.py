"""
Differential test: the same seeded random transcripts (thousands of lines,
well formed and not, blank lines, CRLF, final lines without LF, odd splits
of the byte stream into writes) go to every server under test.  Every one
must pay every connection what the pure-Python reference model
(reference.py, written from the contract) says, and print the same
summary line as the model: so all servers agree with each other too.
"""

import random

import reference
from contract import clause
from harness import Script, run_conversations

pytestmark = clause("tally", "Interim replies depend on how TCP split the stream; the last "
                    "tally a connection receives never does.")

SEED = 20240601
CONNECTIONS = 80

FISH = [b"bream", b"cod", b"haddock", b"halibut", b"mackerel", b"plaice",
        b"salmon", b"sardine", b"trout", b"tuna", b"whale", b"red snapper",
        "saumon fum\u00e9".encode()]
UNITS = [b"pound", b"pounds", b"lb", b"lbs"]
BAD_BYTES = [b"\x00", b"\x01", b"\x1b", b"\x7f", b"\r", b"\x0b", b"\x0c",
             b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xc2\x85", b"\xc2\x9f",
             b"\xe2\x82", b"\x80", b"\xf4\x90\x80\x80"]


def blanks(rng, at_least=1):
    return bytes(rng.choice(b" \t") for _ in range(rng.randint(at_least, 3)))


def randcase(rng, word):
    return bytes(c ^ 0x20 if 97 <= (c | 0x20) <= 122 and rng.random() < 0.3 else c
                 for c in word)


def good_line(rng):
    count = rng.choice([rng.randint(0, 20), rng.randint(0, 1000000),
                        1000000, 0])
    digits = b"%d" % count
    if rng.random() < 0.1:
        digits = b"0" * rng.randint(1, 5) + digits
    lead = blanks(rng, 0) if rng.random() < 0.3 else b""
    trail = blanks(rng, 0) if rng.random() < 0.3 else b""
    return (lead + digits + blanks(rng) + randcase(rng, rng.choice(UNITS)) +
            blanks(rng) + randcase(rng, b"of") + blanks(rng) +
            randcase(rng, rng.choice(FISH)) + trail)


def bad_line(rng):
    line = good_line(rng)
    kind = rng.randrange(8)
    if kind == 0:                      # a byte that is never allowed
        i = rng.randrange(len(line) + 1)
        return line[:i] + rng.choice(BAD_BYTES) + line[i:]
    if kind == 1:
        return rng.choice([b"+", b"-"]) + line.lstrip(b" \t")
    if kind == 2:
        return b"%d pounds of cod" % rng.randint(1000001, 10**12)
    if kind == 3:
        return b"%d.%d lb of tuna" % (rng.randint(0, 9), rng.randint(0, 9))
    if kind == 4:
        return line.replace(b"of", b"").replace(b"OF", b"")
    if kind == 5:
        return b"5 pounds of" + blanks(rng, 0)
    if kind == 6:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 40))
                     ).replace(b"\n", b"")
    return b"5 " + rng.choice([b"kg", b"ounces", b"lb."]) + b" of cod"


def transcript(rng):
    lines = []
    for _ in range(rng.randint(10, 90)):
        r = rng.random()
        if r < 0.6:
            line = good_line(rng)
        elif r < 0.85:
            line = bad_line(rng)
        else:
            line = rng.choice([b"", b" ", b"\t \t"])
        if rng.random() < 0.2:
            line += b"\r"                  # CRLF
        lines.append(line)
    data = b"\n".join(lines) + b"\n"
    r = rng.random()
    if r < 0.2:
        data += good_line(rng)             # final line without LF
    elif r < 0.3:
        data += rng.choice([b"\r", b" ", b"\t\r"])
    elif r < 0.4:
        data += bad_line(rng)
    return data


def splits(rng, data):
    """Cut the stream into writes at odd places: single bytes, mid-line,
    mid-CRLF, mid-UTF-8 sequence, big chunks."""
    pieces, i = [], 0
    while i < len(data):
        n = rng.choice([1, 1, 2, 3, rng.randint(1, 40), rng.randint(1, 600)])
        pieces.append(data[i:i + n])
        i += n
    return pieces


def transcripts():
    """The same transcripts and splits for every server: (catches, scripts)."""
    rng = random.Random(SEED)
    catches = [transcript(rng) for _ in range(CONNECTIONS)]
    scripts = []
    for data in catches:
        pieces = splits(rng, data)
        # Now and then a short pause, so the splits survive on the wire.
        steps = [(0.002 if rng.random() < 0.02 else 0, p) for p in pieces]
        scripts.append(Script(steps=steps, start=rng.uniform(0, 0.2)))
    return catches, scripts


def test_server_agrees_with_reference(variant, market):
    catches, scripts = transcripts()
    books = reference.Books()
    want = [reference.visit(d, books=books) for d in catches]
    total_lines = sum(d.count(b"\n") + (not d.endswith(b"\n")) for d in catches)
    assert total_lines > 3000

    server = market()
    outcomes = run_conversations(server.host, server.port, scripts, timeout=60,
                                 max_open=40)
    assert server.stop() == 0
    wrong = [(i, catches[i][:80], want[i], o.replies[-2:], o.ended)
             for i, o in enumerate(outcomes)
             if o.paid != want[i] or o.ended != "eof"]
    assert not wrong, f"{variant}: {len(wrong)} connections paid wrong: {wrong[:3]}"
    # Every reply on the way is a running tally after some prefix.
    for i, o in enumerate(outcomes):
        steps = reference.prefix_tallies(catches[i])
        tallies = [int(r) for r in o.replies]
        assert set(tallies) <= set(steps) and tallies == sorted(tallies), (variant, i)
    assert server.summary() == books.summary(), (variant, server.summary(), books.line())
