#!/usr/bin/env python3
"""
fishermen.py - the original article's three fishermen, in Python 3 (stdlib only).

The article's client sends three fishermen to the market, one thread each:

    fred   5 pounds of haddock, 3 pounds of trout, 4 pounds of bream
    bob    1 pound of haddock, 2 pounds of salmon
    karen  6 pounds of trout

Each walks in (connects), may be slow to unload (a random pause, off by
default here), drops the whole catch in one write, one line per kind of
fish ("1 pound of ..." for one pound, "N pounds of ..." otherwise, each
line ended by CRLF), and is paid.  The article does not show its price list;
on the contract's (docs/fish-exchange.md, section 4) the catches are worth
$86, $33 and $42.

    tools/fishermen.py [--host 127.0.0.1] [--port 8080] [--unload-delay MAX]
                       [--seed S] [--one-recv] [--extra N] [--quiet]

Exit status: 0 if everyone was paid what the catch is worth, 1 if anyone
was not (or could not be served), 2 on a bad command line.

Where this port differs from the original, and why:

- Python 3, and the address is an option.  The original is Python 2 and
  connects to "localhost" port 8080, hard-coded.  (With its AF_INET socket
  "localhost" can only mean an IPv4 address, 127.0.0.1 here.)  We default to
  127.0.0.1:8080, the contract's defaults, and take --host and --port: the
  tests start every server on a port the kernel picks.
- The unloading delay is an option.  In the original each fisherman has
  even odds of stopping for 1 to 15 whole seconds between walking in and
  unloading: the point of the story (the fishmonger serves the others
  meanwhile), but a run can take 15 s.  --unload-delay MAX keeps the even
  odds, with a pause of up to MAX seconds; 0, the default, means none.
- The write is the same single buffer, sent with sendall().  The original's
  send() may send only part of it and says how much; sendall() finishes.
- Reading: the original calls recv(32) once and closes, without telling the
  fishmonger it is done.  That shows the whole payment only if the server
  answers exactly once and the first read returns all of it; with the
  original server, whose replies have no line end and come one per read,
  it cannot even tell whether it got all of them.  Here a fisherman
  half-closes after the write ("that is all my fish"), reads until the
  fishmonger closes, and takes the last CRLF-ended line as the payment.
  --one-recv does as the original does (one recv(32), close); the contract
  still pays such a fisherman right, since one small write of complete
  lines gets exactly one reply, its total.
- Checking: the original prints what it received.  Here each fisherman
  compares the payment with what the price list makes the catch worth,
  and the run fails if anyone was paid wrong or not at all.
- The original starts its threads and leaves them; here they are joined,
  and every visit has a deadline, so a silent market cannot hang the run.
- The original reports any failure to connect as the market being closed;
  here the error itself is reported.
- --extra N (not in the original) sends N more fishermen with random
  catches, for a crowd.
"""

import argparse
import collections
import random
import socket
import sys
import threading
import time

# The contract's default price list, dollars per pound.
PRICES = {
    "bream": 5, "cod": 8, "haddock": 9, "halibut": 14, "mackerel": 4,
    "plaice": 6, "salmon": 12, "sardine": 3, "trout": 7, "tuna": 15,
}

# The original client's fishermen: (name, catch), a catch being a list of
# (pounds, fish).
FISHERMEN = [
    ("fred", [(5, "haddock"), (3, "trout"), (4, "bream")]),
    ("bob", [(1, "haddock"), (2, "salmon")]),
    ("karen", [(6, "trout")]),
]

TIMEOUT = 15.0      # seconds a fisherman waits for the fishmonger, in total
ONE_RECV = 32       # how much the original's single recv() asks for

# What became of one fisherman.  paid is None if no payment came back.
Visit = collections.namedtuple("Visit", "catch worth paid replies pause problem")


def line(pounds, fish):
    """One line of a catch, written as the original client writes it."""
    return "%d %s of %s\r\n" % (pounds, "pound" if pounds == 1 else "pounds", fish)


def unload(catch):
    """The whole catch as the bytes of its one write."""
    return "".join(line(pounds, fish) for pounds, fish in catch).encode("ascii")


def worth(catch):
    """What the price list makes a catch worth (a fish not on it: 0)."""
    return sum(pounds * PRICES.get(fish, 0) for pounds, fish in catch)


