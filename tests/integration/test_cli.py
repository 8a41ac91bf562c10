"""
Section 7: the command line every server shares, its messages and exit
statuses; section 2: addresses.  The wording of our own messages
(docs/DESIGN.md: "fishmarket: " first, the usage line naming the binary)
is checked for our variants only.
"""

import os
import re
import shutil
import socket
import subprocess

import pytest

import harness
from contract import clause, ours

pytestmark = clause("cli", "Every variant takes the same options and prints the same "
                    "messages")
OURS_CEILING = ours("docs/DESIGN.md: -m is at most 1 MiB (the contract sets no ceiling)")
# Each would start a server if wrongly accepted: "-p 0" where the case
# allows keeps such a server off the default port 8080.
BAD_COMMAND_LINES = {
    "unknown_long": ["-p", "0", "--bogus"],
    "unknown_short": ["-p", "0", "-x"],
    "missing_value_short": ["-p"],
    "missing_value_long": ["--max-line"],
    "missing_prices_file": ["-p", "0", "--prices"],
    "empty_value": ["-p", "0", "--max-line="],
    "non_number": ["-p", "abc"],
    "number_with_junk": ["-p", "0", "-m", "12x"],
    "hex": ["-p", "0", "-t", "0x10"],
    "fraction": ["-p", "0", "-t", "1.5"],
    "port_65536": ["-p", "65536"],
    "port_huge": ["-p", "99999999999999999999999"],
    "port_negative": ["-p", "-1"],
    "max_line_0": ["-p", "0", "-m", "0"],
    "max_line_above_limit": ["-p", "0", "-m", "1048577"],   # DESIGN.md: 1 to 1 MiB
    "max_conns_0": ["-p", "0", "-c", "0"],
    "max_conns_long_0": ["-p", "0", "--max-conns=0"],
    "idle_negative": ["-p", "0", "-t", "-1"],
    "grace_negative": ["-p", "0", "-g", "-5"],
    "operand": ["-p", "0", "extra"],
    "operand_first": ["extra", "-p", "0"],
    "bind_name": ["-p", "0", "-b", "localhost"],
    "bind_bad_ipv4": ["-p", "0", "-b", "999.1.1.1"],
    "bind_empty": ["-p", "0", "-b", ""],
}


run = harness.run_to_exit


BAD_CASES = [pytest.param(c, id=c,
                          marks=[OURS_CEILING] if c == "max_line_above_limit" else [])
             for c in sorted(BAD_COMMAND_LINES)]


def our_message(variant, line):
    """docs/DESIGN.md: every message to stderr starts with "fishmarket: "."""
    if variant.ours:
        assert line.startswith("fishmarket: "), line


@clause("cli", "an unusable option or value prints usage to standard error and exits 2.")
@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_command_line_exits_2_with_usage(variant, case):
    r = run(variant, BAD_COMMAND_LINES[case])
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stdout == ""                  # never "listening on"
    assert r.stderr.strip(), "no message, no usage"
    our_message(variant, r.stderr.splitlines()[0])
    if variant.ours:
        assert f"usage: fishmarket-{variant.id}" in r.stderr
    else:
        assert "usage" in r.stderr.lower(), r.stderr


@clause("cli", "-h/--help prints usage to standard output and exits 0.")
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_exits_0_with_usage_on_stdout(variant, flag):
    r = run(variant, [flag])
    assert r.returncode == 0
    assert r.stderr == ""
    if variant.ours:
        assert r.stdout.startswith(f"usage: fishmarket-{variant.id} ")
    else:
        assert "usage" in r.stdout.lower(), r.stdout
    for opt in ("-b", "-p", "-m", "-t", "-c", "--prices", "-g", "-v", "-q", "-h",
                "--version"):
        assert re.search(rf"(^|[\s\[]){re.escape(opt)}\b", r.stdout), opt


@clause("cli", "--version prints the variant name")
@ours("--version names one of our variants, our libevent and its backend")
def test_version_names_variant_libevent_and_backend(variant):
    r = run(variant, ["--version"])
    assert r.returncode == 0
    assert r.stderr == ""
    lines = r.stdout.splitlines()
    assert len(lines) == 1
    m = re.fullmatch(r"fishmarket (\S+), libevent (\S+), backend (\S+)", lines[0])
    assert m, lines[0]
    assert m.group(1) == variant.id
    if shutil.which("pkg-config"):
        installed = subprocess.run(["pkg-config", "--modversion", "libevent"],
                                   capture_output=True, text=True).stdout.strip()
        if installed:
            assert m.group(2) == installed
    assert re.fullmatch(r"\d+\.\d+\.\d+(-\w+)?", m.group(2))
    assert m.group(3) in ("epoll", "poll", "select", "kqueue", "devpoll", "evport")
    # The backend is the one in use, not a constant: libevent honours
    # EVENT_NOEPOLL, so the same binary must then report another method.
    env = dict(os.environ, EVENT_NOEPOLL="1")
    r2 = run(variant, ["--version"], env=env)
    assert r2.returncode == 0
    assert "backend epoll" not in r2.stdout
    assert r2.stdout.startswith(f"fishmarket {variant.id}, libevent {m.group(2)}, backend ")


