"""
harness.py - what every integration test needs to drive a fishmarket server:
start one on port 0 and read its "listening on ADDR:PORT" line, talk to it,
stop it, and read its books.  Python 3.11 standard library only.

Rules the helpers keep, so the tests can stay honest on a loaded machine:

- Nothing waits by sleeping.  Every wait is a poll against a deadline
  (`wait_until`, `select`), and a missed deadline fails loudly, naming what
  did not happen.
- Every process started here is recorded in REGISTRY; conftest.py kills
  whatever is left of them when a test ends and again when the session ends,
  so a failing test never leaves a server holding a port or a core.
- A server's stderr goes to a temporary file, not to a pipe: under -v a
  server writes a line per connection, and a pipe nobody drains fills up at
  64 KiB and blocks the server mid-test (a classic harness deadlock).
"""

import atexit
import errno
import fcntl
import heapq
import os
import platform
import re
import select
import selectors
import shutil
import signal
import socket
import struct
import shlex
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("FISH_BIN_DIR") or REPO / "build")
sys.path.insert(0, str(REPO / "tools"))
import variants as _variants  # noqa: E402  (tools/variants.py)

STARTUP_TIMEOUT = 10.0   # generous: the machine is shared and noisy
IO_TIMEOUT = 10.0        # any single socket wait
EXIT_TIMEOUT = 10.0      # a server that was told to go

SUMMARY_RE = re.compile(
    r"^served (\d+) connections, (\d+) lines \((\d+) rejected\), paid \$(\d+)$")
LISTENING_RE = re.compile(r"^listening on (\[[0-9A-Fa-f:.]+\]|[0-9.]+):(\d+)$")

TALLY_MAX = 2**63 - 1


# --------------------------------------------------------------------------
# The servers under test

@dataclass(frozen=True)
class ServerSpec:
    """One server under test: an id, the command that starts it, and the
    extra arguments it runs with this time (the suite's extra dimension:
    `-w 2`, say).  str() of it is its name in test ids and messages:
    "v2-raw", or "v2-raw -w 2" with extra arguments.

    `ours` is true for our own variants (built here, FISH_VARIANTS): only
    for them do the checks about our variants run (contract.ours)."""
    id: str
    command: tuple
    extra: tuple = ()
    ours: bool = False

    def __str__(self):
        return " ".join((self.id,) + self.extra)

    def argv(self, args=()):
        """The command line: the command, the extra arguments, then the
        test's own (so a test's option wins over an extra one)."""
        return list(self.command) + list(self.extra) + list(args)

    @property
    def workers(self):
        """How many workers (section 8) it runs with, from its -w option
        (the last one wins), 1 without; -w 0 is one per online CPU."""
        n, args = 1, list(self.command) + list(self.extra)
        for i, a in enumerate(args):
            if a in ("-w", "--workers") and i + 1 < len(args):
                n = args[i + 1]
            elif a.startswith("--workers="):
                n = a.split("=", 1)[1]
        try:
            n = int(n)
        except ValueError:
            return 1
        return n if n > 0 else min(os.sysconf("SC_NPROCESSORS_ONLN"), 64)


def split_list(text):
    """Items separated by semicolons or newlines, empty ones dropped."""
    return [x.strip() for x in re.split(r"[;\n]", text) if x.strip()]


