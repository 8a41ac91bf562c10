#!/usr/bin/env python3
"""Generate and check the generated parts of COMPARISON.md.

COMPARISON.md is hand-written prose with generated blocks between marker
comments:

    <!-- BEGIN GENERATED: KIND key=value key="value with spaces" -->
    ... written by this script, never by hand ...
    <!-- END GENERATED -->

Kinds (deterministic ones are covered by `check`):

    story                the story table, calls checked against the sources
    glossary             the story's names (tools/comparison/glossary.txt),
                         each with the names in the code that carry it, checked
    diff a=V b=W         `diff -u` between two variants, each hunk followed by
                         its hand-written note (tools/comparison/notes/V--W.md)
    symbols              libevent symbols each built binary imports (nm -D)
    compat               compat (deprecated) names used in each variant's source
    size                 lines of code, shared and own lines
    quote file=F find=S [before=N] [after=N]
                         the source lines around the one line containing S
    absent names=A,B [files=V,W]
                         proof that no variant's code names A or B

Measured kinds (rewritten by `measure`, never checked: they depend on the
machine; `generate` copies the benchmark's table too):

    syscalls             strace -c -f per fisherman, 100 fishermen x 3 lines
    bench                docs/BENCH.md's table and a link to docs/bench.svg
    cost                 docs/BENCH.md's counted cost (`make cost`, bench/cost.py)
    demo name=N          what tools/comparison/pitfalls/N.c printed here
    excerpt file=F after=TEXT [tables=N]
                         the N tables of F under the line containing TEXT
                         (docs/BENCH.md's remedies, counted), copied as the
                         benchmark's table is

Usage:
    comparison.py generate [--root DIR] [--doc FILE] [--build DIR]
    comparison.py check    [--root DIR] [--doc FILE] [--build DIR]
    comparison.py measure  [--root DIR] [--doc FILE] [--build DIR]
    comparison.py bench    [--root DIR] [--doc FILE]
    comparison.py story    [--root DIR] [--width N]   the story table, as text

Only the Python 3 standard library, binutils' nm and GNU diff are used.
Every failure prints one "comparison: ..." line per problem and exits 1.
"""

import argparse
import difflib
import os
import platform
import re
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

# COMPARISON.md is about the three teaching variants, in reading order (its
# notes are written for them).  `comparison.py tables --variants ...` (make
# variant-tables) measures any list of variants, a new one included.
VARIANTS = ("v1-style", "v2-raw", "v2-listener")
HERE = os.path.dirname(os.path.abspath(__file__))
EVENT2_INCLUDE = "/usr/include/event2"

# Names that belong to libevent: the symbol filter for nm, and what the story
# table's "other calls" row and the size table look for in the sources.
LIBEVENT_FUNC = re.compile(
    r"^(event_|evbuffer_|bufferevent_|evconnlistener_|evutil_|evsignal_|"
    r"evtimer_|evdns_|evhttp_|evmap_|evthread_|signal_(set|add|del|pending|"
    r"initialized)$|timeout_(set|add|del|pending|initialized)$|"
    r"EVBUFFER_(DATA|LENGTH|INPUT|OUTPUT)$|EVENT_(FD|SIGNAL)$)")
LIBEVENT_IDENT = re.compile(
    r"\b(event_\w+|evbuffer_\w+|bufferevent_\w+|evconnlistener_\w+|evutil_\w+|"
    r"evsignal_\w+|evtimer_\w+|signal_(?:set|add|del)|timeout_(?:set|add|del)|"
    r"EVBUFFER_\w+|BEV_\w+|LEV_\w+|EV_\w+|EVLOOP_\w+|EVENT_\w+)\b")

# What replaced each compat function a binary may import.  Checked against
# the headers: the key must be declared in an event2/*_compat.h, every name
# in the value in a non-compat event2 header.
REPLACED_BY = {
    "event_init": ["event_base_new"],
    "event_dispatch": ["event_base_dispatch"],
    "event_loop": ["event_base_loop"],
    "event_loopexit": ["event_base_loopexit"],
    "event_loopbreak": ["event_base_loopbreak"],
    "event_once": ["event_base_once"],
    "event_get_method": ["event_base_get_method"],
    "event_priority_init": ["event_base_priority_init"],
    "event_set": ["event_assign", "event_new"],
    "bufferevent_new": ["bufferevent_socket_new", "bufferevent_setcb"],
    "bufferevent_settimeout": ["bufferevent_set_timeouts"],
    "evbuffer_readline": ["evbuffer_readln"],
    "evbuffer_find": ["evbuffer_search"],
    "evbuffer_setcb": ["evbuffer_add_cb"],
}

BEGIN_RE = re.compile(r"^<!-- BEGIN GENERATED: (\w+)((?:\s+\w+=(?:\"[^\"]*\"|\S+))*)\s*-->$")
END_RE = re.compile(r"^<!-- END GENERATED -->$")
ARG_RE = re.compile(r"(\w+)=(\"[^\"]*\"|\S+)")
MEASURED = {"syscalls", "bench", "cost", "demo", "excerpt"}
REQUIRED = [("story", ()), ("glossary", ()), ("diff", (("a", "v1-style"), ("b", "v2-raw"))),
            ("diff", (("a", "v2-raw"), ("b", "v2-listener"))),
            ("symbols", ()), ("compat", ()), ("size", ()), ("syscalls", ()),
            ("bench", ()), ("cost", ())]


class Trouble(Exception):
    """One or more problems, each one line."""

    def __init__(self, problems):
        if isinstance(problems, str):
            problems = [problems]
        super().__init__("\n".join(problems))
        self.problems = list(problems)


# --------------------------------------------------------------------------
# Reading C sources

def strip_c(text):
    """Return (code, idents): the text with comments removed, and the text
    with comments and the contents of string and character literals blanked.
    Newlines are kept, so line numbers stay valid."""
    code, idents = [], []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            blank = "".join("\n" if ch == "\n" else " " for ch in text[i:j])
            code.append(blank)
            idents.append(blank)
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            code.append(" " * (j - i))
            idents.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            code.append(text[i:j])
            idents.append(c + " " * max(0, j - i - 2) + (c if j - i >= 2 else ""))
            i = j
        else:
            code.append(c)
            idents.append(c)
            i += 1
    return "".join(code), "".join(idents)


