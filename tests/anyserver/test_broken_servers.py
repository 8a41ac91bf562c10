"""
The suite catches broken servers, and says which clause they broke.

Each tests/fixtures/broken/NAME.patch breaks one clause of the contract in
a copy of one of our variants (its "Base:" line), built by make as
build/fixtures/fishmarket-NAME.  Its "Breaks: SECTION: QUOTE" line names
the clause.  The suite runs against it, as against anyone's server (the
way `make check-server` does), restricted to the checks of that clause so
that the run stays short (FISH_ONLY), and:

- it must fail, the table must name that clause in the contract's words,
  and every failure must be the broken server's;
- the unpatched variant built the same way ("control") must pass the very
  same checks, so a failure is the patch's doing, not the selection's.
  The control also runs the command-line and price-file sections, where
  the suite judges anyone's messages more loosely than ours.

All the runs go at once: they mostly wait on sockets.
"""

import subprocess

import pytest

import suite
from conftest import CONTROL, selector

FIXTURES = suite.fixtures()
TIMEOUT = 180


@pytest.fixture(scope="module")
def runs(started):
    results = {}

    def result(name):
        if name not in results:
            results[name] = started["runs"][name].result(TIMEOUT)
        return results[name]

    return result


def test_there_are_fixtures():
    assert len(FIXTURES) >= 3, FIXTURES
    for name, fx in FIXTURES.items():
        assert (suite.REPO / str(fx["base"]) / "fishmarket.c").exists(), (
            f"{name}: 'Base: {fx['base']}' is not a variant")
        assert all(fx["breaks"]), f"{name}: no 'Breaks: SECTION: QUOTE' line"


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_broken_server_is_caught_on_its_clause(runs, name):
    section, quote = FIXTURES[name]["breaks"]
    rc, text, table = runs(name)
    assert table is not None, f"no table: the suite did not run:\n{text[-3000:]}"
    assert rc == 1, f"{name}: the suite passed (or broke: {rc}):\n{text[-3000:]}"
    ran = [c for c in table["checks"] if c["server"] == name]
    assert ran, f"{name}: no check selected by {selector(FIXTURES[name])!r}"
    failures = table["failures"]
    assert failures and all(f["server"] == name for f in failures), failures
    named = [f for f in failures if f["section"] == section and quote in f["clause"]]
    assert named, f"{name}: no failure names {section}: {quote!r}: {failures}"
    # And the printed table says it: the section's title, then the clause.
    title = named[0]["title"]
    assert f'  {title}: "{named[0]["clause"]}"' in text, text[-3000:]
    assert f"[{name}] {named[0]['test']}: " in text


def test_control_passes_the_same_checks(runs):
    rc, text, table = runs(CONTROL)
    assert table is not None, f"no table: the suite did not run:\n{text[-3000:]}"
    assert rc == 0, f"the unpatched control failed:\n{text[-3000:]}"
    assert not table["failures"]
    for name, fx in FIXTURES.items():
        section, quote = fx["breaks"]
        passed = [c for c in table["checks"] if c["section"] == section
                  and quote in c["clause"] and c["result"] == "passed"]
        assert passed, f"the control ran no check of {name}'s clause"
    # The loose judging of anyone's messages ran, and the checks about our
    # variants were skipped, not failed.
    assert table["cells"]["cli"][CONTROL]["passed"] > 20
    assert table["skipped"], "nothing about our variants was skipped"


def test_a_patch_that_no_longer_applies_fails_the_build(tmp_path):
    # One context line of a real fixture changed, as if its base had moved
    # on: make must stop, and say which patch to refresh.
    name, fx = sorted(FIXTURES.items())[0]
    text = fx["patch"].read_text()
    hunk = text.index("\n@@ ")
    context = text.index("\n ", hunk + 1)
    stale = text[:context] + "\n changed since" + text[context + 2:]
    patches = tmp_path / "patches"
    patches.mkdir()
    (patches / f"{name}.patch").write_text(stale)
    build = tmp_path / "build"
    target = build / "fixtures" / name / "fishmarket.c"
    r = subprocess.run(["make", "--no-print-directory", f"BUILD={build}",
                        f"FIXTURE_DIR={patches}", str(target)], cwd=suite.REPO,
                       env=suite.make_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode != 0, r.stdout
    assert f"{name}.patch: no longer applies to {fx['base']}/fishmarket.c" in r.stderr, r.stderr
    assert not target.exists()
