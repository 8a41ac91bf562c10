"""
Section 7: closing time (SIGINT/SIGTERM and the grace period), the summary
line, -v and -q.
"""

import signal
import socket

import harness
from contract import clause, ours
from harness import background_test

pytestmark = clause("signals", "On exit (either way) it prints one summary line to standard "
                    "error, in this fixed format even for 1")
VERBOSE = clause("cli", "-v logs one line per closed connection to standard error (peer, "
                 "lines, tally, why it closed)")


def signal_and_wait_delivered(server, signum):
    """Send a signal and wait until it has left the pending sets, i.e. the
    server's handler has run.  Not a guess at the server's progress: only
    what a second signal needs to be a second delivery."""
    server.send_signal(signum)
    harness.wait_until(lambda: not harness.signal_pending(server.pid, signum), 5,
                       what=f"signal {signum} delivered")


@clause("signals", "on SIGINT or SIGTERM the server stops accepting, lets open connections "
        "finish, and exits 0 as soon as none is left")
def test_sigterm_lets_open_and_mid_batch_connections_finish(variant, market):
    server = market("-g", "30")
    a = server.connect()
    a.send(b"3 pounds of cod\n")
    assert a.read_reply() == "24"
    # A blank line is consumed and answered: proof the server has accepted
    # each of them before the signal (not merely the kernel's backlog).
    b = server.connect()
    b.send(b"\n")
    assert b.read_reply() == "0"
    b.send(b"5 pounds of sal")                   # mid-line when the signal comes
    c = server.connect()                         # in, but has brought nothing
    c.send(b"\n")
    assert c.read_reply() == "0"
    signal_and_wait_delivered(server, signal.SIGTERM)
    # They may finish, and get paid, after the signal.
    a.send(b"2 pounds of tuna\n")
    assert a.read_reply() == "54"
    b.send(b"mon\n")
    assert b.read_reply() == "60"
    assert server.running()
    # The server answered a after handling the signal: it stopped accepting
    # by then, so a newcomer is never served.
    late = socket.socket()
    late.settimeout(5)
    late_served = None
    try:
        late.connect((server.host, server.port))
        late.sendall(b"1 lb of cod\n")
    except OSError:
        late.close()
        late = None
    for x in (a, b, c):
        x.half_close()
        assert x.replies() == []
        assert x.ended == "eof"
    # Everyone left: exit 0 well before the 30 s grace.
    assert server.wait() == 0
    if late is not None:
        try:
            late_served = late.recv(100)
        except OSError:
            late_served = b""
        late.close()
        assert late_served == b"", "a newcomer was served after SIGTERM"
    assert server.summary() == (3, 3, 0, 54 + 60)


def grace_expiry_closes_connections_and_exits_0(variant, market):
    server = market("-g", "1")
    a = server.connect()
    a.send(b"3 pounds of cod\n")
    assert a.read_reply() == "24"
    server.send_signal(signal.SIGTERM)
    # a stays: after about a second the server closes it and exits 0.
    assert a.replies() == []
    assert a.ended == "eof"
    assert server.wait() == 0
    assert server.summary() == (1, 1, 0, 24)


test_grace_expiry_closes_connections_and_exits_0 = clause(
    "signals", "at the latest after this many seconds (default 5), closing any still "
    "open.")(background_test(grace_expiry_closes_connections_and_exits_0))


@clause("signals", "-g 0 exits at once on the first signal")
def test_grace_zero_exits_at_once(variant, market):
    server = market("-g", "0")
    a = server.connect()
    a.send(b"3 pounds of cod\n")
    assert a.read_reply() == "24"
    server.send_signal(signal.SIGTERM)
    assert server.wait() == 0
    assert a.replies() == []
    assert a.ended in ("eof", "reset")
    assert server.summary() == (1, 1, 0, 24)


@clause("signals", "A second signal exits at once with status 1.")
def test_second_signal_exits_1_at_once(variant, market):
    server = market("-g", "30")
    a = server.connect()
    a.send(b"3 pounds of cod\n")
    assert a.read_reply() == "24"
    signal_and_wait_delivered(server, signal.SIGINT)
    a.send(b"1 lb of tuna\n")                   # still open, still served
    assert a.read_reply() == "39"
    assert server.running()
    server.send_signal(signal.SIGINT)
    assert server.wait() == 1                   # well before the 30 s grace
    assert server.summary() == (1, 2, 0, 39)
    assert a.replies() == []


