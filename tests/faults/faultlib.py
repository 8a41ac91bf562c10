"""
faultlib.py - what the fault tests share: a server started under libfiu
(and tests/faults/fishfault.so), switched with fiu-ctrl; its descriptors,
CPU time, books, LeakSanitizer verdict and the faults it was dealt; and a
fisherman who checks every reply he gets against what he sent.

Python 3 standard library only.  Paths come from the environment that
mk/faults.mk sets (FAULT_BIN_DIR, FAULT_SHIM, FAULT_PROBE, FAULT_LOG_DIR),
with defaults for a run from the repository root after `make faults-build`.

How a server is run (what `fiu-run -x` does, plus fishfault.so between
libfiu's two preloads, which `fiu-run` cannot express):

    LD_PRELOAD="fiu_run_preload.so fishfault.so fiu_posix_preload.so"
    FIU_CTRL_FIFO=<log dir>/fiu-<name>  (libfiu's remote control: fiu-ctrl)
    FISHFAULT_REPORT=<log dir>/report-<name>.bin  (faults injected, by point)
    LSAN_OPTIONS=exitcode=23:...:log_path=<log dir>/lsan-<name>

FIU_ENABLE is never set: start-up runs clean, and faults are switched on
and off with fiu-ctrl once the server listens.  (fiu_run_preload.so also
strdup()s FIU_ENABLE and never frees it: LeakSanitizer would report it.)
"""

import array
import collections
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
from listening import read_listening  # noqa: E402

VARIANTS = ("v1-style", "v2-raw", "v2-listener")
BIN_DIR = Path(os.environ.get("FAULT_BIN_DIR") or REPO / "build/faults/bin")
SHIM = Path(os.environ.get("FAULT_SHIM") or REPO / "build/faults/fishfault.so")
PROBE = Path(os.environ.get("FAULT_PROBE") or REPO / "build/faults/probe")
LOG_DIR = Path(os.environ.get("FAULT_LOG_DIR") or REPO / "build/faults/logs")
LSAN_SUPP = HERE / "lsan.supp"
FIU_DIR = Path("/usr/lib/fiu")

# The fault families: libfiu point patterns (and fishfault.so's, for the
# calls libfiu 1.1 does not wrap).  rw includes libfiu's ".../reduce"
# points, which shorten a read or write instead of failing it.
FAMILIES = {
    "alloc": ("libc/mm/*",),
    "rw": ("posix/io/rw/*",),
    "net": ("posix/io/net/*", "fishfault/net/*"),
}
FAMILIES["all"] = FAMILIES["alloc"] + FAMILIES["rw"] + FAMILIES["net"]

PRICES = {"bream": 5, "cod": 8, "haddock": 9, "halibut": 14, "mackerel": 4,
          "plaice": 6, "salmon": 12, "sardine": 3, "trout": 7, "tuna": 15}

STARTUP_TIMEOUT = 15.0
CTRL_TIMEOUT = 15.0
EXIT_TIMEOUT = 30.0

SUMMARY_RE = re.compile(
    r"^served (\d+) connections, (\d+) lines \((\d+) rejected\), paid \$(\d+)$")
# The -v line of a closed connection (common/market.c, ledger_close).
CLOSED_RE = re.compile(
    r"^fishmarket: (\S+) closed \(([^)]*)\): (\d+) lines, (\d+) rejected, "
    r"tally (\d+)$")
LSAN_RE = re.compile(r"SUMMARY: LeakSanitizer: (\d+) byte\(s\) leaked")


class Failure(Exception):
    pass


# --------------------------------------------------------------------------
# The server

