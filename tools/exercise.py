#!/usr/bin/env python3
"""exercise.py - the checks of docs/EXERCISES.md that the suite cannot make.

The suite checks behaviour, and a port from one libevent API to another
must not change any: it passes before and after.  What changes is which
libevent functions the variant calls, and that shows in the symbols its
object file leaves undefined (nm -u), whether libevent is then linked as a
shared library or, as with SANITIZE=thread, statically:

    exercise.py port OBJECT       no deprecated name: every libevent
                                  function it calls is declared outside
                                  event2/*_compat.h (the 1.x names are in
                                  there: event_init, event_set, ...)
    exercise.py listener OBJECT   evconnlistener accepts: it calls
                                  evconnlistener_new_bind (or _new) and
                                  neither accept() nor accept4()

OBJECT is build/obj/VARIANT/fishmarket.o (a dynamically linked binary
works too).  Prints what it found, one line each; exit status 0 if the
exercise is done, 1 if not, 2 on a usage error.  `make exercise-check
EX=port V=mine` runs it on mine's object.  Standard library and nm.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "comparison"))
import comparison  # noqa: E402  (header_decls, REPLACED_BY, LIBEVENT_FUNC)


def calls(path):
    """The symbols a variant's object (or binary) leaves to others."""
    if not os.path.exists(path):
        raise comparison.Trouble(f"no {path}: run `make all-variants` first")
    p = subprocess.run(["nm", "--undefined-only", path], capture_output=True, text=True)
    if p.returncode != 0:
        raise comparison.Trouble(f"nm --undefined-only {path} failed: {p.stderr.strip()}")
    return {line.split()[-1].split("@")[0] for line in p.stdout.splitlines() if line.split()}


def check_port(binary):
    """(done, lines): no compat function imported."""
    compat, _, _, _ = comparison.header_decls()
    imported = calls(binary)
    old = sorted(imported & compat)
    if not old:
        n = sum(1 for s in imported if comparison.LIBEVENT_FUNC.match(s))
        return True, [f"port: done: {binary} calls {n} libevent functions, none "
                      f"from event2/*_compat.h"]
    lines = [f"port: not yet: {binary} calls {len(old)} deprecated libevent "
             f"function(s):"]
    for s in old:
        new = comparison.REPLACED_BY.get(s)
        lines.append(f"  {s}" + (f" -> {', '.join(new)}" if new else ""))
    return False, lines


def check_listener(binary):
    """(done, lines): evconnlistener accepts, no accept loop by hand."""
    imported = calls(binary)
    listener = sorted(imported & {"evconnlistener_new_bind", "evconnlistener_new"})
    by_hand = sorted(imported & {"accept", "accept4"})
    lines = []
    if not listener:
        lines.append(f"listener: not yet: {binary} does not call evconnlistener_new_bind "
                     f"or evconnlistener_new")
    if by_hand:
        lines.append(f"listener: not yet: {binary} still calls {' and '.join(by_hand)}() "
                     f"itself (evconnlistener calls it inside libevent)")
    if lines:
        return False, lines
    return True, [f"listener: done: {binary} accepts through {listener[0]}, no "
                  f"accept() of its own"]


CHECKS = {"port": check_port, "listener": check_listener}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in CHECKS:
        print(f"usage: exercise.py {'|'.join(CHECKS)} OBJECT", file=sys.stderr)
        return 2
    try:
        done, lines = CHECKS[argv[0]](argv[1])
    except comparison.Trouble as t:
        for p in t.problems:
            print(f"exercise: {p}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main())