def test_sigint_without_connections_exits_0(variant, market):
    server = market()
    server.send_signal(signal.SIGINT)
    assert server.wait() == 0
    assert server.stderr == "served 0 connections, 0 lines (0 rejected), paid $0\n"
    assert server.rest_of_stdout() == ""


def logged(server, clients_and_tallies):
    """Under -v: one log line per closed connection, naming its peer and
    tally, and the summary line last."""
    lines = server.stderr.splitlines()
    assert len(lines) == len(clients_and_tallies) + 1, lines
    assert harness.SUMMARY_RE.match(lines[-1]), lines[-1]
    for client, tally in clients_and_tallies:
        mine = [line for line in lines[:-1] if str(client.port) in line]
        assert len(mine) == 1, (client.local, lines)
        assert str(tally) in mine[0].replace(str(client.port), " "), (tally, mine[0])


@VERBOSE
def test_verbose_logs_one_line_per_closed_connection(variant, market):
    server = market("-v", "-m", "16", "-g", "0")
    a = server.connect()
    a.send(b"3 pounds of cod\nbad\n\n")
    a.half_close()
    assert a.replies() == ["24"]
    b = server.connect()
    b.send(b"1 lb of tuna\n" + b"x" * 17, may_close=True)
    assert b.replies() == ["15", "ERROR line too long"]
    if variant.ours:
        # Ours log b only when he has closed too (the lingering close), a
        # moment after his EOF; with workers, c may be with another one and
        # be served and logged first.  The exact order checked below is
        # the order of events only once b's line is out.
        harness.wait_until(
            lambda: any(str(b.port) in line for line in server.log_lines()),
            harness.IO_TIMEOUT, what=f"{variant} to log {b.local}")
    c = server.connect()
    c.send(b"2 lb of salmon\n")
    assert c.read_reply() == "24"
    assert server.stop() == 0
    assert c.replies() == []
    logged(server, [(a, 24), (b, 15), (c, 24)])
    if not variant.ours:
        return
    # DESIGN.md: "fishmarket: PEER closed (WHY): L lines, R rejected, tally T"
    assert server.stderr.splitlines() == [
        f"fishmarket: {a.local} closed (eof): 2 lines, 1 rejected, tally 24",
        f"fishmarket: {b.local} closed (line too long): 1 lines, 0 rejected, tally 15",
        f"fishmarket: {c.local} closed (shutdown): 1 lines, 0 rejected, tally 24",
        "served 3 connections, 4 lines (1 rejected), paid $63",
    ]


def verbose_logs_idle_timeout(variant, market):
    server = market("-v", "-t", "1")
    a = server.connect()
    a.send(b"1 lb of cod\n")
    assert a.replies() == ["8", "ERROR idle timeout"]
    assert server.stop() == 0
    logged(server, [(a, 8)])
    if variant.ours:
        assert server.stderr.splitlines()[0] == (
            f"fishmarket: {a.local} closed (idle timeout): 1 lines, 0 rejected, tally 8")


test_verbose_logs_idle_timeout = VERBOSE(background_test(verbose_logs_idle_timeout))


@clause("cli", "-q silences all but errors, the summary line included (the listening line "
        "still goes to standard output).")
def test_quiet_silences_the_summary(variant, market):
    server = market("-q")
    assert server.listening_line == f"listening on 127.0.0.1:{server.port}\n"
    a = server.connect()
    a.send(b"3 pounds of cod\n")
    a.half_close()
    assert a.replies() == ["24"]
    assert server.stop() == 0
    assert server.stderr == ""
    assert server.rest_of_stdout() == ""


@clause("cli", "-q silences all but errors")
@ours("docs/DESIGN.md: options are read left to right, so the last of -q and -v wins")
def test_last_of_q_and_v_wins(variant, market):
    quiet = market("-v", "-q")
    verbose = market("-q", "-v")
    for s in (quiet, verbose):
        a = s.connect()
        a.half_close()
        assert a.replies() == []
        assert s.stop() == 0
    assert quiet.stderr == ""
    assert verbose.stderr.splitlines()[-1] == (
        "served 1 connections, 0 lines (0 rejected), paid $0")
    assert " closed (eof): " in verbose.stderr