class Source:
    """One C file: raw lines, code lines (comments removed), identifier
    lines (strings blanked too), and the scope (enclosing function) of each
    line."""

    def __init__(self, root, rel):
        self.rel = rel
        path = os.path.join(root, rel)
        try:
            with open(path, encoding="utf-8") as f:
                self.text = f.read()
        except OSError as e:
            raise Trouble(f"cannot read {rel}: {e.strerror}")
        self.lines = self.text.split("\n")
        if self.lines and self.lines[-1] == "":
            self.lines.pop()
        code, idents = strip_c(self.text)
        self.code = code.split("\n")[:len(self.lines)]
        self.idents = idents.split("\n")[:len(self.lines)]
        self.scopes = self._scopes()

    def _scopes(self):
        """Scope of every line: the function it is in ("main", "buy_fish"),
        the header of another top-level braced item ("struct fisherman"),
        or "(top)"."""
        scopes = ["(top)"] * len(self.lines)
        depth = 0
        start = 0          # first line of the current top-level item
        header = []
        for i, line in enumerate(self.idents):
            stripped = line.strip()
            if depth == 0:
                if not header:
                    start = i
                if stripped.startswith("#") or not stripped:
                    header = []
                    continue
                header.append(stripped)
            opened_at_zero = depth == 0 and "{" in line
            for ch in line:
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
            if opened_at_zero:
                name = scope_name(" ".join(header))
                end = i
                # Find where this item closes: scan on until depth is 0.
                d = depth
                j = i
                while d > 0 and j + 1 < len(self.idents):
                    j += 1
                    d += self.idents[j].count("{") - self.idents[j].count("}")
                end = j
                for k in range(start, end + 1):
                    scopes[k] = name
            if depth == 0 and (stripped.endswith(";") or stripped.endswith("}")):
                header = []
        return scopes

    def find_ident(self, name, scope=None):
        """Line (1-based) that best shows name used in code as an
        identifier, or None if it never is: its definition if it is a
        function of this file, else its first use inside a function (a call
        before a bare mention), else its first use anywhere.  With scope,
        only lines inside that function count."""
        call = re.compile(r"\b" + re.escape(name) + r"\s*\(")
        word = re.compile(r"\b" + re.escape(name) + r"\b")
        lines = list(enumerate(self.idents))
        if scope is not None:
            lines = [(i, l) for i, l in lines if self.scopes[i] == scope]
        passes = [(call, lambda i: self.scopes[i] == name),
                  (call, lambda i: self.scopes[i] != "(top)"),
                  (word, lambda i: self.scopes[i] != "(top)"),
                  (word, lambda i: True)]
        for pat, where in passes:
            for i, line in lines:
                if where(i) and pat.search(line):
                    return i + 1
        return None

    def libevent_calls(self):
        """Libevent functions and function-like compat macros this file
        calls, in order of first use."""
        seen = []
        for line in self.idents:
            for m in re.finditer(r"\b([A-Za-z_]\w*)\s*\(", line):
                name = m.group(1)
                if LIBEVENT_FUNC.match(name) and name not in seen:
                    seen.append(name)
        return seen


def scope_name(header):
    """Name of a top-level item from its header text (before the `{`):
    the function's name, else the header itself ("struct fisherman")."""
    head = re.sub(r"\s+", " ", header.split("{")[0]).strip()
    if "(" in head and "=" not in head.split("(")[0] and \
            not re.match(r"^(typedef|struct|enum|union)\b[^(]*$", head):
        m = re.search(r"([A-Za-z_]\w*)\s*\(", head)
        if m:
            return m.group(1)
    return head.split("=")[0].strip() or "(top)"


def variant_file(v):
    return f"{v}/fishmarket.c"


def load_variants(root):
    problems, srcs = [], {}
    for v in VARIANTS:
        try:
            srcs[v] = Source(root, variant_file(v))
        except Trouble as t:
            problems += t.problems
    if problems:
        raise Trouble(problems)
    return srcs


# --------------------------------------------------------------------------
# The story table

def entry_lines(path):
    """(number, line) of every line of story.txt or glossary.txt that
    matters: blank lines and '#' comments left out, '## ' headings kept."""
    with open(path, encoding="utf-8") as f:
        for no, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if line.strip() and (not line.startswith("#") or line.startswith("## ")):
                yield no, line


def parse_story(path):
    """tools/comparison/story.txt: '## Step' lines, then 'variant: names'
    lines (names separated by blanks or commas), and '> ' lines of prose
    for the step's description."""
    steps, problems = [], []
    cur = None
    for no, line in entry_lines(path):
        if line.startswith("## "):
            cur = {"step": line[3:].strip(), "what": "", "calls": {}}
            steps.append(cur)
            continue
        if cur is None:
            problems.append(f"{path}:{no}: text before the first '## step'")
            continue
        if line.startswith(">"):
            cur["what"] = (cur["what"] + " " + line[1:].strip()).strip()
            continue
        m = re.match(r"^([\w-]+):\s*(.*)$", line)
        if not m or m.group(1) not in VARIANTS:
            problems.append(f"{path}:{no}: expected 'VARIANT: names', got {line!r}")
            continue
        names = [x for x in re.split(r"[\s,]+", m.group(2)) if x]
        cur["calls"].setdefault(m.group(1), []).extend(names)
    if problems:
        raise Trouble(problems)
    return steps


def render_name(name):
    return f"`{name}`" if re.match(r"^[A-Z_0-9]+$", name) else f"`{name}()`"


def gen_story(ctx, args):
    rows = story_rows(ctx)
    out = ["| step | " + " | ".join(VARIANTS) + " |",
           "|---|" + "---|" * len(VARIANTS)]
    for step, what, calls in rows[:-1]:
        cells = ["<br>".join(f"[{render_name(name)}]({variant_file(v)}#L{line})"
                             for line, name in calls[v]) or " " for v in VARIANTS]
        head = f"**{step}**" + (f"<br>{what}" if what else "")
        out.append(f"| {head} | " + " | ".join(cells) + " |")
    rest = rows[-1][2]
    others = ["<br>".join(f"[{render_name(name)}]({variant_file(v)}#L{line})"
                          for line, name in rest[v]) or "none" for v in VARIANTS]
    out.append("| *every other libevent call in the file* | " + " | ".join(others) + " |")
    return "\n".join(out)


def story_rows(ctx):
    """The story as data, every name checked against the code: a list of
    (step, what, {variant: [(line, name), ...]}), each variant's calls in
    the order its file meets them (on one line, story.txt's order), and
    last the row of every libevent call of the file no step names."""
    srcs = ctx.sources()
    steps = parse_story(os.path.join(ctx.tools, "story.txt"))
    problems, rows = [], []
    named = {v: set() for v in VARIANTS}
    for st in steps:
        calls = {}
        for v in VARIANTS:
            items = []
            for item in st["calls"].get(v, []):
                name, _, scope = item.partition("@")
                line = srcs[v].find_ident(name, scope or None)
                if line is None:
                    problems.append(f"story.txt: step '{st['step']}': {name} does not "
                                    f"appear in the code of {variant_file(v)}"
                                    + (f" inside {scope}()" if scope else ""))
                    continue
                named[v].add(name)
                items.append((line, len(items), name))
            calls[v] = [(line, name) for line, _, name in sorted(items)]
        rows.append((st["step"], st["what"], calls))
    if problems:
        raise Trouble(problems)
    rest = {v: [(srcs[v].find_ident(n), n) for n in srcs[v].libevent_calls()
                if n not in named[v]] for v in VARIANTS}
    rows.append(("Every other libevent call in the file", "", rest))
    return rows


def wrap_items(items, width, indent):
    """Items joined by ", ", wrapped to width with continuation lines
    indented by indent spaces; an item is never split across lines."""
    lines, cur = [], ""
    for i, item in enumerate(items):
        piece = item + ("," if i < len(items) - 1 else "")
        if cur and indent + len(cur) + 1 + len(piece) > width:
            lines.append(cur)
            cur = piece
        else:
            cur = f"{cur} {piece}" if cur else piece
    lines.append(cur)
    return ("\n" + " " * indent).join(lines)