def generated(n, seed):
    """n more fishermen (not in the original) with random catches."""
    rng = random.Random(seed)
    fish = sorted(PRICES) + ["whale"]          # whale: not on the list, worth 0
    return [("fisher-%d" % (i + 1),
             [(rng.randint(0, 500), rng.choice(fish)) for _ in range(rng.randint(1, 8))])
            for i in range(n)]


def visit(host, port, catch, before_unloading=None, one_recv=False, timeout=TIMEOUT):
    """Walk in, call before_unloading() if given (the slow fisherman), drop
    the catch in one write, and collect what the fishmonger pays.  Returns
    the replies (strings, CRLF removed; with one_recv, whatever one recv(32)
    returned, split at CRLF)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + timeout
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect((host, port))
        if before_unloading is not None:
            before_unloading()
        s.sendall(unload(catch))
        if one_recv:
            data = s.recv(ONE_RECV)
        else:
            # Half-close: "that is all my fish".  Closing outright instead
            # could throw away a payment still on its way.
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


def payment(replies):
    """The last reply as dollars, or None if it is not a tally."""
    return int(replies[-1]) if replies and replies[-1].isdigit() else None


def sell(name, catch, host, port, pause, one_recv, results, lock, say):
    """One fisherman's visit, in a thread of its own: sell, check, report."""
    want = worth(catch)
    if pause > 0:
        say("%s stops to take a call before unloading (%.2f s)" % (name, pause))
    try:
        replies = visit(host, port, catch,
                        (lambda: time.sleep(pause)) if pause > 0 else None, one_recv)
        paid = payment(replies)
        problem = None if paid == want else "catch worth $%d, paid %r" % (want, replies)
    except Exception as e:   # anything at all: report it, never hang the others
        replies, paid, problem = [], None, "%s: %s" % (type(e).__name__, e)
    with lock:
        results[name] = Visit(catch, want, paid, replies, pause, problem)
    if problem:
        say("%s was not paid right: %s" % (name, problem), always=True)
    else:
        say("%s was paid $%d for %s" %
            (name, paid, ", ".join("%d %s" % (p, f) for p, f in catch)))


def run(host="127.0.0.1", port=8080, unload_delay=0.0, seed=None, one_recv=False,
        extra=0, say=None):
    """Send everyone at once, one thread each; {name: Visit} once all are back.

    With unload_delay, each fisherman has even odds (as in the original) of
    pausing up to that many seconds between walking in and unloading."""
    if say is None:
        def say(msg, always=False):
            print(msg, flush=True)
    rng = random.Random(seed)
    crowd = FISHERMEN + generated(extra, seed)
    results, lock = {}, threading.Lock()
    threads = []
    for name, catch in crowd:
        slow = unload_delay > 0 and rng.randrange(2) == 1
        pause = rng.uniform(0, unload_delay) if slow else 0.0
        threads.append(threading.Thread(
            target=sell, args=(name, catch, host, port, pause, one_recv, results, lock, say)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Send the original article's three fishermen to a fish market "
                    "and check that each is paid what the price list makes the catch worth.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--unload-delay", type=float, default=0.0, metavar="MAX",
                    help="even odds for each fisherman of pausing up to MAX seconds "
                         "before unloading (default 0: no pause)")
    ap.add_argument("--seed", type=int, default=None,
                    help="seed for the pauses and the generated catches")
    ap.add_argument("--one-recv", action="store_true",
                    help="read as the original does: one recv(32), no half-close")
    ap.add_argument("--extra", type=int, default=0, metavar="N",
                    help="N more fishermen with generated catches")
    ap.add_argument("--quiet", action="store_true", help="print only problems")
    args = ap.parse_args(argv)
    if not 0 <= args.port <= 65535 or args.extra < 0 or not 0 <= args.unload_delay <= 60:
        ap.error("port must be 0 to 65535, --extra not negative, --unload-delay 0 to 60")

    def say(msg, always=False):
        if always or not args.quiet:
            print(msg, flush=True)

    results = run(args.host, args.port, args.unload_delay, args.seed, args.one_recv,
                  args.extra, say)
    bad = sorted(name for name, v in results.items() if v.problem)
    if bad:
        print("%d of %d fishermen not paid right: %s" %
              (len(bad), len(results), ", ".join(bad)), file=sys.stderr)
        return 1
    say("all %d fishermen paid what their catch is worth" % len(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
