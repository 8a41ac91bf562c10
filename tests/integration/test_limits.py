"""
Section 6: bad or slow fishermen.  Every limit answers with one ERROR line
and closes that connection only; lines before the offending one are valued
and paid first.
"""

import os
import resource
import select
import signal
import socket
import threading
import time

import harness
from contract import clause, one_worker
from harness import background_test

pytestmark = clause("limits", "then closes that connection only. No other connection "
                    "notices.")
LINE_LENGTH = clause("limits", "line length (bytes before the LF, a CR included)")
MAX_LINE = clause("limits", "-m, --max-line | ERROR line too long, close")

TOO_LONG = "ERROR line too long"


def padded(line, size, tail=b""):
    """line, right-padded with blanks (ignored by the grammar) so that it
    is exactly `size` bytes including tail."""
    out = line + b" " * (size - len(line) - len(tail)) + tail
    assert len(out) == size
    return out


# -- line length ------------------------------------------------------------

@LINE_LENGTH
def test_line_of_exactly_max_line_bytes_is_fine(variant, market):
    server = market()
    c = server.connect()
    c.send(padded(b"1 pound of cod", 1024) + b"\n" +
           # 1024 bytes before the LF, the CR included: still fine.
           padded(b"2 pounds of tuna", 1024, b"\r") + b"\n")
    assert c.read_reply() == "38"
    # And as a final line at end of input.
    c.send(padded(b"1 lb of trout", 1024))
    c.half_close()
    assert c.replies() == ["45"]
    assert c.ended == "eof"
    assert server.stop() == 0
    assert server.summary() == (1, 3, 0, 45)


@LINE_LENGTH
def test_line_one_byte_too_long(variant, market):
    server = market()
    c = server.connect()
    c.send(b"3 pounds of cod\n" + padded(b"1 pound of tuna", 1025) + b"\n" +
           b"1 pound of salmon\n", may_close=True)
    # The earlier line is valued and paid before the ERROR; nothing after.
    assert c.replies() == ["24", TOO_LONG]
    other = server.connect()          # no other connection notices
    other.send(b"1 lb of cod\n")
    other.half_close()
    assert other.replies() == ["8"]
    assert server.stop() == 0
    # The overlong line was never consumed: not in L.
    assert server.summary() == (2, 2, 0, 24 + 8)


@LINE_LENGTH
def test_line_too_long_cr_counts(variant, market):
    server = market()
    c = server.connect()
    # 1024 bytes and then CR LF: 1025 bytes before the LF.
    c.send(b"3 pounds of cod\n" + padded(b"1 pound of tuna", 1025, b"\r") + b"\n",
           may_close=True)
    assert c.replies() == ["24", TOO_LONG]
    assert server.stop() == 0
    assert server.summary() == (1, 1, 0, 24)


@MAX_LINE
def test_line_too_long_with_small_max_line(variant, market):
    server = market("-m", "16")
    cases = [
        # (data, replies): "2 pounds of cod" is 15 bytes.
        (b"2 pounds of cod \n", ["16"]),                       # 16: fine
        (b"2 pounds of cod\r\n", ["16"]),                      # 16 with the CR
        (b"1 lb of cod\n2 pounds of cod  \n", ["8", TOO_LONG]),  # 17
        (b"1 lb of cod\n2 pounds of cod \r\n", ["8", TOO_LONG]),  # 17 with the CR
        (b"2 pounds of cod ", ["16"]),                         # final line, 16
        (b"2 pounds of cod \r", [TOO_LONG]),                   # final line, 17
    ]
    for data, want in cases:
        c = server.connect()
        c.send(data, may_close=True)
        c.half_close(may_close=True)
        assert c.replies() == want, data
    assert server.stop() == 0
    assert server.summary() == (6, 5, 0, 16 + 16 + 8 + 8 + 16)


@MAX_LINE
def test_max_line_one(variant, market):
    server = market("-m", "1")
    c = server.connect()
    c.send(b"\n\n7\nx\n")              # blank, blank, malformed, malformed
    assert c.read_reply() == "0"
    c.send(b"ab", may_close=True)
    assert c.replies() == [TOO_LONG]
    assert server.stop() == 0
    assert server.summary() == (1, 2, 2, 0)


