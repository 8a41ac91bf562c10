"""The first thing every test driver reads from a server it started.

Shared by tests/soak/soak.py and tests/valgrind/run_valgrind.py (the
pytest suite has its own reader in tests/integration/harness.py, which
also collects the rest of stdout).
"""
import os
import re
import select
import time

LISTENING_RE = re.compile(rb"^listening on (\[[0-9A-Fa-f:.]+\]|[0-9.]+):(\d+)$")


def read_listening(proc, timeout, error):
    """(host, port) from the server's `listening on ADDR:PORT` line.

    Waits at most `timeout` seconds (polling the pipe, never sleeping) and
    raises `error(message)` if the line does not come, the server exits
    first, or the line is not of that form."""
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise error(f"no listening line within {timeout} s")
        r, _, _ = select.select([proc.stdout], [], [], left)
        if r:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                raise error(f"server exited before listening: {proc.wait()}")
            buf += chunk
    m = LISTENING_RE.match(buf.split(b"\n")[0])
    if not m:
        raise error(f"bad listening line {buf!r}")
    return m.group(1).decode().strip("[]"), int(m.group(2))
