#!/usr/bin/env python3
"""
soak.py - run each fishmarket variant for a bounded time under thousands of
good fishermen mixed with hostile clients, then check that nothing was lost
or leaked.  Python 3 stdlib only; one thread, one selectors loop; every
client talks to 127.0.0.1 only.

    tests/soak/soak.py --bin-dir build --seconds 60 [VARIANT ...]  (default: all)

The server runs as `fishmarket-VARIANT -p 0 -t 10 -g 10` (default -m 1024).
For --seconds, clients keep being started, at most --concurrency at a time
and --max-clients in all; then no new one starts and the driver waits (with
a deadline) for every client to finish.  The mix:

  good        1-12 lines (prices, case, blanks, CRLF, the odd malformed
              line, sometimes a final line without LF) in 1-3 writes,
              reading as it goes, then half-close and read to EOF.
  slowloris   a good batch sent one byte at a time, 0.05-0.5 s apart
              (never near -t 10), reading as it goes.
  pipeliner   SO_RCVBUF 4 KiB and TCP_NODELAY, 3000-6000 one-line writes,
              one per loop round, reading nothing for the first 2-4 s: the
              replies pile up in the kernel and then in the server, whose
              64 KiB output limit stops it reading him.  Then he reads as
              he goes.  The pause is by the clock and well short of -t 10,
              so the server's write timeout (no progress writing for -t)
              never cuts him and every reply gets through.  (His sends do
              not block to tell him: the server's kernel receive buffer
              takes megabytes.)
  oversized   good lines then more than -m bytes without an LF, all in one
              write of less than 4 KiB, and nothing after: the server reads
              it all in one read (libevent reads up to 4 KiB), answers the
              tally and ERROR line too long, and closes with nothing unread,
              so its close is a FIN and the client reads every reply.
  random      lines of random bytes (each starts with 0xFF, so each is
              malformed and worth 0; every reply must be "0").
  reset       connect, maybe a partial line (never an LF), then close with
              SO_LINGER 0: an RST.  Never paid, never a line.

Why the mix is chosen so: the summary's "paid $T" is the sum of the last
tally the server *wrote* to each connection, and a client can only report
the last tally it *received*.  They agree as long as no reply is lost on
the way, i.e. no connection is closed by the server with bytes unread (an
RST can discard replies still in flight) and no client is cut by a timeout
with replies pending.  Hence: hostile clients that are cut (oversized) stop
sending before the cut, resetting clients are never paid, and pipeliners
read before -t fires.  With that, every figure of the summary line is known
exactly: N = connections made, L = non-blank lines sent (the overlong line
is never a line), R = malformed ones, T = sum of last tallies received.

Checks, per variant: every good, slowloris and pipelining fisherman got the
exact tally of his catch and no ERROR; oversized ones got their tally then
ERROR line too long; random ones only "0"; the summary line equals the
clients' figures; after the clients are gone the server holds as many fds
as before they came, and its VmRSS is within --rss-slack MiB of its
baseline (taken after a warm-up of 200 good fishermen, so that libevent's
one-time allocations are in the baseline).
"""

import argparse
import errno
import os
import random
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from listening import read_listening  # noqa: E402
from variants import variants  # noqa: E402

VARIANTS = tuple(variants())
PRICES = {"bream": 5, "cod": 8, "haddock": 9, "halibut": 14, "mackerel": 4,
          "plaice": 6, "salmon": 12, "sardine": 3, "trout": 7, "tuna": 15}
MAX_LINE = 1024
IDLE = 10
STARTUP_TIMEOUT = 15.0
DRAIN_TIMEOUT = 60.0      # for the last clients to finish after the run
SETTLE_TIMEOUT = 15.0     # for the server's fds to come back to baseline
EXIT_TIMEOUT = 30.0
SUMMARY_RE = re.compile(
    rb"served (\d+) connections, (\d+) lines \((\d+) rejected\), paid \$(\d+)")

# Weights of the kinds in the mix.
MIX = [("good", 82), ("slowloris", 3), ("pipeliner", 1), ("oversized", 4),
       ("random", 5), ("reset", 5)]


