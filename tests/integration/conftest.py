"""
conftest.py - fixtures shared by the whole suite.

- `variant`: the server under test (a harness.ServerSpec).  Every test that
  takes it runs once per server, its name in the test id
  (test_x[v2-raw], test_x[v2-raw -w 2], test_x[myserver]), so a failure
  names the server that broke.  Which servers: harness.servers_under_test()
  (FISH_VARIANTS, FISH_SERVERS, FISH_SERVER, FISH_ARGSETS).  A test marked
  contract.ours is skipped, with its reason, for a server not ours.
- `market`: a factory, market(*args, **kw) -> harness.Server started on
  port 0; every server it made is killed and its clients closed when the
  test ends, pass or fail.
- `background`: the session's harness.Background.  Once collection is
  done the scenarios of every selected background test (made with
  harness.background_test) are known; they all start, for their servers
  at once, when the first test runs.
- Every test names its contract clause (contract.clause: its own, else its
  file's pytestmark).  FISH_ONLY runs only some: "tally; limits" (sections)
  or "limits: -m, --max-line" (the clauses of a section holding that
  text).  The run ends with a table by section (table.py), also written as
  JSON to FISH_TABLE_JSON if set.
- A session hook kills anything still running from REGISTRY at the end.
"""

import os
import resource

import pytest

import contract
import harness
import table

try:
    SERVERS = harness.servers_under_test()
    SERVERS_ERROR = None
except ValueError as e:
    SERVERS, SERVERS_ERROR = [], str(e)


def pytest_configure(config):
    if SERVERS_ERROR:
        raise pytest.UsageError(f"servers under test: {SERVERS_ERROR}")
    config.addinivalue_line("markers", "clause(section, quote): the contract clause "
                            "a test checks (contract.clause)")
    config.addinivalue_line("markers", "ours(reason): about our variants, not the "
                            "contract: skipped for other servers (contract.ours)")
    config.addinivalue_line("markers", "one_worker(reason): skipped with -w N, N > 1 "
                            "(contract.one_worker)")
    config.addinivalue_line("markers", "own_workers: sets its own -w: first set of extra "
                            "arguments only (contract.own_workers)")
    # The test process holds 1000+ sockets at once (and the servers it
    # starts inherit this limit): lift the soft limit as far as allowed.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


BACKGROUND = harness.Background()
SELECTED = []
TABLE = table.Table([str(s) for s in SERVERS])


# Each server's first set of extra arguments, for the tests that set -w
# themselves (contract.own_workers): once per server is enough.
FIRST_EXTRA = {}
for _s in SERVERS:
    FIRST_EXTRA.setdefault(_s.id, _s.extra)


def skip_reason(item, spec):
    """Why this test does not run against this server, or None."""
    mark = item.get_closest_marker("ours")
    if mark is not None and not spec.ours:
        return f"about our variants, not the contract: {mark.args[0]}"
    mark = item.get_closest_marker("one_worker")
    if mark is not None and spec.workers != 1:
        return f"one worker only: {mark.args[0]}"
    return None


def duplicate(item, spec):
    """A test that sets its own -w (contract.own_workers) runs once per
    server, with its first set of extra arguments: the others would only
    repeat it."""
    return (item.get_closest_marker("own_workers") is not None
            and spec.extra != FIRST_EXTRA[spec.id])


def _server_of(item):
    """The ServerSpec a test item runs against, or None (a test of the
    reference model runs against no server)."""
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("variant") if callspec else None


def _selectors():
    """FISH_ONLY: "tally; limits: -m, --max-line" -> [(section, quote part)]."""
    out = []
    for item in harness.split_list(os.environ.get("FISH_ONLY", "")):
        section, _, quote = item.partition(":")
        section, quote = section.strip(), " ".join(quote.split())
        if section not in contract.SECTIONS:
            raise pytest.UsageError(f"FISH_ONLY: unknown section {section!r} "
                                    f"(sections: {', '.join(contract.SECTIONS)})")
        out.append((section, quote))
    return out


@pytest.hookimpl(trylast=True)          # after -k/-m have deselected
def pytest_collection_modifyitems(session, config, items):
    only = _selectors()
    keep, drop = [], []
    for item in items:
        # The closest wins: a test's own clause over its file's pytestmark.
        mark = item.get_closest_marker("clause")
        if mark is None:
            raise pytest.UsageError(f"{item.nodeid}: names no contract clause (a "
                                    f"pytestmark or @clause: see contract.py)")
        section, quote = mark.args
        spec = _server_of(item)
        if (only and not any(section == s and q in quote for s, q in only)) or \
                (spec is not None and duplicate(item, spec)):
            drop.append(item)
            continue
        keep.append(item)
        label = item.originalname
        if spec is not None:
            rest = item.callspec.id.replace(str(spec), "", 1).strip("-")
            label += f"[{rest}]" if rest else ""
        TABLE.expect(item.nodeid, section, quote, str(spec) if spec else None, label)
        fn = getattr(getattr(item, "function", None), "scenario", None)
        if fn is not None and skip_reason(item, spec) is None:
            SELECTED.append((fn, spec))
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_runtest_logreport(report):
    TABLE.record(report)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    TABLE.show(terminalreporter)
    path = os.environ.get("FISH_TABLE_JSON")
    if path:
        TABLE.write_json(path)


def pytest_sessionfinish(session, exitstatus):
    harness.REGISTRY.kill_all()


@pytest.fixture(scope="session", autouse=True)
def _start_background():
    BACKGROUND.start(SELECTED)
    yield


@pytest.fixture(scope="session")
def background():
    return BACKGROUND


@pytest.fixture(params=SERVERS, ids=[str(s) for s in SERVERS])
def variant(request):
    reason = skip_reason(request.node, request.param)
    if reason:
        pytest.skip(reason)
    return request.param


@pytest.fixture
def market(variant):
    servers = []

    def start(*args, **kw):
        server = harness.Server(variant, args, **kw)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.cleanup()