def story_text(ctx, width=78):
    """The story table for a terminal (`make story`): a block per step, a
    wrapped line per variant, each call with its line number in that
    variant's file.  A variant that makes exactly the calls of the one
    before it says so and gives only its line numbers, so that what
    differs stands out."""
    rows = story_rows(ctx)
    label = max(len(v) for v in VARIANTS) + 2
    indent = 3 + label
    out = textwrap.wrap("The story, call by call (COMPARISON.md section 1, for a terminal). "
                        "Each call is followed by its line in VARIANT/fishmarket.c; the steps "
                        "are written in tools/comparison/story.txt.", width) + [""]
    for i, (step, what, calls) in enumerate(rows, 1):
        out.append(step if i == len(rows) else f"{i}. {step}")
        if what:
            out += textwrap.wrap(what, width, initial_indent="   ", subsequent_indent="   ")
        for k, v in enumerate(VARIANTS):
            items = calls[v]
            prev = VARIANTS[k - 1] if k else None
            if not items:
                body = "none"
            elif prev and [n for _, n in items] == [n for _, n in calls[prev]]:
                body = textwrap.fill(f"the same calls as {prev}, at line"
                                     f"{'s' if len(items) > 1 else ''} " +
                                     " ".join(str(l) for l, _ in items), width,
                                     initial_indent=" " * indent,
                                     subsequent_indent=" " * indent)[indent:]
            else:
                body = wrap_items([f"{render_name(n).strip('`')} {l}" for l, n in items],
                                  width, indent)
            out.append("   " + v.ljust(label) + body)
        out.append("")
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------
# The glossary of the story's names

# A name the glossary finds in every variant links to this variant's line:
# the one docs/READING.md has a learner read first.
GLOSSARY_LINK = "v2-raw"


def parse_glossary(path):
    """tools/comparison/glossary.txt: '## term' lines, each followed by a
    'code: NAME, NAME' line and '> ' lines of prose."""
    entries, problems, cur = [], [], None
    for no, line in entry_lines(path):
        if line.startswith("## "):
            cur = {"term": line[3:].strip(), "code": [], "what": "", "line": no}
            entries.append(cur)
        elif cur is None:
            problems.append(f"{path}:{no}: text before the first '## term'")
        elif line.startswith(">"):
            cur["what"] = (cur["what"] + " " + line[1:].strip()).strip()
        elif line.startswith("code:"):
            cur["code"] += [n.strip() for n in line[5:].split(",") if n.strip()]
        else:
            problems.append(f"{path}:{no}: expected 'code: NAMES' or '> text', got {line!r}")
    for e in entries:
        if not e["code"] or not e["what"]:
            problems.append(f"{path}:{e['line']}: '{e['term']}' needs a 'code:' line and a '>' line")
    if problems:
        raise Trouble(problems)
    return entries


def find_code(src, name):
    """Line (1-based) where src's code (comments and strings aside) shows
    name, or None: a struct's definition for 'struct NAME', an identifier
    as find_ident() finds it, else the first line holding the text."""
    m = re.match(r"^struct\s+(\w+)$", name)
    if m:
        pat = re.compile(r"^\s*struct\s+" + m.group(1) + r"\s*\{")
        return next((i + 1 for i, l in enumerate(src.idents) if pat.search(l)), None)
    if re.match(r"^[A-Za-z_]\w*$", name):
        return src.find_ident(name)
    return next((i + 1 for i, l in enumerate(src.idents) if name in l), None)


def gen_glossary(ctx, args):
    """The story's names, each with the names in the code that carry it
    (linked), checked: NAME must be in the code of every variant,
    NAME@VARIANT in that variant's, NAME@PATH in that file's."""
    entries = parse_glossary(os.path.join(ctx.tools, "glossary.txt"))
    ref = GLOSSARY_LINK if GLOSSARY_LINK in VARIANTS else VARIANTS[0]
    problems = []
    out = ["| the story says | in the code | what it is |", "|---|---|---|"]
    for e in entries:
        links = []
        for item in e["code"]:
            name, _, where = item.partition("@")
            if not where:
                files = [variant_file(v) for v in VARIANTS]
                shown = variant_file(ref)
            else:
                files = [variant_file(where) if where in VARIANTS else where]
                shown = files[0]
            lines = {}
            for rel in files:
                try:
                    src = ctx.source(rel)
                except Trouble as t:
                    problems += [f"glossary.txt: '{e['term']}': {x}" for x in t.problems]
                    continue
                lines[rel] = find_code(src, name)
                if lines[rel] is None:
                    problems.append(f"glossary.txt: '{e['term']}': {name} does not appear "
                                    f"in the code of {rel}")
            if lines.get(shown):
                # A function (defined or called there) reads name().
                call = re.compile(r"\b" + re.escape(name) + r"\s*\(")
                is_func = re.match(r"^[A-Za-z_]\w*$", name) and \
                    any(call.search(l) for l in ctx.source(shown).idents)
                links.append(f"[`{name}{'()' if is_func else ''}`]({shown}#L{lines[shown]})")
        out.append(f"| **{e['term']}** | {'<br>'.join(links)} | {cell(e['what'])} |")
    if problems:
        raise Trouble(problems)
    return "\n".join(out)


# --------------------------------------------------------------------------
# Diffs and their notes

DIFF_FUNC_RE = r"^[A-Za-z_].*("


def run_diff(root, a, b, color=False):
    cmd = ["diff", "-u", "-F", DIFF_FUNC_RE,
           "--label", variant_file(a), "--label", variant_file(b),
           variant_file(a), variant_file(b)]
    if color:
        cmd.insert(1, "--color=auto")
    p = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if p.returncode not in (0, 1):
        raise Trouble(f"diff {a} {b} failed: {p.stderr.strip()}")
    return p.stdout


