"""
conftest.py - the tests of the suite itself (tests/anyserver).

What is slow here mostly waits, on sockets or on make: every run of the
suite (against each broken server, and with extra arguments) start
together when the session starts; each test then collects its own result.
Only what the selected tests need is started, and everything started is
killed at the end.
"""

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
    runs = {}
    try:
        if "test_broken_servers" in WANTED:
            runs.update(start_broken_runs())
        if "test_argsets" in WANTED:
            runs[ARGSETS] = suite.Run({"FISH_VARIANTS": "v2-raw", "FISH_ARGSETS": "; -m 16",
                                       "FISH_ONLY": ARGSETS_ONLY})
        yield {"runs": runs}
    finally:
        for run in runs.values():
            run.close()


@pytest.fixture(scope="session", autouse=True)
def _start_all(started):
    yield
