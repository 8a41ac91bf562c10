"""
reference.py - the fish exchange's grammar and books, written from the
contract (docs/fish-exchange.md, sections 3 to 5 and 7) alone, in plain
Python, never by reading the C code.  The differential test holds every
variant to this model; the grammar tests hold the model to hand-computed
answers, so a mistake shared by model and servers still shows.
"""

import re

DEFAULT_PRICES = {
    b"bream": 5, b"cod": 8, b"haddock": 9, b"halibut": 14, b"mackerel": 4,
    b"plaice": 6, b"salmon": 12, b"sardine": 3, b"trout": 7, b"tuna": 15,
}
MAX_COUNT = 1_000_000
TALLY_MAX = 2**63 - 1
UNITS = {b"pound", b"pounds", b"lb", b"lbs"}
BLANK_RUN = re.compile(rb"[ \t]+")

BLANK, FISH, MALFORMED = "blank", "fish", "malformed"


def _has_bad_char(line):
    """Invalid UTF-8 or a control character (section 3): C0 except TAB,
    DEL, and the C1 block U+0080..U+009F."""
    try:
        text = line.decode("utf-8")   # strict: no overlongs, surrogates, > U+10FFFF
    except UnicodeDecodeError:
        return True
    return any((c < 0x20 and c != 0x09) or 0x7F <= c <= 0x9F for c in map(ord, text))


def classify(line, prices=DEFAULT_PRICES):
    """(kind, value) of one line: the bytes before its LF."""
    if line.endswith(b"\r"):          # one CR directly before the LF
        line = line[:-1]
    if _has_bad_char(line):           # any other CR is a control character
        return MALFORMED, 0
    body = line.strip(b" \t")
    if not body:
        return BLANK, 0
    parts = BLANK_RUN.split(body, maxsplit=3)
    if len(parts) != 4:               # "5 pounds of" has no fish
        return MALFORMED, 0
    count, unit, of, fish = parts
    # bytes.isdigit() is ASCII-only: no signs, fractions or other digits.
    if not count.isdigit() or int(count) > MAX_COUNT:
        return MALFORMED, 0
    if unit.lower() not in UNITS or of.lower() != b"of":
        return MALFORMED, 0
    # body was stripped, so fish has no trailing blanks; inner ones stay.
    return FISH, int(count) * prices.get(fish.lower(), 0)


class Books:
    """The server's books (section 7's summary line), kept by the model."""

    def __init__(self):
        self.connections = 0
        self.lines = 0
        self.rejected = 0
        self.paid = 0

    def summary(self):
        return (self.connections, self.lines, self.rejected, self.paid)

    def line(self):
        return (f"served {self.connections} connections, {self.lines} lines "
                f"({self.rejected} rejected), paid ${self.paid}")


def visit(data, prices=DEFAULT_PRICES, books=None):
    """One whole connection that sends `data` and then half-closes, without
    limits in the way.  Returns the last tally the fisherman is paid
    (0 if he never had a complete line) and books it."""
    pieces = data.split(b"\n")
    final = pieces.pop()              # bytes after the last LF
    lines = pieces + ([final] if final else [])
    tally = 0
    paid = 0
    n = r = 0
    for line in lines:
        kind, value = classify(line, prices)
        if kind == BLANK:
            paid = tally
            continue
        n += 1
        if kind == MALFORMED:
            r += 1
        if tally + value > TALLY_MAX:
            raise ValueError("visit() does not model overflow")
        tally += value
        paid = tally
    if books is not None:
        books.connections += 1
        books.lines += n
        books.rejected += r
        books.paid += paid
    return paid


def prefix_tallies(data, prices=DEFAULT_PRICES):
    """The running tally after each complete line (and the final line, if
    any): every reply a server may send for `data` is one of these."""
    pieces = data.split(b"\n")
    final = pieces.pop()
    lines = pieces + ([final] if final else [])
    out, tally = [], 0
    for line in lines:
        tally += classify(line, prices)[1]
        out.append(tally)
    return out
