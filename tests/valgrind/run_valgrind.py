#!/usr/bin/env python3
"""
run_valgrind.py - each fishmarket variant under valgrind memcheck, serving a
scripted mix of fishermen, then shut down by SIGTERM.  Python 3 stdlib only.

    tests/valgrind/run_valgrind.py --bin-dir build --log-dir build/valgrind \
        [VARIANT ...]  (default: every variant folder)

The server runs as

    valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect
             --error-exitcode=99 --track-fds=yes
             fishmarket-VARIANT -p 0 -t 1 -g 3 -v

and serves, in this order:
  1. at once, from threads: good fishermen (Fred's catch from the article,
     with LF and with CRLF lines; a final line without LF), one with
     malformed lines of every kind, one with an overlong line (-m 1024
     exceeded: ERROR line too long), one big batch (~100 KB in one write,
     read concurrently), two that reset
     (SO_LINGER 0 close: an RST), one after being paid and one at once;
  2. one that goes silent with a partial line: ERROR idle timeout after -t 1;
  3. one mid-batch, still dribbling a line, when SIGTERM comes: the grace
     period (-g 3) ends with it still in, so the server closes it.
Then it checks: exit status 0 (valgrind's 99 means a memcheck error or a
definite/indirect leak), "ERROR SUMMARY: 0 errors", no byte definitely or
indirectly lost, no fd open at exit but those inherited (the listening
socket, the event backend's fds and every client fd were closed), each
client's replies, the summary line (N connections and paid $T, where T is
the sum of the last tally each client received), and that the -v log shows
every way out taken at least once: eof, reset, line too long, idle timeout
and shutdown (so each close path really ran under memcheck).

Every wait has a deadline (valgrind makes the server 20-50 times slower, so
they are generous); no sleep stands in for synchronisation: the dribbler
sleeps only to be slow on purpose, and SIGTERM is sent once it has been
paid for its complete lines, i.e. once the server has surely seen it.
"""

import argparse
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from listening import read_listening  # noqa: E402
from variants import variants  # noqa: E402

VARIANTS = tuple(variants())
STARTUP_TIMEOUT = 60.0
IO_TIMEOUT = 30.0
EXIT_TIMEOUT = 60.0
MAX_LINE = 1024

SUMMARY_RE = re.compile(
    rb"served (\d+) connections, (\d+) lines \((\d+) rejected\), paid \$(\d+)")


class Failure(Exception):
    pass


def replies(data):
    """The CRLF-terminated reply lines; a torn last line is an error."""
    if data and not data.endswith(b"\r\n"):
        raise Failure(f"reply stream does not end with CRLF: {data[-40:]!r}")
    return data.split(b"\r\n")[:-1] if data else []


def last_tally(lines):
    tallies = [int(x) for x in lines if x.isdigit()]
    return tallies[-1] if tallies else 0


def read_to_eof(sock, deadline):
    """Everything the server sends until it closes (EOF or RST)."""
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Failure(f"no EOF before the deadline; got {data[-80:]!r}")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data, "reset"
        except socket.timeout:
            continue
        if not chunk:
            return data, "eof"
        data += chunk


class Client:
    """One scripted fisherman; run() in a thread, results in attributes."""

    def __init__(self, name, addr, fn, *args):
        self.name, self.addr, self.fn, self.args = name, addr, fn, args
        self.connected = False
        self.tally = 0          # the last tally it received
        self.error = None       # a Failure, if its expectations failed
        self.thread = threading.Thread(target=self.run, name=name, daemon=True)

    def connect(self):
        s = socket.create_connection(self.addr, timeout=IO_TIMEOUT)
        self.connected = True
        return s

    def run(self):
        try:
            self.fn(self, *self.args)
        except (Failure, OSError) as e:
            self.error = f"{self.name}: {e!r}"


def good(c, payload, want):
    with c.connect() as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        data, how = read_to_eof(s, time.monotonic() + IO_TIMEOUT)
    lines = replies(data)
    c.tally = last_tally(lines)
    if c.tally != want or how != "eof" or any(not x.isdigit() for x in lines):
        raise Failure(f"want last tally {want} then EOF, got {lines!r} ({how})")


def overlong(c):
    # The good line, then MAX_LINE + 1 bytes without an LF, all in one write,
    # and nothing after: the server has read every byte when it closes, so
    # its close is a FIN, not an RST that could eat the replies.
    with c.connect() as s:
        s.sendall(b"1 lb of cod\n" + b"x" * (MAX_LINE + 1))
        data, how = read_to_eof(s, time.monotonic() + IO_TIMEOUT)
    lines = replies(data)
    c.tally = last_tally(lines)
    if lines != [b"8", b"ERROR line too long"] or how != "eof":
        raise Failure(f"want 8, ERROR line too long, EOF; got {lines!r} ({how})")


