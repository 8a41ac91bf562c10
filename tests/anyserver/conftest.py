"""
conftest.py - the tests of the suite itself (tests/anyserver).

What is slow here mostly waits, on sockets or on make: every run of the
suite (against each broken server, and with extra arguments), and the whole
new-variant story in a copy of the repository, start together when the
session starts; each test then collects its own result.  Only what the
selected tests need is started, and everything started is killed at the end.
"""

import tempfile
import threading
from pathlib import Path

import pytest

import suite

CONTROL = "control"
CONTROL_ALSO = "cli; prices"
# test_argsets.py: v2-raw as it is, and with -m 16, on the line-length checks.
ARGSETS = "argsets"
ARGSETS_ONLY = "limits: line length (bytes before the LF, a CR included)"
WANTED = set()


def selector(fx):
    section, quote = fx["breaks"]
    return f"{section}: {quote}"


class Job(threading.Thread):
    """fn() in a thread; result(timeout) is its value, or its exception."""

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn, self.value, self.error = fn, None, None
        self.start()

    def run(self):
        try:
            self.value = self.fn()
        except BaseException as e:       # handed to the test that asks
            self.error = e

    def result(self, timeout):
        self.join(timeout)
        if self.is_alive():
            raise AssertionError(f"still running after {timeout} s")
        if self.error is not None:
            raise self.error
        return self.value


@pytest.hookimpl(trylast=True)          # after -k has deselected
def pytest_collection_modifyitems(session, config, items):
    WANTED.update(item.module.__name__ for item in items)


def start_broken_runs():
    fixtures = suite.fixtures()
    runs = {}
    for name, fx in fixtures.items():
        binary = suite.BUILD / "fixtures" / f"fishmarket-{name}"
        # -x: the first failure is enough to name the clause, and a broken
        # server often makes a test wait out a deadline (a close that never
        # comes): the next ones would only wait the same.
        runs[name] = suite.Run({"FISH_SERVERS": f"{name}={binary}",
                                "FISH_ONLY": selector(fx)}, ["-x"])
    binary = suite.BUILD / "fixtures" / f"fishmarket-{CONTROL}"
    only = "; ".join([selector(fx) for fx in fixtures.values()] + [CONTROL_ALSO])
    runs[CONTROL] = suite.Run({"FISH_SERVERS": f"{CONTROL}={binary}", "FISH_ONLY": only})
    return runs


@pytest.fixture(scope="session")
def started():
    runs, tmp, job = {}, None, None
    try:
        if "test_broken_servers" in WANTED:
            runs.update(start_broken_runs())
        if "test_argsets" in WANTED:
            runs[ARGSETS] = suite.Run({"FISH_VARIANTS": "v2-raw", "FISH_ARGSETS": "; -m 16",
                                       "FISH_ONLY": ARGSETS_ONLY})
        if "test_new_variant" in WANTED:
            tmp = tempfile.TemporaryDirectory(prefix="fish-new-variant-")
            tree = Path(tmp.name) / "fishmarket"

            def story():
                rel = suite.copy_tree(tree)
                return tree, rel, suite.new_variant_steps(tree)

            job = Job(story)
        yield {"runs": runs, "new_variant": job}
    finally:
        for run in runs.values():
            run.close()
        if job is not None:
            job.join(suite.MAKE_TIMEOUT)
        if tmp is not None:
            tmp.cleanup()


@pytest.fixture(scope="session", autouse=True)
def _start_all(started):
    yield
