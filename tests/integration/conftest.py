"""
conftest.py - fixtures shared by the whole suite.

- `variant`: every test that takes it runs once per variant, with the
  variant's name as the test id (test_x[v2-raw]), so a failure names the
  server that broke.
- `market`: a factory, market(*args, **kw) -> harness.Server started on
  port 0; every server it made is killed and its clients closed when the
  test ends, pass or fail.
- `background`: the session's harness.Background.  Once collection is
  done the scenarios of every selected background test (made with
  harness.background_test) are known; they all start, for their variants
  at once, when the first test runs.
- A session hook kills anything still running from REGISTRY at the end.
"""

import resource

import pytest

import harness


def pytest_configure(config):
    # The test process holds 1000+ sockets at once (and the servers it
    # starts inherit this limit): lift the soft limit as far as allowed.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


BACKGROUND = harness.Background()
SELECTED = []


@pytest.hookimpl(trylast=True)          # after -k/-m have deselected
def pytest_collection_modifyitems(session, config, items):
    for item in items:
        fn = getattr(getattr(item, "function", None), "scenario", None)
        if fn is not None:
            SELECTED.append((fn, item.callspec.params["variant"]))


def pytest_sessionfinish(session, exitstatus):
    harness.REGISTRY.kill_all()


@pytest.fixture(scope="session", autouse=True)
def _start_background():
    BACKGROUND.start(SELECTED)
    yield


@pytest.fixture(scope="session")
def background():
    return BACKGROUND


@pytest.fixture(params=harness.VARIANTS, ids=harness.VARIANTS)
def variant(request):
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
