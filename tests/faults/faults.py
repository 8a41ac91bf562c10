#!/usr/bin/env python3
"""
faults.py - every variant under random injected failures (libfiu), with a
load of fishermen whose every reply is checked; then the faults are
switched off and a clean load must be served in full.  docs/TESTING.md,
"Faults", has the results table and what each check means.

    tests/faults/faults.py [--seconds 20] [--rate 0.01] [--seed 12]
                           [--families "alloc rw net all"] [variants...]
    tests/faults/faults.py --probe-only

First the probe (tests/faults/probe.c) shows, on this machine, which calls
each family can fail and with which errno, and the run stops if that is not
what docs/TESTING.md says.  Then, for each variant and family, one server
(built with -fsanitize=leak, under libfiu's preloads and fishfault.so;
faultlib.py) runs with -v -t 4 -g 5 -m 8192 and goes through:

  1. warm-up: 20 fishermen, no fault, each served in full; its descriptors
     are the baseline;
  2. faults on (fiu-ctrl enable_random, every point of the family at the
     rate) for --seconds, with --concurrency fishermen at a time (at most
     --max-fishermen in all): batchers (a few lines per write, waiting for
     the tally after each), dribblers (an input that spans two chains, so
     evbuffer_pullup() allocates), bulk senders (50 to 800 lines in one
     go, read as they come) and resetters (half a line, then an RST);
  3. faults off (fiu-ctrl disable); the fishermen still in finish;
  4. never hangs: a new fisherman is served in full within 10 s;
  5. recovered: --clean fishermen, all served in full;
  6. no descriptor leaked: back to the baseline within 15 s;
  7. never spins: at most 0.1 s of CPU in 1 s of idleness (a window of
     measurement, not a wait for anything);
  8. SIGTERM: exit 0, and LeakSanitizer finds no leak;
  9. the books: every -v line and the summary line agree with what each
     fisherman saw (faultlib.check_books), no fisherman ever got a wrong
     tally, and stderr said what failed without flooding: no event line
     once the faults were off, and at most two lines per fault injected
     (libevent's own "[warn]" and ours).

Python 3 standard library only; every socket is to 127.0.0.1; every wait
has a deadline; every process started is killed on the way out.
"""

import argparse
import collections
import errno
import json
import os
import random
import selectors
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from faultlib import (FAMILIES, LOG_DIR, PROBE, PRICES, VARIANTS, Conn,  # noqa: E402
                      Failure, FaultServer, check_books, describe_exit,
                      event_kind, fault_env, parse_stderr, talk, wait_for)

SERVER_ARGS = ("-v", "-t", "4", "-g", "5", "-m", "8192")
FISHERMAN_TIMEOUT = 30.0    # -t 4 cuts a waiting one long before this
DRAIN_TIMEOUT = 45.0
SETTLE_TIMEOUT = 15.0       # -t 4 + the 2 s linger + margin
IDLE_WINDOW = 1.0
IDLE_CPU_MAX = 0.1

# What the probe must find (docs/TESTING.md, "What libfiu can fail"): the
# calls each family fails, by the point that fails them.  Every other
# probed call must not fail in that family.
EXPECTED = {
    "alloc": {"malloc": "libc/mm/malloc", "calloc": "libc/mm/calloc",
              "realloc": "libc/mm/realloc",
              "realloc(NULL)": "libc/mm/malloc"},
    "rw": {"read": "posix/io/rw/read", "readv": "posix/io/rw/readv",
           "write": "posix/io/rw/write", "writev": "posix/io/rw/writev"},
    "net": {"recv": "posix/io/net/recv", "send": "posix/io/net/send",
            "accept": "posix/io/net/accept",
            "accept4": "fishfault/net/accept4",
            "epoll_ctl(ADD)": "fishfault/net/epoll_ctl",
            "epoll_wait": "fishfault/net/epoll_wait",
            "shutdown": "posix/io/net/shutdown",
            "socket": "posix/io/net/socket"},
    # Not a family of the runs: shown to prove why (the fd stays open).
    "close": {"close": "posix/io/oc/close"},
}
PROBE_FAMILIES = {f: "+".join(FAMILIES[f]) for f in ("alloc", "rw", "net")}
PROBE_FAMILIES["close"] = "posix/io/oc/close"


# --------------------------------------------------------------------------
# The probe