def servers_under_test(env=os.environ):
    """The servers the suite runs against, from the environment:

    FISH_VARIANTS  our variants by name ("v1-style v2-raw"), binaries
                   FISH_BIN_DIR/fishmarket-NAME; by default every variant
                   folder of the repository (tools/variants.py)
    FISH_SERVERS   anyone's servers: "id=command; id=command"
    FISH_SERVER    one server's command ("path/to/binary [args]"); its id
                   is FISH_SERVER_ID, or the program's file name
    FISH_ARGSETS   the extra-argument dimension: "; "-separated sets of
                   arguments ("-w 1; -w 2"), each server runs once with
                   each; an empty set ("; -w 2") is the server as it is

    FISH_SERVER(S) replace the default variants; with FISH_VARIANTS too,
    all of them run.  Raises ValueError naming what is wrong."""
    specs = []
    names = env.get("FISH_VARIANTS", "")
    foreign = env.get("FISH_SERVERS", "").strip() or env.get("FISH_SERVER", "").strip()
    if names.strip() or not foreign:
        for v in _variants.variants(names):
            specs.append(ServerSpec(v, (str(BIN_DIR / f"fishmarket-{v}"),), ours=True))
    for item in split_list(env.get("FISH_SERVERS", "")):
        sid, eq, command = item.partition("=")
        if not eq or not sid.strip() or not command.strip():
            raise ValueError(f"FISH_SERVERS: {item!r} is not id=command")
        specs.append(ServerSpec(sid.strip(), tuple(shlex.split(command))))
    one = env.get("FISH_SERVER", "").strip()
    if one:
        argv = tuple(shlex.split(one))
        sid = env.get("FISH_SERVER_ID", "").strip() or os.path.basename(argv[0])
        specs.append(ServerSpec(sid, argv))
    for s in specs:
        if not s.ours and shutil.which(s.command[0]) is None:
            raise ValueError(f"{s.id}: no program {s.command[0]!r} (not found, or "
                             f"not executable)")
    ids = [s.id for s in specs]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ValueError(f"two servers with the id {', '.join(dup)}")
    sets = [tuple(shlex.split(a)) for a in env.get("FISH_ARGSETS", "").split(";")]
    if not any(sets):
        sets = [()]
    return [ServerSpec(s.id, s.command, extra, s.ours) for s in specs for extra in sets]


def wait_until(pred, timeout, interval=0.005, what="condition"):
    """Poll pred() until it is true or timeout seconds pass; return its value.

    The interval grows to 50 ms so a long wait does not burn the CPU the
    server under test needs."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
        interval = min(interval * 2, 0.05)


# --------------------------------------------------------------------------
# Processes

class _Registry:
    """Every server process the suite started, so none outlives it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._procs = []

    def add(self, proc):
        with self._lock:
            self._procs.append(proc)

    def kill_all(self):
        with self._lock:
            procs, self._procs = self._procs, []
        for p in procs:
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    pass


REGISTRY = _Registry()
# Last resort, should pytest itself be interrupted before its session hook.
atexit.register(REGISTRY.kill_all)


def _read_line(fd, timeout):
    """One line from a pipe, with a deadline; None if the process exits first."""
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no line on stdout within {timeout} s (got {buf!r})")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            return None if not buf else buf
        buf += chunk
    return buf


def proc_status(pid, key):
    """A field of /proc/PID/status, as text (e.g. VmRSS -> '1234 kB')."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return line.split(":", 1)[1].strip()
    raise KeyError(key)


def proc_state(pid, tid=None):
    """A process's state letter from /proc/PID/stat (one thread's, from
    /proc/PID/task/TID/stat, with tid): R running or runnable, S sleeping,
    T stopped, ..."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    with open(path) as f:
        stat = f.read()
    return stat[stat.rindex(")") + 2]


def stopped(pid):
    """Every thread of the process stopped: SIGSTOP has reached them all."""
    states = []
    for tid in threads(pid):
        try:
            states.append(proc_state(pid, tid))
        except FileNotFoundError:       # a thread that has just ended
            pass
    return bool(states) and all(s in "Tt" for s in states)


def threads(pid):
    """The thread ids of a process (/proc/PID/task)."""
    return sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))


# The system calls an event loop waits in (epoll, poll or select, as the
# backend may be), by number, as /proc/PID/task/TID/syscall shows them.
EVENT_WAITS = {
    "x86_64": {232, 281, 441, 7, 271, 23, 270},  # epoll_wait, epoll_pwait(2), poll,
                                                 # ppoll, select, pselect6
    "aarch64": {22, 441, 73, 72},                # epoll_pwait(2), ppoll, pselect6
}.get(platform.machine())