def fault_env(name, nth=None, seed=None):
    """The environment of a server (or the probe) run under the preloads."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FIU_", "FISHFAULT_", "LSAN_", "ASAN_",
                                "LD_PRELOAD"))}
    for p in (SHIM, FIU_DIR / "fiu_run_preload.so",
              FIU_DIR / "fiu_posix_preload.so"):
        if not p.exists():
            raise Failure(f"{p} is missing: `make faults-build` (and "
                          f"apt-get install fiu-utils libfiu-dev)")
    env["LD_PRELOAD"] = (f"{FIU_DIR}/fiu_run_preload.so {SHIM} "
                         f"{FIU_DIR}/fiu_posix_preload.so")
    env["FIU_CTRL_FIFO"] = str(LOG_DIR / f"fiu-{name}")
    env["FISHFAULT_REPORT"] = str(LOG_DIR / f"report-{name}.bin")
    # fast_unwind_on_malloc=0: the frame-pointer unwinder stops at libfiu's
    # malloc wrapper (built without frame pointers); the slow one gives
    # whole stacks, which the suppressions and a reader need.  handle_*=0:
    # a crash stays a death by its signal, which the harness reports as
    # such, instead of LeakSanitizer's report and exit 23 (a "leak").
    env["LSAN_OPTIONS"] = (f"exitcode=23:fast_unwind_on_malloc=0:"
                           f"handle_segv=0:handle_sigbus=0:handle_sigfpe=0:"
                           f"handle_sigill=0:handle_abort=0:"
                           f"suppressions={LSAN_SUPP}:"
                           f"log_path={LOG_DIR}/lsan-{name}")
    if nth:
        env["FISHFAULT_NTH"] = nth
    if seed is not None:
        env["FIU_PRNG_SEED"] = str(seed)
    return env


def read_report(path):
    """fishfault.so's report: ({point: injected}, nth_calls, nth_failed)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return {}, 0, 0
    if len(data) < 32 or data[:8] != b"FISHFLT1":
        return {}, 0, 0
    nth_calls, nth_failed = struct.unpack_from("<2Q", data, 8)
    points = {}
    for off in range(32, len(data) - 63, 64):
        name, count = struct.unpack_from("<56sQ", data, off)
        name = name.split(b"\0", 1)[0].decode()
        if name:
            points[name] = count
    return points, nth_calls, nth_failed


