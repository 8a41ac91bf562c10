"""
docs/EXERCISES.md: each exercise's "fails before, passes after", checked.

- Porting to the 2.x API, and accepting with evconnlistener: the suite
  passes before and after (behaviour must not change), so the check is on
  what the variant's object calls (tools/exercise.py): it fails on the
  exercise's starting point and passes on the variant that is its answer.
- Putting a pitfall back: the "before" is the variant (the suite passes,
  `make check`), the "after" a broken fixture the suite must catch on its
  clause (test_broken_servers.py); here, that every fixture and test the
  text sends the learner to exists.
"""

import re
import subprocess
import sys

import pytest

import suite

DOC = suite.REPO / "docs" / "EXERCISES.md"
TOOL = suite.REPO / "tools" / "exercise.py"

# exercise -> (its starting point, its answer in the repository)
BEFORE_AFTER = {"port": ("v1-style", "v2-raw"), "listener": ("v2-raw", "v2-listener")}


def check(exercise, variant):
    obj = suite.BUILD / "obj" / variant / "fishmarket.o"
    return subprocess.run([sys.executable, str(TOOL), exercise, str(obj)],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("exercise", sorted(BEFORE_AFTER))
def test_check_fails_before_and_passes_after(exercise):
    before, after = BEFORE_AFTER[exercise]
    r = check(exercise, before)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert f"{exercise}: not yet: " in r.stdout
    r = check(exercise, after)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert f"{exercise}: done: " in r.stdout


def test_port_check_names_what_to_replace():
    out = check("port", "v1-style").stdout
    assert re.search(r"^  event_init -> event_base_new$", out, re.M), out
    assert re.search(r"^  bufferevent_new -> bufferevent_socket_new", out, re.M), out


def test_every_reference_in_the_text_exists():
    text = DOC.read_text(encoding="utf-8")
    suite_src = "\n".join(p.read_text() for p in suite.SUITE.glob("test_*.py"))
    tests = set(re.findall(r"`(test_\w+)`", text))
    assert tests, "EXERCISES.md names no test"
    missing = sorted(t for t in tests if not re.search(rf"\b(def |){t}\b", suite_src))
    assert not missing, f"EXERCISES.md names tests the suite does not have: {missing}"
    fixtures = set(re.findall(r"tests/fixtures/broken/([a-z0-9-]+)\.patch", text))
    assert fixtures, "EXERCISES.md names no broken fixture"
    assert fixtures <= set(suite.fixtures()), fixtures - set(suite.fixtures())
    for path in set(re.findall(r"\]\(\.\./([^)#]+)", text)):
        assert (suite.REPO / path).exists(), f"EXERCISES.md links to a missing {path}"
    for exercise in BEFORE_AFTER:
        assert f"EX={exercise}" in text, f"EXERCISES.md never runs the {exercise} check"