@clause("limits", "fires as soon as more than this many bytes without an LF are buffered")
def test_line_too_long_fires_without_waiting_for_lf(variant, market):
    # "as soon as more than this many bytes without an LF are buffered":
    # the fisherman neither ends the line nor closes; the server must not
    # wait for him.
    server = market("-m", "16")
    c = server.connect()
    c.send(b"1 lb of cod\n" + b"x" * 17)
    assert c.replies() == ["8", TOO_LONG]
    # Exactly 16 bytes buffered without an LF is not too long: the LF that
    # follows completes a valid line.
    c = server.connect()
    c.send(b"2 pounds of cod ")
    c.send(b"\n")
    assert c.read_reply() == "16"
    c.half_close()
    assert c.replies() == []
    assert c.ended == "eof"


# -- idle timeout -------------------------------------------------------------

def idle_timeout(variant, market):
    server = market("-t", "1")
    silent = server.connect()
    quiet_after = server.connect()
    quiet_after.send(b"3 pounds of cod\n")
    assert quiet_after.read_reply() == "24"
    # A third keeps talking, a line every 0.3 s for longer than the timeout
    # (the pauses are the scenario): activity resets the idle clock.
    busy = server.connect()
    for i in range(1, 7):
        busy.send(b"1 lb of cod\n")
        assert busy.read_reply() == str(8 * i)
        time.sleep(0.3)
    busy.half_close()
    assert busy.replies() == []
    assert busy.ended == "eof"
    assert silent.replies() == ["ERROR idle timeout"]
    assert quiet_after.replies() == ["ERROR idle timeout"]
    assert server.stop() == 0
    assert server.summary() == (3, 7, 0, 24 + 48)


test_idle_timeout = clause(
    "limits", "idle time: no byte received and no pending reply byte sent")(
    background_test(idle_timeout))


def idle_timeout_noticed_late(variant, market):
    """A line sent in time but read only after the deadline, because the
    server's loop came round late (here it is stopped, SIGSTOP, standing in
    for a loaded machine), is bought, not taken for idleness.  libevent
    hands such an event to the server as a timeout alone (timeout_process()
    in event.c drops the ready EV_READ): a server that believes it sends
    ERROR idle timeout and loses the line.  (CI's ThreadSanitizer run, -w 4
    on 2 CPUs, once failed test_idle_timeout so: a fisherman who sent his
    line as soon as he was connected was told he was idle.)"""
    server = market("-t", "1")
    c = server.connect()
    c.send(b"3 pounds of cod\n")
    assert c.read_reply() == "24"       # read: his idle clock has started
    os.kill(server.pid, signal.SIGSTOP)
    try:
        harness.wait_until(lambda: harness.stopped(server.pid), 10.0,
                           what=f"{variant} to stop (SIGSTOP)")
        c.send(b"1 lb of cod\n")
        # The scenario: asleep past his deadline (-t 1), his line waiting.
        time.sleep(1.5)
    finally:
        os.kill(server.pid, signal.SIGCONT)
    assert c.read_reply() == "32"
    c.half_close()
    assert c.replies() == []
    assert c.ended == "eof"
    assert server.stop() == 0
    assert server.summary() == (1, 2, 0, 32)


test_idle_timeout_noticed_late = clause(
    "limits", "idle time: no byte received and no pending reply byte sent")(
    background_test(idle_timeout_noticed_late))


def idle_timeout_zero_disables_it(variant, market):
    server = market("-t", "0")
    c = server.connect()
    c.send(b"3 pounds of cod\n")
    assert c.read_reply() == "24"
    # Part of the scenario: stay silent past what a 1 s (or "0 s") timeout
    # would allow.
    assert c.reply_within(2.0) is None
    c.send(b"1 pound of tuna\n")
    assert c.read_reply() == "39"
    c.half_close()
    assert c.replies() == []
    assert c.ended == "eof"


test_idle_timeout_zero_disables_it = clause(
    "cli", "-t 0 disables the idle timeout")(
    background_test(idle_timeout_zero_disables_it))


# -- output backpressure --------------------------------------------------------