def run_probe():
    """Run the probe; print its table; return the problems."""
    env = fault_env("probe")
    args = [str(PROBE)] + [f"{f}={p}" for f, p in PROBE_FAMILIES.items()]
    r = subprocess.run(args, env=env, capture_output=True, text=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        return [f"probe: exit {r.returncode}: {r.stderr.strip()}"]
    problems = []
    print("probe: family  call             fails with point(s)                "
          "        errnos")
    for line in r.stdout.splitlines():
        parts = line.split(" ")
        if len(parts) < 6 or parts[0] != "probe":
            problems.append(f"probe: bad line {line!r}")
            continue
        _, family, call, points, errnos, count = parts[:6]
        left_open = "fd-left-open" in parts[6:]
        want = EXPECTED[family].get(call)
        failed = points != "-"
        if want is None and failed:
            problems.append(f"probe: {family} fails {call} ({points}), "
                            f"which docs/TESTING.md says it cannot")
        elif want is not None and want not in points.split(","):
            problems.append(f"probe: {family} does not fail {call} with "
                            f"{want} (got {points})")
        elif want is not None and count.split("/")[0] != count.split("/")[1]:
            problems.append(f"probe: {family} failed {call} only {count}")
        if failed:
            print(f"probe: {family:<7} {call:<16} {points:<42} "
                  f"{errnos}{'  (fd left open)' if left_open else ''}")
        if family == "close" and call == "close" and not left_open:
            problems.append("probe: libfiu's close() fault now closes the fd: "
                            "the close family could join the runs")
    not_covered = sorted({line.split(" ")[2] for line in r.stdout.splitlines()
                          if all(line.split(" ")[2] not in EXPECTED[f]
                                 for f in EXPECTED)})
    print(f"probe: no family fails: {', '.join(not_covered)}")
    return problems


# --------------------------------------------------------------------------
# Fishermen, driven from one selectors loop

def random_line(rng):
    r = rng.random()
    if r < 0.06:
        return "five pounds of cod"                        # malformed
    if r < 0.10:
        return rng.choice(["", "  ", "\t"])                # blank
    if r < 0.13:
        return f"{rng.randint(0, 9)} lb of whale"           # not for sale
    fish = rng.choice(list(PRICES))
    count = rng.choice([0, 1, 2, 3, 10, 999, 1000000, rng.randint(0, 1000)])
    unit = rng.choice(["pound", "pounds", "lb", "lbs", "LBS"])
    return rng.choice(["{} {} of {}", " {}\t{}  of {} "]).format(
        count, unit, fish.upper() if rng.random() < 0.2 else fish)


def lines_text(rng, n):
    return "".join(random_line(rng) + rng.choice(["\n", "\r\n"])
                   for _ in range(n)).encode()


def plan(kind, rng):
    """(pieces, wait_after_each_piece) for a fisherman of this kind."""
    if kind == "batcher":
        pieces = [lines_text(rng, rng.randint(1, 4))
                  for _ in range(rng.randint(1, 5))]
        if rng.random() < 0.3:                      # a final line, no LF
            pieces[-1] += random_line(rng).encode()
        return pieces, True
    if kind == "dribbler":
        # A line, then the start of a long one (its blanks are separators):
        # the tally of the first shows the server kept the rest in its
        # input; the second piece lands in a new chain, so the read
        # callback's evbuffer_pullup() must allocate.
        fish = rng.choice(list(PRICES))
        head = lines_text(rng, 1) + b"2" + b" " * rng.randint(500, 2000) + b"lb"
        tail = (b" " * rng.randint(2000, 5000) + f" of {fish}\n".encode() +
                lines_text(rng, rng.randint(0, 2)))
        return [head, tail], True
    if kind == "bulk":
        return [lines_text(rng, rng.randint(50, 800))], False
    if kind == "resetter":
        return [rng.choice([b"3 lb of co", b"  ", b"1000000"])], False
    raise ValueError(kind)


class Fisherman:
    def __init__(self, kind, rng, now):
        self.kind = kind
        self.pieces, self.wait = plan(kind, rng)
        self.conn = Conn(b"".join(self.pieces))
        self.deadline = now + FISHERMAN_TIMEOUT
        self.sock = None
        self.connected = False
        self.piece = 0              # index of the piece being sent
        self.out = b""              # unsent bytes of that piece
        self.awaiting = None        # (replies before, lines wanted)
        self.before = 0             # replies when the piece was started
        self.stalled = False
        self.error = None

    @property
    def done(self):
        return self.conn.how is not None


class Load:
    """Fishermen at a time, from one selectors loop."""

    MIX = [("batcher", 70), ("dribbler", 12), ("bulk", 10), ("resetter", 8)]

    def __init__(self, addr, rng):
        self.addr, self.rng = addr, rng
        self.sel = selectors.DefaultSelector()
        self.live = []
        self.kinds = [k for k, w in self.MIX for _ in range(w)]

    def start(self, kind=None):
        now = time.monotonic()
        f = Fisherman(kind or self.rng.choice(self.kinds), self.rng, now)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        err = s.connect_ex(self.addr)
        if err not in (0, errno.EINPROGRESS):
            s.close()
            raise Failure(f"connect: {os.strerror(err)}")
        f.sock = s
        f.conn.port = s.getsockname()[1]
        self.sel.register(s, selectors.EVENT_WRITE, f)
        self.live.append(f)
        return f

    def end(self, f, how):
        f.conn.how = how
        f.conn.ledger.end()
        self.sel.unregister(f.sock)
        f.sock.close()
        self.live.remove(f)

    def interest(self, f):
        if not f.connected:
            return selectors.EVENT_WRITE
        ev = selectors.EVENT_READ
        if f.out or (f.awaiting is None and f.piece < len(f.pieces)):
            ev |= selectors.EVENT_WRITE
        return ev

    def step(self, f, mask):
        c, led = f.conn, f.conn.ledger
        if not f.connected:
            err = f.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                f.error = f"connect failed: {os.strerror(err)}"
                return self.end(f, "reset")
            f.connected = True
            if f.kind == "resetter":
                f.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                  struct.pack("ii", 1, 0))
        if mask & selectors.EVENT_READ:
            try:
                chunk = f.sock.recv(65536)
            except ConnectionResetError:
                return self.end(f, "reset")
            except BlockingIOError:
                chunk = None
            if chunk == b"":
                return self.end(f, "eof")
            if chunk:
                led.feed(chunk, c.sent_lines)
            if led.errors:
                f.awaiting = None
                f.piece = len(f.pieces)
                f.out = b""
        if f.awaiting is not None:
            before, want = f.awaiting
            if led.replies > before and led.last == c.catch.prefix[want]:
                f.awaiting = None
        # Send.
        while f.awaiting is None and (f.out or f.piece < len(f.pieces)):
            if not f.out:
                f.out = f.pieces[f.piece]
                f.piece += 1
                f.before = led.replies
            try:
                n = f.sock.send(f.out)
            except BlockingIOError:
                break
            except (BrokenPipeError, ConnectionResetError):
                return self.end(f, "reset")
            c.sent += n
            f.out = f.out[n:]
            if f.out:
                break
            if f.kind == "resetter":
                return self.end(f, "reset")      # close with SO_LINGER 0
            want = c.catch.lines_in(c.sent, False)
            if f.wait and want > c.catch.lines_in(
                    c.sent - len(f.pieces[f.piece - 1]), False):
                f.awaiting = (f.before, want)
        if f.awaiting is None and not f.out and f.piece >= len(f.pieces) \
                and not c.half_closed:
            try:
                f.sock.shutdown(socket.SHUT_WR)
                c.half_closed = True
            except OSError:
                return self.end(f, "reset")

    def poll(self, timeout):
        now = time.monotonic()
        for f in list(self.live):
            if now > f.deadline:
                f.stalled = True
                self.end(f, "stalled")
                continue
            want = self.interest(f)
            if self.sel.get_key(f.sock).events != want:
                self.sel.modify(f.sock, want, f)
        for key, mask in self.sel.select(timeout):
            f = key.data
            if not f.done:
                self.step(f, mask)

    def run(self, seconds, concurrency, limit, kinds=None):
        """Start fishermen for `seconds` (at most `limit`), then stop
        starting; returns every Fisherman started.  The caller drains."""
        started = []
        stop_at = time.monotonic() + seconds
        while time.monotonic() < stop_at and len(started) < limit:
            while len(self.live) < concurrency and len(started) < limit:
                started.append(self.start(
                    self.rng.choice(kinds) if kinds else None))
            self.poll(0.05)
        return started

    def drain(self, timeout):
        deadline = time.monotonic() + timeout
        while self.live:
            if time.monotonic() > deadline:
                raise Failure(f"{len(self.live)} fishermen still in "
                              f"{timeout} s after the load stopped")
            self.poll(0.05)