class Failure(Exception):
    pass


# --------------------------------------------------------------------------
# What each kind sends, and what it must get back

def good_catch(rng):
    """The bytes a well-behaved fisherman sends (see reckon for their worth)."""
    out = []
    for _ in range(rng.randint(1, 12)):
        r = rng.random()
        if r < 0.05:
            line = "five pounds of cod"                       # malformed
        elif r < 0.10:
            line = rng.choice(["", "  ", "\t"])               # blank
        elif r < 0.13:
            line = f"{rng.randint(0, 9)} lb of whale"         # not for sale
        else:
            fish = rng.choice(list(PRICES))
            count = rng.choice([0, 1, 2, 3, 10, 999, 1000000,
                                rng.randint(0, 1000)])
            unit = rng.choice(["pound", "pounds", "lb", "lbs", "LBS", "Pounds"])
            name = fish.upper() if rng.random() < 0.2 else fish
            line = rng.choice(["{} {} of {}", " {}\t{}  of {} ", "{} {} OF {}"])
            line = line.format(count, unit, name)
        out.append(line + rng.choice(["\n", "\n", "\r\n"]))
    text = "".join(out)
    # Sometimes the last line has no LF: the final line at half-close.
    if rng.random() < 0.2:
        text = text[:-2] if text.endswith("\r\n") else text[:-1]
    return text.encode()


def split_writes(rng, data, n):
    cuts = sorted(rng.sample(range(1, len(data)), min(n - 1, len(data) - 1))) \
        if len(data) > 1 else []
    parts, prev = [], 0
    for c in cuts + [len(data)]:
        parts.append(data[prev:c])
        prev = c
    return [p for p in parts if p]


class Client:
    """One connection's state machine, driven by the selectors loop."""

    def __init__(self, kind, rng, now):
        self.kind = kind
        self.sock = None
        self.connected = False
        self.done = False
        self.failure = None
        self.received = b""
        self.sends = []            # [(not_before, bytes)]
        self.pending = b""         # the part of the current send not yet sent
        self.read_always = True
        self.finish = "halfclose"  # or "reset"
        self.want_value = 0
        self.want_error = None
        self.want_zeros = False
        self.lines = self.rejected = 0
        self.half_closed = False
        self.registered = 0        # the events it is registered for
        self.read_from = 0.0       # pipeliner: no read before this time
        self.one_send_per_round = False
        self.started = now
        getattr(self, "plan_" + kind)(rng, now)

    # ---- plans
    def plan_good(self, rng, now):
        data = good_catch(rng)
        self.want_value, self.lines, self.rejected = reckon(data)
        self.sends = [(now, p) for p in split_writes(rng, data, rng.randint(1, 3))]

    def plan_slowloris(self, rng, now):
        data = good_catch(rng)[:40]     # bounded: 2 to 20 s of dribbling
        # The cut may leave a partial last line: it is the final line.
        self.want_value, self.lines, self.rejected = reckon(data)
        t = now
        for i in range(len(data)):
            t += rng.uniform(0.05, 0.5)
            self.sends.append((t, data[i:i + 1]))

    def plan_pipeliner(self, rng, now):
        # One line per loop round (the server reads each on its own and
        # answers each: ~14 bytes of reply per 19 bytes sent), and no read
        # for the first 2-4 s: the replies pile up in the kernel (a 4 KiB
        # receive buffer here) and then in the server, up to its 64 KiB
        # limit, where it stops reading him.  His sends do not block then:
        # the server's kernel receive buffer takes megabytes.  So the pause
        # is by the clock, and short of -t 10: the server's write timeout
        # (no progress writing for -t) must not cut him, or replies it
        # counts as paid would be lost.
        n = rng.randint(3000, 6000)
        self.sends = [(now, b"1000000 lb of tuna\n")] * n
        self.want_value, self.lines = 15000000 * n, n
        self.read_always = False
        self.read_from = now + rng.uniform(2.0, 4.0)
        self.one_send_per_round = True

    def plan_oversized(self, rng, now):
        data = good_catch(rng)
        if not data.endswith(b"\n"):
            data += b"\n"
        self.want_value, self.lines, self.rejected = reckon(data)
        data += bytes(rng.choice(b"abcdefgh ") for _ in range(
            rng.randint(MAX_LINE + 1, MAX_LINE + 900)))
        if rng.random() < 0.5:
            data += b"\n"          # a complete overlong line: too long too
        assert len(data) < 4096
        self.sends = [(now, data)]
        self.want_error = b"ERROR line too long"
        self.finish = "wait"       # send nothing more, read to EOF

    def plan_random(self, rng, now):
        lines = []
        for _ in range(rng.randint(1, 15)):
            body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
            lines.append(b"\xff" + body.replace(b"\n", b"") + b"\n")
        data = b"".join(lines)
        self.lines = self.rejected = len(lines)
        self.want_zeros = True
        self.sends = [(now, p) for p in split_writes(rng, data, rng.randint(1, 5))]

    def plan_reset(self, rng, now):
        if rng.random() < 0.5:
            self.sends = [(now, rng.choice([b"3 lb of co", b"  ", b"1000000"]))]
        self.finish = "reset"


