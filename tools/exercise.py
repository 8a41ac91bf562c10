#!/usr/bin/env python3
"""exercise.py - the checks of docs/EXERCISES.md that the suite cannot make.

The suite checks behaviour, and a port from one libevent API to another
must not change any: it passes before and after.  What changes is which
libevent the binary uses, and that shows in what it imports (nm -D):

    exercise.py port BINARY       no deprecated name: every libevent
                                  function it imports is declared outside
                                  event2/*_compat.h (the 1.x names are in
                                  there: event_init, event_set, ...)
    exercise.py listener BINARY   evconnlistener accepts: it imports
                                  evconnlistener_new_bind (or _new) and
                                  neither accept() nor accept4()

Prints what it found, one line each; exit status 0 if the exercise is
done, 1 if not, 2 on a usage error.  `make exercise-check EX=port V=mine`
runs it on build/fishmarket-mine.  Standard library and binutils' nm.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "comparison"))
import comparison  # noqa: E402  (header_decls, imported_symbols, REPLACED_BY)


def check_port(binary):
    """(done, lines): no compat function imported."""
    compat, _, _, _ = comparison.header_decls()
    imported = comparison.imported_symbols(binary)
    old = sorted(imported & compat)
    if not old:
        n = sum(1 for s in imported if comparison.LIBEVENT_FUNC.match(s))
        return True, [f"port: done: {binary} imports {n} libevent functions, none "
                      f"from event2/*_compat.h"]
    lines = [f"port: not yet: {binary} imports {len(old)} deprecated libevent "
             f"function(s):"]
    for s in old:
        new = comparison.REPLACED_BY.get(s)
        lines.append(f"  {s}" + (f" -> {', '.join(new)}" if new else ""))
    return False, lines


def check_listener(binary):
    """(done, lines): evconnlistener accepts, no accept loop by hand."""
    imported = comparison.imported_symbols(binary)
    listener = sorted(imported & {"evconnlistener_new_bind", "evconnlistener_new"})
    by_hand = sorted(imported & {"accept", "accept4"})
    lines = []
    if not listener:
        lines.append(f"listener: not yet: {binary} does not import evconnlistener_new_bind "
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
        print(f"usage: exercise.py {'|'.join(CHECKS)} BINARY", file=sys.stderr)
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