def big_batch(c, nlines):
    # One big write, read at the same time from a second thread: the server
    # reads it in many read events, paying after each.
    got = {}

    with c.connect() as s:
        def reader():
            try:
                got["data"] = read_to_eof(s, time.monotonic() + IO_TIMEOUT * 2)
            except (Failure, OSError) as e:
                got["error"] = e
        t = threading.Thread(target=reader, daemon=True)
        t.start()
        s.sendall(b"2 lb of trout\r\n" * nlines)
        s.shutdown(socket.SHUT_WR)
        t.join(IO_TIMEOUT * 2 + 5)
    if "error" in got or "data" not in got:
        raise Failure(f"reader: {got.get('error', 'did not finish')}")
    data, how = got["data"]
    lines = replies(data)
    c.tally = last_tally(lines)
    if c.tally != 14 * nlines or how != "eof":
        raise Failure(f"want last tally {14 * nlines}, got {c.tally} ({how})")


def linger0(s):
    # SO_LINGER on with a zero timeout: close() sends an RST, not a FIN.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def reset_after_paid(c):
    s = c.connect()
    s.sendall(b"3 pounds of cod\n")
    s.settimeout(IO_TIMEOUT)
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = s.recv(100)
        if not chunk:
            raise Failure(f"closed before paying; got {data!r}")
        data += chunk
    c.tally = last_tally(replies(data))
    if c.tally != 24:
        raise Failure(f"want 24, got {data!r}")
    linger0(s)


def reset_at_once(c):
    # A partial line and an RST: never a complete line, so never paid.
    s = c.connect()
    s.sendall(b"5 pounds of tu")
    linger0(s)


def idle(c):
    with c.connect() as s:
        s.sendall(b"2 lb of cod\n3 lb of")
        data, how = read_to_eof(s, time.monotonic() + IO_TIMEOUT)
    lines = replies(data)
    c.tally = last_tally(lines)
    if lines != [b"16", b"ERROR idle timeout"]:
        raise Failure(f"want 16, ERROR idle timeout; got {lines!r} ({how})")


class Dribbler:
    """Mid-batch at SIGTERM: sends a byte of its unfinished line every
    0.25 s (well inside -t 1), until the server closes it."""

    def __init__(self, client):
        self.c = client
        self.paid = threading.Event()
        self.data = b""
        self.how = None

    def __call__(self, c):
        with c.connect() as s:
            s.sendall(b"4 lb of haddock\n1 lb of")
            deadline = time.monotonic() + IO_TIMEOUT * 2
            filler = b" cod" + b" " * 200
            i = 0
            while True:
                r, _, _ = select.select([s], [], [], 0.25)
                if r:
                    try:
                        chunk = s.recv(4096)
                    except ConnectionResetError:
                        self.how = "reset"
                        break
                    if not chunk:
                        self.how = "eof"
                        break
                    self.data += chunk
                    if self.data.endswith(b"\r\n"):
                        self.paid.set()
                elif i < len(filler):
                    try:
                        s.sendall(filler[i:i + 1])
                    except (BrokenPipeError, ConnectionResetError):
                        pass    # closed under us: the recv says how
                    i += 1
                if time.monotonic() > deadline:
                    raise Failure("not closed by the end of the grace period")
        lines = replies(self.data)
        c.tally = last_tally(lines)
        if not lines or lines[0] != b"36" or c.tally != 36:
            raise Failure(f"want 36 first and last; got {lines!r}")


def check_valgrind_log(text):
    """The memcheck verdict, from its log; returns the lines worth showing."""
    problems = []
    m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
    if not m:
        problems.append("no ERROR SUMMARY in the log")
    elif m.group(1) != "0":
        problems.append(f"{m.group(1)} errors")
    for kind in ("definitely", "indirectly"):
        m = re.search(kind + r" lost: ([\d,]+) bytes", text)
        if m and m.group(1) != "0":
            problems.append(f"{m.group(1)} bytes {kind} lost")
    if not ("definitely lost:" in text or
            "All heap blocks were freed" in text):
        problems.append("no leak summary in the log")
    # --track-fds lists every fd open at exit; those the server inherited
    # (0, 1, 2, and valgrind's own log file) say "<inherited from parent>",
    # any other one (a socket, the backend's epoll fd) leaked.
    if "FILE DESCRIPTORS:" not in text:
        problems.append("no FILE DESCRIPTORS line (--track-fds)")
    for m in re.finditer(r"Open (?:file descriptor|AF_\w+ socket) (\d+):(.*)\n"
                         r"(?:==\d+==)?\s*(.*)", text):
        if "inherited from parent" not in m.group(3):
            problems.append(f"fd {m.group(1)} left open at exit:{m.group(2)}")
    keep = [l for l in text.splitlines()
            if re.search(r"FILE DESCRIPTORS|in use at exit|total heap usage|"
                         r"definitely lost|indirectly lost|possibly lost|"
                         r"still reachable|All heap blocks|ERROR SUMMARY", l)]
    return problems, keep