def reckon(data):
    """(value, lines, rejected) of what good_catch makes, final line
    included: the grammar of section 3, as far as good_catch needs it."""
    value = lines = rejected = 0
    parts = data.decode().split("\n")
    if parts[-1] == "":
        parts.pop()                # no bytes after the last LF: no final line
    for p in parts:
        p = p[:-1] if p.endswith("\r") else p
        words = p.split()
        if not words:
            continue               # blank: worth 0, not a line
        lines += 1
        if (len(words) == 4 and words[0].isdigit() and
                words[1].lower() in ("pound", "pounds", "lb", "lbs") and
                words[2].lower() == "of" and int(words[0]) <= 1000000):
            value += int(words[0]) * PRICES.get(words[3].lower(), 0)
        else:
            rejected += 1
    return value, lines, rejected


# --------------------------------------------------------------------------
# The driver

class Soak:
    def __init__(self, addr, args, rng, pid):
        self.addr, self.args, self.rng, self.pid = addr, args, rng, pid
        self.sel = selectors.DefaultSelector()
        self.live = set()
        self.finished = []
        self.kinds = [k for k, w in MIX for _ in range(w)]

    def start(self, kind, now):
        c = Client(kind, self.rng, now)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if kind == "pipeliner":
            # Before connect: the window is fixed at the handshake.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            # One segment per line: one read event, one reply each.
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        c.sock = s
        err = s.connect_ex(self.addr)
        if err not in (0, errno.EINPROGRESS):
            s.close()
            raise Failure(f"connect: {os.strerror(err)}")
        self.sel.register(s, selectors.EVENT_WRITE, c)
        c.registered = selectors.EVENT_WRITE
        self.live.add(c)

    def close(self, c, failure=None):
        if c.failure is None:
            c.failure = failure
        if c.registered:
            self.sel.unregister(c.sock)
            c.registered = 0
        c.sock.close()
        c.done = True
        self.live.discard(c)
        self.finished.append(c)

    def interest(self, c, now):
        """What c waits for now: a mask for the selector (0: only time)."""
        if not c.connected:
            return selectors.EVENT_WRITE          # the connect completing
        ev = 0
        sending = bool(c.pending or c.sends)
        # A pipeliner reads only once its pause is over.
        if c.read_always or not sending or now >= c.read_from:
            ev |= selectors.EVENT_READ
        if c.pending or (c.sends and c.sends[0][0] <= now):
            ev |= selectors.EVENT_WRITE
        return ev

    def step(self, c, mask, now):
        if not c.connected:
            err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                return self.close(c, f"connect failed: {os.strerror(err)}")
            c.connected = True
        if mask & selectors.EVENT_READ:
            try:
                chunk = c.sock.recv(65536)
            except ConnectionResetError:
                return self.close(c, "reset by the server" if c.finish != "reset"
                                  else None)
            except BlockingIOError:
                chunk = None
            if chunk == b"":
                if c.sends or c.pending:
                    return self.close(c, "closed by the server mid-send")
                return self.close(c)
            if chunk:
                c.received += chunk
        # Send what is due.
        while True:
            if not c.pending:
                if not c.sends or c.sends[0][0] > now:
                    break
                c.pending = c.sends.pop(0)[1]
            try:
                n = c.sock.send(c.pending)
            except BlockingIOError:
                break
            except (BrokenPipeError, ConnectionResetError):
                return self.close(c, "reset while sending")
            c.pending = c.pending[n:]
            if c.one_send_per_round:
                break
        if not c.sends and not c.pending and not c.half_closed:
            if c.finish == "reset":
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                  struct.pack("ii", 1, 0))
                return self.close(c)
            if c.finish == "halfclose":
                c.sock.shutdown(socket.SHUT_WR)
            c.half_closed = True

    def run(self):
        args = self.args
        t0 = time.monotonic()
        stop_at = t0 + args.seconds
        drain_until = None
        rss_peak = 0
        next_sample = t0
        started = 0
        while True:
            now = time.monotonic()
            if drain_until is None and (now >= stop_at or
                                        started >= args.max_clients):
                drain_until = now + DRAIN_TIMEOUT
            if drain_until is None:
                while len(self.live) < args.concurrency and started < args.max_clients:
                    self.start(self.rng.choice(self.kinds), now)
                    started += 1
            elif not self.live:
                break
            elif now > drain_until:
                raise Failure(f"{len(self.live)} clients still running "
                              f"{DRAIN_TIMEOUT} s after the run")
            if now >= next_sample:
                rss_peak = max(rss_peak, vm_rss(self.pid))
                next_sample = now + 0.5
            # (Re)arm every live client for what it now waits on; one
            # with nothing to wait on but time (a dribbler between bytes,
            # a stalled pipeliner) is unregistered and sets the timeout.
            timeout = 0.1
            for c in list(self.live):
                ev = self.interest(c, now)
                if ev != c.registered:
                    if c.registered:
                        self.sel.unregister(c.sock)
                    if ev:
                        self.sel.register(c.sock, ev, c)
                    c.registered = ev
                if c.sends and not ev & selectors.EVENT_WRITE:
                    timeout = min(timeout, max(0.0, c.sends[0][0] - now))
                if not c.read_always and c.read_from > now:
                    timeout = min(timeout, c.read_from - now)
            for key, mask in self.sel.select(timeout):
                c = key.data
                if not c.done:
                    self.step(c, mask, time.monotonic())
        return time.monotonic() - t0, rss_peak


