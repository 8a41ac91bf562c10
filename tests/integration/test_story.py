"""
The original article's story end to end: its three fishermen (fred, bob,
karen, with its catches) walk in, each drops the whole catch in one small
write and is paid exactly once, what the price list makes it worth, whether
the fisherman half-closes (ours do) or reads once and closes (as the
article's client does); a slow one holds up nobody; the fishermen tool
agrees and notices a wrong payment.
"""

import subprocess
import sys
import threading

import harness
from contract import clause

pytestmark = clause("tally", "a client that sends its whole catch in one small write, as "
                    "the original Python client did, gets exactly one reply: its total.")

TOOLS = harness.REPO / "tools"
sys.path.insert(0, str(TOOLS))
import fishermen  # noqa: E402


WAIT = 10.0     # seconds, for events between threads of a test

# By hand from the contract's price list, not from any code: the tests must
# be able to disagree with both the server and the tool.
WORTH = {"fred": 5 * 9 + 3 * 7 + 4 * 5,          # haddock, trout, bream: 86
         "bob": 1 * 9 + 2 * 12,                  # haddock, salmon: 33
         "karen": 6 * 7}                         # trout: 42


def test_the_articles_catches_and_lines():
    # The port writes what the original client writes: "pound" for one,
    # "pounds" otherwise, CRLF after every line, the whole catch at once.
    catches = dict(fishermen.FISHERMEN)
    assert {name: fishermen.worth(c) for name, c in catches.items()} == WORTH
    assert fishermen.unload(catches["fred"]) == (
        b"5 pounds of haddock\r\n3 pounds of trout\r\n4 pounds of bream\r\n")
    assert fishermen.unload(catches["bob"]) == b"1 pound of haddock\r\n2 pounds of salmon\r\n"
    assert fishermen.unload(catches["karen"]) == b"6 pounds of trout\r\n"


def visit_all(server, one_recv):
    """All three at once, one thread each, as in the original."""
    got = {}

    def walk(name, catch):
        got[name] = fishermen.visit(server.host, server.port, catch, one_recv=one_recv)

    threads = [threading.Thread(target=walk, args=(name, catch))
               for name, catch in fishermen.FISHERMEN]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got


def test_three_fishermen_paid_exactly(variant, market):
    server = market()
    # One small write of complete lines, then a half-close: exactly one
    # reply, the total, then the fishmonger closes.
    assert visit_all(server, one_recv=False) == {n: [str(v)] for n, v in WORTH.items()}
    assert server.stop() == 0
    assert server.summary() == (3, 6, 0, sum(WORTH.values()))


def test_fishermen_reading_as_the_original_does(variant, market):
    # The original client reads once, recv(32), and closes without a
    # half-close: the contract's one reply per small write is all it needs.
    server = market()
    assert visit_all(server, one_recv=True) == {n: [str(v)] for n, v in WORTH.items()}
    assert server.stop() == 0
    assert server.summary() == (3, 6, 0, sum(WORTH.values()))


@clause("story", "The fishmonger never waits on one slow fisherman")
def test_slow_fisherman_holds_up_nobody(variant, market):
    # The story's point: karen walks in and stands there (until told to
    # unload); fred and bob are paid meanwhile, then karen is paid too.
    server = market()
    catches = dict(fishermen.FISHERMEN)
    inside, unload_now = threading.Event(), threading.Event()
    karen = {}

    def slow():
        inside.set()
        assert unload_now.wait(WAIT)

    def walk():
        karen["replies"] = fishermen.visit(server.host, server.port, catches["karen"],
                                           before_unloading=slow)

    t = threading.Thread(target=walk)
    t.start()
    try:
        assert inside.wait(WAIT)
        for name in ("fred", "bob"):
            assert fishermen.visit(server.host, server.port, catches[name]) == [str(WORTH[name])]
        assert karen == {}
    finally:
        unload_now.set()
        t.join()
    assert karen == {"replies": [str(WORTH["karen"])]}
    assert server.stop() == 0
    assert server.summary() == (3, 6, 0, sum(WORTH.values()))


def tool(server, *args):
    """tools/fishermen.py against this server; the finished process."""
    return subprocess.run(
        [sys.executable, str(TOOLS / "fishermen.py"), "--host", server.host,
         "--port", str(server.port), *args],
        capture_output=True, text=True, timeout=60)


def test_fishermen_tool_checks_payments(variant, market):
    server = market()
    run = tool(server, "--extra", "25", "--seed", "1", "--quiet")
    assert run.returncode == 0, run.stdout + run.stderr
    assert server.stop() == 0
    assert server.summary()[0] == 3 + 25


def test_fishermen_tool_like_the_original(variant, market):
    # One recv(32) each and the article's unloading pause (tiny here): with
    # seed 3 at least one of them pauses, and everyone is still paid right.
    server = market()
    run = tool(server, "--one-recv", "--unload-delay", "0.05", "--seed", "3")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "stops to take a call" in run.stdout
    for name, v in WORTH.items():
        assert "%s was paid $%d" % (name, v) in run.stdout
    assert server.stop() == 0
    assert server.summary() == (3, 6, 0, sum(WORTH.values()))


def test_fishermen_tool_notices_wrong_payment(variant, market, tmp_path):
    # A fishmonger who pays $6 for trout pays fred and karen less than the
    # tool's price list says: it must say so and exit non-zero (a checker
    # that cannot fail is no checker).  Bob sold no trout.
    prices = tmp_path / "prices.txt"
    prices.write_text("trout 6\nsalmon 12\ncod 8\ntuna 15\nsardine 3\nbream 5\n"
                      "mackerel 4\nhalibut 14\nhaddock 9\nplaice 6\n")
    server = market("--prices", str(prices))
    run = tool(server)
    assert run.returncode == 1
    assert "fred was not paid right" in run.stdout
    assert "karen was not paid right" in run.stdout
    assert "bob was paid $33" in run.stdout
    assert "2 of 3 fishermen not paid right: fred, karen" in run.stderr
