"""
Section 4: --prices FILE replaces the price list; a bad file stops the
server before it listens, naming the file, the line and the reason.
"""

import re

import pytest

import harness
from contract import clause

pytestmark = clause("prices", "--prices FILE replaces this list with the file's")

GOOD = (b"# the day's prices\n"
        b"  Cod   9   # up a dollar today\n"
        b"\tRED-snapper\t20\r\n"
        b"sprat 0\n"
        b"\n"
        b"   \t\n"
        b"tuna-2 1000000000\n"
        b"# no trailing newline on the last line:\n"
        b"x9 3")


@pytest.mark.parametrize("form", ["separate", "equals"])
def test_good_price_file_replaces_the_list(variant, market, tmp_path, form):
    path = tmp_path / "prices.txt"
    path.write_bytes(GOOD)
    args = ["--prices", str(path)] if form == "separate" else [f"--prices={path}"]
    server = market(*args)
    cases = [
        (b"1 lb of cod", 9),               # the file's price, not the default 8
        (b"2 lb of red-snapper", 40),
        (b"1 lb of Red-Snapper", 20),
        (b"5 lb of SPRAT", 0),
        (b"1 lb of tuna-2", 1_000_000_000),
        (b"3 lb of X9", 9),
        (b"1 lb of salmon", 0),            # replaced: no longer on the list
        (b"1 lb of tuna", 0),
    ]
    for line, value in cases:
        c = server.connect()
        c.send(line + b"\n")
        c.half_close()
        assert c.replies() == [str(value)], line
    assert server.stop() == 0
    assert server.summary() == (len(cases), len(cases), 0, sum(v for _, v in cases))


# (file content, line to blame or None for "no price at all")
BAD = {
    "bad_name_char": (b"cod 8\ncod! 9\n", 2),
    "duplicate_any_case": (b"cod 8\nsalmon 12\nCOD 9\n", 3),
    "missing_price": (b"cod\n", 1),
    "extra_field": (b"cod 8 9\n", 1),
    "negative_price": (b"cod -8\n", 1),
    "fraction_price": (b"cod 8.5\n", 1),
    "hex_price": (b"cod 0x10\n", 1),
    "price_too_big": (b"cod 1000000001\n", 1),
    "price_huge": (b"cod 99999999999999999999999\n", 1),
    "word_price": (b"cod 8\n\nsalmon twelve\n", 3),
    "non_ascii_name": ("cod 8\nsaumon-fum\u00e9 9\n".encode(), 2),
    "invalid_utf8": (b"cod 8\n\xff 9\n", 2),
    "lone_cr": (b"cod 8\rsalmon 12\n", 1),
    "nul": (b"cod\x008\n", 1),
    "price_first": (b"8 cod\n", 1),
    "only_comments": (b"# nothing today\n\n   # really\n", None),
    "empty": (b"", None),
}


def run(variant, args):
    return harness.run_to_exit(variant, ["-p", "0"] + args)


def names_file_and_line(variant, message, path, line):
    """Our variants: "fishmarket: FILE:LINE: reason" (docs/DESIGN.md); any
    server: the file, and the line number as a word, in one message."""
    if variant.ours:
        where = f"{path}:{line}: " if line else f"{path}: "
        assert message.startswith("fishmarket: " + where), (where, message)
        assert len(message) > len("fishmarket: " + where)      # and a reason
    else:
        assert str(path) in message, message
        if line:
            rest = message.replace(str(path), " ")
            assert re.search(rf"(?<!\d){line}(?!\d)", rest), (line, message)


@clause("prices", "Any other content, or a file with no price at all, makes the server "
        "refuse to start, naming the file, line number and reason, with exit status 1.")
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_price_file_exits_1_naming_file_and_line(variant, tmp_path, case):
    content, line = BAD[case]
    path = tmp_path / "prices.txt"
    path.write_bytes(content)
    r = run(variant, ["--prices", str(path)])
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    names_file_and_line(variant, lines[0], path, line)


@clause("cli", "an unreadable or bad price file prints one clear message to standard error "
        "and exits 1.")
@pytest.mark.parametrize("what", ["missing", "directory"])
def test_unreadable_price_file_exits_1(variant, tmp_path, what):
    path = tmp_path / "nowhere.txt" if what == "missing" else tmp_path
    r = run(variant, ["--prices", str(path)])
    assert r.returncode == 1
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    names_file_and_line(variant, lines[0], path, None)


@clause("cli", "-q silences all but errors")
def test_quiet_still_reports_errors(variant, tmp_path):
    # -q silences all but errors.
    path = tmp_path / "prices.txt"
    path.write_bytes(b"cod 8\ncod 9\n")
    r = run(variant, ["-q", "--prices", str(path)])
    assert r.returncode == 1
    names_file_and_line(variant, r.stderr.splitlines()[0], path, 2)