def waiting_threads(pid):
    """The threads of a process now waiting for events in a loop: an idle
    server's workers, and not the threads a runtime may add (say,
    ThreadSanitizer's background thread, asleep in nanosleep).  None where
    it cannot be told (another architecture, or /proc/PID/task/TID/syscall
    not readable)."""
    if EVENT_WAITS is None:
        return None
    out = []
    for tid in threads(pid):
        try:
            with open(f"/proc/{pid}/task/{tid}/syscall") as f:
                call = f.read().split()[0]
        except OSError:
            return None
        if call.isdigit() and int(call) in EVENT_WAITS:
            out.append(tid)
    return out


def thread_cpu_ns(pid):
    """{thread id: CPU time it has used, in nanoseconds}: the scheduler's
    own count (/proc/PID/task/TID/schedstat), exact, where the kernel keeps
    it; else utime + stime from .../stat, counted in clock ticks."""
    out = {}
    for tid in threads(pid):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                out[tid] = int(f.read().split()[0])
                continue
        except (OSError, ValueError, IndexError):
            pass
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue                       # the thread has just ended
        fields = stat[stat.rindex(")") + 2:].split()
        ticks = int(fields[11]) + int(fields[12])
        out[tid] = ticks * 10**9 // os.sysconf("SC_CLK_TCK")
    return out


def rss_kib(pid):
    return int(proc_status(pid, "VmRSS").split()[0])


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # The command name may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2:].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def signal_pending(pid, signum):
    """True while signum is pending (not yet delivered) to the process.

    Two identical signals sent back to back can merge into one delivery if
    the first is still pending: a test that means to send a *second* signal
    waits until the first has left the pending sets."""
    bit = 1 << (signum - 1)
    return any(int(proc_status(pid, key), 16) & bit for key in ("SigPnd", "ShdPnd"))


def run_to_exit(variant, args, env=None, timeout=10):
    """Run a server that is expected to exit by itself (a bad command
    line, --help, a port in use): the finished process, output as text."""
    try:
        return subprocess.run(variant.argv(args), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{variant} {args} did not exit within {timeout} s "
                             f"(it started serving?): {e.stdout!r}") from None


class held_port:
    """with held_port() as port: a port of 127.0.0.1 that a plain listening
    socket (no SO_REUSEPORT) holds, for servers that must fail to bind it."""

    def __enter__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        return self.sock.getsockname()[1]

    def __exit__(self, *exc):
        self.sock.close()


