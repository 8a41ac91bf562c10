"""
`make new-variant NAME=mine FROM=v2-raw` makes a variant that builds,
passes the whole suite, and that `make diff`, `make bench-smoke` and
`make variant-tables` take along, with nothing else edited.

All in a copy of the repository in a temporary directory, so the tree is
never touched.  The copy takes this build's objects along (times kept), so
only mine/ is compiled there.  The steps (suite.new_variant_steps) start
with the session, alongside the broken servers' runs (conftest.py); this
one test judges them in order, as each needs the one before.
"""

import re
import subprocess

TIMEOUT = 600


def test_new_variant_builds_passes_and_is_taken_along(started):
    tree, rel, steps = started["new_variant"].result(TIMEOUT)

    def ok(step):
        r = steps[step]
        assert r.returncode == 0, (f"{step}: make {' '.join(r.args[2:])}: {r.returncode}\n"
                                   f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        return r

    # Refusals first: a bad name, a taken name, an unknown FROM.  Each says
    # why, fails, and leaves the tree as it was.
    for step, why in [("refuse 'Mine' from v2-raw", "bad NAME"),
                      ("refuse '../mine' from v2-raw", "bad NAME"),
                      ("refuse 'common' from v2-raw", "already exists"),
                      ("refuse 'build' from v2-raw", "already exists"),
                      ("refuse 'mine' from v9-none", "is not a variant"),
                      ("refuse '' from v2-raw", "usage")]:
        r = steps[step]
        assert r.returncode != 0 and "new-variant: " in r.stderr and why in r.stderr, (
            step, r.stderr)
    assert steps["listing after refusals"] == steps["listing before"]

    assert "mine/ is a copy of v2-raw/" in ok("new-variant").stdout
    # A second time: refused, the first copy untouched.
    assert steps["again"].returncode != 0 and "already exists" in steps["again"].stderr
    assert '#define VARIANT "mine"' in (tree / "mine" / "fishmarket.c").read_text()

    # It builds, with the others, nothing edited.
    ok("all-variants")
    version = subprocess.run([tree / rel / "fishmarket-mine", "--version"],
                             capture_output=True, text=True, timeout=10)
    assert version.stdout.startswith("fishmarket mine, libevent "), version

    # From now on `make check` takes it along: it is in the list, with
    # every other variant folder...
    listed = re.search(r'FISH_VARIANTS="([^"]*)"', ok("check list").stdout)
    assert listed, steps["check list"].stdout
    others = [p.parent.name for p in tree.glob("*/fishmarket.c") if p.parent.name != "mine"]
    assert sorted(listed.group(1).split()) == sorted(others + ["mine"]), listed.group(1)

    # ...and the whole suite passes against it, as one of ours (its
    # --version too).
    out = ok("suite").stdout
    assert re.search(r"^section +mine( |$)", out, re.M), out[-2000:]
    assert "every clause checked held." in out
    assert re.search(r"^=+ \d+ passed(, \d+ skipped)?(, \d+ deselected)? in ",
                     out.splitlines()[-1]), out[-500:]

    # make diff shows it beside its origin: the one renamed line.
    out = ok("diff").stdout
    assert '-#define VARIANT "v2-raw"' in out and '+#define VARIANT "mine"' in out

    # The benchmark's smoke run and the measuring tables take it along.
    r = ok("bench-smoke")
    assert re.search(r"^bench-smoke: mine +ok: ", r.stderr + r.stdout, re.M), r.stderr
    out = ok("tables").stdout
    assert re.search(r"^\| mine \| \d+ \|", out, re.M), out
    assert re.search(r"^\| symbol \|.* \| mine \| what it is \|$", out, re.M), out
