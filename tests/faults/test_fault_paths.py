"""
test_fault_paths.py - deterministic fault tests: the Nth call fails, not a
random one (`make faults-regress`; docs/TESTING.md, "Faults").

Each test starts a server under libfiu and tests/faults/fishfault.so with
FISHFAULT_NTH naming one call to fail, drives fishermen whose every reply is
checked (faultlib.Ledger), then requires, whatever the fault did:

- the server is alive and serves a new fisherman in full afterwards;
- no fisherman got a wrong tally, and the books (-v lines, summary line)
  agree with what each one saw (faultlib.check_books);
- its descriptors are back to what they were before the fishermen came;
- on SIGTERM it exits 0, and LeakSanitizer finds no leak;
- its stderr holds nothing but -v lines, the summary, one-line
  "fishmarket: ..." messages and libevent's own "[warn] ..." lines;
- and the fault was really injected (the report of fishfault.so says so),
  or the test would prove nothing.

The first three tests pin bugs found by review and by these tests; the
sweeps fail every call of a family in turn, one run per call, the way
SQLite tests its malloc and I/O failures: during start-up (the server must
start, or exit 1 with a "fishmarket: " line) and during the life of one
connection.
"""

import errno
import os
import select
import signal
import socket
import subprocess
import time

import pytest

from faultlib import (VARIANTS, Catch, Conn, Failure, FaultServer,
                      check_books, describe_exit, event_kind, parse_stderr,
                      read_to_end, talk, wait_for)

# -t 2: a fisherman left waiting is cut within 2 s (a test waits 15 s);
# -m 100000: the long line of PULLUP_PIECES is a line, not "too long".
ARGS = ("-v", "-t", "2", "-g", "5", "-m", "100000")
IO_TIMEOUT = 15.0
SETTLE_TIMEOUT = 10.0    # fds back: -t 2, plus the 2 s linger, plus margin

SIMPLE = b"1 lb of cod\n2 lb of tuna\n"                  # 8 + 30 = 38
# Two pieces: the reply to the first shows that the server has read it all
# and kept the unfinished second line (about 900 bytes) in its input; the
# second piece (3 KiB) then lands in a new chain of the input evbuffer, so
# evbuffer_pullup() must allocate to make the line one block.  Then a
# final line without LF, weighed at the half-close.
PULLUP_PIECES = [b"1 lb of cod\n2" + b" " * 900 + b"lb of co",
                 b"d" + b" " * 3000 + b"\n3 lb of tuna"]
PULLUP = b"".join(PULLUP_PIECES)                          # 8 + 16 + 45

# One pattern set per family for the sweeps.  epoll_wait is left out of
# net: how often the loop waits depends on timing, and the Nth call would
# not be the same call from one run to the next.
SWEEP = {
    "alloc": "libc/mm/*",
    "rw": "posix/io/rw/*",
    "net": "posix/io/net/*+fishfault/net/accept4+fishfault/net/epoll_ctl",
}


@pytest.fixture(params=VARIANTS)
def variant(request):
    return request.param


def known_line(line):
    return line.startswith(("fishmarket: ", "[warn] ")) or \
        line == EVENT_INIT_EXIT


def finish(server, conns, baseline):
    """Everything checked after the fishermen: fds, exit, leaks, books,
    stderr.  Returns the problems found."""
    problems = []
    try:
        wait_for(lambda: not server.running() or server.fds() == baseline,
                 SETTLE_TIMEOUT,
                 "the server's fds to come back to their baseline")
    except Failure:
        problems.append(f"fds {dict(server.fds())}, baseline "
                        f"{dict(baseline)}")
    status = server.stop()
    if status != 0:
        problems.append(describe_exit(status))
    leaked, text = server.leaks()
    if leaked:
        problems.append(f"LeakSanitizer: {leaked} bytes leaked:\n{text[-3000:]}")
    closed, summary, others = parse_stderr(server.stderr())
    problems += check_books(closed, summary, conns)
    problems += [f"unexpected stderr line: {line!r}" for line in others
                 if not known_line(line)]
    return problems