# --------------------------------------------------------------------------
# One run: a variant under one family

def served(fishermen):
    return sum(f.conn.served_in_full for f in fishermen)


def run_one(variant, family, args, rng):
    name = f"{variant}-{family}"
    server = FaultServer(variant, name,
                         SERVER_ARGS + ("-w", str(args.workers)), seed=args.seed)
    res = {"variant": variant, "family": family, "rate": args.rate,
           "seconds": args.seconds, "problems": []}
    problems = res["problems"]
    everyone = []                   # every Fisherman of the load
    extra = []                      # and the Conns made by talk()
    try:
        server.listen()
        baseline = server.fds()
        load = Load(server.addr, rng)

        # 1. warm-up
        warm = load.run(3600, 4, 20, kinds=["batcher"])
        load.drain(DRAIN_TIMEOUT)
        everyone += warm
        if served(warm) != len(warm):
            problems.append(f"warm-up: {served(warm)} of {len(warm)} served")

        # 2. faults on
        server.enable(family, args.rate)
        t0 = time.monotonic()
        faulted = load.run(args.seconds, args.concurrency, args.max_fishermen)
        server.disable(family)
        res["fault_seconds"] = round(time.monotonic() - t0, 1)
        # 3. the ones still in finish, faults off
        load.drain(DRAIN_TIMEOUT)
        everyone += faulted
        if not server.running():
            raise Failure("the server died under faults")
        mark = len(server.stderr())
        injected, _, _ = server.report()

        # 4. never hangs
        try:
            probe = talk(server.addr, b"1 lb of cod\n2 lb of tuna\n", 10.0)
            extra.append(probe)
            if not probe.served_in_full:
                problems.append(f"after the faults, a new fisherman was not "
                                f"served in full ({probe.how})")
        except Failure as e:
            problems.append(f"hangs: {e}")

        # 5. recovered
        clean = load.run(3600, args.concurrency, args.clean,
                         kinds=["batcher", "dribbler", "bulk"])
        load.drain(DRAIN_TIMEOUT)
        everyone += clean
        if served(clean) != len(clean):
            bad = [f for f in clean if not f.conn.served_in_full][:3]
            problems.append(
                f"clean load: {served(clean)} of {len(clean)} served in full; "
                f"e.g. " + "; ".join(f"{f.kind} {f.conn.how} last "
                                     f"{f.conn.ledger.last} of "
                                     f"{f.conn.catch.total}" for f in bad))

        # 6. descriptors
        try:
            wait_for(lambda: server.fds() == baseline, SETTLE_TIMEOUT,
                     "fds back to the baseline")
            res["fds_leaked"] = 0
        except Failure:
            now = server.fds()
            res["fds_leaked"] = sum(now.values()) - sum(baseline.values())
            problems.append(f"fds {dict(now)}, baseline {dict(baseline)}")

        # 7. spin: CPU time over a window of idleness
        c0 = server.cpu()
        time.sleep(IDLE_WINDOW)     # a measurement window, not a wait
        res["idle_cpu"] = round(server.cpu() - c0, 3)
        if res["idle_cpu"] > IDLE_CPU_MAX:
            problems.append(f"spins: {res['idle_cpu']} s of CPU in "
                            f"{IDLE_WINDOW} s idle")

        # 8. exit and leaks
        status = server.stop()
        res["exit"] = describe_exit(status)
        res["crashed"] = status < 0
        if status != 0:
            problems.append(res["exit"])
        leaked, text = server.leaks()
        res["bytes_leaked"] = leaked
        if leaked:
            problems.append(f"LeakSanitizer: {leaked} bytes leaked "
                            f"(build/faults/logs/lsan-{name}.*):\n"
                            f"{text[:3000]}")

        # 9. books and stderr
        err = server.stderr()
        closed, summary, others = parse_stderr(err)
        conns = [f.conn for f in everyone] + extra
        problems += check_books(closed, summary, conns)
        res["summary"] = summary
        fault_events = [line for line in parse_stderr(err[:mark])[2]]
        late_events = parse_stderr(err[mark:])[2]
        unknown = [line for line in others
                   if not line.startswith(("fishmarket: ", "[warn] "))]
        if unknown:
            problems.append(f"unexpected stderr lines: {unknown[:5]}")
        if late_events:
            problems.append(f"{len(late_events)} event lines after the "
                            f"faults were off: {late_events[:3]}")
        n_injected = sum(injected.values())
        if len(fault_events) > 2 * n_injected:
            problems.append(f"floods: {len(fault_events)} lines for "
                            f"{n_injected} faults injected")
        res["injected"] = dict(sorted(injected.items()))
        res["event_lines"] = len(fault_events)
        res["events"] = collections.Counter(
            event_kind(line) for line in fault_events).most_common()
        res["closed_why"] = collections.Counter(
            why for (peer, why, *_rest) in closed).most_common()
        res["fishermen"] = len(faulted)
        res["served"] = served(faulted)
        res["kinds"] = collections.Counter(f.kind for f in faulted)
        res["ended"] = collections.Counter(
            (f.conn.how if not f.conn.ledger.errors else
             "ERROR " + f.conn.ledger.errors[0]) for f in faulted
            if not f.conn.served_in_full).most_common()
        res["replies"] = sum(c.ledger.replies for c in conns)
        res["wrong"] = sum(len(c.ledger.wrong) for c in conns)
        res["torn"] = sum(c.ledger.torn for c in conns)
        res["stalled"] = sum(f.stalled for f in everyone)
        if res["stalled"]:
            problems.append(f"{res['stalled']} fishermen stalled: neither "
                            f"paid nor closed within {FISHERMAN_TIMEOUT} s")
        errs = [f.error for f in everyone if getattr(f, "error", None)]
        if errs:
            problems.append(f"fishermen: {errs[:3]}")
    except Failure as e:
        try:
            status = server.proc.wait(1.0)    # dying, or alive?
        except subprocess.TimeoutExpired:
            status = None
        if status is None:
            problems.append(str(e))
        else:
            res["exit"] = describe_exit(status)
            res["crashed"] = status < 0
            last = [line for line in parse_stderr(server.stderr())[2]][-3:]
            problems.append(f"the server is gone ({res['exit']}); its last "
                            f"words: {last}; then: {e}")
    finally:
        server.cleanup()
    return res


