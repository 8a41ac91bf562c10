"""
Section 8: workers.  What only a server of several workers has; the rest
of the suite runs with workers too, as a dimension (`make check WORKERS="1
2"`: every test once per -w N).  Each test here sets its own -w, so it runs
once per server, not once per set of extra arguments.

From outside, a worker shows as a thread waiting in its event loop
(/proc/PID/task/TID/syscall: epoll_wait and the like, while idle), busy or
not (its CPU time), and through -c: with -c N -w N each worker holds one
connection, so N connections served at once are on N different workers.
"""

import os
import random
import re
import select
import signal
import socket
import time

import pytest

import harness
import reference
from contract import clause, own_workers
from harness import Script, run_conversations

pytestmark = [own_workers(),
              clause("workers", "Every clause of sections 3 to 7 holds for each "
                     "connection exactly as with one worker.")]


def served(clients, want, timeout=harness.IO_TIMEOUT):
    """Each client has sent a line; wait until at least `want` of them have
    had their reply (they were accepted), and return all those that have,
    in the order found (more than `want` if they came together)."""
    got = []
    waiting = list(clients)
    deadline = time.monotonic() + timeout
    while len(got) < want:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"only {len(got)} of {want} served within {timeout} s")
        ready, _, _ = select.select([c.sock for c in waiting], [], [], left)
        for c in [c for c in waiting if c.sock in ready]:
            assert c.read_reply() is not None, "closed without a reply"
            got.append(c)
            waiting.remove(c)
    return got


# Enough fishermen that the kernel's hash gives every worker its share
# whatever the luck: with 16 per worker, the chance that one of N workers
# gets none (or, for -c, fewer than two) is below one in ten million.
KNOCKING = 16


def workers_of(server, want):
    """The threads of an idle server that wait in an event loop: wait until
    there are `want` of them (a worker may be finishing its start-up) and
    return them, or fail with what there is.  Where that cannot be seen,
    every thread of the process."""
    found = []

    def enough():
        found[:] = harness.waiting_threads(server.pid) or []
        return len(found) == want

    if harness.waiting_threads(server.pid) is None:
        return harness.threads(server.pid)
    try:
        harness.wait_until(enough, 5, what=f"{want} threads waiting for events")
    except AssertionError:
        raise AssertionError(f"{len(found)} of {len(harness.threads(server.pid))} "
                             f"threads wait for events, not {want}") from None
    return found


def one_line_each(server, n):
    clients = [server.connect() for _ in range(n)]
    for c in clients:
        c.send(b"\n")                  # a blank line: consumed, answered "0"
    return clients


@clause("workers", "The listening on ADDR:PORT line is printed once, after every "
        "worker is accepting; with -p 0 all workers share the one port printed.")
@pytest.mark.parametrize("workers", [2, 4])
def test_one_listening_line_one_port(variant, market, workers):
    # -c N -w N: each worker holds one connection, so N served at once, all
    # on the port printed, right after the line, are N workers accepting.
    server = market("-w", str(workers), "-c", str(workers), "-g", "0")
    clients = one_line_each(server, KNOCKING * workers)
    inside = served(clients, workers)
    assert len(inside) == workers, f"{len(inside)} served at once with -c {workers}"
    assert server.stop() == 0
    assert server.rest_of_stdout() == "", "more than one line on stdout"


@clause("workers", "the kernel spreads new connections among them")
def test_connections_are_served_by_every_worker(variant, market):
    server = market("-w", "2")
    tids = workers_of(server, 2)
    assert len(tids) == 2, f"-w 2 runs {len(tids)} threads"
    before = harness.thread_cpu_ns(server.pid)
    rng = random.Random(2)
    scripts = [Script(steps=[(0, b"%d lb of cod\n" % rng.randint(0, 99))] * 10,
                      start=rng.uniform(0, 0.2)) for _ in range(400)]
    outcomes = run_conversations(server.host, server.port, scripts, timeout=60,
                                 max_open=60)
    assert all(o.ended == "eof" and not o.error for o in outcomes)
    after = harness.thread_cpu_ns(server.pid)
    spent = {t: after.get(t, 0) - before.get(t, 0) for t in tids}
    total = sum(spent.values())
    # 400 connections hashed over two listening sockets: each worker gets
    # about half.  A worker that got none would have spent next to nothing.
    busy = [t for t in tids if spent[t] >= total / 10]
    assert len(busy) == 2, f"CPU per thread under load (ns): {spent}"
    assert server.stop() == 0


@clause("workers", "-c CONNS is shared out: each worker holds at most ceil(CONNS / N) "
        "connections")
def test_max_conns_is_shared_out(variant, market):
    # -c 4 -w 2: two per worker, four in all; the fifth waits in its
    # worker's backlog until one of that worker's leaves.  Many knock, so
    # that each worker surely has more than two of them (the kernel's hash
    # decides which).
    server = market("-c", "4", "-w", "2", "-t", "0", "-g", "0")
    clients = one_line_each(server, KNOCKING * 2)
    inside = served(clients, 4)
    assert len(inside) == 4, f"{len(inside)} served at once with -c 4 -w 2"
    waiting = [c for c in clients if c not in inside]
    # Part of the scenario: while the four are in, nobody else is served.
    ready, _, _ = select.select([c.sock for c in waiting], [], [], 0.5)
    assert len(ready) == 0, "a fifth connection was served while four were in"
    # One leaves: one more is let in (on the worker that has room).
    inside[0].half_close()
    assert inside[0].replies() == []
    assert len(served(waiting, 1)) == 1
    # Stopped before anyone else leaves (-g 0: at once): five let in.
    assert server.stop() == 0
    assert server.summary()[0] == 5