def run(variant, name, nth, scenario, args=ARGS):
    """Start a server with FISHFAULT_NTH=nth, run scenario(server) -> the
    list of Conns made, then check everything.  Returns (problems, the
    fishfault report, the server's stderr)."""
    server = FaultServer(variant, name, args, nth=nth)
    try:
        server.listen()
        baseline = server.fds()
        conns = scenario(server)
        if not server.running():
            raise Failure("the server died")
        # Whatever happened to them, a new fisherman is served in full.
        after = talk(server.addr, SIMPLE, IO_TIMEOUT)
        conns.append(after)
        problems = [] if after.served_in_full else [
            f"the fisherman after the fault was not served in full: "
            f"ended {after.how}, replies {after.ledger.replies}, last "
            f"{after.ledger.last}, errors {after.ledger.errors}"]
        problems += finish(server, conns, baseline)
        return problems, server.report(), server.stderr()
    except (Failure, OSError) as e:
        try:
            status = server.proc.wait(1.0)    # dying, or alive?
        except subprocess.TimeoutExpired:
            status = None
        if status is None:
            return [f"{e} (the server is alive)"], server.report(), server.stderr()
        return ([f"{e}: {describe_exit(server.wait_exit())}"],
                server.report(), server.stderr())
    finally:
        server.cleanup()


def fail_with(problems, stderr):
    events = [line for line in stderr.splitlines()
              if not line.startswith(("served ",)) and " closed (" not in line]
    pytest.fail("\n".join(problems) + "\n-- stderr (events):\n" +
                "\n".join(events[-20:]))


# --------------------------------------------------------------------------
# Bugs found by review, pinned

def test_pullup_fails_in_the_read_callback(variant):
    """evbuffer_pullup() returns NULL when it cannot allocate the block:
    the read callback must not weigh a NULL catch.  (EVBUFFER_DATA() of
    v1-style is the same call.)  Before the fix: SIGSEGV in memchr()."""
    def scenario(server):
        return [talk(server.addr, PULLUP, IO_TIMEOUT, pieces=PULLUP_PIECES)]

    problems, (_, calls, failed), stderr = run(
        variant, f"pullup-{variant}",
        f"libc/mm/*@evbuffer_pullup:1:{errno.ENOMEM}", scenario)
    if not failed:
        problems.append("no allocation in evbuffer_pullup() was failed: "
                        "the test proves nothing (did the input not span "
                        "two chains?)")
    if failed and not any(line.startswith("fishmarket: ") and
                          "memory" in line for line in stderr.splitlines()):
        problems.append("nothing on stderr says the server ran out of memory")
    if problems:
        fail_with(problems, stderr)


def test_a_failed_write_is_not_paid(variant):
    """When the reply cannot be written or queued, the fisherman is closed:
    the books must not count that tally as paid.  Before the fix
    pay_fisherman() booked it first: the summary said paid $8 to a
    fisherman who got nothing.  The reply goes first to send() (the
    write-through of issue 11: nothing is queued before it), so that is
    the write that fails here, with ECONNRESET, the first send() of the
    server."""
    conns = []

    def scenario(server):
        conns.append(talk(server.addr, b"1 lb of cod\n", IO_TIMEOUT))
        return list(conns)

    problems, (_, calls, failed), stderr = run(
        variant, f"paywrite-{variant}",
        f"posix/io/net/send:1:{errno.ECONNRESET}", scenario)
    if not failed:
        problems.append("no send() was failed")
    # check_books allows a tally booked and not received (a reply queued,
    # then lost with the connection); here none was ever queued.
    closed, _, _ = parse_stderr(stderr)
    for peer, why, lines, rejected, paid in closed:
        if conns and peer.endswith(f":{conns[0].port}") and \
                paid != (conns[0].ledger.last or 0):
            problems.append(f"booked ${paid} paid to {peer} ({why}), who "
                            f"received {conns[0].ledger.last}: the write "
                            f"of that tally failed, nothing was queued")
    if problems:
        fail_with(problems, stderr)


