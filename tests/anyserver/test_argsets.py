"""
Extra arguments are a dimension of the suite: every server runs once per
set of extra arguments (FISH_ARGSETS), the test ids name the set, and the
arguments reach the server.  This is how `make check WORKERS="1 2"` runs
every variant with -w 1 and -w 2; here it is proved with an argument every
server has: `-m 16` must make the 1024-byte line of the line-length checks
too long, while the same server without it passes them.
"""

import pytest

import suite
from conftest import ARGSETS


def test_each_argument_set_is_a_server_of_its_own(started):
    rc, text, table = started["runs"][ARGSETS].result(120)
    assert table is not None, text[-3000:]
    assert table["servers"] == ["v2-raw", "v2-raw -m 16"]
    plain = [c for c in table["checks"] if c["server"] == "v2-raw"]
    small = [c for c in table["checks"] if c["server"] == "v2-raw -m 16"]
    assert plain and len(plain) == len(small)
    assert all(c["result"] == "passed" for c in plain), plain
    assert any(c["result"] == "failed" for c in small), small
    assert rc == 1
    assert "test_line_of_exactly_max_line_bytes_is_fine[v2-raw -m 16]" in text


@pytest.mark.parametrize("make_args, argsets", [
    ([], "-w 1;-w 2"),
    (["CHECK_WORKERS="], ""),
    (["SERVER_ARGS=-v"], "-v -w 1;-v -w 2"),
    (["SERVER_ARGS=-v", "CHECK_WORKERS="], "-v"),
    (["WORKERS=1 2"], "-w 1;-w 2"),
    (["WORKERS=1 2", "SERVER_ARGS=-v -t 5"], "-v -t 5 -w 1;-v -t 5 -w 2"),
    (["WORKERS=1,2"], "-w 1;-w 2"),
    (["CHECK_WORKERS=2"], "-w 2"),
])
def test_make_builds_the_argument_sets(make_args, argsets):
    # SANITIZE= : under SANITIZE=thread (passed down by make) -w 4 is the
    # default, which is not what these cases are about.
    r = suite.make(suite.REPO, "-n", "check-integration", "SANITIZE=", *make_args)
    assert r.returncode == 0, r.stderr
    found = [line for line in r.stdout.splitlines() if "FISH_ARGSETS=" in line]
    assert found, r.stdout
    assert f'FISH_ARGSETS="{argsets}"' in " ".join(found[0].split()), found[0]


def test_the_bench_series_is_not_the_suites():
    # mk/bench.mk's own WORKERS (the bench's workers series, from its
    # default or the environment) must not set the suite's dimension, and
    # must survive this file: only WORKERS on the command line does.
    r = suite.make(suite.REPO, "-s", "-f", "Makefile", "-f", "-", "print", "SANITIZE=",
                   stdin="print:\n\t@echo \"[$(FISH_ARGSETS)] [$(WORKERS)]\"\n",
                   extra_env={"WORKERS": "3 5"})
    assert r.returncode == 0, r.stderr
    argsets, bench = r.stdout.strip().split("] [")
    assert argsets == "[-w 1;-w 2" and bench.rstrip("]").split() == ["3", "5"], r.stdout