def report_line(r):
    inj = sum(r.get("injected", {}).values())
    return (f"faults: {r['variant']:<11} {r['family']:<5} rate {r['rate']} "
            f"{r.get('fault_seconds', '?')} s: {r.get('fishermen', '?')} "
            f"fishermen ({r.get('served', '?')} served in full), "
            f"{r.get('replies', '?')} replies checked, {r.get('wrong', '?')} "
            f"wrong, {inj} faults injected, {r.get('event_lines', '?')} event "
            f"lines, {r.get('torn', '?')} torn, exit: {r.get('exit', '?')}, "
            f"fds leaked {r.get('fds_leaked', '?')}, bytes leaked "
            f"{r.get('bytes_leaked', '?')}, idle CPU {r.get('idle_cpu', '?')} s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--families", default="alloc rw net all")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--max-fishermen", type=int, default=50000)
    ap.add_argument("--clean", type=int, default=200)
    ap.add_argument("--workers", type=int, default=1,
                    help="the servers' -w (contract section 8)")
    ap.add_argument("--probe-only", action="store_true")
    ap.add_argument("variants", nargs="*", default=list(VARIANTS))
    args = ap.parse_args()
    LOG_DIR.mkdir(parents=True, exist_ok=True)

    problems = run_probe()
    for p in problems:
        print(f"faults: FAIL: {p}", flush=True)
    if args.probe_only or problems:
        print("faults: probe " + ("FAILED" if problems else "as documented"))
        return 1 if problems else 0

    families = args.families.split()
    for f in families:
        if f not in FAMILIES:
            ap.error(f"unknown family {f}: one of {' '.join(FAMILIES)}")
    results, ok = [], True
    for i, v in enumerate(args.variants):
        for j, fam in enumerate(families):
            rng = random.Random(args.seed * 1000 + i * 10 + j)
            print(f"faults: {v} {fam}: rate {args.rate} for {args.seconds} s "
                  f"(seed {args.seed})", flush=True)
            r = run_one(v, fam, args, rng)
            results.append(r)
            print(report_line(r), flush=True)
            for what, n in r.get("events", [])[:6]:
                print(f"faults:     {n:6d} x {what}", flush=True)
            if r.get("ended"):
                print(f"faults:     cut: {dict(r['ended'])}", flush=True)
            for p in r["problems"]:
                print(f"faults: {v} {fam}: FAIL: {p}", flush=True)
            ok = ok and not r["problems"]
    out = LOG_DIR / "results.json"
    out.write_text(json.dumps(results, indent=1, default=str))
    print(f"faults: results in {out}")
    print("faults: " + ("all passed" if ok else "FAILED"), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