def test_lost_output_callback_still_flushes(variant):
    """libevent 2.1.12's bufferevent_socket_new() does not check the
    evbuffer_add_cb() that arms the write event whenever output is added
    (bufferevent_sock.c:375), its 4th allocation; bufferevent_new() of
    v1-style is the same function.  Such a bufferevent never writes: the
    fisherman waits for his tally for ever, and at -t the server queues
    ERROR idle timeout and waits for it to drain, for ever, holding the
    fd.  With bufferevent_enable(EV_WRITE) when a fisherman is sent away,
    he gets his tally and the ERROR line at -t, and the fd is closed."""
    def scenario(server):
        # Paid, then either served in full (a server that writes a reply
        # itself when nothing is queued never needs the callback) or sent
        # away at -t with his tally.  Never left waiting.
        conn = talk(server.addr, b"1 lb of cod\n", IO_TIMEOUT)
        if conn.ledger.last != 8 or conn.ledger.errors not in (
                [], ["idle timeout"]):
            raise Failure(f"want 8, then the end or ERROR idle timeout; got "
                          f"last {conn.ledger.last}, errors "
                          f"{conn.ledger.errors}, ended {conn.how}")
        return [conn]

    problems, (_, calls, failed), stderr = run(
        variant, f"outbufcb-{variant}",
        f"libc/mm/*@bufferevent_socket_new:4:{errno.ENOMEM}", scenario)
    if not failed:
        problems.append(f"bufferevent_socket_new() made {calls} allocations, "
                        f"not 4: the 4th is no longer evbuffer_add_cb()?")
    if problems:
        fail_with(problems, stderr)


