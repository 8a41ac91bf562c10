"""
contract.py - which clause of the contract (docs/fish-exchange.md) each
test holds a server to, so that a failure names the clause, in the
contract's own words, and the run ends with a table by section.

    @clause("tally", "One write per read event, not one per line.")
    def test_...(variant, market): ...

The quote must be found, word for word (blanks and backquotes aside), in
that section of docs/fish-exchange.md: a quote that drifts from the
contract is a collection error, not a silent mislabel.  Every test of the
suite carries exactly one clause (conftest.py refuses one without).

    @ours("the usage line names our binary, fishmarket-VARIANT")

marks a test (or, inside a test, `if variant.ours:` marks a check) that is
about our variants rather than the contract: our --version, our messages
(docs/DESIGN.md), our build.  Against anyone else's server it is skipped
with that reason, never failed.  `one_worker` and `own_workers` say how a
test meets the dimension of extra arguments when they set -w (section 8).
"""

import re
from pathlib import Path

import pytest

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "fish-exchange.md"

# Row of the table -> (the contract's section number, title).  "signals" is
# the part of section 7 about SIGINT/SIGTERM, the grace period, the summary
# line and SIGPIPE; "cli" is the rest of section 7.
SECTIONS = {
    "story": (1, "story"),
    "transport": (2, "transport"),
    "grammar": (3, "grammar"),
    "prices": (4, "prices"),
    "tally": (5, "tally"),
    "limits": (6, "limits"),
    "cli": (7, "command line"),
    "signals": (7, "signals"),
    "workers": (8, "workers"),
}


def _normal(text):
    return re.sub(r"\s+", " ", text.replace("`", "")).strip()


def _sections(path=CONTRACT):
    """{section number: its text, normalised}."""
    out, number, lines = {}, None, []
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^## (\d+)\. ", line)
        if m:
            if number is not None:
                out[number] = _normal("\n".join(lines))
            number, lines = int(m.group(1)), []
        elif number is not None:
            lines.append(line.strip(" |"))
    if number is not None:
        out[number] = _normal("\n".join(lines))
    return out


_TEXT = _sections()


def title(section):
    number, name = SECTIONS[section]
    return f"\u00a7{number} {name}"


def clause(section, quote):
    """The marker naming the clause a test checks."""
    if section not in SECTIONS:
        raise ValueError(f"unknown section {section!r} (one of {', '.join(SECTIONS)})")
    number = SECTIONS[section][0]
    if _normal(quote) not in _TEXT.get(number, ""):
        raise ValueError(f"not in section {number} of {CONTRACT.name}, word for word: "
                         f"{quote!r}")
    return pytest.mark.clause(section, _normal(quote))


def ours(reason):
    """The marker of a test about our variants, not the contract."""
    return pytest.mark.ours(reason)


def one_worker(reason):
    """The marker of a test whose scenario holds for one worker only (say,
    which connection -c lets in first): skipped, with the reason, when the
    server runs several (-w N, N > 1).  The clause itself is then checked
    by a test of section 8 that knows about workers."""
    return pytest.mark.one_worker(reason)


def own_workers():
    """The marker of a test that chooses its own -w: it runs with the first
    set of extra arguments only, not once per set (FISH_ARGSETS)."""
    return pytest.mark.own_workers