class Server:
    """One fishmarket server process, started on an ephemeral port."""

    def __init__(self, variant, args=(), preexec_fn=None, env=None):
        self.variant = variant
        self.args = list(args)
        if not any(a in ("-p", "--port") or a.startswith("--port=") for a in self.args):
            self.args = ["-p", "0"] + self.args
        argv = variant.argv(self.args)
        if variant.ours and not os.access(argv[0], os.X_OK):
            raise AssertionError(f"{argv[0]} is missing: run `make all-variants` "
                                 f"(or set FISH_BIN_DIR)")
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=self._stderr,
            preexec_fn=preexec_fn, env=env)
        REGISTRY.add(self.proc)
        self.pid = self.proc.pid
        self.clients = []
        self.returncode = None
        try:
            self._await_listening()
        except BaseException:
            self.cleanup()
            raise

    def _await_listening(self):
        variant = self.variant
        line = _read_line(self.proc.stdout.fileno(), STARTUP_TIMEOUT)
        if line is None:
            rc = self.proc.wait(EXIT_TIMEOUT)
            raise AssertionError(f"{variant} {self.args} exited with {rc} before "
                                 f"listening; stderr: {self.stderr!r}")
        self.listening_line = line.decode()
        m = LISTENING_RE.match(self.listening_line.rstrip("\n"))
        assert m, f"{variant}: bad listening line {self.listening_line!r}"
        self.host = m.group(1).strip("[]")
        self.port = int(m.group(2))
        assert 0 < self.port < 65536
        self.family = socket.AF_INET6 if ":" in self.host else socket.AF_INET

    # -- talking to it

    def connect(self, timeout=IO_TIMEOUT, rcvbuf=None, sndbuf=None, maxseg=None):
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        # Options that shape the handshake must be set before connect().
        if sndbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if maxseg is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, maxseg)
        sock.settimeout(timeout)
        sock.connect((self.host, self.port))
        # One send() is one segment: tests that split a batch mean the split.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = Client(sock)
        self.clients.append(client)
        return client

    # -- its life

    def running(self):
        return self.proc.poll() is None

    def send_signal(self, signum=signal.SIGTERM):
        self.proc.send_signal(signum)

    def wait(self, timeout=EXIT_TIMEOUT):
        """Wait for the server to exit on its own; its exit status."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.variant} still running after {timeout} s")
        return self.returncode

    def stop(self, signum=signal.SIGTERM, timeout=EXIT_TIMEOUT):
        """Signal the server and wait for it; its exit status.  Kills it and
        fails if it does not go in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.variant} did not exit within {timeout} s of "
                                 f"signal {signum}")
        return self.returncode

    def kill(self):
        for c in self.clients:
            c.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.returncode = self.proc.returncode

    def cleanup(self):
        """Teardown: whatever state the test left it in."""
        self.kill()
        self.proc.stdout.close()
        self._stderr.close()

    @property
    def stderr(self):
        """All the server has written to stderr so far.  Read with pread(),
        not seek() and read(): the server's stderr is this same open file,
        sharing its offset, so a seek to 0 while it runs would make its next
        line overwrite the first ones."""
        fd = self._stderr.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode("utf-8", "replace")

    def rest_of_stdout(self):
        """What the server wrote to stdout after the listening line (call
        after it has exited)."""
        assert self.proc.poll() is not None
        return self.proc.stdout.read().decode("utf-8", "replace")

    def summary(self):
        """(N, L, R, T) from the summary line; exactly one must be present."""
        found = [SUMMARY_RE.match(line) for line in self.stderr.splitlines()]
        found = [m for m in found if m]
        assert len(found) == 1, (f"{self.variant}: expected one summary line, "
                                 f"stderr: {self.stderr!r}")
        return tuple(int(g) for g in found[0].groups())

    def log_lines(self):
        """The stderr lines other than the summary line: under -v, one per
        closed connection."""
        return [line for line in self.stderr.splitlines()
                if not SUMMARY_RE.match(line)]

    def rss_kib(self):
        return rss_kib(self.pid)

    def cpu_seconds(self):
        return cpu_seconds(self.pid)


# --------------------------------------------------------------------------
# One fisherman, driven step by step from a test