def proc_fds(pid, ignore=()):
    """The kinds of a process's open descriptors, counted: 'socket',
    'pipe', 'anon_inode:[eventpoll]', or the path.  Paths starting with
    any of ignore (libfiu's FIFOs, which its remote-control thread closes
    and reopens after every command, and the stderr log) are left out."""
    kinds = collections.Counter()
    base = f"/proc/{pid}/fd"
    for fd in os.listdir(base):
        try:
            target = os.readlink(f"{base}/{fd}")
        except FileNotFoundError:
            continue            # closed while we looked
        if any(target.startswith(str(i)) for i in ignore):
            continue
        kind = target.split(":", 1)[0] if target.startswith(
            ("socket:", "pipe:")) else target
        kinds[kind] += 1
    return kinds


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class FaultServer:
    """One server process under the fault preloads, on an ephemeral port."""

    def __init__(self, variant, name, args=(), nth=None, seed=None):
        self.variant, self.name = variant, name
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        for old in LOG_DIR.glob(f"lsan-{name}.*"):
            old.unlink()
        self.report_path = LOG_DIR / f"report-{name}.bin"
        self.report_path.unlink(missing_ok=True)
        self.stderr_path = LOG_DIR / f"stderr-{name}.log"
        self.fifo_prefix = LOG_DIR / f"fiu-{name}"
        binary = BIN_DIR / f"fishmarket-{variant}"
        if not os.access(binary, os.X_OK):
            raise Failure(f"{binary} is missing: run `make faults-build`")
        self.args = ["-p", "0", *args]
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [str(binary), *self.args], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=err,
                env=fault_env(name, nth, seed))
        self.pid = self.proc.pid
        self.returncode = None
        self.addr = None

    def listen(self):
        """Wait for the listening line: (host, port)."""
        self.addr = read_listening(self.proc, STARTUP_TIMEOUT, Failure)
        return self.addr

    def running(self):
        return self.proc.poll() is None

    def ctrl(self, *commands):
        """Send libfiu remote-control commands with fiu-ctrl; fiu-ctrl
        exits 0 even when a command fails, and says so on stdout."""
        args = ["fiu-ctrl", "-f", str(self.fifo_prefix)]
        for c in commands:
            args += ["-c", c]
        try:
            r = subprocess.run(args + [str(self.pid)], capture_output=True,
                               timeout=CTRL_TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise Failure(f"fiu-ctrl {commands} got no answer within "
                          f"{CTRL_TIMEOUT} s")
        out = (r.stdout + r.stderr).decode(errors="replace").strip()
        if r.returncode != 0 or out:
            raise Failure(f"fiu-ctrl {commands}: {out or r.returncode}")

    def enable(self, family, rate):
        self.ctrl(*(f"enable_random name={p},probability={rate}"
                    for p in FAMILIES[family]))

    def disable(self, family):
        self.ctrl(*(f"disable name={p}" for p in FAMILIES[family]))

    def fds(self):
        return proc_fds(self.pid, ignore=(self.fifo_prefix, self.stderr_path))

    def cpu(self):
        return cpu_seconds(self.pid)

    def stop(self, timeout=EXIT_TIMEOUT):
        """SIGTERM, then wait: the exit status (negative: a signal)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit(timeout, "of SIGTERM")

    def wait_exit(self, timeout=EXIT_TIMEOUT, since="of waiting"):
        """The exit status; killed and a Failure after timeout seconds."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Failure(f"no exit within {timeout} s {since}")
        return self.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.returncode = self.proc.returncode

    def cleanup(self):
        self.kill()
        if self.proc.stdout:
            self.proc.stdout.close()
        # libfiu removes its control FIFOs when the process exits normally;
        # a server killed, or one that died, leaves them behind.
        for fifo in LOG_DIR.glob(f"fiu-{self.name}-{self.proc.pid}.*"):
            fifo.unlink(missing_ok=True)

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def report(self):
        return read_report(self.report_path)

    def leaks(self):
        """(bytes leaked, the report text) from LeakSanitizer's log files."""
        total, texts = 0, []
        for f in sorted(LOG_DIR.glob(f"lsan-{self.name}.*")):
            text = f.read_text(errors="replace")
            texts.append(text)
            for m in LSAN_RE.finditer(text):
                total += int(m.group(1))
            if "LeakSanitizer" in text and not LSAN_RE.search(text):
                total = max(total, 1)     # a report we cannot read: a fail
        return total, "\n".join(texts)


def describe_exit(status):
    if status is None:
        return "still running"
    if status < 0:
        return f"killed by {signal.Signals(-status).name}"
    if status == 23:
        return "exit 23 (LeakSanitizer found a leak)"
    return f"exit {status}"


# --------------------------------------------------------------------------
# The books, from stderr

def parse_stderr(text):
    """(closed lines, summary match or None, the other lines)."""
    closed, others, summary = [], [], None
    for line in text.splitlines():
        m = CLOSED_RE.match(line)
        if m:
            closed.append((m.group(1), m.group(2), int(m.group(3)),
                           int(m.group(4)), int(m.group(5))))
            continue
        s = SUMMARY_RE.match(line)
        if s:
            summary = tuple(int(x) for x in s.groups())
            continue
        others.append(line)
    return closed, summary, others


_ADDR_RE = re.compile(r"\b\d+\.\d+\.\d+\.\d+:\d+\b|\bfd \d+\b|\(\d+\)")


def event_kind(line):
    """A line with its addresses, fds and numbers in parentheses blanked,
    so that the same event from different connections counts as one kind."""
    return _ADDR_RE.sub("#", line)


# --------------------------------------------------------------------------
# A fisherman's catch, and the check of every reply

def line_value(line):
    """(value, is_line, malformed) of one line without its LF, by the
    grammar of section 3, as far as the catches made here need it."""
    if line.endswith(b"\r"):
        line = line[:-1]
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        return 0, True, True
    words = text.split()
    if not words:
        return 0, False, False
    if (len(words) == 4 and words[0].isdigit() and
            words[1].lower() in ("pound", "pounds", "lb", "lbs") and
            words[2].lower() == "of" and int(words[0]) <= 1000000 and
            all(c.isprintable() or c == "\t" for c in text)):
        return int(words[0]) * PRICES.get(words[3].lower(), 0), True, False
    return 0, True, True


class Catch:
    """What a fisherman sends, and what every tally he may be paid is.

    prefix[k] is the running tally after the first k lines (blank ones
    included, worth 0); lines[k] and rejected[k] the non-blank and the
    malformed ones among them.  A final line with no LF counts only once
    he has half-closed."""

    def __init__(self, data):
        self.data = data
        parts = data.split(b"\n")
        self.final = parts.pop()          # after the last LF; may be b""
        # Arrays, not lists: a run keeps tens of thousands of these.
        self.prefix, self.lines, self.rejected = (array.array("q", [0]),
                                                  array.array("l", [0]),
                                                  array.array("l", [0]))
        for p in parts + ([self.final] if self.final else []):
            v, is_line, bad = line_value(p)
            self.prefix.append(self.prefix[-1] + v)
            self.lines.append(self.lines[-1] + is_line)
            self.rejected.append(self.rejected[-1] + bad)
        self.complete = len(parts)        # lines with their LF

    def lines_in(self, nbytes, half_closed):
        """How many lines the first nbytes sent hold."""
        n = self.data[:nbytes].count(b"\n")
        if half_closed and nbytes == len(self.data) and self.final:
            n += 1
        return n

    @property
    def total(self):
        return self.prefix[-1]


class Ledger:
    """One connection's replies, checked as they come.

    Each CRLF-terminated reply must be the running tally after some number
    k of the lines sent so far, k never going back (the first k at or after
    the last one whose tally matches), or an ERROR line, after which
    nothing may come.  Anything else is a wrong tally.  Bytes after the
    last CRLF when the connection ends are a torn reply: not a reply, and
    counted apart."""

    def __init__(self, catch):
        self.catch = catch
        self.buf = b""
        self.k = 0                 # lines the last tally paid for
        self.last = None           # the last tally received
        self.replies = 0
        self.errors = []           # ERROR reasons received
        self.wrong = []            # what was wrong, for the report
        self.torn = False

    def feed(self, data, sent_lines):
        self.buf += data
        while b"\r\n" in self.buf:
            reply, self.buf = self.buf.split(b"\r\n", 1)
            self.replies += 1
            if self.errors:
                self.wrong.append(f"{reply!r} after ERROR {self.errors[0]}")
            elif reply.startswith(b"ERROR "):
                self.errors.append(reply[6:].decode(errors="replace"))
            elif reply.isdigit() and not (len(reply) > 1 and reply[0] == 48):
                v = int(reply)
                for k in range(self.k, sent_lines + 1):
                    if self.catch.prefix[k] == v:
                        self.k, self.last = k, v
                        break
                else:
                    self.wrong.append(
                        f"tally {v} is not the value of any of lines "
                        f"{self.k}..{sent_lines} sent "
                        f"({list(self.catch.prefix[self.k:sent_lines + 1][:8])}...)")
            else:
                self.wrong.append(f"not a reply: {reply[:60]!r}")

    def end(self):
        if self.buf:
            self.torn = True


# --------------------------------------------------------------------------
# Deadlines without sleeping to synchronise

def wait_for(pred, timeout, what, interval=0.01):
    """Poll pred() until true (returning its value) or timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise Failure(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
        interval = min(interval * 2, 0.1)


class Conn:
    """One fisherman's connection, as he saw it."""

    def __init__(self, data, port=None):
        self.catch = Catch(data)
        self.ledger = Ledger(self.catch)
        self.port = port
        self.sent = 0               # bytes sent
        self.half_closed = False
        self.how = None             # "eof", "reset", or None (still open)

    @property
    def sent_lines(self):
        return self.catch.lines_in(self.sent, self.half_closed)

    @property
    def served_in_full(self):
        """Paid for everything he sent, then a clean end."""
        return (self.how == "eof" and not self.ledger.errors and
                not self.ledger.wrong and self.half_closed and
                self.sent == len(self.catch.data) and
                (self.ledger.last or 0) == self.catch.total)


def talk(addr, data, timeout, pieces=None):
    """One fisherman, blocking: connect, send data (in pieces, waiting after
    each for the tally of every line so far), half-close, read to the end.
    A fault may end it anywhere: that is not an error here (the ledger and
    the books say whether what he got was right).  Returns a Conn."""
    conn = Conn(data)
    catch, ledger = conn.catch, conn.ledger
    deadline = time.monotonic() + timeout

    def receive(want):
        receive_once(s, conn, want, deadline, timeout)

    s = socket.create_connection(addr, timeout=timeout)
    conn.port = s.getsockname()[1]
    try:
        for piece in pieces or [data]:
            before = ledger.replies
            try:
                s.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                conn.how = "reset"
                break
            conn.sent += len(piece)
            want = conn.sent_lines
            if want == catch.lines_in(conn.sent - len(piece), False):
                continue              # no new complete line: no reply due
            # Wait for the tally of every line so far (a read may split the
            # piece: then an interim one comes first).
            while conn.how is None and not ledger.errors and not (
                    ledger.replies > before and
                    ledger.last == catch.prefix[want]):
                receive(want)
            if conn.how or ledger.errors:
                break
        if conn.how is None:
            try:
                s.shutdown(socket.SHUT_WR)
                conn.half_closed = True
            except OSError:
                pass                  # reset under us: the recv says so
            read_to_end(s, conn, deadline, timeout)
    finally:
        s.close()
    ledger.end()
    return conn


def receive_once(s, conn, want, deadline, timeout):
    """One recv() for conn, with want lines sent: its bytes go to his
    ledger; EOF or a reset sets conn.how.  A Failure at the deadline."""
    led = conn.ledger
    left = deadline - time.monotonic()
    try:
        if left <= 0:
            raise TimeoutError
        s.settimeout(left)
        chunk = s.recv(65536)
    except ConnectionResetError:
        conn.how = "reset"
        return
    except TimeoutError:
        raise Failure(f"fisherman {conn.port}: nothing more within "
                      f"{timeout} s (lines sent {want}, replies "
                      f"{led.replies}, last {led.last})")
    if not chunk:
        conn.how = "eof"
    else:
        led.feed(chunk, want)


def read_to_end(s, conn, deadline, timeout):
    """Read until the server closes (EOF or reset), or fail at deadline."""
    while conn.how is None:
        receive_once(s, conn, conn.sent_lines, deadline, timeout)


def check_books(closed, summary, conns):
    """Compare the server's books (its -v lines and summary line) with what
    the fishermen saw; returns a list of problems.

    conns are every Conn that connected.  Each -v line is matched to the
    fisherman on its port (in order, should a port be reused).  For each:
    the tally the server logged as paid (the last one it queued) is a
    running tally of his lines, at or after the last one he received (a
    reply queued but lost to a failed write is paid and not received; the
    reverse is a payment booked that never was queued); its lines and
    rejected counts are within what he sent; and a connection closed for
    "eof" paid him in full, exactly what he received.  The summary line is
    the sum of the -v lines, and counts every fisherman."""
    problems = []
    by_port = collections.defaultdict(collections.deque)
    for c in conns:
        by_port[c.port].append(c)
    for peer, why, lines, rejected, paid in closed:
        port = int(peer.rsplit(":", 1)[1]) if ":" in peer else None
        if not by_port.get(port):
            problems.append(f"server closed {peer} ({why}), which no "
                            f"fisherman of this run was")
            continue
        c = by_port[port].popleft()
        cat, led = c.catch, c.ledger
        n = c.sent_lines
        got = led.last or 0
        ks = [k for k in range(led.k, n + 1) if cat.prefix[k] == paid]
        if paid < got or not ks:
            problems.append(
                f"{peer}: server booked ${paid} paid, but he received "
                f"{led.last} and the running tallies of his {n} lines from "
                f"line {led.k} are {list(cat.prefix[led.k:n + 1][:10])}")
            continue
        if not cat.lines[ks[0]] <= lines <= cat.lines[n] or \
                rejected > cat.rejected[n]:
            problems.append(f"{peer}: server counted {lines} lines "
                            f"({rejected} rejected); he sent {cat.lines[n]} "
                            f"({cat.rejected[n]} malformed)")
        if why == "eof":
            if c.how != "eof" or paid != got or paid != cat.prefix[n] or \
                    lines != cat.lines[n] or rejected != cat.rejected[n]:
                problems.append(
                    f"{peer}: closed (eof) but he was not paid in full: "
                    f"server paid ${paid} for {lines} lines, he received "
                    f"{led.last}, ended {c.how}, sent {n} lines worth "
                    f"${cat.prefix[n]}")
    left = [c for q in by_port.values() for c in q]
    for c in left:
        problems.append(f"fisherman {c.port} connected, but the server "
                        f"never logged closing him")
    if left:
        # Matching is by port, in order: once a connection goes unlogged,
        # the next fisherman given the same ephemeral port is matched with
        # the wrong line, so mismatches above may only follow from these.
        problems.insert(0, f"{len(left)} connections were never logged: "
                           f"fix that first, the mismatches on ports used "
                           f"again may follow from it")
    if summary is None:
        problems.append("no summary line")
    else:
        want = (len(closed), sum(x[2] for x in closed),
                sum(x[3] for x in closed), sum(x[4] for x in closed))
        if summary != want:
            problems.append(f"summary {summary} (connections, lines, "
                            f"rejected, paid) is not the sum of the -v "
                            f"lines {want}")
        if summary[0] != len(conns):
            problems.append(f"summary counts {summary[0]} connections, "
                            f"the fishermen made {len(conns)}")
    for c in conns:
        for w in c.ledger.wrong:
            problems.append(f"fisherman {c.port}: WRONG: {w}")
    return problems
