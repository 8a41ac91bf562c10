#!/usr/bin/env python3
"""
fishermen.py - the libevent article's fishermen, in Python 3 (stdlib only).

Fred, Bob and Karen walk into the warehouse one after another (each in his
or her own thread, some a little later than others), drop their whole catch
in the bucket in one write, say they are done (half-close), and wait to be
paid.  Each checks the payment against the price list on the wall (the
contract's default list, built in here) and complains if it is wrong.

    tools/fishermen.py [--host 127.0.0.1] [--port 8080] [--no-delay]
                       [--extra N] [--seed S] [--quiet]

Exit status: 0 if everyone was paid right, 1 if anyone was not (or could
not be served), 2 on a bad command line.

Fred's catch is the article's; Bob's and Karen's are this project's
reconstruction of the other two fishermen.  The server does the weighing;
this client only needs enough of the grammar to know what its own
well-formed lines are worth.
"""

import argparse
import random
import socket
import sys
import threading
import time

PRICES = {
    "bream": 5, "cod": 8, "haddock": 9, "halibut": 14, "mackerel": 4,
    "plaice": 6, "salmon": 12, "sardine": 3, "trout": 7, "tuna": 15,
}

# (name, seconds after opening time he or she walks in, catch)
FISHERMEN = [
    ("fred", 0.0, ["3 pounds of trout", "5 pounds of salmon"]),
    ("bob", 0.4, ["2 pounds of cod", "1 pound of tuna", "4 lbs of sardine"]),
    ("karen", 0.8, ["10 pounds of mackerel", "2 lb of halibut",
                    "1 pound of haddock", "6 pounds of plaice"]),
]

TIMEOUT = 15.0   # seconds a fisherman waits for the fishmonger, in total


def value(line):
    """Dollars a well-formed line is worth: count * price (0 if unknown)."""
    count, _unit, _of, fish = line.split(None, 3)
    return int(count) * PRICES.get(fish.strip().lower(), 0)


def expected(catch):
    return sum(value(line) for line in catch)


def generated(n, seed):
    """n more fishermen with random catches of well-formed lines."""
    rng = random.Random(seed)
    fish = sorted(PRICES) + ["whale"]          # whale: not on the list, worth 0
    units = ["pound", "pounds", "lb", "lbs"]
    out = []
    for i in range(n):
        catch = ["%d %s of %s" % (rng.randint(0, 500), rng.choice(units),
                                  rng.choice(fish))
                 for _ in range(rng.randint(1, 8))]
        out.append(("fisher-%d" % (i + 1), rng.uniform(0, 0.5), catch))
    return out


def visit(host, port, catch, timeout=TIMEOUT):
    """Walk in, drop the catch in one write, half-close, read until the
    fishmonger closes.  Returns the list of replies (strings, CRLF removed)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + timeout
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect((host, port))
        s.sendall(("\n".join(catch) + "\n").encode())
        # Half-close: "that is all my fish".  Closing outright instead
        # would throw away the payment still on its way.
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("not paid within %.0f s" % timeout)
            s.settimeout(left)
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return [r.decode("ascii", "replace") for r in data.split(b"\r\n") if r]


def walk_in(fisherman, host, port, delay, results, lock, say):
    name, when, catch = fisherman
    if delay and when:
        time.sleep(when)     # the story: not everyone arrives at opening time
    want = expected(catch)
    try:
        replies = visit(host, port, catch)
        paid = int(replies[-1]) if replies and replies[-1].isdigit() else None
        problem = None if paid == want else "expected $%d, got %r" % (want, replies)
    except Exception as e:   # anything at all: report it, never hang the others
        replies, paid, problem = [], None, "%s: %s" % (type(e).__name__, e)
    with lock:
        results[name] = (want, paid, replies, problem)
    if problem:
        say("%s was not paid right: %s" % (name, problem), always=True)
    else:
        say("%s dropped %d line%s of fish and was paid $%d" %
            (name, len(catch), "" if len(catch) == 1 else "s", paid))


def run(host="127.0.0.1", port=8080, delay=True, extra=0, seed=1, say=None):
    """Send everyone; returns {name: (expected, paid, replies, problem)}."""
    if say is None:
        def say(msg, always=False):
            print(msg, flush=True)
    crowd = FISHERMEN + generated(extra, seed)
    results, lock = {}, threading.Lock()
    threads = [threading.Thread(target=walk_in,
                                args=(f, host, port, delay, results, lock, say))
               for f in crowd]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(description="Send the article's fishermen to a "
                                 "fish market and check what they are paid.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--no-delay", action="store_true",
                    help="everyone walks in at once")
    ap.add_argument("--extra", type=int, default=0, metavar="N",
                    help="N more fishermen with generated catches")
    ap.add_argument("--seed", type=int, default=1,
                    help="seed for the generated catches")
    ap.add_argument("--quiet", action="store_true",
                    help="print only problems")
    args = ap.parse_args(argv)
    if not 0 <= args.port <= 65535 or args.extra < 0:
        ap.error("port must be 0 to 65535 and --extra not negative")

    def say(msg, always=False):
        if always or not args.quiet:
            print(msg, flush=True)

    results = run(args.host, args.port, not args.no_delay, args.extra,
                  args.seed, say)
    bad = sorted(name for name, r in results.items() if r[3])
    bad += sorted(set(f[0] for f in FISHERMEN + generated(args.extra, args.seed))
                  - set(results))
    if bad:
        print("%d of %d fishermen not paid right: %s" %
              (len(bad), len(results), ", ".join(bad)), file=sys.stderr)
        return 1
    say("all %d fishermen paid right" % len(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
