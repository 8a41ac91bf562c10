#!/usr/bin/env python3
"""
demo.py - the original article's fishermen sell to three fishmongers at once.

Starts each fishmarket variant on a free port, sends the article's three
fishermen (tools/fishermen.py: fred, bob and karen, with the article's
catches) to each, shows who was paid what next to what the contract's price
list makes each catch worth, then closes every market with SIGTERM and shows
its summary line.  Exit status 0 only if every fisherman was paid exactly
what the catch is worth, every server exits 0 and every summary line adds up.

    tools/demo.py [--bin-dir build] [--unload-delay MAX] [--seed S]

--unload-delay gives each fisherman even odds of a pause of up to MAX
seconds before unloading, as the article's client does (up to 15 s there);
the default, 0, keeps the demo quick.  Standard library only; any Python 3.
"""

import argparse
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fishermen  # noqa: E402  (the tool beside this one)
import variants  # noqa: E402  (every variant folder, or make's FISH_VARIANTS)

VARIANTS = tuple(variants.variants())
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


def start(path):
    """Start a server on port 0; (proc, stderr file, host, port).

    The port comes from the server's own "listening on ADDR:PORT" line,
    read with a deadline: never guess a port, never sleep and hope."""
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen([path, "-p", "0"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=err)
    deadline = time.monotonic() + START_TIMEOUT
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if not ready:
            continue
        chunk = os.read(proc.stdout.fileno(), 256)
        if not chunk:
            break
        line += chunk
    text = line.decode(errors="replace").strip()
    if not text.startswith("listening on "):
        proc.kill()
        proc.wait()
        err.seek(0)
        raise RuntimeError("%s did not start: %r %s" %
                           (path, text, err.read().decode(errors="replace").strip()))
    addr, _, port = text[len("listening on "):].rpartition(":")
    return proc, err, addr.strip("[]"), int(port)


def stop(proc, err):
    """SIGTERM, wait; (exit status, last line of stderr)."""
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
        return "killed", ""
    err.seek(0)
    lines = err.read().decode(errors="replace").strip().splitlines()
    return rc, (lines[-1] if lines else "")


def priced(catch):
    """'5 haddock x $9 + ... = $86': the sum, from the price list."""
    return " + ".join("%d %s x $%d" % (p, f, fishermen.PRICES.get(f, 0))
                      for p, f in catch) + " = $%d" % fishermen.worth(catch)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", default="build")
    ap.add_argument("--unload-delay", type=float, default=0.0, metavar="MAX",
                    help="even odds of a pause of up to MAX seconds before "
                         "unloading (default 0)")
    ap.add_argument("--seed", type=int, default=None, help="seed for the pauses")
    args = ap.parse_args()
    if not 0 <= args.unload_delay <= 60:
        ap.error("--unload-delay must be 0 to 60")

    print("The fish market opens, three times over: one fishmonger per "
          "libevent API generation.\n")
    print("On the wall, the contract's price list (dollars per pound):")
    print("  " + ", ".join("%s %d" % kv for kv in sorted(fishermen.PRICES.items())))
    print("\nThe original article's fishermen, and what their catch is worth:")
    for name, catch in fishermen.FISHERMEN:
        print("  %-6s %s" % (name, priced(catch)))
    print("Each drops the whole catch in one write, one CRLF-ended line per "
          "kind of fish, e.g. %r." % fishermen.line(*fishermen.FISHERMEN[0][1][0]))
    print()

    servers, failures = {}, []
    try:
        for v in VARIANTS:
            path = os.path.join(args.bin_dir, "fishmarket-" + v)
            try:
                servers[v] = start(path)
            except (OSError, RuntimeError) as e:
                failures.append("%s: %s" % (v, e))
                print("  %s: cannot start: %s" % (v, e))
                continue
            print("  %-12s %s listening on port %d" % (v, path, servers[v][3]))
        print()

        results, lock = {}, threading.Lock()

        def tell(v):
            def say(msg, always=False):
                with lock:
                    print("  [%s] %s" % (v, msg), flush=True)
            _, _, host, port = servers[v]
            results[v] = fishermen.run(host, port, unload_delay=args.unload_delay,
                                       seed=args.seed, say=say)

        threads = [threading.Thread(target=tell, args=(v,)) for v in servers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        summaries = {v: stop(proc, err) for v, (proc, err, _, _) in servers.items()}

    print("\nWho was paid what:\n")
    print("  %-8s %10s" % ("", "worth") + "".join(" %12s" % v for v in VARIANTS))
    for name, catch in fishermen.FISHERMEN:
        row = "  %-8s %10s" % (name, "$%d" % fishermen.worth(catch))
        for v in VARIANTS:
            r = results.get(v, {}).get(name)
            if r is None:
                cell = "-"
                if v in servers:
                    failures.append("%s: %s never came back" % (v, name))
            else:
                cell = ("$%d" % r.paid if r.paid is not None else "?") + (" !" if r.problem else "")
                if r.problem:
                    failures.append("%s: %s: %s" % (v, name, r.problem))
            row += " %12s" % cell
        print(row)

    total = sum(fishermen.worth(c) for _, c in fishermen.FISHERMEN)
    nlines = sum(len(c) for _, c in fishermen.FISHERMEN)
    want = "served %d connections, %d lines (0 rejected), paid $%d" % (
        len(fishermen.FISHERMEN), nlines, total)
    print("\nClosing time (SIGTERM); each fishmonger's books:\n")
    for v in VARIANTS:
        if v not in summaries:
            continue
        rc, last = summaries[v]
        ok = rc == 0 and last == want
        print("  %-12s exit %s  %s%s" % (v, rc, last, "" if ok else "   (expected: %s)" % want))
        if not ok:
            failures.append("%s: exit %s, summary %r" % (v, rc, last))

    if failures:
        print("\nSomething is fishy:", file=sys.stderr)
        for f in failures:
            print("  " + f, file=sys.stderr)
        return 1
    print("\nEvery fisherman was paid exactly what the price list makes each catch "
          "worth (%s), by all three fishmongers." %
          ", ".join("%s $%d" % (n, fishermen.worth(c)) for n, c in fishermen.FISHERMEN))
    return 0


if __name__ == "__main__":
    sys.exit(main())