def pipeline_until_paid(addr, limit, timeout):
    """A fisherman who sends one line per segment (TCP_NODELAY, so the
    server reads and answers them one at a time) and reads only to see
    whether anything came: until the first reply arrives or he has sent
    limit lines.  Then he half-closes and reads to the end.  A Conn."""
    line = b"1000000 lb of tuna\n"
    conn = Conn(line * limit)
    deadline = time.monotonic() + timeout
    s = socket.create_connection(addr, timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.port = s.getsockname()[1]
    try:
        s.setblocking(False)
        while conn.sent < len(conn.catch.data) and not conn.ledger.replies:
            try:
                conn.sent += s.send(line)
            except BlockingIOError:
                select.select([s], [s], [], 0.1)
            try:
                chunk = s.recv(65536)
                if not chunk:
                    conn.how = "eof"
                    break
                conn.ledger.feed(chunk, conn.sent_lines)
            except BlockingIOError:
                pass
        s.setblocking(True)
        if conn.how is None:
            conn.catch = Catch(conn.catch.data[:conn.sent])
            conn.ledger.catch = conn.catch
            s.shutdown(socket.SHUT_WR)
            conn.half_closed = True
        read_to_end(s, conn, deadline, timeout)
    finally:
        s.close()
    conn.ledger.end()
    return conn


def test_lost_output_callback_backpressure(variant):
    """The same bufferevent without its output callback, and a fisherman
    who sends line after line without waiting: the server queues reply
    after reply that is never written, and at 64 KiB stops reading him.
    No timeout is armed then (the read one went with reading, the write
    one was never added): he and his fd would wait for ever.  With
    bufferevent_enable(EV_WRITE) at that point, the replies go out and he
    is served in full."""
    def scenario(server):
        conn = pipeline_until_paid(server.addr, 40000, 20.0)
        if not conn.served_in_full:
            raise Failure(f"not served in full: {conn.how}, last "
                          f"{conn.ledger.last} of {conn.catch.total}, "
                          f"errors {conn.ledger.errors}")
        return [conn]

    # -t 0: no idle timeout to rescue him; what is tested is that the
    # replies flow, not how long he waits.
    problems, (_, calls, failed), stderr = run(
        variant, f"outbufbp-{variant}",
        f"libc/mm/*@bufferevent_socket_new:4:{errno.ENOMEM}", scenario,
        args=("-v", "-t", "0", "-g", "5"))
    if not failed:
        problems.append("the 4th allocation of bufferevent_socket_new() "
                        "was not failed")
    if problems:
        fail_with(problems, stderr)


@pytest.mark.parametrize("open_at_signal", [False, True],
                         ids=["idle", "one-leaving"])
def test_loopexit_fails_at_closing_time(variant, open_at_signal):
    """event_base_loopexit() allocates (an event_base_once() timer, which
    is where the fault is put: loopexit jumps to it as a tail call, so is
    not on the stack): when it failed, the server had taken SIGTERM,
    stopped accepting, and never exited.  With nobody in, close_market calls it; with one fisherman in,
    the last see_off() during the grace period does."""
    server = FaultServer(variant, f"loopexit-{variant}", ARGS,
                         nth=f"libc/mm/*@event_base_once:1:{errno.ENOMEM}")
    problems = []
    try:
        server.listen()
        baseline = server.fds()
        conns = []
        if open_at_signal:
            # Half a line in, then SIGTERM: the grace period waits for him;
            # he finishes his line and half-closes, is paid and leaves.
            s = socket.create_connection(server.addr, timeout=IO_TIMEOUT)
            conn = Conn(b"3 lb of cod\n", s.getsockname()[1])
            s.sendall(b"3 lb of")
            # In: his socket is among the server's fds.
            wait_for(lambda: server.fds()["socket"] > baseline["socket"],
                     IO_TIMEOUT, "the server to accept the fisherman")
            server.proc.send_signal(signal.SIGTERM)
            s.sendall(b" cod\n")
            conn.sent = len(conn.catch.data)
            s.shutdown(socket.SHUT_WR)
            conn.half_closed = True
            try:
                read_to_end(s, conn, time.monotonic() + IO_TIMEOUT,
                            IO_TIMEOUT)
            finally:
                s.close()
            conn.ledger.end()
            conns.append(conn)
            status = server.wait_exit(IO_TIMEOUT)
        else:
            status = server.stop(IO_TIMEOUT)
        if status != 0:
            problems.append(describe_exit(status))
        if not server.report()[2]:
            problems.append("event_base_loopexit() was never made to fail")
        closed, summary, others = parse_stderr(server.stderr())
        problems += check_books(closed, summary, conns)
        leaked, text = server.leaks()
        if leaked:
            problems.append(f"{leaked} bytes leaked:\n{text[-2000:]}")
    except Failure as e:
        problems.append(f"{e} ({describe_exit(server.proc.poll())})")
    finally:
        server.cleanup()
    if problems:
        pytest.fail("\n".join(problems))


# The call that starts watching the listening socket, in each variant.
WATCH_DOOR = {"v1-style": "event_add", "v2-raw": "event_add",
              "v2-listener": "evconnlistener_enable"}


def test_listening_means_accepting(variant):
    """The listening socket cannot be watched (epoll_ctl ADD fails with
    ENOMEM): the server must exit 1 saying so, not print "listening on" and
    accept nobody.  evconnlistener_new() ignores that failure
    (listener.c:204): v2-listener used to listen deaf."""
    server = FaultServer(
        variant, f"door-{variant}", ARGS,
        nth=f"fishfault/net/epoll_ctl@{WATCH_DOOR[variant]}:1:{errno.ENOMEM}")
    problems = []
    try:
        addr = first_line_or_exit(server, IO_TIMEOUT)
        if not server.report()[2]:
            problems.append("no epoll_ctl ADD was failed")
        if addr is None:
            status = server.wait_exit()
            if status != 1 or not any(
                    line.startswith("fishmarket: ")
                    for line in server.stderr().splitlines()):
                problems.append(f"{describe_exit(status)}, stderr "
                                f"{server.stderr()!r}")
        else:
            try:
                conn = talk(addr, SIMPLE, 5.0)
                if not conn.served_in_full:
                    problems.append(f"listening, but the fisherman ended "
                                    f"{conn.how} with {conn.ledger.last}")
            except Failure as e:
                problems.append(f"says it is listening, but: {e}")
    finally:
        server.cleanup()
    if problems:
        pytest.fail("\n".join(problems))


# The call each variant accepts with (v2-listener's is libevent's).
ACCEPT_POINT = {"v1-style": "posix/io/net/accept",
                "v2-raw": "fishfault/net/accept4",
                "v2-listener": "fishfault/net/accept4"}


def test_door_cannot_be_watched_after_a_pause(variant):
    """accept() fails with EMFILE: the server stops watching the listening
    socket for the back-off, then watches it again; and that epoll_ctl ADD
    fails (ENOMEM).  A passing trouble: the server must try again and serve
    the fisherman who was waiting, not exit 1 with everyone in it, which
    it did (found by faults.py under the net family)."""
    def scenario(server):
        # One-time faults, switched on at run time: the next accept fails
        # with EMFILE, and the next epoll_ctl ADD (the door's, at the end
        # of the back-off: nobody else is in) with ENOMEM.
        server.ctrl(f"enable name={ACCEPT_POINT[variant]},failnum=1,"
                    f"failinfo={errno.EMFILE},onetime",
                    f"enable name=fishfault/net/epoll_ctl,failnum=1,"
                    f"failinfo={errno.ENOMEM},onetime")
        conn = talk(server.addr, SIMPLE, IO_TIMEOUT)
        injected = server.report()[0]
        if injected.get(ACCEPT_POINT[variant]) != 1 or \
                injected.get("fishfault/net/epoll_ctl") != 1:
            raise Failure(f"the two faults were not both injected: "
                          f"{injected}")
        if not conn.served_in_full:
            raise Failure(f"the waiting fisherman was not served in full: "
                          f"{conn.how}, last {conn.ledger.last}")
        return [conn]

    problems, _, stderr = run(variant, f"doorpause-{variant}", None, scenario)
    if problems:
        fail_with(problems, stderr)


def test_unwritable_final_tally_is_not_logged_as_eof(variant):
    """At his half-close a fisherman's final line is weighed and its tally
    queued: send() finds the kernel's buffer full here (EAGAIN, injected),
    so the tally goes to the bufferevent.  Reading is off by then (libevent
    disables it at EOF), so arming the write event is an epoll_ctl ADD, and
    here every ADD fails: libevent's own attempt (ignored,
    bufferevent_sock.c:145) and write_for_sure()'s.  He is closed without
    his last tally.  That is the fault's cost, but the -v line said "closed
    (eof)", which promises he was paid in full (found by faults.py, net
    family, v2-listener)."""
    def scenario(server):
        s = socket.create_connection(server.addr, timeout=IO_TIMEOUT)
        conn = Conn(b"1 lb of cod\n2 lb of tuna", s.getsockname()[1])
        try:
            s.sendall(b"1 lb of cod\n")
            conn.sent = 12
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = s.recv(100)
                if not chunk:
                    break
                data += chunk
            conn.ledger.feed(data, 1)
            server.ctrl(f"enable name=posix/io/net/send,failnum=1,"
                        f"failinfo={errno.EAGAIN}")
            server.ctrl(f"enable name=fishfault/net/epoll_ctl,failnum=1,"
                        f"failinfo={errno.ENOMEM}")
            s.sendall(b"2 lb of tuna")
            conn.sent = len(conn.catch.data)
            s.shutdown(socket.SHUT_WR)
            conn.half_closed = True
            read_to_end(s, conn, time.monotonic() + IO_TIMEOUT, IO_TIMEOUT)
        finally:
            s.close()
            server.ctrl("disable name=fishfault/net/epoll_ctl")
            server.ctrl("disable name=posix/io/net/send")
        conn.ledger.end()
        if server.report()[0].get("fishfault/net/epoll_ctl", 0) < 2:
            raise Failure(f"not both ADDs failed: {server.report()[0]}")
        return [conn]

    problems, _, stderr = run(variant, f"finalwrite-{variant}", None, scenario)
    if problems:
        fail_with(problems, stderr)


# --------------------------------------------------------------------------
# Sweeps: every call of a family fails in turn

def first_line_or_exit(server, timeout):
    """The listening address, or None if the server exited first."""
    deadline = time.monotonic() + timeout
    buf = b""
    fd = server.proc.stdout.fileno()
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Failure(f"neither listening nor gone within {timeout} s")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            chunk = os.read(fd, 4096)
            if not chunk:
                return None
            buf += chunk
    host, port = buf.split(b"\n")[0].rsplit(b" ", 1)[1].rsplit(b":", 1)
    server.addr = (host.decode().strip("[]"), int(port))
    return server.addr


# libevent 1.x has no way to say that event_init() failed: libevent 2's
# event_init() exits the process with this line (event.c:509-510), so in
# v1-style it, not a "fishmarket: " line, is the one clear line.  The
# generations differ here: event_base_new() returns NULL, and v2 says why.
EVENT_INIT_EXIT = "[err] event_init: Unable to construct event_base"


@pytest.mark.parametrize("family", ["alloc", "net"])
def test_startup_sweep(variant, family):
    """The Nth allocation (or network call) of start-up fails, for every N:
    the server starts anyway and serves, or exits 1 with one clear
    "fishmarket: " line and no leak.  Never a crash, never a hang."""
    problems = []
    n = 0
    while True:
        n += 1
        name = f"start-{family}-{variant}"
        server = FaultServer(variant, name, ARGS, nth=f"{SWEEP[family]}:{n}")
        try:
            addr = first_line_or_exit(server, 15.0)
            _, calls, failed = server.report()
            if addr is None:
                status = server.wait_exit()
                err = server.stderr()
                lines = err.splitlines()
                if status != 1:
                    problems.append(f"call {n}: {describe_exit(status)}: "
                                    f"{lines[-3:]}")
                elif variant == "v1-style" and lines and \
                        lines[-1] == EVENT_INIT_EXIT:
                    pass
                elif not any(line.startswith("fishmarket: ") for line in lines):
                    problems.append(f"call {n}: exit 1 with no fishmarket: "
                                    f"line: {lines[-3:]}")
                bad = [line for line in lines if not known_line(line)]
                if bad:
                    problems.append(f"call {n}: unexpected stderr {bad[:3]}")
                leaked, text = server.leaks()
                if leaked:
                    problems.append(f"call {n}: {leaked} bytes leaked on the "
                                    f"way out:\n{text[-2000:]}")
                continue
            # It listens.  Call n not reached yet: it is not a start-up
            # call, and the sweep is over (test_connection_sweep goes on).
            # Reached: start-up survived it, and the server must serve.
            if failed:
                conn = talk(addr, SIMPLE, IO_TIMEOUT)
                if not conn.served_in_full:
                    problems.append(f"call {n}: started, but did not serve "
                                    f"a fisherman in full ({conn.how}, "
                                    f"{conn.ledger.last})")
            status = server.stop()
            leaked, text = server.leaks()
            if status != 0 or leaked:
                problems.append(f"call {n}: {describe_exit(status)}, "
                                f"{leaked} bytes leaked")
            if not failed:
                break
        except Failure as e:
            problems.append(f"call {n}: {e}")
            break
        finally:
            server.cleanup()
    if problems:
        pytest.fail(f"{len(problems)} of {n} start-up faults went wrong:\n" +
                    "\n".join(problems))


def count_calls(variant, family):
    """(calls before, calls during) the connection of the sweep: a dry run
    with the Nth call never reached."""
    server = FaultServer(variant, f"count-{family}-{variant}", ARGS,
                         nth=f"{SWEEP[family]}:1000000000")
    try:
        server.listen()
        talk(server.addr, SIMPLE, IO_TIMEOUT)
        before = server.report()[1]
        talk(server.addr, PULLUP, IO_TIMEOUT, pieces=PULLUP_PIECES)
        during = server.report()[1] - before
        server.stop()
        return before, during
    finally:
        server.cleanup()


@pytest.mark.parametrize("family", sorted(SWEEP))
def test_connection_sweep(variant, family):
    """One fisherman's whole life (accepted, two pieces, the second making
    evbuffer_pullup() allocate, a final line at half-close, the lingering
    close) with the Nth call of the family failing, for every N in it.
    A fisherman served first takes the server's one-time allocations."""
    before, during = count_calls(variant, family)
    assert during > 0, f"the {family} family fails no call of a connection"
    problems, missed = [], []
    for k in range(1, during + 1):
        def scenario(server):
            first = talk(server.addr, SIMPLE, IO_TIMEOUT)
            return [first, talk(server.addr, PULLUP, IO_TIMEOUT,
                                pieces=PULLUP_PIECES)]
        found, (_, calls, failed), stderr = run(
            variant, f"conn-{family}-{variant}",
            f"{SWEEP[family]}:{before + k}", scenario)
        if not failed:
            missed.append(k)
        problems += [f"call {k} of {during}: {p}" for p in found]
        if found:
            events = sorted({event_kind(line) for line in stderr.splitlines()
                             if line.startswith(("fishmarket: ", "[warn]")) and
                             " closed (" not in line})
            problems.append(f"call {k}: stderr said {events}")
    # The count is deterministic (one fisherman at a time, every piece one
    # read on loopback); if runs stop reaching the Nth call, say so.
    if len(missed) > 1:
        problems.append(f"calls {missed} of {during} were never reached")
    if problems:
        pytest.fail("\n".join(problems))
