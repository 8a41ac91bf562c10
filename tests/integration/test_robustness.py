"""
Fishermen who misbehave at the TCP level: a reset or a vanished client
must neither kill the server (SIGPIPE) nor disturb anyone else.
"""

import random

import harness
from contract import clause, ours
from harness import Script, run_conversations

pytestmark = clause("limits", "then closes that connection only. No other connection "
                    "notices.")


@clause("signals", "SIGPIPE never kills the server.")
def test_sigpipe_never_kills_the_server(variant, market):
    server = market()
    rng = random.Random(5)
    scripts = []
    for i in range(60):
        if i % 3:
            # The sure way to a write into a dead socket: lines and a final
            # line in one write, then close() at once (FIN, nothing unread
            # yet).  The server's first reply hits a closed socket and
            # draws a reset; paying the final line at end of input is then
            # a second write, which fails with EPIPE - and raises SIGPIPE
            # unless the server ignores it.
            data = b"1 lb of cod\n" * rng.randint(1, 50) + b"7 lb of tuna"
            scripts.append(Script(steps=[(0, data)], finish="close"))
        else:
            # And clients that pour lines in many writes, then reset.
            steps = [(0, b"1 lb of cod\n" * rng.randint(1, 50)) for _ in range(20)]
            scripts.append(Script(steps=steps, finish="reset"))
    run_conversations(server.host, server.port, scripts, timeout=30, max_open=20)
    assert server.running(), f"{variant} died: rc {server.proc.poll()}"
    c = server.connect()
    c.send(b"3 pounds of trout\n5 pounds of salmon\n")
    c.half_close()
    assert c.replies() == ["81"]
    assert server.stop() == 0
    assert server.summary()[0] == 61


def test_reset_does_not_disturb_others(variant, market):
    server = market()
    b = server.connect()
    b.send(b"3 pounds of cod\n")
    assert b.read_reply() == "24"
    b.send(b"2 pou")                              # b is mid-line
    a = server.connect()
    a.send(b"1 lb of cod\n")
    assert a.read_reply() == "8"
    a.send(b"5 lb of cod\n" * 100 + b"1 lb")      # a resets mid-batch
    a.reset()
    b.send(b"nds of tuna\n")
    assert b.read_reply() == "54"
    late = server.connect()                        # and newcomers are served
    late.send(b"1 lb of salmon\n")
    late.half_close()
    assert late.replies() == ["12"]
    b.half_close()
    assert b.replies() == []
    assert b.ended == "eof"
    assert server.stop() == 0
    n, lines, rejected, paid = server.summary()
    assert (n, rejected) == (3, 0)
    # a was paid 8 at least (more if the server read its batch first).
    assert paid - 54 - 12 >= 8


def _server_side_timer(port):
    """The kernel's timer field ("tr" of /proc/net/tcp: 0 none, 1
    retransmit, 2 keepalive) of the one established socket whose local port
    is port, or None while there is none yet."""
    with open("/proc/net/tcp") as f:
        for line in f.read().splitlines()[1:]:
            fields = line.split()
            local, state, timer = fields[1], fields[3], fields[5]
            if state == "01" and int(local.split(":")[1], 16) == port:
                return int(timer.split(":")[0], 16)
    return None


@clause("transport", "TCP.")
@ours("docs/DESIGN.md: every connection has SO_KEEPALIVE, which "
      "evconnlistener_new_bind() sets for v2-listener whether asked or not")
def test_every_variant_keeps_connections_alive(variant, market):
    # An idle fisherman whose machine vanishes without a word is found by
    # keepalive probes (with -t 0 nothing else would find him).  The socket
    # the server accepted shows the kernel's keepalive timer once the reply
    # is acknowledged: timer 2 in /proc/net/tcp.  A server that never set
    # SO_KEEPALIVE shows 0 there for as long as the connection is idle.
    server = market("-t", "0")
    c = server.connect()
    c.send(b"1 lb of cod\n")
    assert c.read_reply() == "8"
    seen = set()

    def keepalive_timer():
        timer = _server_side_timer(server.port)
        seen.add(timer)
        return timer == 2
    try:
        harness.wait_until(keepalive_timer, 5,
                           what="a keepalive timer on the server's socket")
    except AssertionError as e:
        raise AssertionError(f"{e}; timer fields seen: {sorted(seen, key=str)}") from None
    c.half_close()
    assert c.replies() == []
    assert server.stop() == 0