# Generous: ~5 s normally, ~10 s with sanitizers on a loaded machine; a
# server that never stops reading fails here instead of hanging the suite.
BACKPRESSURE_DEADLINE = 90.0


@clause("limits", "the server stops reading that connection until the client reads; "
        "nothing is dropped, nothing is closed")
def test_backpressure_bounds_memory_and_loses_nothing(variant, market, tmp_path):
    """A fisherman who pipelines his catch and never reads his payments.

    Replies are one per read event, so to make the server hold 64 KiB of
    unsent replies the client makes them big (19-digit tallies) and many
    (one line per read event: each line is written only once the server
    has read the one before), and shrinks what the kernels can absorb: a
    small receive buffer and a tiny MSS (which keeps the server's autotuned
    send buffer small).  Once the server stops reading, the client's writes
    stall; the server's memory must stay bounded meanwhile.  Then the client
    reads, everything arrives in order, and the last tally is right.

    "The server has read what we sent" needs BOTH kernels: its receive
    queue empty AND nothing left in ours (TIOCOUTQ: written, not yet acked).
    The pitfall: the server's receive queue alone is also empty while our
    bytes are still stuck in our own kernel (a tiny-MSS connection can sit
    in retransmission backoff for seconds); taken for "it read them", that
    sends the next line into our own queue, lines pile up there, the server
    reads several per event and pays once, and the 64 KiB is never reached
    (or, once our send buffer is full, the loop spins without sending)."""
    deadline = time.monotonic() + BACKPRESSURE_DEADLINE
    prices = tmp_path / "prices.txt"
    prices.write_text("big 1000000000\none 1\n")
    server = market("--prices", str(prices), "-t", "0")
    # 4 KiB, not less: with the minimum (~2 KiB) a few tiny segments
    # overflow the receive memory, the client's kernel drops the server's
    # replies, and the server's kernel backs off for seconds (or, at 2 KiB,
    # for good) before resending them.
    c = server.connect(rcvbuf=4096, maxseg=88)
    sock = c.sock
    sock.setblocking(False)
    queues = harness.TcpQueues(server.family, server.host, server.port,
                               server.host, c.port)
    ones = 0
    trail = []          # the last few (time, our unsent, its unread), to report

    def state():
        q = queues()
        assert q is not None, f"{variant}: the server side of the connection is gone"
        return harness.unsent(sock), q[1], harness.proc_state(server.pid)

    def fail(what):
        raise AssertionError(
            f"{variant}: {what} (after {ones} one-line writes; last states "
            f"(s, our unsent, its unread, server state): {trail[-4:]})")

    def settle(patience):
        """Wait until the server has read all we sent (True), or has stopped
        reading (False): bytes wait unread in its kernel and for `patience`
        seconds nothing moves while the server sleeps.  A server that is
        runnable but not scheduled (a loaded machine) is not "stopped".
        Our own unsent bytes with nothing unread on its side are the kernel
        retransmitting: wait for them (deadline permitting)."""
        last, since, spins = None, time.monotonic(), 0
        while True:
            now = time.monotonic()
            unsent, unread, pstate = state()
            if (unsent, unread) != last or pstate == "R":
                last, since = (unsent, unread), now
                trail.append((round(now - deadline + BACKPRESSURE_DEADLINE, 3),
                              unsent, unread, pstate))
                del trail[:-8]
            if unsent == 0 and unread == 0:
                return True
            if unread and now - since > patience:
                return False
            if now > deadline:
                fail(f"no backpressure seen within {BACKPRESSURE_DEADLINE} s")
            spins += 1
            if spins > 100:            # beyond ~1 ms: poll gently
                time.sleep(0.001)

    try:
        # 1000 lines of 1e15 each: every tally from now on has 19 digits.
        # In pieces, each read before the next: a burst of tiny-MSS segments
        # overflows the server's receive memory and the dropped ones stall
        # our kernel in retransmission backoff.
        for _ in range(10):
            c.send(b"1000000 lb of big\n" * 100)
            assert settle(2.0), f"{variant} stopped reading before any reply"
        prefix = 1000
        # Phase 1: one line per read event, one 21-byte reply each, until
        # the server stops reading: ~25000 lines (its kernel's send buffer,
        # autotuned, holds most of their replies), ~90 us each.
        line = b"1 lb of one\n"
        while True:
            sock.send(line)     # never blocks: all we sent has been read
            ones += 1
            if not settle(0.75):
                break
    finally:
        queues.close()
    # Phase 2: several more megabytes, pipelined in big writes.  They go
    # nowhere while we do not read: the writes stall.
    bulk = line * (3 * 1024 * 1024 // len(line))
    # A small send buffer of our own, so the stall shows within ~100 KiB
    # instead of after the kernel's autotuned megabytes.  (Set only now: in
    # phase 1 it would throttle the one-line writes themselves.)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
    sent = 0
    stopped_rss = server.rss_kib()
    queues = harness.TcpQueues(server.family, server.host, server.port,
                               server.host, c.port)
    try:
        while sent < len(bulk) // 4:
            try:
                sent += sock.send(bulk[sent:sent + 65536])
            except BlockingIOError:
                if not settle(0.5):
                    break       # stalled: nothing moves, the server sleeps
    finally:
        queues.close()
    assert sent < len(bulk) // 4, (
        f"{variant}: {sent} bytes went in while the server was not reading")
    # Measured from the moment it stopped reading, not from its start: with
    # ASan, every read before that leaves freed memory in the quarantine
    # (tens of MiB over phase 1), which says nothing about buffering.
    # Holding 64 KiB of replies and a read or two, it must not grow.
    grown = server.rss_kib() - stopped_rss
    assert grown < 8 * 1024, f"{variant}: RSS grew {grown} KiB while it was not reading"
    assert server.running()

    # Now read everything while the rest goes out.
    received = []

    def reader():
        buf = b""
        while time.monotonic() < deadline:
            if not select.select([sock], [], [], 0.2)[0]:
                continue
            try:
                chunk = sock.recv(65536)
            except BlockingIOError:
                continue
            if not chunk:
                break
            buf += chunk
        received.append(buf)

    t = threading.Thread(target=reader)
    t.start()
    try:
        while sent < len(bulk) and time.monotonic() < deadline:
            select.select([], [sock], [], 0.2)
            try:
                sent += sock.send(bulk[sent:sent + 65536])
            except BlockingIOError:
                pass
        assert sent == len(bulk), (f"{variant}: only {sent} of {len(bulk)} bytes "
                                   f"went in once we read, within the deadline")
        sock.shutdown(socket.SHUT_WR)
    except BaseException:
        sock.shutdown(socket.SHUT_RDWR)     # wakes the reader: it sees EOF
        raise
    finally:
        t.join()
    replies = harness.split_replies(received[0])
    total = prefix * 10**15 + ones + len(bulk) // len(line)
    assert replies and replies[-1] == str(total), (
        f"{variant}: last reply {replies[-1:]} (want {total}): the end of the "
        f"replies did not arrive within the deadline, or one was lost")
    tallies = [int(r) for r in replies]          # no ERROR, nothing garbled
    assert all(a < b for a, b in zip(tallies, tallies[1:])), "replies out of order"
    assert server.stop() == 0
    assert server.summary() == (1, prefix + ones + len(bulk) // len(line), 0, total)


# -- open connections -----------------------------------------------------------

def max_conns_one(variant, market):
    server = market("-c", "1")
    first = server.connect()
    first.send(b"3 pounds of cod\n")
    assert first.read_reply() == "24"
    second = server.connect()          # completes in the listen backlog
    second.send(b"1 pound of tuna\n")
    # Part of the scenario: while the first is in, the second is not served.
    assert second.reply_within(0.5) is None
    first.half_close()
    assert first.replies() == []
    assert first.ended == "eof"
    first.close()
    # Once the first has left, the second is accepted and paid.
    assert second.read_reply() == "15"
    second.half_close()
    assert second.replies() == []
    assert second.ended == "eof"
    assert server.stop() == 0
    assert server.summary() == (2, 2, 0, 24 + 15)


test_max_conns_one = one_worker(
    "with N workers -c 1 lets each hold one, N in all, spread by the kernel "
    "(test_workers.py checks -c with workers)")(clause(
        "limits", "further connections wait in the listen backlog, unaccepted, until one "
        "closes")(background_test(max_conns_one)))


# -- descriptors exhausted --------------------------------------------------------

def emfile_pauses_and_serves_everyone(variant, market):
    server = market("-t", "0")
    # A few fishermen first, over every worker, so that whatever is opened
    # on the first ones is open before the count: under ThreadSanitizer,
    # its symbolizer, started at the first race it looks at (with workers,
    # the known one inside libevent, tests/tsan.supp), which without a
    # descriptor to start with cannot match the suppression and aborts.
    warm = [server.connect() for _ in range(16 * variant.workers)]
    for c in warm:
        c.send(b"\n")
    for c in warm:
        assert c.read_reply() == "0"
        c.half_close()
        assert c.replies() == []
    # Few descriptors: what it holds now (stdio, event bases, listening
    # sockets, pipes: more with more workers) and room for 17 fishermen.
    # prlimit() on the running server rather than a preexec_fn: forking
    # with a preexec_fn is unsafe while other threads run, as they do here.
    held = len(os.listdir(f"/proc/{server.pid}/fd"))
    resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (held + 17, held + 17))
    n = 40                              # more fishermen than descriptors
    clients = [server.connect() for _ in range(n)]
    for c in clients:
        c.send(b"1 lb of cod\n")
    # Every accept that fits has happened once one of them is being served
    # (a worker accepts all it can before it reads; with several workers,
    # any one may be the first).
    ready, _, _ = select.select([c.sock for c in clients], [], [], harness.IO_TIMEOUT)
    assert ready, f"{variant}: nobody served within {harness.IO_TIMEOUT} s"
    first = next(c for c in clients if c.sock is ready[0])
    assert first.read_reply() == "8"
    # Part of the scenario: watch for 2 s that the server neither exits nor
    # spins on the accept that keeps failing.
    cpu0 = server.cpu_seconds()
    assert first.reply_within(2.0) is None
    burnt = server.cpu_seconds() - cpu0
    assert server.running(), f"{variant} exited: {server.stderr!r}"
    assert burnt < 0.3, f"{variant} burnt {burnt:.2f} s of CPU in 2 s at EMFILE"
    # Now everyone unloads and leaves; those still waiting are served as
    # descriptors free up, none accepted and then dropped.
    for i, c in enumerate(clients):
        c.send(b"%d pounds of cod\n" % i)
        c.half_close()
    paid = [harness.last_tally(c.replies(timeout=30)) for c in clients]
    assert paid == [8 + 8 * i for i in range(n)]
    assert all(c.ended == "eof" for c in clients)
    assert server.stop() == 0
    assert server.summary() == (len(warm) + n, 2 * n, 0, sum(paid))