def run_variant(variant, bin_dir, log_dir, valgrind, workers=1):
    binary = Path(bin_dir) / f"fishmarket-{variant}"
    name = variant if workers == 1 else f"{variant}-w{workers}"
    log = Path(log_dir) / f"valgrind-{name}.log"
    err = Path(log_dir) / f"stderr-{name}.log"
    cmd = [valgrind, "--leak-check=full", "--show-leak-kinds=definite,indirect",
           "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
           "--track-fds=yes", "--num-callers=30", f"--log-file={log}",
           str(binary), "-p", "0", "-t", "1", "-g", "3", "-v",
           "-w", str(workers)]
    variant = name
    print(f"valgrind: {variant}: {' '.join(cmd)}", flush=True)
    started = time.monotonic()
    with open(err, "wb") as errf:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=errf)
    clients = []
    try:
        addr = read_listening(proc, STARTUP_TIMEOUT, Failure)
        # Fred's catch in the original article (its client ends lines with CRLF).
        article = b"5 pounds of haddock\n3 pounds of trout\n4 pounds of bream\n"
        mix = [
            ("article", good, article, 86),
            ("article-crlf", good, article.replace(b"\n", b"\r\n"), 86),
            ("final-line", good, b"2 LBS OF Halibut\n1 lb of plaice", 34),
            ("blank-lines", good, b"\n \r\n\t\n", 0),
            ("malformed", good,
             b"five pounds of cod\n-1 lb of cod\n5 pounds ofcod\n"
             b"1000001 lb of cod\n3 lb of c\xffd\n3 pounds\rof cod\n"
             b"2 lb of cod\n1 lb of whale\n", 16),
        ]
        for name, fn, payload, want in mix:
            clients.append(Client(name, addr, fn, payload, want))
        clients.append(Client("overlong", addr, overlong))
        clients.append(Client("big-batch", addr, big_batch, 7000))
        clients.append(Client("reset-after-paid", addr, reset_after_paid))
        clients.append(Client("reset-at-once", addr, reset_at_once))
        for c in clients:
            c.thread.start()
        for c in clients:
            c.thread.join(IO_TIMEOUT * 3)
            if c.thread.is_alive():
                raise Failure(f"{c.name} did not finish")

        c = Client("idle", addr, idle)
        clients.append(c)
        c.thread.start()
        c.thread.join(IO_TIMEOUT + 5)

        c = Client("mid-batch", addr, None)
        dribbler = Dribbler(c)
        c.fn = dribbler
        clients.append(c)
        c.thread.start()
        if not dribbler.paid.wait(IO_TIMEOUT):
            raise Failure("mid-batch client never paid")
        proc.send_signal(signal.SIGTERM)
        try:
            status = proc.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise Failure(f"no exit within {EXIT_TIMEOUT} s of SIGTERM")
        c.thread.join(IO_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()

    problems = [c.error for c in clients if c.error]
    problems += [f"{c.name} still running" for c in clients if c.thread.is_alive()]
    if status != 0:
        problems.append(f"exit status {status}" +
                        (" (valgrind found errors)" if status == 99 else ""))
    stderr = err.read_bytes()
    m = SUMMARY_RE.search(stderr)
    n_conn = sum(c.connected for c in clients)
    paid = sum(c.tally for c in clients)
    if not m:
        problems.append(f"no summary line on stderr: {stderr[-300:]!r}")
    else:
        if int(m.group(1)) != n_conn:
            problems.append(f"summary says {m.group(1)} connections, "
                            f"clients made {n_conn}")
        if int(m.group(4)) != paid:
            problems.append(f"summary says paid ${m.group(4)}, "
                            f"clients received ${paid}")
    for why in ("eof", "reset", "line too long", "idle timeout", "shutdown"):
        if f" closed ({why})".encode() not in stderr:
            problems.append(f"no connection closed ({why}) in the -v log")
    vg_problems, vg_lines = check_valgrind_log(log.read_text(errors="replace"))
    problems += vg_problems
    took = time.monotonic() - started
    summary = m.group(0).decode() if m else "(no summary)"
    print(f"valgrind: {variant}: {len(clients)} clients, {summary}, "
          f"{took:.1f} s", flush=True)
    for line in vg_lines:
        print(f"valgrind: {variant}: {line.split(' ', 1)[1].strip()}")
    for p in problems:
        print(f"valgrind: {variant}: FAIL: {p}", flush=True)
    if problems:
        print(f"valgrind: {variant}: see {log} and {err}", flush=True)
    return not problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", default="build")
    ap.add_argument("--log-dir", default="build/valgrind")
    ap.add_argument("--valgrind", default="valgrind")
    ap.add_argument("--workers", default="1",
                    help="the servers' -w values, e.g. \"1 2\" (contract section 8)")
    ap.add_argument("variants", nargs="*", default=list(VARIANTS))
    args = ap.parse_args()
    os.makedirs(args.log_dir, exist_ok=True)
    ok = True
    for w in [int(x) for x in args.workers.replace(",", " ").split()]:
        for v in args.variants:
            try:
                ok = run_variant(v, args.bin_dir, args.log_dir, args.valgrind,
                                 w) and ok
            except Failure as e:
                print(f"valgrind: {v} -w {w}: FAIL: {e}", flush=True)
                ok = False
    print("valgrind: " + ("all clean" if ok else "FAILED"), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