@clause("workers", "The one summary line counts every worker's connections, lines and "
        "payments.")
def test_summary_counts_every_worker(variant, market):
    server = market("-w", "2")
    rng = random.Random(8)
    fish = list(reference.DEFAULT_PRICES) + [b"whale"]
    catches = [b"".join(b"%d lb of %s\n" % (rng.randint(0, 1000), rng.choice(fish))
                        for _ in range(rng.randint(1, 5))) + rng.choice([b"", b"oops\n"])
               for _ in range(300)]
    outcomes = run_conversations(
        server.host, server.port,
        [Script(steps=[(0, c)], start=rng.uniform(0, 0.2)) for c in catches], timeout=60)
    books = reference.Books()
    want = [reference.visit(c, books=books) for c in catches]
    assert [o.paid for o in outcomes] == want
    assert server.stop() == 0
    assert server.summary() == books.summary()
    assert server.summary()[3] == sum(o.paid for o in outcomes)


@clause("workers", "On SIGINT or SIGTERM every worker stops accepting at once and the "
        "one grace period (-g) covers them all")
def test_sigterm_lets_every_worker_finish(variant, market):
    # -c 2 -w 2: the two served at once are on the two workers.  Both are
    # mid-line when the signal comes; both are paid, the server exits 0
    # well before the grace period is over, and the ones still waiting in
    # a backlog are never served.
    server = market("-c", "2", "-w", "2", "-g", "30")
    clients = one_line_each(server, KNOCKING * 2)
    inside = served(clients, 2)
    assert len(inside) == 2, f"{len(inside)} served at once with -c 2 -w 2"
    for c in inside:
        c.send(b"5 pounds of sal")
    server.send_signal(signal.SIGTERM)
    harness.wait_until(lambda: not harness.signal_pending(server.pid, signal.SIGTERM), 5,
                       what="SIGTERM delivered")
    for c in inside:
        c.send(b"mon\n")
        assert c.read_reply() == "60"
        c.half_close()
        assert c.replies() == []
    assert server.wait() == 0
    assert server.summary() == (2, 2, 0, 120)
    for c in clients:
        if c not in inside:
            assert c.replies() == [], "served after SIGTERM"


@clause("workers", "a value above 64 is an unusable value (exit 2, as in section 7).")
@pytest.mark.parametrize("args", [["-w", "65"], ["--workers=65"], ["-w", "-1"],
                                  ["-w", "two"]], ids=["w65", "workers65", "negative", "word"])
def test_bad_worker_count_exits_2(variant, args):
    r = harness.run_to_exit(variant, ["-p", "0"] + args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stdout == ""
    assert "usage" in r.stderr.lower()


@clause("workers", "-w 0 means one per online CPU, at most 64")
def test_zero_workers_is_one_per_cpu(variant, market):
    server = market("-w", "0")
    cpus = min(os.sysconf("SC_NPROCESSORS_ONLN"), 64)
    assert len(workers_of(server, cpus)) == cpus
    c = server.connect()
    c.send(b"2 lb of tuna\n")
    c.half_close()
    assert c.replies() == ["30"]
    assert server.stop() == 0


@clause("workers", "-w 1 starts no extra thread and sets no SO_REUSEPORT")
def test_one_worker_starts_no_thread_and_no_reuseport(variant, market):
    server = market("-w", "1")
    assert len(harness.threads(server.pid)) == 1
    # Without SO_REUSEPORT on its socket, nobody can bind the port beside it,
    # SO_REUSEPORT or not.
    intruder = socket.socket(server.family, socket.SOCK_STREAM)
    try:
        intruder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        with pytest.raises(OSError):
            intruder.bind((server.host, server.port))
    finally:
        intruder.close()
    assert server.stop() == 0


@clause("workers", "A bind failure in any worker is the same exit 1 as with one worker.")
def test_port_in_use_exits_1_with_workers(variant):
    with harness.held_port() as port:
        r = harness.run_to_exit(variant, ["-w", "2", "-p", str(port)])
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert r.stdout == ""
    assert len(r.stderr.splitlines()) == 1, r.stderr


@clause("workers", "-v lines from different workers may interleave, but each is whole.")
def test_verbose_lines_are_whole(variant, market):
    server = market("-w", "2", "-v")
    rng = random.Random(3)
    scripts = [Script(steps=[(0, b"1 lb of cod\n" * rng.randint(1, 3))],
                      start=rng.uniform(0, 0.1)) for _ in range(200)]
    outcomes = run_conversations(server.host, server.port, scripts, timeout=60)
    assert server.stop() == 0
    lines = server.log_lines()
    assert len(lines) == 200, server.stderr[-2000:]
    # Whole lines: each names one fisherman, and every fisherman is named.
    ports = {o.local.rsplit(":", 1)[1] for o in outcomes}
    named = [[p for p in re.findall(r"\d+", line) if p in ports] for line in lines]
    assert all(len(n) == 1 for n in named), [line for line, n in zip(lines, named)
                                              if len(n) != 1][:3]
    assert {n[0] for n in named} == ports
    if variant.ours:
        # docs/DESIGN.md: "fishmarket: PEER closed (WHY): L lines, R rejected, tally T"
        bad = [line for line in lines if not re.fullmatch(
            r"fishmarket: 127\.0\.0\.1:\d+ closed \(eof\): [1-3] lines, 0 rejected, "
            r"tally (8|16|24)", line)]
        assert not bad, bad[:3]