class Client:
    """One fisherman.  Like a real client he closes his socket once the
    server has closed (EOF or reset): a server that lingers after an ERROR
    line, reading until the client closes too, must not be kept waiting by
    the test."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""          # received, not yet handed out as replies
        self.ended = None       # None, "eof" or "reset"
        host, port = sock.getsockname()[:2]
        self.port = port
        self.local = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def send(self, data, may_close=False):
        """sendall(); with may_close, a server that has already closed
        (as it does after an ERROR line) is not an error: the test then
        judges what was read."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            if not may_close:
                raise

    def send_pieces(self, pieces):
        for p in pieces:
            self.sock.sendall(p)

    def half_close(self, may_close=False):
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            if not (may_close and e.errno in (errno.ENOTCONN, errno.EPIPE,
                                              errno.ECONNRESET)):
                raise

    def reset(self):
        """Close with RST instead of FIN (SO_LINGER on, 0 seconds)."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self, deadline):
        """One recv() into buf; False once the stream has ended."""
        if self.ended:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError from None
        except ConnectionResetError:
            self.ended = "reset"
            self.close()
            return False
        if not chunk:
            self.ended = "eof"
            self.close()
            return False
        self.buf += chunk
        return True

    def read_reply(self, timeout=IO_TIMEOUT):
        """The next CRLF-terminated reply, without CRLF; None if the stream
        ended first."""
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self.buf:
            try:
                if not self._fill(deadline):
                    return None
            except TimeoutError:
                raise AssertionError(f"no reply within {timeout} s "
                                     f"(have {self.buf!r})") from None
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("ascii", "replace")

    def reply_within(self, timeout):
        """The next reply if one arrives within timeout, else None.  For the
        few scenarios that must show that nothing is sent."""
        try:
            return self.read_reply(timeout)
        except AssertionError:
            return None

    def read_all(self, timeout=IO_TIMEOUT):
        """Everything until the server closes; returns the bytes (including
        any not handed out yet).  self.ended says how it ended."""
        deadline = time.monotonic() + timeout
        try:
            while self._fill(deadline):
                pass
        except TimeoutError:
            raise AssertionError(f"server did not close within {timeout} s "
                                 f"(have {self.buf!r})") from None
        data, self.buf = self.buf, b""
        return data

    def replies(self, timeout=IO_TIMEOUT):
        """All remaining replies until the server closes, as strings."""
        return split_replies(self.read_all(timeout))


def split_replies(data):
    """b'8\\r\\n16\\r\\n' -> ['8', '16'].  A trailing fragment without CRLF is
    kept (as such) so a test sees it rather than losing it."""
    parts = data.split(b"\r\n")
    tail = parts.pop()
    out = [p.decode("ascii", "replace") for p in parts]
    if tail:
        out.append("<partial>" + tail.decode("ascii", "replace"))
    return out


def last_tally(replies):
    """The last numeric reply (0 if none): what the fisherman was paid."""
    for r in reversed(replies):
        if r.isdigit():
            return int(r)
    return 0


# --------------------------------------------------------------------------
# Many fishermen at once: one thread, one selector, bounded in count and time

@dataclass
class Script:
    """One fisherman's visit: walk in after `start` seconds, then for each
    (pause, bytes) wait `pause` seconds after the previous write has left
    and write the bytes; then half-close ("half") and read until the server
    closes, or walk away at once: "close" (close()) or "reset" (RST)."""
    steps: list
    start: float = 0.0
    finish: str = "half"


@dataclass
class Outcome:
    data: bytes = b""
    ended: str = ""           # "eof", "reset" or "" (never ended)
    local: str = ""
    error: str = ""

    @property
    def replies(self):
        return split_replies(self.data)

    @property
    def paid(self):
        return last_tally(self.replies)


class _Conv:
    __slots__ = ("script", "out", "sock", "step", "outcome", "state", "gen",
                 "index")

    def __init__(self, script):
        self.script = script
        self.out = b""
        self.sock = None
        self.step = 0
        self.outcome = Outcome()
        self.state = "waiting"
        self.gen = 0
        self.index = 0


def run_conversations(host, port, scripts, timeout=30.0, max_open=None):
    """Run every script concurrently (at most max_open connections at a time)
    and return one Outcome per script, in order.  Fails if any is not done
    within timeout seconds."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sel = selectors.DefaultSelector()
    convs = [_Conv(s) for s in scripts]
    t0 = time.monotonic()
    deadline = t0 + timeout
    timers = []                  # (when, seq, index, gen)
    seq = 0
    queue = list(range(len(convs)))   # not yet walked in
    queue.reverse()
    open_count = 0
    done = 0

    def at(when, i):
        nonlocal seq
        seq += 1
        heapq.heappush(timers, (when, seq, i, convs[i].gen))

    def interest(c):
        ev = selectors.EVENT_READ
        if c.state == "connecting" or c.out:
            ev |= selectors.EVENT_WRITE
        sel.modify(c.sock, ev, c)

    def finish(c, ended, error=""):
        nonlocal open_count, done
        c.outcome.ended = ended
        c.outcome.error = error
        sel.unregister(c.sock)
        c.sock.close()
        c.state = "done"
        c.gen += 1
        open_count -= 1
        done += 1

    def admit():
        nonlocal open_count
        while queue and (max_open is None or open_count < max_open):
            i = queue.pop()
            open_count += 1
            start = convs[i].script.start
            at(time.monotonic() + start if max_open else t0 + start, i)

    def push(c):
        """Write what is queued; after the last step, end the sending side."""
        while c.out:
            try:
                n = c.sock.send(c.out)
            except BlockingIOError:
                break
            except (BrokenPipeError, ConnectionResetError) as e:
                c.out = b""
                c.outcome.error = f"send: {e}"
                break
            c.out = c.out[n:]
        if not c.out and c.state == "sending":
            if c.step < len(c.script.steps):
                c.gen += 1      # a stale timer must not send a step twice
                at(time.monotonic() + c.script.steps[c.step][0], c.index)
            else:
                c.state = "reading"
                if c.script.finish in ("reset", "close"):
                    # Walk away without reading: "close" closes (FIN, or
                    # RST if replies were already waiting), "reset" always
                    # sends RST.
                    if c.script.finish == "reset":
                        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                          struct.pack("ii", 1, 0))
                    finish(c, "by-client")
                    admit()
                    return
                try:
                    c.sock.shutdown(socket.SHUT_WR)
                except OSError as e:
                    c.outcome.error = f"shutdown: {e}"
        if c.state != "done":
            interest(c)

    for i, c in enumerate(convs):
        c.index = i
    admit()

    while done < len(convs):
        now = time.monotonic()
        if now >= deadline:
            stuck = [(i, c.state, c.outcome.data[-40:]) for i, c in enumerate(convs)
                     if c.state != "done"]
            for c in convs:
                if c.sock is not None and c.state != "done":
                    c.sock.close()
            sel.close()
            raise AssertionError(f"{len(stuck)} of {len(convs)} conversations not "
                                 f"finished within {timeout} s; first: {stuck[:5]}")
        while timers and timers[0][0] <= now:
            _, _, i, gen = heapq.heappop(timers)
            c = convs[i]
            if gen != c.gen or c.state == "done":
                continue
            if c.state == "waiting":
                c.sock = socket.socket(family, socket.SOCK_STREAM)
                c.sock.setblocking(False)
                c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                err = c.sock.connect_ex((host, port))
                if err not in (0, errno.EINPROGRESS):
                    c.state = "connecting"
                    sel.register(c.sock, selectors.EVENT_READ, c)
                    finish(c, "", f"connect: {os.strerror(err)}")
                    admit()
                    continue
                c.state = "connecting"
                sel.register(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
            elif c.state == "sending":
                c.out += c.script.steps[c.step][1]
                c.step += 1
                push(c)
        if done == len(convs):
            break                   # the last one finished in a timer step
        wait = deadline - now
        if timers:
            wait = min(wait, max(0.0, timers[0][0] - now))
        for key, ev in sel.select(wait):
            c = key.data
            if c.state == "done":
                continue
            if c.state == "connecting" and ev & selectors.EVENT_WRITE:
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    finish(c, "", f"connect: {os.strerror(err)}")
                    admit()
                    continue
                host_, port_ = c.sock.getsockname()[:2]
                c.outcome.local = f"{host_}:{port_}"
                c.state = "sending"
                if c.script.steps:
                    c.gen += 1
                    at(time.monotonic() + c.script.steps[0][0], c.index)
                    interest(c)
                else:
                    push(c)
                continue
            if ev & selectors.EVENT_READ:
                try:
                    chunk = c.sock.recv(65536)
                except BlockingIOError:
                    chunk = None
                except ConnectionResetError:
                    finish(c, "reset")
                    admit()
                    continue
                if chunk == b"":
                    finish(c, "eof")
                    admit()
                    continue
                if chunk:
                    c.outcome.data += chunk
            if ev & selectors.EVENT_WRITE and c.state != "done":
                push(c)
    sel.close()
    return [c.outcome for c in convs]


# --------------------------------------------------------------------------
# The kernel's view of one connection, for the backpressure scenario

class TcpQueues:
    """(tx_queue, rx_queue) of one TCP socket as its kernel sees it.

    rx_queue is what the kernel holds that the owning process has not read
    yet: a server that has stopped reading a connection lets it grow.
    Asked through NETLINK_SOCK_DIAG (the interface `ss` uses), one exact
    4-tuple lookup of ~10 us however many sockets the machine has; falls
    back to scanning /proc/net/tcp{,6} where netlink is unavailable."""

    SOCK_DIAG_BY_FAMILY = 20
    NLMSG_ERROR = 2

    def __init__(self, family, local, local_port, remote, remote_port):
        self.family = family
        self.args = (local, local_port, remote, remote_port)
        addr = lambda a: (socket.inet_pton(family, a) +
                          (b"\0" * 12 if family == socket.AF_INET else b""))
        sockid = (struct.pack("!HH", local_port, remote_port) + addr(local) +
                  addr(remote) + struct.pack("=III", 0, 0xFFFFFFFF, 0xFFFFFFFF))
        req = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0,
                          0xFFFFFFFF) + sockid
        self.msg = struct.pack("=IHHII", 16 + len(req), self.SOCK_DIAG_BY_FAMILY,
                               1, 1, 0) + req          # NLM_F_REQUEST
        self.want = struct.pack("!HH", local_port, remote_port)
        try:
            self.nl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 4)
        except OSError:
            self.nl = None

    def __call__(self):
        if self.nl is None:
            return tcp_queues_proc(self.args[1], self.args[3], self.family)
        self.nl.send(self.msg)
        data = self.nl.recv(65536)
        if struct.unpack_from("=H", data, 4)[0] == self.NLMSG_ERROR:
            return None
        # inet_diag_msg: family, state, timer, retrans, then the socket id
        # (ports first).  An exact lookup that misses may answer with the
        # listening socket: check that the ports are ours.
        if data[16 + 4:16 + 8] != self.want:
            return None
        _expires, rq, wq = struct.unpack_from("=III", data, 16 + 4 + 48)
        return wq, rq

    def close(self):
        if self.nl is not None:
            self.nl.close()


