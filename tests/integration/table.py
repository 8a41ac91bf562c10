"""
table.py - the end of every run: the contract section by section.

For each section (a row) and each server under test (a column): the checks
passed out of those run.  Below, every failed clause in the contract's own
words, and under it each test that failed it, on which server, and what
was seen (the first line of the assertion).  Checks skipped because they
are about our variants, not the contract, are counted apart.

The same, as JSON, for a program to read (FISH_TABLE_JSON):

    {"servers": [...],
     "cells": {section: {server: {"passed": n, "failed": n, "skipped": n}}},
     "failures": [{"section", "title", "clause", "server", "test", "seen"}],
     "skipped": {reason: n},
     "checks": [{"section", "clause", "server", "test", "result"}]}
"""

import json
import re

import contract

MODEL = "(no server)"      # the column of the tests of the model and tools
SEEN_MAX = 300             # characters of what was seen, per failure


def _one_line(text, limit=SEEN_MAX):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _seen(report):
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    # pytest's "+ where x = <bound method ...>" explanations say nothing a
    # reader of the table needs.
    return _one_line(re.split(r"\n\s*\+\s+where ", text)[0])


def _skip_reason(report):
    lr = report.longrepr
    reason = lr[2] if isinstance(lr, tuple) and len(lr) == 3 else lr
    return _one_line(str(reason).removeprefix("Skipped: "))


class Table:
    def __init__(self, servers):
        self.servers = list(servers)
        self.meta = {}        # nodeid -> (section, quote, server, test label)
        self.outcome = {}     # nodeid -> (passed|failed|skipped, seen or reason)

    def expect(self, nodeid, section, quote, server, label):
        self.meta[nodeid] = (section, quote, server or MODEL, label)

    def record(self, report):
        if report.nodeid not in self.meta:
            return
        if self.outcome.get(report.nodeid, ("",))[0] == "failed":
            return                       # the first failure stands
        if report.failed:
            self.outcome[report.nodeid] = ("failed", _seen(report))
        elif report.skipped:
            self.outcome[report.nodeid] = ("skipped", _skip_reason(report))
        elif report.when == "call":
            self.outcome[report.nodeid] = ("passed", "")

    # -- the figures

    def _columns(self):
        used = {m[2] for m in self.meta.values()}
        return [s for s in self.servers if s in used] + ([MODEL] if MODEL in used else [])

    def cells(self):
        out = {}
        for nodeid, (section, _, server, _) in self.meta.items():
            if nodeid not in self.outcome:
                continue
            cell = out.setdefault(section, {}).setdefault(
                server, {"passed": 0, "failed": 0, "skipped": 0})
            cell[self.outcome[nodeid][0]] += 1
        return out

    def failures(self):
        out = []
        for nodeid, (section, quote, server, label) in self.meta.items():
            result, seen = self.outcome.get(nodeid, ("", ""))
            if result == "failed":
                where = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
                out.append({"section": section, "title": contract.title(section),
                            "clause": quote, "server": server,
                            "test": f"{where}::{label}", "seen": seen})
        return out

    def skips(self):
        """{reason: count} of the checks skipped for servers not ours."""
        out = {}
        for nodeid, (result, reason) in self.outcome.items():
            if result == "skipped":
                out[reason] = out.get(reason, 0) + 1
        return out

    # -- the outputs

    def lines(self):
        cells = self.cells()
        if not cells:
            return []
        cols = self._columns()
        head = ["section"] + cols
        rows = []
        for section in contract.SECTIONS:
            if section not in cells:
                continue
            row = [contract.title(section)]
            for c in cols:
                cell = cells[section].get(c)
                if cell is None or cell["passed"] + cell["failed"] == 0:
                    row.append("-")
                else:
                    run = cell["passed"] + cell["failed"]
                    row.append(f"{cell['passed']}/{run}" +
                               ("" if not cell["failed"] else " FAIL"))
            rows.append(row)
        width = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
        fmt = lambda r: "  ".join(x.ljust(w) for x, w in zip(r, width)).rstrip()
        out = ["checks passed / run, by contract section (docs/fish-exchange.md) "
               "and server:", "", fmt(head)] + [fmt(r) for r in rows] + [""]
        failures = self.failures()
        if not failures:
            out.append("every clause checked held.")
        else:
            by_clause = {}
            for f in failures:
                by_clause.setdefault((f["section"], f["clause"]), []).append(f)
            out.append(f"{len(by_clause)} clause(s) broken, {len(failures)} failed check(s):")
            order = list(contract.SECTIONS)
            for (section, quote), fs in sorted(by_clause.items(),
                                               key=lambda kv: order.index(kv[0][0])):
                out.append(f"  {contract.title(section)}: \"{quote}\"")
                for f in fs:
                    out.append(f"      [{f['server']}] {f['test']}: {f['seen']}")
        skips = self.skips()
        if skips:
            out.append("")
            out.append(f"skipped, not counted above ({sum(skips.values())}):")
            for reason, n in sorted(skips.items()):
                out.append(f"  {n} x {reason}")
        return out

    def show(self, terminalreporter):
        lines = self.lines()
        if not lines:
            return
        terminalreporter.write_sep("=", "the contract, section by section")
        for line in lines:
            terminalreporter.write_line(line)

    def checks(self):
        """Every check run: section, clause, server, test and its result."""
        return [{"section": section, "clause": quote, "server": server, "test": label,
                 "result": self.outcome[nodeid][0]}
                for nodeid, (section, quote, server, label) in self.meta.items()
                if nodeid in self.outcome]

    def write_json(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"servers": self._columns(), "cells": self.cells(),
                       "failures": self.failures(), "skipped": self.skips(),
                       "checks": self.checks()}, f, indent=1)