test_emfile_pauses_and_serves_everyone = clause(
    "limits", "it never spins, never exits, and the waiting connections are served once "
    "descriptors free up")(background_test(emfile_pauses_and_serves_everyone))

# -- the listen backlog -------------------------------------------------------------

@clause("limits", "The listen backlog is large enough for a burst of 1000 simultaneous "
        "connects")
def test_listen_backlog_takes_a_burst_of_1000(variant, market):
    # Section 6: SOMAXCONN, not the article's 5.  The kernel reports a
    # listening socket's backlog as its "send queue" (what `ss -ltn` shows).
    server = market()
    any_addr = "::" if server.family == socket.AF_INET6 else "0.0.0.0"
    queues = harness.TcpQueues(server.family, server.host, server.port, any_addr, 0)
    try:
        backlog, _waiting = queues()
    finally:
        queues.close()
    with open("/proc/sys/net/core/somaxconn") as f:
        cap = int(f.read())
    assert backlog >= min(1000, cap), f"{variant}: listen backlog {backlog}"


@MAX_LINE
def test_max_line_at_its_upper_bound(variant, market):
    # -m 1048576 (DESIGN.md's ceiling): a 1 MiB line is still one line.
    server = market("-m", "1048576")
    c = server.connect()
    c.send(padded(b"3 pounds of halibut", 1048576) + b"\n")
    assert c.read_reply() == "42"
    c.send(padded(b"1 pound of cod", 1048577) + b"\n", may_close=True)
    assert c.replies() == [TOO_LONG]
    assert server.stop() == 0
    assert server.summary() == (1, 1, 0, 42)
