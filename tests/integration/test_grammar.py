"""
Section 3 of the contract, end to end: every grammar case is sent to a real
server between two known lines,

    2 pounds of cod      (16)
    <the case>
    1 pound of tuna      (15)

in one small write followed by a half-close, so the single reply must be
exactly 31 + the case's value; the known lines around it also show that the
case neither swallowed nor split a line.  When the family is done the
server's summary line must count every non-blank line in L and every
malformed one in R.

Each expected value here is worked out by hand from the contract; the
reference model is checked against the same table, so the differential test
stands on a model that was itself tested.
"""

import pytest

import reference
from contract import clause
from reference import BLANK, FISH, MALFORMED

pytestmark = clause("grammar", "Value of a line: count * price(fish) in whole dollars.")

BEFORE, AFTER = b"2 pounds of cod\n", b"\n1 pound of tuna\n"
AROUND = 16 + 15

FAMILIES = {
    "case_insensitive": [
        (b"3 POUNDS OF COD", 24, FISH),
        (b"3 Lbs Of Trout", 21, FISH),
        (b"3 lb of TrOuT", 21, FISH),
        (b"1 PoUnD oF sAlMoN", 12, FISH),
    ],
    "tabs_and_blanks": [
        (b"3\tpounds\tof\tcod", 24, FISH),
        (b"\t 3 \t pounds  of\t\tcod \t", 24, FISH),
        (b"   3 pounds of cod", 24, FISH),
        (b"3 pounds of cod      ", 24, FISH),
        (b"3 pounds of   cod", 24, FISH),
        # Inner blanks belong to the fish's name: no such fish.
        (b"3 pounds of co d", 0, FISH),
        (b"3 pounds of red\tsnapper", 0, FISH),
        # Only spaces and tabs separate: VT and FF are control characters.
        (b"3\x0bpounds of cod", 0, MALFORMED),
        (b"3 pounds of cod\x0c", 0, MALFORMED),
    ],
    "leading_zeros": [
        (b"03 pounds of cod", 24, FISH),
        (b"0000000000000000000000000000003 pounds of cod", 24, FISH),
        (b"0001000000 lb of cod", 8_000_000, FISH),
        (b"0 pounds of tuna", 0, FISH),
        (b"000 pounds of tuna", 0, FISH),
    ],
    "count_limit": [
        (b"1000000 pounds of tuna", 15_000_000, FISH),
        (b"999999 pounds of cod", 7_999_992, FISH),
        (b"1000001 pounds of cod", 0, MALFORMED),
        (b"10000000 pounds of cod", 0, MALFORMED),
        (b"4294967297 pounds of cod", 0, MALFORMED),       # 2^32 + 1: no wrap
        (b"18446744073709551617 pounds of cod", 0, MALFORMED),   # 2^64 + 1
        (b"9" * 200 + b" pounds of cod", 0, MALFORMED),
    ],
    "signs": [
        (b"+3 pounds of cod", 0, MALFORMED),
        (b"-3 pounds of cod", 0, MALFORMED),
        (b"- 3 pounds of cod", 0, MALFORMED),
        (b"-0 pounds of cod", 0, MALFORMED),
    ],
    "fractions": [
        (b"3.5 pounds of cod", 0, MALFORMED),
        (b"3,5 pounds of cod", 0, MALFORMED),
        (b".5 pounds of cod", 0, MALFORMED),
        (b"3. pounds of cod", 0, MALFORMED),
        (b"1/2 pounds of cod", 0, MALFORMED),
        (b"3e2 pounds of cod", 0, MALFORMED),
        (b"0x10 pounds of cod", 0, MALFORMED),
        ("\uff13 pounds of cod".encode(), 0, MALFORMED),   # fullwidth 3
        (b"three pounds of cod", 0, MALFORMED),
    ],
    "units": [
        (b"2 pound of cod", 16, FISH),
        (b"2 pounds of cod", 16, FISH),
        (b"2 lb of cod", 16, FISH),
        (b"2 lbs of cod", 16, FISH),
        (b"1 pounds of cod", 8, FISH),         # no agreement enforced
        (b"5 lb of cod", 40, FISH),
        (b"2 LBS of cod", 16, FISH),
        (b"2 kg of cod", 0, MALFORMED),
        (b"2 lb. of cod", 0, MALFORMED),
        (b"2 poundss of cod", 0, MALFORMED),
        (b"2 pond of cod", 0, MALFORMED),
        (b"2 of cod", 0, MALFORMED),
        (b"2pounds of cod", 0, MALFORMED),
        (b"2 ounces of cod", 0, MALFORMED),
    ],
    "of_rules": [
        (b"5 pounds of", 0, MALFORMED),
        (b"5 pounds of   ", 0, MALFORMED),
        (b"5 pounds of\t", 0, MALFORMED),
        (b"5 pounds ofcod", 0, MALFORMED),
        (b"5 pounds cod", 0, MALFORMED),
        (b"5 pounds off cod", 0, MALFORMED),
        (b"5 pounds", 0, MALFORMED),
        (b"5", 0, MALFORMED),
        (b"pounds of cod", 0, MALFORMED),
        (b"5 pounds OF cod", 40, FISH),
        (b"5 pounds Of cod", 40, FISH),
        (b"5 pounds of of", 0, FISH),          # a fish called "of"
        (b"5 pounds of cod of cod", 0, FISH),   # the fish is the whole rest
        (b"5 of pounds cod", 0, MALFORMED),
        (b"5poundsof cod", 0, MALFORMED),
    ],
    "unknown_fish": [
        (b"3 pounds of whale", 0, FISH),
        (b"3 pounds of codfish", 0, FISH),
        (b"3 pounds of cod-", 0, FISH),
        (b"3 pounds of cod fillet", 0, FISH),
        ("3 pounds of saumon fum\u00e9".encode(), 0, FISH),
        ("3 pounds of \U0001f41f".encode(), 0, FISH),
        ("3 pounds of \u9c48".encode(), 0, FISH),
        # NBSP is a letter of the name here, not a blank (only space and tab are).
        ("3 pounds of cod\u00a0".encode(), 0, FISH),
        ("3 pounds of\u00a0cod".encode(), 0, MALFORMED),
    ],
    "blank_lines": [
        (b"", 0, BLANK),
        (b" ", 0, BLANK),
        (b"   \t  ", 0, BLANK),
        (b"\t", 0, BLANK),
        (b"\r", 0, BLANK),
        (b"  \t \r", 0, BLANK),
    ],
    "crlf": [
        (b"3 pounds of cod\r", 24, FISH),
        (b"3 pounds of cod \t\r", 24, FISH),
        (b"\t3 pounds of trout\r", 21, FISH),
    ],
    "lone_cr": [
        (b"3 pounds\rof cod", 0, MALFORMED),
        (b"\r3 pounds of cod", 0, MALFORMED),
        (b"3 pounds of cod\r\r", 0, MALFORMED),    # only one CR is stripped
        (b"3 pounds of cod\r \r", 0, MALFORMED),
        (b"\r\r", 0, MALFORMED),                   # not blank: a control char
        (b"3 pounds of c\rod", 0, MALFORMED),
    ],
    "nul": [
        (b"3 pounds of cod\x00", 0, MALFORMED),
        (b"\x00", 0, MALFORMED),
        (b"3 pounds of c\x00od", 0, MALFORMED),
        (b"\x003 pounds of cod", 0, MALFORMED),
        (b"3 pounds of cod\x00\r", 0, MALFORMED),
    ],
    "invalid_utf8": [
        (b"3 pounds of \xff", 0, MALFORMED),
        (b"3 pounds of cod\xfe", 0, MALFORMED),
        (b"3 pounds of \xc3\x28", 0, MALFORMED),          # bad continuation
        (b"3 pounds of \xc0\xaf", 0, MALFORMED),          # overlong '/'
        (b"3 pounds of \xe0\x80\xaf", 0, MALFORMED),      # overlong, 3 bytes
        (b"3 pounds of \xed\xa0\x80", 0, MALFORMED),      # surrogate U+D800
        (b"3 pounds of \xf4\x90\x80\x80", 0, MALFORMED),  # above U+10FFFF
        (b"3 pounds of \xf8\x88\x80\x80\x80", 0, MALFORMED),  # 5-byte form
        (b"3 pounds of cod\xe2\x82", 0, MALFORMED),       # truncated at the end
        (b"3 pounds of \x80cod", 0, MALFORMED),           # lone continuation
        (b"\xef\xbb\xbf3 pounds of cod", 0, MALFORMED),   # BOM: valid, but not a digit
        (b"  \xff  ", 0, MALFORMED),                      # not blank
        ("3 pounds of caf\u00e9".encode(), 0, FISH),      # valid 2-byte
    ],
    "control_chars": [
        (b"3 pounds of cod\x01", 0, MALFORMED),
        (b"3 pounds of \x1bcod", 0, MALFORMED),
        (b"3 pounds of cod\x7f", 0, MALFORMED),
        (b"\x1f", 0, MALFORMED),
        (b"3\x08 pounds of cod", 0, MALFORMED),
    ],
    "c1_controls": [
        (b"3 pounds of cod\xc2\x80", 0, MALFORMED),        # U+0080
        (b"3 pounds of cod\xc2\x85", 0, MALFORMED),        # U+0085 NEL
        (b"3 pounds of \xc2\x9fcod", 0, MALFORMED),        # U+009F
        (b"3 pounds of cod\xc2\xa0", 0, FISH),             # U+00A0: not C1
        (b"3 pounds of cod\xc2\x7f", 0, MALFORMED),        # invalid UTF-8 anyway
    ],
}


