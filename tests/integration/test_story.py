"""
The article's story end to end: Fred, Bob and Karen walk in, each drops the
whole catch in one small write, half-closes, and is paid exactly once, the
right amount; the fishermen tool agrees and notices a wrong payment.
"""

import subprocess
import sys
import threading

import harness

TOOLS = harness.REPO / "tools"
sys.path.insert(0, str(TOOLS))
import fishermen  # noqa: E402


def test_three_fishermen_paid_exactly(variant, market):
    server = market()
    # By hand from the price list, not from any code: the test must be
    # able to disagree with both the server and the tool.
    want = {"fred": 3 * 7 + 5 * 12,                      # trout, salmon: 81
            "bob": 2 * 8 + 1 * 15 + 4 * 3,                # cod, tuna, sardine: 43
            "karen": 10 * 4 + 2 * 14 + 1 * 9 + 6 * 6}     # 113
    assert {name: fishermen.expected(catch)
            for name, _, catch in fishermen.FISHERMEN} == want
    got = {}

    def walk(name, catch):
        got[name] = fishermen.visit(server.host, server.port, catch)

    # They overlap: Bob and Karen walk in while Fred is still inside.
    threads = [threading.Thread(target=walk, args=(name, catch))
               for name, _, catch in fishermen.FISHERMEN]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # One small write of complete lines: exactly one reply, the total.
    assert got == {name: [str(v)] for name, v in want.items()}
    assert server.stop() == 0
    assert server.summary() == (3, 9, 0, sum(want.values()))


def test_fishermen_tool_checks_payments(variant, market):
    server = market()
    run = subprocess.run(
        [sys.executable, str(TOOLS / "fishermen.py"), "--port", str(server.port),
         "--no-delay", "--extra", "25", "--quiet"],
        capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert server.stop() == 0
    assert server.summary()[0] == 3 + 25


def test_fishermen_tool_notices_wrong_payment(variant, market, tmp_path):
    # A fishmonger with a different price list pays Fred differently: the
    # tool must say so and exit non-zero (a checker that cannot fail is no
    # checker).
    prices = tmp_path / "prices.txt"
    prices.write_text("trout 6\nsalmon 12\ncod 8\ntuna 15\nsardine 3\n"
                      "mackerel 4\nhalibut 14\nhaddock 9\nplaice 6\n")
    server = market("--prices", str(prices))
    run = subprocess.run(
        [sys.executable, str(TOOLS / "fishermen.py"), "--port", str(server.port),
         "--no-delay"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "fred" in run.stdout + run.stderr
    assert "karen" not in run.stderr