@ours("docs/DESIGN.md: every message to stderr starts with \"fishmarket: \", "
      "libevent's own included")
@pytest.mark.parametrize("args", [["-p", "0"], ["--version"]], ids=["serve", "version"])
def test_libevent_messages_are_ours_too(variant, args):
    # With every backend forbidden libevent cannot make a base: it says why
    # in its own log ("[warn] ...", "[err] ...") unless the program gives it
    # a log callback, and event_init() (v1-style) exits without returning.
    # Every line on stderr must still be ours, and the server must fail,
    # status 1, without a listening line.
    env = dict(os.environ, EVENT_NOEPOLL="1", EVENT_NOPOLL="1", EVENT_NOSELECT="1")
    r = run(variant, args, env=env)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines, "no message at all"
    for line in lines:
        our_message(variant, line)
    assert any("libevent" in line for line in lines), lines


CANNOT_BIND = clause("cli", "A port in use, an address that cannot be bound, or an "
                     "unreadable or bad price file prints one clear message to standard "
                     "error and exits 1.")


@CANNOT_BIND
def test_port_in_use_exits_1(variant):
    with harness.held_port() as port:
        r = run(variant, ["-p", str(port)])
    assert r.returncode == 1
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr                  # one clear message, no usage
    our_message(variant, lines[0])
    assert str(port) in lines[0] and "in use" in lines[0], lines[0]


@CANNOT_BIND
def test_address_that_cannot_be_bound_exits_1(variant):
    r = run(variant, ["-p", "0", "-b", "192.0.2.1"])      # TEST-NET-1: not ours
    assert r.returncode == 1
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    our_message(variant, lines[0])
    assert "192.0.2.1" in lines[0]


def _have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@clause("transport", "IPv4 and IPv6 literal addresses are accepted (-b ::1).")
@pytest.mark.skipif(not _have_ipv6_loopback(), reason="no ::1 on this machine")
def test_ipv6_loopback(variant, market):
    server = market("-b", "::1")
    assert server.listening_line == f"listening on [::1]:{server.port}\n"
    c = server.connect()
    c.send(b"3 pounds of trout\n5 pounds of salmon\n")
    c.half_close()
    assert c.replies() == ["81"]
    assert server.stop() == 0
    assert server.summary() == (1, 2, 0, 81)


@clause("transport", "IPv4 and IPv6 literal addresses are accepted")
def test_other_ipv4_loopback_address(variant, market):
    server = market("-b", "127.0.0.2")
    assert server.listening_line == f"listening on 127.0.0.2:{server.port}\n"
    c = server.connect()
    c.send(b"1 lb of cod\n")
    c.half_close()
    assert c.replies() == ["8"]


@clause("cli", "--opt=value works for long options.")
@pytest.mark.parametrize("style", ["equals", "separate"])
def test_long_options(variant, market, style):
    opts = {"--bind": "127.0.0.1", "--port": "0", "--max-line": "16",
            "--idle-timeout": "0", "--max-conns": "3", "--grace": "1"}
    if style == "equals":
        args = [f"{k}={v}" for k, v in opts.items()]
    else:
        args = [x for kv in opts.items() for x in kv]
    server = market(*args, "--verbose")
    c = server.connect()
    c.send(b"2 pounds of cod \n2 pounds of cod  \n", may_close=True)   # 16, then 17
    assert c.replies() == ["16", "ERROR line too long"]
    assert server.stop() == 0
    # --verbose took: a line for the closed connection.
    assert any(str(c.port) in line for line in server.log_lines()), server.stderr
    if variant.ours:
        assert " closed (line too long): " in server.stderr
    assert server.rest_of_stdout() == ""


def test_short_options(variant, market):
    server = market("-m", "16", "-c", "2", "-t", "0", "-g", "0", "-q")
    c = server.connect()
    c.send(b"2 pounds of cod  \n", may_close=True)
    assert c.replies() == ["ERROR line too long"]
    assert server.stop() == 0
    assert server.stderr == ""