def unsent(sock):
    """Bytes written to a TCP socket that the peer's kernel has not acked
    yet (sent or not): SIOCOUTQ, which Linux numbers as TIOCOUTQ."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ,
                                          b"\0" * 4))[0]


def tcp_queues_proc(local_port, remote_port, family=socket.AF_INET):
    """As TcpQueues, from /proc/net/tcp{,6}; None if not found."""
    path = "/proc/net/tcp6" if family == socket.AF_INET6 else "/proc/net/tcp"
    want_l = f":{local_port:04X}"
    want_r = f":{remote_port:04X}"
    with open(path) as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[1].endswith(want_l) and parts[2].endswith(want_r):
                tx, rx = parts[4].split(":")
                return int(tx, 16), int(rx, 16)
    return None


# --------------------------------------------------------------------------
# Scenarios that mostly wait, run for every variant at once

class Background:
    """Runs scenarios that spend their time waiting (idle timeouts, grace
    periods, the EMFILE watch) for every selected variant at once, in
    threads, alongside the rest of the suite; each variant's test then
    collects its own outcome.  Test ids and failures stay per variant, and
    the waits overlap instead of adding up.

    A scenario is fn(variant, start): start(*args, **kw) starts a Server
    that is cleaned up when the scenario ends, however it ends."""

    def __init__(self):
        self.jobs = {}
        self.lock = threading.Lock()

    def start(self, pairs):
        with self.lock:
            for fn, variant in pairs:
                if (fn, variant) in self.jobs:
                    continue
                job = {"error": None, "done": threading.Event()}
                t = threading.Thread(target=self._run, args=(fn, variant, job),
                                     name=f"{fn.__name__}[{variant}]", daemon=True)
                self.jobs[(fn, variant)] = job
                t.start()

    @staticmethod
    def _run(fn, variant, job):
        servers = []

        def start(*args, **kw):
            server = Server(variant, args, **kw)
            servers.append(server)
            return server

        try:
            fn(variant, start)
        except BaseException as e:       # handed to the test that owns it
            job["error"] = e
        finally:
            for server in servers:
                server.cleanup()
            job["done"].set()

    def check(self, fn, variant, timeout=120):
        self.start([(fn, variant)])
        job = self.jobs[(fn, variant)]
        if not job["done"].wait(timeout):
            raise AssertionError(f"{fn.__name__}[{variant}] still running after "
                                 f"{timeout} s")
        if job["error"] is not None:
            raise job["error"]


def background_test(fn):
    """Make test_<fn> from scenario fn: one test per variant that collects
    fn's outcome for that variant from the shared Background."""
    def test(variant, background):
        background.check(fn, variant)
    test.__name__ = "test_" + fn.__name__
    test.__qualname__ = test.__name__
    test.__doc__ = fn.__doc__
    test.scenario = fn
    return test