# The clause of section 3 each family is about, in the contract's words.
CLAUSES = {
    "case_insensitive": "Grammar, matched case-insensitively",
    "tabs_and_blanks": "with runs of spaces/tabs as separators and leading/trailing "
                       "blanks ignored",
    "leading_zeros": "value 0 to 1000000 (leading zeros allowed",
    "count_limit": "or more than 1000000 makes the line malformed",
    "signs": "a sign, a fraction, or more than 1000000 makes the line malformed",
    "fractions": "count: decimal digits only",
    "units": "unit: pound, pounds, lb or lbs (no agreement with count is enforced",
    "of_rules": "5 pounds of (no fish) and 5 pounds ofcod (no blank) are malformed.",
    "unknown_fish": "A fish not on the price list is worth 0.",
    "blank_lines": "A blank line (empty after trimming) is worth 0 and is not rejected.",
    "crlf": "One CR directly before the LF is stripped.",
    "lone_cr": "A CR that is not directly before the LF is such a control character.",
    "nul": "control characters (U+0000 to U+001F except TAB, U+007F, and U+0080 to "
           "U+009F), make a line malformed",
    "invalid_utf8": "Bytes that are not valid UTF-8",
    "control_chars": "control characters (U+0000 to U+001F except TAB, U+007F, and "
                     "U+0080 to U+009F), make a line malformed",
    "c1_controls": "and U+0080 to U+009F",
}
assert set(CLAUSES) == set(FAMILIES)
FAMILY_PARAMS = [pytest.param(f, marks=clause("grammar", CLAUSES[f]), id=f)
                 for f in sorted(FAMILIES)]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_reference_model_agrees_with_hand_table(family):
    for line, value, kind in FAMILIES[family]:
        assert reference.classify(line) == (kind, value), line


@pytest.mark.parametrize("family", FAMILY_PARAMS)
def test_grammar(variant, market, family):
    server = market()
    wrong = []
    lines = rejected = paid = 0
    for line, value, kind in FAMILIES[family]:
        c = server.connect()
        c.send(BEFORE + line + AFTER)
        c.half_close()
        replies = c.replies()
        if replies != [str(AROUND + value)] or c.ended != "eof":
            wrong.append((line, f"want [{AROUND + value}]", replies, c.ended))
        c.close()
        lines += 2 + (kind != BLANK)
        rejected += kind == MALFORMED
        paid += AROUND + value
    assert not wrong, f"{variant}: lines valued wrong: {wrong}"
    assert server.stop() == 0
    assert server.summary() == (len(FAMILIES[family]), lines, rejected, paid)