class Hunk:
    def __init__(self, header):
        self.header = header
        m = re.match(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", header)
        self.old_start, self.new_start = int(m.group(1)), int(m.group(3))
        self.body = []
        self.scope = None
        self.scopes = []

    def changed_text(self):
        return "\n".join(l[1:] for l in self.body if l[:1] in "+-")


def parse_hunks(text, old, new):
    hunks = []
    for line in text.split("\n"):
        if line.startswith("@@ "):
            hunks.append(Hunk(line))
        elif hunks and line[:1] in (" ", "+", "-", "\\"):
            hunks[-1].body.append(line)
    for h in hunks:
        # The hunk's scopes: those of its changed lines of code (a changed
        # comment between two functions belongs to neither), in order; if
        # only comments changed, that of its first changed line.  Its scope
        # is the first of them.
        o, n = h.old_start, h.new_start
        first = None
        for line in h.body:
            kind = line[:1]
            if kind in "+-":
                src, k = (new, n) if kind == "+" else (old, o)
                if first is None:
                    first = src.scopes[k - 1]
                if src.idents[k - 1].strip() and src.scopes[k - 1] not in h.scopes:
                    h.scopes.append(src.scopes[k - 1])
            if kind in " -":
                o += 1
            if kind in " +":
                n += 1
        if not h.scopes:
            h.scopes = [first]
        h.scope = h.scopes[0]
    return hunks


def parse_notes(path):
    """Notes file: '### SCOPE: TOKEN' headings, each followed by its prose.
    Text before the first heading is the file's own preamble, not a note."""
    notes = []
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except OSError as e:
        raise Trouble(f"cannot read notes {os.path.relpath(path)}: {e.strerror}")
    cur = None
    for no, line in enumerate(lines, 1):
        if line.startswith("### "):
            key = line[4:].strip()
            if ": " not in key:
                raise Trouble(f"{path}:{no}: a note heading is '### SCOPE: TOKEN', got {line!r}")
            scope, token = key.split(": ", 1)
            token = token.strip()
            if len(token) >= 2 and token[0] == "`" and token[-1] == "`":
                token = token[1:-1]
            scope = scope.strip().strip("`")
            cur = {"scope": scope, "token": token, "line": no, "text": []}
            notes.append(cur)
        elif cur is not None:
            cur["text"].append(line)
    for n in notes:
        n["text"] = "\n".join(n["text"]).strip()
        if not n["text"]:
            raise Trouble(f"{path}:{n['line']}: note '{n['scope']}: {n['token']}' has no text")
    return notes


def match_notes(hunks, notes, notes_rel):
    """Give every note exactly one hunk and every hunk at least one note;
    anything else is a problem, so prose cannot drift from the code.

    A note's candidates are the hunks that touch its scope (a changed line
    of code in that function) and whose changed lines contain its token.
    A note with one candidate takes it.  A note with several takes the one
    of them that no other note has taken, if there is exactly one, and so
    on until nothing changes: two hunks of one function that both remove
    `close(fd);` need one note with a more telling token and one with
    `close(fd);`.  A hunk may carry several notes when diff merged two
    changes into one hunk; they are shown in the order of the notes file."""
    problems = []
    cands = [[i for i, h in enumerate(hunks)
              if n["scope"] in h.scopes and n["token"] in h.changed_text()] for n in notes]
    for k, n in enumerate(notes):
        if not cands[k]:
            problems.append(f"{notes_rel}:{n['line']}: note '{n['scope']}: {n['token']}' "
                            f"matches no hunk")
    assigned = {}
    changed = True
    while changed:
        changed = False
        taken = set(assigned.values())
        for k in range(len(notes)):
            if k in assigned or not cands[k]:
                continue
            left = cands[k] if len(cands[k]) == 1 else [i for i in cands[k] if i not in taken]
            if len(left) == 1:
                assigned[k] = left[0]
                taken.add(left[0])
                changed = True
    for k, n in enumerate(notes):
        if k not in assigned and cands[k]:
            problems.append(f"{notes_rel}:{n['line']}: note '{n['scope']}: {n['token']}' "
                            f"matches hunks {', '.join(str(i + 1) for i in cands[k])}: "
                            f"use a more distinctive token")
    by_hunk = {i: [notes[k] for k in sorted(assigned) if assigned[k] == i]
               for i in range(len(hunks))}
    for i, h in enumerate(hunks):
        if not by_hunk[i]:
            first = next((l for l in h.body if l[:1] in "+-" and l[1:].strip()), "")
            problems.append(f"{notes_rel}: hunk {i + 1} ({h.header.split(' @@')[0]} @@, "
                            f"in {', '.join(h.scopes)}) has no note; first change: "
                            f"{first.strip()!r}")
    if problems:
        raise Trouble(problems)
    return [by_hunk[i] for i in range(len(hunks))]


def gen_diff(ctx, args):
    a, b = args.get("a"), args.get("b")
    if a not in VARIANTS or b not in VARIANTS:
        raise Trouble(f"diff block needs a= and b= among {', '.join(VARIANTS)}")
    srcs = ctx.sources()
    text = run_diff(ctx.root, a, b)
    hunks = parse_hunks(text, srcs[a], srcs[b])
    notes_rel = f"tools/comparison/notes/{a}--{b}.md"
    notes = parse_notes(os.path.join(ctx.tools, "notes", f"{a}--{b}.md"))
    paired = match_notes(hunks, notes, notes_rel)
    added = sum(1 for h in hunks for l in h.body if l.startswith("+"))
    removed = sum(1 for h in hunks for l in h.body if l.startswith("-"))
    out = [f"`diff -u {variant_file(a)} {variant_file(b)}`: {len(hunks)} "
           f"hunk{'' if len(hunks) == 1 else 's'}, "
           f"{removed} lines removed, {added} added. Notes: "
           f"[{notes_rel}]({notes_rel}).", ""]
    for i, (h, ns) in enumerate(zip(hunks, paired), 1):
        anchors = ", ".join(f"`{n['scope']}: {n['token']}`" for n in ns)
        out.append(f"**{i}/{len(hunks)}, in `{'`, `'.join(h.scopes)}`** "
                   f"(anchor{'s' if len(ns) > 1 else ''}: {anchors})")
        out.append("")
        out.append("```diff")
        out.append(h.header)
        out.extend(h.body)
        out.append("```")
        for n in ns:
            out.append("")
            out.append(n["text"])
        out.append("")
    return "\n".join(out).rstrip()


# --------------------------------------------------------------------------
# Symbols and compat names

def header_decls():
    """(compat, modern): function names declared with EVENT2_EXPORT_SYMBOL in
    event2/*_compat.h and in the other event2 headers; plus the compat
    macros, name -> expansion."""
    compat, modern, macros, modern_macros = set(), set(), {}, set()
    try:
        names = sorted(os.listdir(EVENT2_INCLUDE))
    except OSError:
        raise Trouble(f"no {EVENT2_INCLUDE}: apt-get install libevent-dev")
    for name in names:
        if not name.endswith(".h"):
            continue
        with open(os.path.join(EVENT2_INCLUDE, name), encoding="utf-8", errors="replace") as f:
            text = f.read()
        code, _ = strip_c(text)
        funcs = set(re.findall(r"EVENT2_EXPORT_SYMBOL\s+[^;{]*?\b([A-Za-z_]\w*)\s*\(", code))
        is_compat = name.endswith("_compat.h")
        (compat if is_compat else modern).update(funcs)
        for m in re.finditer(r"^#define\s+([A-Za-z_]\w*)(\([^)]*\))?[ \t]+((?:.*\\\n)*.*)$",
                             code, re.M):
            if is_compat:
                macros[m.group(1)] = re.sub(r"\s+", " ", m.group(3).replace("\\\n", " ")).strip()
            else:
                modern_macros.add(m.group(1))
    for macro in list(macros):
        if macro.endswith("_H_INCLUDED_"):
            del macros[macro]
    return compat, modern, macros, modern_macros


def check_replacements(compat, modern, modern_macros):
    problems = []
    for old, new in REPLACED_BY.items():
        if old not in compat:
            problems.append(f"REPLACED_BY: {old} is not declared in an event2/*_compat.h")
        for n in new:
            if n not in modern and n not in modern_macros:
                problems.append(f"REPLACED_BY: {n} (for {old}) is not declared in a "
                                f"non-compat event2 header")
    if problems:
        raise Trouble(problems)


def binary_symbols(build, v):
    path = os.path.join(build, f"fishmarket-{v}")
    if not os.path.exists(path):
        raise Trouble(f"no {path}: run `make all-variants` first")
    p = subprocess.run(["nm", "-D", "--undefined-only", path], capture_output=True, text=True)
    if p.returncode != 0:
        raise Trouble(f"nm -D --undefined-only {path} failed: {p.stderr.strip()}")
    syms = set()
    for line in p.stdout.split("\n"):
        parts = line.split()
        if len(parts) >= 2 and parts[-2] in ("U", "w"):
            name = parts[-1].split("@")[0]
            if LIBEVENT_FUNC.match(name):
                syms.add(name)
    return syms


def gen_symbols(ctx, args):
    compat, modern, _, modern_macros = header_decls()
    check_replacements(compat, modern, modern_macros)
    syms = {v: binary_symbols(ctx.build, v) for v in VARIANTS}
    allsyms = sorted(set().union(*syms.values()))
    problems = [f"{s} is imported by a binary, declared in an event2/*_compat.h, "
                f"and has no entry in REPLACED_BY" for s in allsyms
                if s in compat and s not in REPLACED_BY]
    if problems:
        raise Trouble(problems)

    def kind(s):
        users = [v for v in VARIANTS if s in syms[v]]
        if s in compat:
            return 3, "deprecated (compat API), replaced by " + \
                ", ".join(f"`{r}`" for r in REPLACED_BY[s])
        if len(users) == len(VARIANTS):
            return 0, f"shared by {all_of()}"
        if users == ["v2-raw", "v2-listener"]:
            return 1, "2.x API, both v2 variants"
        return 2, "only " + ", ".join(users)

    rows = sorted(allsyms, key=lambda s: (kind(s)[0], s))
    out = ["| symbol | " + " | ".join(VARIANTS) + " | what it is |",
           "|---|" + ":---:|" * len(VARIANTS) + "---|"]
    for s in rows:
        marks = ["yes" if s in syms[v] else "" for v in VARIANTS]
        out.append(f"| `{s}` | " + " | ".join(marks) + f" | {kind(s)[1]} |")
    counts = []
    for v in VARIANTS:
        dep = sum(1 for s in syms[v] if s in compat)
        counts.append(f"{v}: {len(syms[v])} ({dep} deprecated)")
    out.append("")
    out.append("libevent symbols imported: " + "; ".join(counts) + ".")
    return "\n".join(out)


def gen_compat(ctx, args):
    """Compat names (functions and macros of event2/*_compat.h) each
    variant's source uses; macros vanish from the binary, so nm alone would
    not show them."""
    srcs = ctx.sources()
    compat, modern, macros, modern_macros = header_decls()
    out = ["| name in the source | kind | " + " | ".join(VARIANTS) + " | what it is now |",
           "|---|---|" + ":---:|" * len(VARIANTS) + "---|"]
    rows = []
    for name in sorted(compat | set(macros)):
        if name in modern_macros or name in modern:
            continue
        used = {v: srcs[v].find_ident(name) for v in VARIANTS}
        if not any(used.values()):
            continue
        if name in compat:
            kind = "function"
            now = "replaced by " + ", ".join(f"`{r}`" for r in REPLACED_BY.get(name, ["?"]))
        else:
            kind = "macro"
            now = f"expands to `{macros[name]}`".replace("|", "\\|")
        marks = [f"[line {used[v]}]({variant_file(v)}#L{used[v]})" if used[v] else ""
                 for v in VARIANTS]
        rows.append(f"| `{name}` | {kind} | " + " | ".join(marks) + f" | {now} |")
    if not rows:
        return "No variant uses a name from `event2/*_compat.h`."
    return "\n".join(out + rows)


# --------------------------------------------------------------------------
# Size

def all_of():
    """"all three" for COMPARISON.md's three, and right for any other count."""
    return {1: "the one", 2: "both", 3: "all three"}.get(len(VARIANTS), f"all {len(VARIANTS)}")


def some_others():
    return "one other" if len(VARIANTS) == 3 else "some others"


def normalise(line):
    return re.sub(r"\s+", " ", line.strip())


def gen_size(ctx, args):
    srcs = ctx.sources()
    code = {}
    for v in VARIANTS:
        s = srcs[v]
        code[v] = [(i, normalise(s.code[i])) for i in range(len(s.lines)) if s.code[i].strip()]
    shared = {v: {} for v in VARIANTS}
    for v in VARIANTS:
        for w in VARIANTS:
            if v == w:
                continue
            sm = difflib.SequenceMatcher(None, [t for _, t in code[v]],
                                         [t for _, t in code[w]], autojunk=False)
            hit = set()
            for blk in sm.get_matching_blocks():
                hit.update(range(blk.a, blk.a + blk.size))
            shared[v][w] = hit
    out = ["| variant | code lines | in `main()` | in the callbacks and helpers | "
           f"shared by {all_of()} | shared with {some_others()} | own | naming libevent |",
           "|---|" + "---:|" * 7]
    totals = {}
    for v in VARIANTS:
        s = srcs[v]
        n = len(code[v])
        others = [w for w in VARIANTS if w != v]
        all3 = sum(1 for k in range(n) if all(k in shared[v][w] for w in others))
        one = sum(1 for k in range(n)
                  if 0 < sum(k in shared[v][w] for w in others) < len(others))
        own = n - all3 - one
        in_main = sum(1 for i, _ in code[v] if s.scopes[i] == "main")
        in_funcs = sum(1 for i, _ in code[v]
                       if s.scopes[i] != "main" and re.match(r"^[A-Za-z_]\w*$", s.scopes[i]))
        lev = sum(1 for i, _ in code[v] if LIBEVENT_IDENT.search(s.idents[i]))
        out.append(f"| {v} | {n} | {in_main} | {in_funcs} | {all3} | {one} | {own} | {lev} |")
        totals[v] = (n, in_main, in_funcs, all3)
    pct = [100.0 * totals[v][3] / totals[v][0] for v in VARIANTS if totals[v][0]]
    out.append("")
    out.append(f"Shared by {all_of()}: {min(pct):.0f}% to {max(pct):.0f}% of each file's code lines.")
    for a, b in zip(VARIANTS, VARIANTS[1:]):
        d = [totals[b][k] - totals[a][k] for k in range(3)]
        out.append(f"From {a} to {b}: {d[0]:+d} code lines, {d[1]:+d} in `main()`, "
                   f"{d[2]:+d} in the callbacks and helpers.")
    return "\n".join(out)


# --------------------------------------------------------------------------
# Quotes and absences

def gen_quote(ctx, args):
    rel, find, func = args.get("file"), args.get("find"), args.get("function")
    if not rel or bool(find) == bool(func):
        raise Trouble("quote block needs file= and one of find= or function=")
    try:
        before, after = int(args.get("before", "0")), int(args.get("after", "0"))
    except ValueError:
        raise Trouble(f"quote {rel} {find!r}: before= and after= are numbers")
    src = ctx.source(rel)
    if func:
        # The whole definition: the lines whose scope is func, which must
        # be one run; "before" lines of the comment above it may be added.
        hits = [i for i, sc in enumerate(src.scopes) if sc == func]
        if not hits or hits[-1] - hits[0] + 1 != len(hits):
            raise Trouble(f"quote: no single definition of {func}() in {rel}")
        first = max(0, hits[0] - before)
        last = hits[-1]
        hits = [hits[0]]
    else:
        hits = [i for i, line in enumerate(src.lines) if find in line]
        if len(hits) != 1:
            where = ", ".join(str(i + 1) for i in hits) or "nowhere"
            raise Trouble(f"quote: {find!r} must occur exactly once in {rel}, "
                          f"found at {where}")
        first = max(0, hits[0] - before)
        last = min(len(src.lines) - 1, hits[0] + after)
    while first < hits[0] and not src.lines[first].strip():
        first += 1
    while last > hits[0] and not src.lines[last].strip():
        last -= 1
    span = f"{first + 1}" if first == last else f"{first + 1}-{last + 1}"
    anchor = f"L{first + 1}" if first == last else f"L{first + 1}-L{last + 1}"
    lines = src.lines[first:last + 1]
    indent = min((len(l) - len(l.lstrip("\t ")) for l in lines if l.strip()), default=0)
    body = [l[indent:].replace("\t", "    ") if l.strip() else "" for l in lines]
    return "\n".join([f"[{rel}:{span}]({rel}#{anchor})", "```c"] + body + ["```"])


def gen_absent(ctx, args):
    """names=A,B: no variant's code uses identifier A or B.
    regex=R (with what=TEXT to say it in words): no line of code matches R.
    files=V,W narrows the variants (or names other files)."""
    names = [n for n in args.get("names", "").split(",") if n]
    regex = args.get("regex")
    files = [f for f in args.get("files", ",".join(VARIANTS)).split(",") if f]
    if not names and not regex:
        raise Trouble("absent block needs names= or regex=")
    problems = []
    rels = []
    for f in files:
        src = ctx.source(variant_file(f) if f in VARIANTS else f)
        rels.append(src.rel)
        for n in names:
            line = src.find_ident(n)
            if line:
                problems.append(f"absent: {n} is used in {src.rel}:{line}")
        if regex:
            pat = re.compile(regex)
            for i, line in enumerate(src.idents):
                if pat.search(line):
                    problems.append(f"absent: /{regex}/ matches {src.rel}:{i + 1}")
    if problems:
        raise Trouble(problems)
    where = ", ".join(f"`{r}`" for r in rels)
    said = []
    if names:
        said.append(", ".join(f"`{n}`" for n in names) + " appear" +
                    ("s" if len(names) == 1 else "") + f" in the code of none of {where}")
    if regex:
        what = args.get("what", f"a line matching `{regex}`")
        said.append(f"{what} appears in the code of none of {where}")
    return "Checked by the generator: " + "; ".join(said) + " (comments aside)."


# --------------------------------------------------------------------------
# Measured: syscalls per fisherman

# 1 x 8 + 2 x 15 + 3 x 12 = 74 dollars, paid in one reply: one write, one read.
CATCH = b"1 pound of cod\r\n2 pounds of tuna\r\n3 lbs of salmon\r\n"


def read_listening(proc, deadline):
    buf = b""
    while time.monotonic() < deadline:
        r, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            break
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            break
        buf += chunk
        m = re.search(rb"listening on (\S+):(\d+)\n", buf)
        if m:
            host = m.group(1).decode().strip("[]")
            return host, int(m.group(2))
    raise Trouble(f"server printed no 'listening on' line: {buf!r}")


def child_pid(pid, deadline):
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                kids = f.read().split()
            if kids:
                return int(kids[0])
        except OSError:
            pass
        time.sleep(0.01)   # polling /proc for the child strace started, bounded
    raise Trouble("strace started no server process")


def fishermen(host, port, count):
    for _ in range(count):
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(CATCH)
            s.shutdown(socket.SHUT_WR)
            reply = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
            if not reply.endswith(b"\r\n") or reply.split(b"\r\n")[-2] != b"74":
                raise Trouble(f"fisherman paid {reply!r}, expected a last tally of 74")


def strace_run(binary, count):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "strace.txt")
        proc = subprocess.Popen(["strace", "-c", "-f", "-o", out, binary, "-p", "0", "-q"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 10
            host, port = read_listening(proc, deadline)
            server = child_pid(proc.pid, deadline)
            fishermen(host, port, count)
            os.kill(server, signal.SIGTERM)
            proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        with open(out) as f:
            return parse_strace(f.read())


def parse_strace(text):
    calls = {}
    for line in text.split("\n"):
        parts = line.split()
        if len(parts) >= 5 and re.match(r"^[\d.]+$", parts[0]) and parts[-1] != "total":
            name = parts[-1]
            nums = parts[3:-1]
            n = int(nums[0])
            err = int(nums[1]) if len(nums) > 1 else 0
            calls[name] = (n, err)
    return calls


SYSCALL_NOTES = {
    "accept": "v1-style's `greet_fisherman` calls `accept()` until it fails with EAGAIN: "
              "one success and one EAGAIN per fisherman when they come one at a time",
    "accept4": "v2-raw's `greet_fisherman`, and evconnlistener inside libevent, call "
               "`accept4(SOCK_NONBLOCK|SOCK_CLOEXEC)` until EAGAIN",
    "fcntl": "v1-style's `evutil_make_socket_nonblocking()`: F_GETFL then F_SETFL; "
             "`accept4()` makes the socket non-blocking in the same call",
    "ioctl": "FIONREAD: before each `readv` libevent asks how many bytes are waiting, "
             "to size its buffer (buffer.c:2309)",
    "readv": "libevent reads into the input evbuffer: the catch, then the 0 of end of file",
    "read": "",
    "writev": "libevent writes the output evbuffer: only what `send()` could not take",
    "write": "",
    "sendto": "the tally, written through with `send()` (`hand_over()` in common/market.c) "
              "because nothing is queued before it",
    "epoll_ctl": "ADD when `welcome_fisherman` enables reading; DEL when libevent reads his "
                 "end of file and disables reading itself, before `watch_fisherman` runs "
                 "(bufferevent_sock.c:225-227); write interest is armed only for a reply "
                 "the kernel cannot take at once",
    "epoll_wait": "turns of the loop: depends on timing, the least exact row",
    "close": "the fisherman's socket: `close(f->fd)` in v1-style's `see_off`; in v2, "
             "libevent's, when it finalizes the freed bufferevent (BEV_OPT_CLOSE_ON_FREE), "
             "later in the same turn of the loop",
    "shutdown": "`shutdown(SHUT_WR)` before closing",
    "getsockname": "",
    "getpeername": "",
    "setsockopt": "",
}


def gen_syscalls(ctx, args):
    count = int(args.get("fishermen", "100"))
    reps = int(args.get("runs", "3"))
    per = {}
    for v in VARIANTS:
        binary = os.path.join(ctx.build, f"fishmarket-{v}")
        if not os.path.exists(binary):
            raise Trouble(f"no {binary}: run `make all-variants` first")
        samples = []
        for _ in range(reps):
            base = strace_run(binary, 0)
            full = strace_run(binary, count)
            diff = {}
            for name in set(base) | set(full):
                c = full.get(name, (0, 0))[0] - base.get(name, (0, 0))[0]
                e = full.get(name, (0, 0))[1] - base.get(name, (0, 0))[1]
                diff[name] = (c / count, e / count)
            samples.append(diff)
        names = set().union(*samples)
        per[v] = {n: (statistics.median(s.get(n, (0, 0))[0] for s in samples),
                      statistics.median(s.get(n, (0, 0))[1] for s in samples)) for n in names}
    names = sorted(n for n in set().union(*per.values())
                   if any(abs(per[v].get(n, (0, 0))[0]) >= 0.05 for v in VARIANTS))

    def fmt(v, n):
        c, e = per[v].get(n, (0, 0))
        s = f"{c:.1f}"
        if e >= 0.05:
            s += f" ({e:.1f} failed)"
        return s

    out = ["| syscall | " + " | ".join(VARIANTS) + " | where it comes from |",
           "|---|" + "---:|" * len(VARIANTS) + "---|"]
    totals = {v: 0.0 for v in VARIANTS}
    for n in names:
        for v in VARIANTS:
            totals[v] += per[v].get(n, (0, 0))[0]
        out.append(f"| `{n}` | " + " | ".join(fmt(v, n) for v in VARIANTS) +
                   f" | {cell(SYSCALL_NOTES.get(n, ''))} |")
    out.append("| **total** | " + " | ".join(f"**{totals[v]:.1f}**" for v in VARIANTS) + " | |")
    out.append("")
    out.append(machine_line() + f" Scenario: {count} fishermen one after another, each "
               f"connecting, sending 3 lines in one write, half-closing and reading to EOF; "
               f"each variant run with 0 and with {count} fishermen under `strace -c -f`, "
               f"the difference divided by {count}; median of {reps} runs, rounded to 0.1. "
               f"Regenerate with `make comparison-measure`.")
    return "\n".join(out)


def cell(text):
    """Text for a table cell: a | even inside `code` would end the cell."""
    return text.replace("|", "\\|")


def machine_line():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    lev = subprocess.run(["pkg-config", "--modversion", "libevent"], capture_output=True,
                         text=True).stdout.strip() or "?"
    strace_v = subprocess.run(["strace", "-V"], capture_output=True, text=True).stdout.split("\n")[0]
    return (f"Measured {time.strftime('%Y-%m-%d', time.gmtime())} on {platform.system()} "
            f"{platform.release()}, {cpu}, {os.cpu_count()} CPUs, libevent {lev}, {strace_v}.")


# --------------------------------------------------------------------------
# Measured: a pitfall, made to happen

def gen_demo(ctx, args):
    name = args.get("name", "")
    src = f"tools/comparison/pitfalls/{name}.c"
    if not name or not os.path.exists(os.path.join(ctx.root, src)):
        raise Trouble(f"demo block: no {src}")
    binary = os.path.join(ctx.build, "comparison", name)
    if not os.path.exists(binary):
        raise Trouble(f"no {binary}: run `make comparison-pitfalls` first")
    try:
        p = subprocess.run([binary], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        raise Trouble(f"{binary} ran for more than 30 s")
    if p.returncode != 0:
        raise Trouble(f"{binary} failed: {p.stderr.strip()}")
    return "\n".join([f"See it happen: [{src}]({src}) (`make comparison-pitfalls`) "
                      f"printed, on the machine of section 5:", "", "```",
                      p.stdout.rstrip(), "```"])


# --------------------------------------------------------------------------
# Measured: the benchmark's table

def gen_bench(ctx, args):
    path = os.path.join(ctx.root, "docs", "BENCH.md")
    if not os.path.exists(path):
        return ("*Pending:* the benchmark (`make bench`) has not produced `docs/BENCH.md` yet; "
                "run `make bench`, then `make comparison` to copy its table here.")
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    # The paragraph(s) between the title and the first table say when and
    # on what machine; then the table itself.
    first = next((i for i, l in enumerate(lines) if l.startswith("|")), None)
    if first is None:
        return "*docs/BENCH.md holds no table yet.*"
    last = first
    while last < len(lines) and lines[last].startswith("|"):
        last += 1
    intro = [l for l in lines[:first] if l.strip() and not l.startswith("#")]
    out = ["From [docs/BENCH.md](docs/BENCH.md), copied by `make comparison`; read "
           "its method and how far to trust each figure there.", ""]
    out += [" ".join(l.strip() for l in intro), ""] if intro else []
    out += lines[first:last]
    if os.path.exists(os.path.join(ctx.root, "docs", "bench.svg")):
        out += ["", "![each metric per server, with its target](docs/bench.svg)"]
    return "\n".join(out)


# --------------------------------------------------------------------------
# Measured: the counted cost (make cost writes it into docs/BENCH.md)

def gen_cost(ctx, args):
    path = os.path.join(ctx.root, "docs", "BENCH.md")
    try:
        with open(path, encoding="utf-8") as f:
            parts = split_doc(f.read())
    except OSError:
        parts = []
    body = next((p["body"] for p in parts if isinstance(p, dict) and p["kind"] == "cost"), None)
    if not body or not body.strip():
        return ("*Pending:* `make cost` has not written its counts into docs/BENCH.md yet; "
                "run `make cost`, then `make comparison` to copy them here.")
    return "\n".join(["From [docs/BENCH.md](docs/BENCH.md), written by `make cost` "
                      "(bench/cost.py) and copied by `make comparison`.", "", body])


# --------------------------------------------------------------------------
# Measured: tables copied from another document (docs/BENCH.md)

def gen_excerpt(ctx, args):
    """file=F after=TEXT [tables=N]: the N markdown tables (default 1) that
    follow the first line of F containing TEXT, before the next heading,
    copied as they are.  F is another document's, so like the benchmark's
    table this is copied by `generate` and `bench`, never checked; but a
    TEXT that is gone, or too few tables under it, fails."""
    rel, after = args.get("file"), args.get("after")
    try:
        count = int(args.get("tables", "1"))
    except ValueError:
        raise Trouble(f"excerpt {rel}: tables= is a number")
    if not rel or not after:
        raise Trouble("excerpt block needs file= and after=")
    try:
        with open(os.path.join(ctx.root, rel), encoding="utf-8") as f:
            lines = f.read().split("\n")
    except OSError as e:
        raise Trouble(f"excerpt: cannot read {rel}: {e.strerror}")
    start = next((i for i, l in enumerate(lines) if after in l), None)
    if start is None:
        raise Trouble(f"excerpt: no line of {rel} contains {after!r}")
    tables, i = [], start + 1
    while i < len(lines) and len(tables) < count and not lines[i].startswith("#"):
        if lines[i].startswith("|"):
            j = i
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            tables.append("\n".join(lines[i:j]))
            i = j
        else:
            i += 1
    if len(tables) < count:
        raise Trouble(f"excerpt: {rel} has {len(tables)} table(s) after {after!r} "
                      f"before the next heading, not {count}")
    return "\n\n".join([f"From [{rel}]({rel}), copied by `make comparison`:"] + tables)


# --------------------------------------------------------------------------
# The document

GENERATORS = {"story": gen_story, "glossary": gen_glossary, "diff": gen_diff, "symbols": gen_symbols,
              "compat": gen_compat, "size": gen_size, "quote": gen_quote,
              "absent": gen_absent, "syscalls": gen_syscalls, "bench": gen_bench,
              "cost": gen_cost, "demo": gen_demo, "excerpt": gen_excerpt}


class Context:
    def __init__(self, root, build):
        self.root = root
        self.build = build
        self.tools = os.path.join(root, "tools", "comparison")
        self._srcs = None
        self._files = {}

    def sources(self):
        if self._srcs is None:
            self._srcs = load_variants(self.root)
        return self._srcs

    def source(self, rel):
        if rel not in self._files:
            self._files[rel] = Source(self.root, rel)
        return self._files[rel]


def split_doc(text):
    """The document as a list of parts: list of lines (hand-written) or
    dict(kind, args, raw_begin, body, line)."""
    parts, hand = [], []
    lines = text.split("\n")
    i = 0
    problems = []
    while i < len(lines):
        line = lines[i]
        m = BEGIN_RE.match(line)
        if not m:
            if line.startswith("<!-- BEGIN GENERATED") or END_RE.match(line):
                problems.append(f"line {i + 1}: stray or malformed marker {line!r}")
            hand.append(line)
            i += 1
            continue
        kind = m.group(1)
        args = {k: v.strip('"') for k, v in ARG_RE.findall(m.group(2))}
        j = i + 1
        while j < len(lines) and not END_RE.match(lines[j]):
            if lines[j].startswith("<!-- BEGIN GENERATED"):
                problems.append(f"line {j + 1}: BEGIN inside the block opened at line {i + 1}")
            j += 1
        if j == len(lines):
            problems.append(f"line {i + 1}: block '{kind}' has no <!-- END GENERATED -->")
            break
        parts.append(hand)
        hand = []
        parts.append({"kind": kind, "args": args, "begin": line, "line": i + 1,
                      "body": "\n".join(lines[i + 1:j])})
        i = j + 1
    parts.append(hand)
    if problems:
        raise Trouble(problems)
    return [p for p in parts if not isinstance(p, list) or p]


def required_missing(parts):
    have = [(p["kind"], tuple(sorted(p["args"].items()))) for p in parts if isinstance(p, dict)]
    missing = []
    for kind, args in REQUIRED:
        if (kind, tuple(sorted(args))) not in have:
            missing.append(f"COMPARISON.md has no '{kind}' block"
                           + (f" with {' '.join(f'{k}={v}' for k, v in args)}" if args else ""))
    return missing


def render(ctx, parts, kinds_to_run):
    """New text of the document; only blocks whose kind is in kinds_to_run
    are regenerated, the others are kept as they are."""
    problems, out, stale = [], [], []
    for p in parts:
        if isinstance(p, list):
            out.extend(p)
            continue
        body = p["body"]
        if p["kind"] not in GENERATORS:
            problems.append(f"line {p['line']}: unknown block kind '{p['kind']}'")
        elif p["kind"] in kinds_to_run:
            try:
                body = GENERATORS[p["kind"]](ctx, p["args"])
            except Trouble as t:
                problems += [f"block '{p['kind']}' (line {p['line']}): {x}" for x in t.problems]
        if body != p["body"]:
            stale.append(p)
        out.append("\n".join([p["begin"], body, "<!-- END GENERATED -->"]))
    if problems:
        raise Trouble(problems)
    return "\n".join(out), stale


def list_hunks(ctx, pair):
    """For whoever writes the notes: every hunk of a diff with its scope,
    the note that matches it (if any) and its changed lines."""
    if len(pair) != 2 or any(v not in VARIANTS for v in pair):
        raise Trouble(f"hunks needs two variants among {', '.join(VARIANTS)}")
    a, b = pair
    hunks = parse_hunks(run_diff(ctx.root, a, b), ctx.source(variant_file(a)),
                        ctx.source(variant_file(b)))
    path = os.path.join(ctx.tools, "notes", f"{a}--{b}.md")
    notes = parse_notes(path) if os.path.exists(path) else []
    for i, h in enumerate(hunks, 1):
        hits = [f"{n['scope']}: {n['token']}" for n in notes
                if n["scope"] in h.scopes and n["token"] in h.changed_text()]
        print(f"== hunk {i}: scopes {', '.join(h.scopes)}  {h.header}  notes: {hits or 'NONE'}")
        for line in h.body:
            if line[:1] in "+-":
                print("   " + line)
    return 0


def print_tables(ctx, names, kinds):
    """COMPARISON.md's measuring tables, for any list of variants."""
    global VARIANTS
    sys.path.insert(0, os.path.dirname(HERE))
    import variants       # tools/variants.py
    VARIANTS = tuple(variants.variants(names, root=ctx.root))
    for kind in [k for k in kinds.replace(",", " ").split() if k]:
        if kind not in ("symbols", "compat", "size", "syscalls"):
            raise Trouble(f"tables: unknown table {kind!r}")
        print(f"## {kind}: {', '.join(VARIANTS)}\n")
        print(GENERATORS[kind](ctx, {}))
        print()
    return 0


def shown(path):
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["generate", "check", "measure", "bench", "hunks",
                                        "tables", "story"])
    ap.add_argument("pair", nargs="*", help="hunks: the two variants (A B)")
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(HERE)))
    ap.add_argument("--doc", default=None, help="default: ROOT/COMPARISON.md")
    ap.add_argument("--build", default=None, help="default: ROOT/build")
    ap.add_argument("--variants", default=None,
                    help="tables: which variants (default: every folder with a fishmarket.c)")
    ap.add_argument("--kinds", default="symbols,compat,size",
                    help="tables: which tables, of symbols, compat, size, syscalls")
    ap.add_argument("--width", type=int, default=78,
                    help="story: the width to wrap to (default 78)")
    ap.add_argument("--no-require", action="store_true",
                    help="do not insist on every section (for tests on small documents)")
    opts = ap.parse_args(argv)
    root = os.path.abspath(opts.root)
    doc = opts.doc or os.path.join(root, "COMPARISON.md")
    build = os.path.abspath(opts.build or os.path.join(root, "build"))
    ctx = Context(root, build)
    try:
        if opts.command == "hunks":
            return list_hunks(ctx, opts.pair)
        if opts.command == "tables":
            return print_tables(ctx, opts.variants, opts.kinds)
        if opts.command == "story":
            sys.stdout.write(story_text(ctx, opts.width))
            return 0
        try:
            with open(doc, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise Trouble(f"cannot read {doc}: {e.strerror}")
        parts = split_doc(text)
        if not opts.no_require:
            missing = required_missing(parts)
            if missing:
                raise Trouble(missing)
        deterministic = set(GENERATORS) - MEASURED
        if opts.command == "measure":
            kinds = set(MEASURED)
        elif opts.command == "bench":
            kinds = {"bench", "cost", "excerpt"}
        elif opts.command == "generate":
            kinds = deterministic | {"bench", "cost", "excerpt"}
        else:
            kinds = deterministic
        new, stale = render(ctx, parts, kinds)
        if opts.command == "check":
            if stale:
                raise Trouble([f"{shown(doc)} is stale: block '{p['kind']}' "
                               f"at line {p['line']} differs from what the sources give; "
                               f"run `make comparison`" for p in stale])
            print(f"comparison: {shown(doc)} is up to date "
                  f"({sum(isinstance(p, dict) for p in parts)} generated blocks)")
            return 0
        if new != text:
            with open(doc + ".tmp", "w", encoding="utf-8") as f:
                f.write(new)
            os.replace(doc + ".tmp", doc)
        print(f"comparison: {opts.command}: {len(stale)} block(s) rewritten in "
              f"{shown(doc)}")
        return 0
    except Trouble as t:
        for p in t.problems:
            print(f"comparison: {p}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