def vm_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])       # kB
    return 0


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    interval = 0.01
    while not pred():
        if time.monotonic() > deadline:
            raise Failure(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
        interval = min(interval * 2, 0.2)


def verdict(c):
    """The client's own check; returns (last tally received, problem)."""
    if c.failure:
        return 0, c.failure
    if c.received and not c.received.endswith(b"\r\n"):
        return 0, f"torn reply {c.received[-40:]!r}"
    lines = c.received.split(b"\r\n")[:-1]
    tallies = [int(x) for x in lines if x.isdigit()]
    last = tallies[-1] if tallies else 0
    errors = [x for x in lines if not x.isdigit()]
    if c.kind == "reset":
        return last, None if not lines else f"a reset client got {lines[:3]!r}"
    if c.want_error:
        if errors != [c.want_error] or lines[-1] != c.want_error:
            return last, f"want {c.want_error!r} last, got {lines[-3:]!r}"
    elif errors:
        return last, f"unexpected {errors[:2]!r}"
    if c.want_zeros:
        if any(t != 0 for t in tallies) or not tallies:
            return last, f"random bytes paid: {tallies[:5]!r}"
    elif last != c.want_value:
        return last, f"paid {last}, catch worth {c.want_value}"
    return last, None


def soak_variant(variant, args):
    binary = Path(args.bin_dir) / f"fishmarket-{variant}"
    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    err_path = log_dir / f"stderr-{variant}.log"
    rng = random.Random(args.seed)
    cmd = [str(binary), "-p", "0", "-t", str(IDLE), "-g", "10"]
    print(f"soak: {variant}: {' '.join(cmd)} for {args.seconds} s, "
          f"up to {args.concurrency} clients at a time (seed {args.seed})",
          flush=True)
    with open(err_path, "wb") as errf:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=errf)
    problems = []
    try:
        addr = read_listening(proc, STARTUP_TIMEOUT, Failure)
        fds0 = fd_count(proc.pid)
        # Warm-up: libevent's one-time allocations belong to the baseline.
        warm = argparse.Namespace(**vars(args))
        warm.seconds, warm.max_clients = 3600, 200
        w = Soak(addr, warm, rng, proc.pid)
        w.kinds = ["good"]
        w.run()
        rss0 = vm_rss(proc.pid)

        soak = Soak(addr, args, rng, proc.pid)
        took, rss_peak = soak.run()
        clients = w.finished + soak.finished

        wait_for(lambda: fd_count(proc.pid) <= fds0, SETTLE_TIMEOUT,
                 f"the server's fds back to {fds0}")
        fds1 = fd_count(proc.pid)
        rss1 = vm_rss(proc.pid)

        proc.send_signal(signal.SIGTERM)
        try:
            status = proc.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise Failure(f"no exit within {EXIT_TIMEOUT} s of SIGTERM")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()

    # The clients' side of the books.
    kinds = {}
    paid = lines = rejected = conns = 0
    for c in clients:
        last, problem = verdict(c)
        k = kinds.setdefault(c.kind, [0, 0])
        k[0] += 1
        if problem:
            k[1] += 1
            if k[1] <= 3:
                problems.append(f"{c.kind} client: {problem}")
        conns += c.connected
        paid += last
        lines += c.lines
        rejected += c.rejected
    stderr = err_path.read_bytes()
    m = SUMMARY_RE.search(stderr)
    if status != 0:
        problems.append(f"exit status {status}")
    if not m:
        problems.append(f"no summary line: {stderr[-300:]!r}")
    else:
        got = tuple(int(x) for x in m.groups())
        want = (conns, lines, rejected, paid)
        for name, g, w_ in zip(("connections", "lines", "rejected", "paid"),
                               got, want):
            if g != w_:
                problems.append(f"summary {name} {g}, clients say {w_}")
    if fds1 != fds0:
        problems.append(f"fds: {fds0} before, {fds1} after")
    if rss1 > rss0 + args.rss_slack * 1024:
        problems.append(f"VmRSS {rss1} kB after, baseline {rss0} kB "
                        f"(slack {args.rss_slack} MiB)")

    mix = ", ".join(f"{k} {v[0]}" + (f" ({v[1]} bad)" if v[1] else "")
                    for k, v in sorted(kinds.items()))
    print(f"soak: {variant}: {len(clients)} clients in {took:.1f} s "
          f"({len(soak.finished) / took:.0f}/s): {mix}", flush=True)
    print(f"soak: {variant}: server: "
          f"{m.group(0).decode() if m else '(no summary)'}", flush=True)
    print(f"soak: {variant}: clients: {conns} connections, {lines} lines "
          f"({rejected} rejected), paid ${paid}", flush=True)
    print(f"soak: {variant}: fds {fds0} before, {fds1} after; VmRSS baseline "
          f"{rss0} kB, peak {rss_peak} kB, after {rss1} kB", flush=True)
    for p in problems:
        print(f"soak: {variant}: FAIL: {p}", flush=True)
    return not problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", default="build")
    ap.add_argument("--log-dir", default="build/soak")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--max-clients", type=int, default=50000)
    ap.add_argument("--rss-slack", type=int, default=16, help="MiB")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("variants", nargs="*", default=list(VARIANTS))
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    ok = True
    for v in args.variants:
        try:
            ok = soak_variant(v, args) and ok
        except (Failure, OSError) as e:
            print(f"soak: {v}: FAIL: {e}", flush=True)
            ok = False
    print("soak: " + ("all passed" if ok else "FAILED") +
          f" (seed {args.seed})", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
