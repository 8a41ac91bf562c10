#!/usr/bin/env python3
"""
demo.py - the article's story, told three times at once.

Starts each fishmarket variant on a free port, sends Fred, Bob and Karen
(tools/fishermen.py) to each, shows who was paid what in a table
(fisherman x variant), then closes every market with SIGTERM and shows its
summary line.  Exit status 0 only if every payment matches the price list,
every server exits 0 and every summary line adds up.

    tools/demo.py [--bin-dir build]

Standard library only; any Python 3.
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

VARIANTS = ("v1-style", "v2-raw", "v2-listener")
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", default="build")
    args = ap.parse_args()

    print("The fish market opens, three times over: one fishmonger per "
          "libevent API generation.\n")
    print("On the wall, the price list (dollars per pound):")
    print("  " + ", ".join("%s %d" % kv for kv in sorted(fishermen.PRICES.items())))
    print("\nThe fishermen and their catch:")
    for name, when, catch in fishermen.FISHERMEN:
        print("  %-6s walks in after %.1f s with %s  (worth $%d)" %
              (name, when, "; ".join(catch), fishermen.expected(catch)))
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
            results[v] = fishermen.run(host, port, delay=True, say=say)

        threads = [threading.Thread(target=tell, args=(v,)) for v in servers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        summaries = {v: stop(proc, err) for v, (proc, err, _, _) in servers.items()}

    names = [f[0] for f in fishermen.FISHERMEN]
    print("\nWho was paid what:\n")
    head = "  %-8s %10s" % ("", "price list") + "".join(" %12s" % v for v in VARIANTS)
    print(head)
    for name in names:
        row = "  %-8s %10s" % (name, "$%d" % fishermen.expected(
            next(f[2] for f in fishermen.FISHERMEN if f[0] == name)))
        for v in VARIANTS:
            r = results.get(v, {}).get(name)
            if r is None:
                cell = "-"
                if v in servers:
                    failures.append("%s: %s never came back" % (v, name))
            else:
                want, paid, _, problem = r
                cell = ("$%d" % paid if paid is not None else "?") + ("" if not problem else " !")
                if problem:
                    failures.append("%s: %s: %s" % (v, name, problem))
            row += " %12s" % cell
        print(row)

    total = sum(fishermen.expected(f[2]) for f in fishermen.FISHERMEN)
    nlines = sum(len(f[2]) for f in fishermen.FISHERMEN)
    want = "served %d connections, %d lines (0 rejected), paid $%d" % (
        len(names), nlines, total)
    print("\nClosing time (SIGTERM); each fishmonger's books:\n")
    for v in VARIANTS:
        if v not in summaries:
            continue
        rc, line = summaries[v]
        ok = rc == 0 and line == want
        print("  %-12s exit %s  %s%s" % (v, rc, line, "" if ok else "   (expected: %s)" % want))
        if not ok:
            failures.append("%s: exit %s, summary %r" % (v, rc, line))

    if failures:
        print("\nSomething is fishy:", file=sys.stderr)
        for f in failures:
            print("  " + f, file=sys.stderr)
        return 1
    print("\nEvery fisherman was paid right by all three fishmongers.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
