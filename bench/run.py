#!/usr/bin/env python3
"""Benchmark driver behind `make bench` and `make bench-smoke` (stdlib only).

For every server (the raw-epoll baseline and the three variants), in
interleaved rounds (B 1 2 3 B 1 2 3 ...) so that a noisy neighbour hurts all
of them alike, with the server pinned to CPU 0 and fishload to CPU 1:

  hold       RSS per held connection: (VmRSS holding N - VmRSS idle) / N,
             on a freshly started server
  fishermen  fishermen per second (fishload) and server CPU microseconds
             per fisherman: utime + stime from the server's own
             /proc/PID/stat, before and after
  pipeline   pipelined lines per second

then once per server a c10k run (10000 fishermen in flight, all must be
paid right).  Prints a table of medians with each variant's ratio to the
baseline and the targets.

Then the workers series (--workers, `make bench WORKERS="1 2 4 8"`;
contract section 8): for each W, in interleaved rounds (W=1: B 1 2 3,
W=2: B 1 2 3, ... then the next round), every server that knows -w is
started with -w W and measured as above, fishermen and pipeline, with
fishload --threads T: fishermen and lines per second, and server CPU per
fisherman and per pipelined line (utime + stime of the whole process,
every worker thread included).  Each figure gets its ratio to the same
server at -w 1 and to the baseline at the same W; CPU per operation more
than 1.1x its -w 1 is marked GREW (contention: something shared).

Pinning in the workers series.  A series compares W with W, so every W is
measured under one rule; a rule that changed with W would put the change
of pinning into the ratio to -w 1.  The rule:
  - If there are more CPUs than the largest W, split them: at -w W the
    server gets the first W CPUs, and fishload always the same CPUs above
    the largest W, with one thread per CPU there (at most 2 x the largest
    W).  fishload spends as much CPU per fisherman as a server or more
    (16 us against the baseline's 12 and v2-raw's 15, on the 2-CPU
    machine), so it needs at least as many cores as the server has
    workers, or it is the limit: give the machine 2 x the largest W CPUs.
    The server's cores are its own, and throughput can scale with W.
  - Otherwise (2 CPUs and W up to 2, as on the machine this was written
    on: -w 2 plus a load thread do not fit), pin nothing at any W and run
    fishload with one thread per CPU: server and load generator share the
    cores, and the scheduler moves them.  Throughput at -w 2 cannot grow
    much over -w 1 (the load takes the CPU a second worker would need), so
    only CPU per operation says anything there: it must not grow with W.
    Pinning -w 2's workers to one CPU each with fishload on top would make
    -w 1 and -w 2 differ in their pinning, not only in their workers.
In flight: 100 fishermen and 32 pipelined connections per load thread,
the same at every W: the load stays the same and only the server changes.

Writes OUT/results.csv (every measurement, then the medians and ratios; the
workers column is empty for the main rounds and W for the series),
OUT/table.md (both tables), OUT/bench.svg and OUT/bench-workers.svg
(gnuplot).

--smoke instead checks correctness only, in a few seconds: a few hundred
fishermen, a short pipeline and a few held connections against every
server as the main rounds run it, then against every server that knows -w
at -w 2 under fishload --threads 2; no timing is looked at.

Every process started here is killed on the way out, even on failure.
"""

import argparse
import csv
import os
import platform
import resource
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import variants as found  # noqa: E402  (tools/variants.py: every variant folder)

VARIANTS = found.variants()
BASELINE = "baseline"
SERVERS = [BASELINE] + VARIANTS
CLK_TCK = os.sysconf("SC_CLK_TCK")

# metric key -> (label, unit, higher is better, target kind, target value)
METRICS = {
    "fps": ("fishermen per second", "", True, "ratio>=", 0.9),
    "cpu_us": ("server CPU per fisherman", "us", False, "ratio<=", 1.2),
    "lps": ("pipelined lines per second", "", True, "ratio>=", 0.85),
    "rss_b": ("RSS per held connection", "bytes", False, "abs<=", 1536),
}
EXTRA = {"p99_us": "fisherman p99 latency (us)"}
SVG_TERMINAL = ("set terminal svg size 1000,720 dynamic enhanced font 'Helvetica,13' "
                "background rgb 'white'")
COLOURS = {BASELINE: "#8c8c8c", "v1-style": "#e07b39", "v2-raw": "#3a7dc9",
           "v2-listener": "#3aa655"}
SPARE_COLOURS = ["#9b59b6", "#c0392b", "#16a085", "#d4ac0d", "#5d6d7e"]


def colours_of(servers):
    """COLOURS, and one of SPARE_COLOURS for each other variant (make
    new-variant), in the order given."""
    out = dict(COLOURS)
    for i, name in enumerate(n for n in servers if n not in COLOURS):
        out[name] = SPARE_COLOURS[i % len(SPARE_COLOURS)]
    return out

PROCS = []   # everything we started, for cleanup


class BenchError(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def raise_nofile():
    """In the child, before exec: 10000 connections need 10000+ fds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pinned(cpus, argv):
    """argv under taskset on the CPU list cpus ("0", "2,3"), or as is if None."""
    return (["taskset", "-c", cpus] + argv) if cpus is not None else argv


def kill(p):
    if p.poll() is None:
        p.kill()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def cleanup():
    for p in PROCS:
        kill(p)


def read_line(stream, deadline):
    """One line from a pipe, or None at EOF; BenchError past the deadline."""
    buf = b""
    fd = stream.fileno()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise BenchError("timed out waiting for output")
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        ch = os.read(fd, 1)   # byte by byte: never read past the line
        if not ch:
            return None if not buf else buf.decode()
        if ch == b"\n":
            return buf.decode()
        buf += ch


class Server:
    def __init__(self, name, binary, logdir, tag, cpus, workers=None):
        self.name = name
        argv = [binary, "-p", "0", "-q"]
        if name != BASELINE:
            # No idle timeout while holding; room for c10k plus a margin.
            argv += ["-t", "0", "-c", "20000", "-g", "2"]
        if workers is not None:
            argv += ["-w", str(workers)]
        self.errpath = os.path.join(logdir, f"{name}-{tag}.stderr")
        self.errfile = open(self.errpath, "wb")
        self.proc = subprocess.Popen(pinned(cpus, argv),
                                     stdout=subprocess.PIPE,
                                     stderr=self.errfile,
                                     stdin=subprocess.DEVNULL,
                                     preexec_fn=raise_nofile)
        PROCS.append(self.proc)
        line = read_line(self.proc.stdout, time.monotonic() + 10)
        if not line or not line.startswith("listening on "):
            self.stop()
            raise BenchError(f"{name}: no 'listening on' line (got {line!r}); see {self.errpath}")
        self.port = int(line.rsplit(":", 1)[1])

    def alive(self):
        return self.proc.poll() is None

    def cpu_ticks(self):
        """utime + stime of the whole process: in /proc/PID/stat (not
        /proc/PID/task/TID/stat) the kernel sums them over all its threads,
        the workers included (checked: it equals the sum of the tasks')."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])   # utime, stime

    def sleeps(self):
        """Times any of its threads blocked (voluntary context switches):
        in a server, an event loop that found nothing to do and slept in
        epoll_wait.  Per thread in /proc, so summed over its tasks."""
        total = 0
        for tid in os.listdir(f"/proc/{self.proc.pid}/task"):
            try:
                with open(f"/proc/{self.proc.pid}/task/{tid}/status") as f:
                    for line in f:
                        if line.startswith("voluntary_ctxt_switches:"):
                            total += int(line.split()[1])
            except FileNotFoundError:
                pass   # a thread that just ended
        return total

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise BenchError(f"{self.name}: no VmRSS")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                log(f"bench: {self.name} ignored SIGTERM for 5 s, killing it")
                kill(self.proc)
        self.errfile.close()


def parse_result(out):
    for line in reversed(out.splitlines()):
        if line.startswith("RESULT "):
            return dict(kv.split("=", 1) for kv in line.split()[1:])
    return None


def fishload(opts, mode, port, args, timeout, cpus="default"):
    cpus = opts.load_cpus if cpus == "default" else cpus
    argv = pinned(cpus, [opts.fishload, mode, "-p", str(port), "-q",
                         "--timeout", str(timeout)] + args)
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, preexec_fn=raise_nofile)
    PROCS.append(p)
    try:
        out, err = p.communicate(timeout=timeout + 10)
    except subprocess.TimeoutExpired:
        kill(p)
        raise BenchError(f"fishload {mode} did not stop by itself")
    res = parse_result(out.decode())
    if p.returncode != 0 or res is None or res.get("errors") != "0":
        raise BenchError(f"fishload {mode} failed (exit {p.returncode}): "
                         f"{out.decode().strip()} {err.decode().strip()[-800:]}")
    return res


def hold(opts, srv, n, timeout):
    """RSS per held connection on a server that has served no one yet."""
    idle = srv.rss_kib()
    argv = pinned(opts.load_cpus, [opts.fishload, "hold", "-p", str(srv.port), "-q",
                                   "-n", str(n), "--timeout", str(timeout)])
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.PIPE, preexec_fn=raise_nofile)
    PROCS.append(p)
    try:
        line = read_line(p.stdout, time.monotonic() + timeout)
        if line != f"held {n}":
            raise BenchError(f"{srv.name}: hold: expected 'held {n}', got {line!r}")
        held = srv.rss_kib()
        p.stdin.close()            # fishload lets go on EOF
        p.stdin = None             # (or communicate() would flush it)
        out, err = p.communicate(timeout=timeout)
    except (BenchError, subprocess.TimeoutExpired) as e:
        kill(p)
        raise BenchError(f"{srv.name}: hold failed: {e} "
                         f"{p.stderr.read().decode()[-800:] if p.stderr else ''}")
    res = parse_result(line + "\n" + out.decode())
    if p.returncode != 0 or not res or res.get("errors") != "0":
        raise BenchError(f"{srv.name}: hold failed (exit {p.returncode}): {err.decode()[-800:]}")
    return (held - idle) * 1024 / n, idle, held


def one_round(opts, name, rnd, rows):
    srv = Server(name, opts.binaries[name], opts.logdir, f"r{rnd}", opts.server_cpus)
    try:
        rss_b, idle, held = hold(opts, srv, opts.hold_n, 60)
        rows.append((rnd, name, "rss_b", rss_b))
        c0 = srv.cpu_ticks()
        r = fishload(opts, "fishermen", srv.port,
                     ["-n", str(opts.conc), "--seconds", str(opts.seconds)],
                     opts.seconds + 30)
        c1 = srv.cpu_ticks()
        count = int(r["count"])
        fps = float(r["fps"])
        cpu_us = (c1 - c0) * 1e6 / CLK_TCK / count
        rows += [(rnd, name, "fps", fps), (rnd, name, "cpu_us", cpu_us),
                 (rnd, name, "p99_us", float(r["p99_us"]))]
        p = fishload(opts, "pipeline", srv.port,
                     ["-n", str(opts.pipe_conns), "--batch", str(opts.batch),
                      "--window", str(opts.window), "--seconds", str(opts.pipe_seconds)],
                     opts.pipe_seconds + 30)
        lps = float(p["lps"])
        rows.append((rnd, name, "lps", lps))
        if not srv.alive():
            raise BenchError(f"{name} died; see {srv.errpath}")
        log(f"bench: round {rnd} {name:12s} fps {fps:9.0f}  cpu/fisherman {cpu_us:6.1f} us  "
            f"lines/s {lps:11.0f}  RSS/conn {rss_b:6.0f} B (idle {idle} KiB, held {held} KiB)")
    finally:
        srv.stop()


def c10k(opts, name, rows):
    srv = Server(name, opts.binaries[name], opts.logdir, "c10k", opts.server_cpus)
    try:
        r = fishload(opts, "fishermen", srv.port,
                     ["-n", "10000", "--count", str(opts.c10k_count)], 60)
        paid = int(r["count"])
        ok = paid == opts.c10k_count and r["errors"] == "0"
        rows += [("c10k", name, "c10k_paid", paid), ("c10k", name, "c10k_errors", int(r["errors"])),
                 ("c10k", name, "c10k_fps", float(r["fps"])),
                 ("c10k", name, "c10k_p99_us", float(r["p99_us"]))]
        log(f"bench: c10k {name:12s} {paid} of {opts.c10k_count} paid, "
            f"{float(r['fps']):.0f}/s, p99 {float(r['p99_us']) / 1000:.0f} ms, "
            f"{'ok' if ok else 'FAILED'}")
        return ok
    finally:
        srv.stop()


def fmt(v, metric):
    if metric in ("cpu_us", "w_cpu_us"):
        return f"{v:.1f}"
    return f"{v:,.0f}"


def build_table(med, rng, c10k_rows, opts):
    """Markdown table of medians, ratios to baseline and targets."""
    head = ["metric (median of %d)" % opts.rounds, BASELINE] + VARIANTS + ["target"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    verdicts = []
    for key, (label, unit, higher, kind, tv) in METRICS.items():
        base = med[(BASELINE, key)]
        cells = [f"{label} ({unit})" if unit else label, fmt(base, key)]
        for v in VARIANTS:
            x = med[(v, key)]
            ratio = x / base if base else float("nan")
            if kind == "ratio>=":
                ok = ratio >= tv
            elif kind == "ratio<=":
                ok = ratio <= tv
            else:
                ok = x <= tv
            verdicts.append((v, label, ok))
            mark = "" if ok else " **MISSED**"
            cells.append(f"{fmt(x, key)} ({ratio:.2f}x){mark}")
        target = {"ratio>=": f">= {tv}x baseline", "ratio<=": f"<= {tv}x baseline",
                  "abs<=": f"<= {tv} B"}[kind]
        cells.append(target)
        lines.append("| " + " | ".join(cells) + " |")
    base = med[(BASELINE, "p99_us")]
    cells = ["fisherman p99 latency (us)", fmt(base, "p99_us")]
    for v in VARIANTS:
        cells.append(f"{fmt(med[(v, 'p99_us')], 'p99_us')} ({med[(v, 'p99_us')] / base:.2f}x)")
    lines.append("| " + " | ".join(cells + ["(information)"]) + " |")
    cells = [f"c10k: paid of {opts.c10k_count}, errors"]
    for s in SERVERS:
        paid, errs = c10k_rows.get(s, (0, "-"))
        cells.append(f"{paid}, {errs}")
        if s != BASELINE:
            verdicts.append((s, "c10k", paid == opts.c10k_count and errs == 0))
    lines.append("| " + " | ".join(cells + ["all paid, 0 errors"]) + " |")
    return lines, verdicts


def draw(opts, med, lo, hi, out):
    """Four small bar charts, one per metric, the target as a dashed line."""
    gp, datadir = plot_setup(out, "chart")
    if gp is None:
        return False
    colours = colours_of(SERVERS)
    right = len(SERVERS) - 0.4
    script = [
        SVG_TERMINAL,
        f"set output '{os.path.join(out, 'bench.svg')}'",
        "set multiplot layout 2,2 title "
        f"\"fishmarket: libevent variants vs a raw epoll baseline (median of {opts.rounds}, "
        "bars = min..max; dashed = target)\" font ',15'",
        "set style fill solid 0.85 border -1",
        "set boxwidth 0.65",
        "set grid ytics lc rgb '#dddddd'",
        f"set xrange [-0.6:{right}]",
        "set yrange [0:*]",
        "unset key",
        "set tics nomirror",
        "set border 3",
        "set format y '%.1s%c'",
    ]
    for key, (label, unit, higher, kind, tv) in METRICS.items():
        base = med[(BASELINE, key)]
        target = tv * base if kind.startswith("ratio") else tv
        path = os.path.join(datadir, f"{key}.dat")
        with open(path, "w") as f:
            for i, s in enumerate(SERVERS):
                colour = int(colours[s][1:], 16)
                v = med[(s, key)]
                text = short(v, key) + ("" if s == BASELINE else f" ({v / base:.2f}x)")
                f.write(f"{i} \"{s}\" {v} {lo[(s, key)]} {hi[(s, key)]} {colour} \"{text}\"\n")
        ymax = max(max(hi[(s, key)] for s in SERVERS), target) * 1.2
        better = "higher is better" if higher else "lower is better"
        tlabel = {"ratio>=": f"target >= {tv}x baseline", "ratio<=": f"target <= {tv}x baseline",
                  "abs<=": f"target <= {tv} B"}[kind]
        title = f"{label} ({unit})" if unit else label
        script += [
            f"set title \"{title}: {better}\"",
            f"set yrange [0:{ymax}]",
            f"set arrow 1 from -0.6,{target} to {right},{target} nohead dt 2 lw 2 lc rgb '#c0392b' front",
            f"set label 1 \"- - {tlabel}\" at graph 0.99, graph 0.97 right tc rgb '#c0392b' front",
            f"plot '{path}' using 1:3:6:xtic(2) with boxes lc rgb variable, "
            f"'' using 1:3:4:5 with yerrorbars lc rgb 'black' pt -1 lw 1.5, "
            f"'' using 1:5:7 with labels offset 0,0.8 tc rgb 'black' font ',11'",
            "unset arrow 1", "unset label 1",
        ]
    script.append("unset multiplot")
    return gnuplot(gp, script, os.path.join(datadir, "bench.gp"))


def plot_setup(out, what):
    """gnuplot's path and OUT/plot for its data, or (None, None) without it."""
    gp = shutil.which("gnuplot")
    if gp is None:
        log(f"bench: gnuplot not found, no {what} (apt-get install gnuplot-nox)")
        return None, None
    datadir = os.path.join(out, "plot")
    os.makedirs(datadir, exist_ok=True)
    return gp, datadir


def gnuplot(gp, script, gpfile):
    """Write the script to gpfile and run it; False (and why) if it failed."""
    with open(gpfile, "w") as f:
        f.write("\n".join(script) + "\n")
    r = subprocess.run([gp, gpfile], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        log(f"bench: gnuplot failed on {gpfile}: {r.stderr.strip()}")
        return False
    return True


def short(v, key):
    if key == "cpu_us":
        return f"{v:.1f} us"
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if v >= div:
            return f"{v / div:.2f}{suffix}"
    return f"{v:.0f} B" if key == "rss_b" else f"{v:.0f}"


# -- The workers series (issue 9, contract section 8) -----------------------

# metric key -> (label, unit, higher is better)
WMETRICS = {
    "w_fps": ("fishermen per second", "", True),
    "w_lps": ("pipelined lines per second", "", True),
    "w_cpu_us": ("server CPU per fisherman", "us", False),
    "w_cpu_line_ns": ("server CPU per pipelined line", "ns", False),
    "w_sleeps": ("server sleeps per 1000 fishermen (information)", "", None),
}
# CPU per operation at -w N over the same server's at -w 1: more than this
# is contention (a lock, a shared cache line, a shared queue), not noise.
CPU_GROWTH_TARGET = 1.1


def takes_workers(binary):
    """Does this server know -w?  Asked, not assumed: a server without it
    exits 2 on the unknown option."""
    r = subprocess.run([binary, "-w", "2", "--version"], capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=10)
    return r.returncode == 0


def series_plan(opts):
    """Where the server and fishload run at each W, and how many load
    threads: the pinning rule of the module docstring, the same at every W."""
    cpus = sorted(os.sched_getaffinity(0))
    wmax = max(opts.workers)
    if shutil.which("taskset") and len(cpus) > wmax:
        load = cpus[wmax:]
        opts.w_threads = opts.load_threads or min(len(load), 2 * wmax, 64)
        opts.w_load_cpus = ",".join(map(str, load))
        opts.w_server_cpus = {w: ",".join(map(str, cpus[:w])) for w in opts.workers}
        opts.w_pinning = (f"server on the first W of CPUs {','.join(map(str, cpus[:wmax]))}, "
                          f"fishload --threads {opts.w_threads} on CPUs {opts.w_load_cpus}")
    else:
        opts.w_threads = opts.load_threads or min(len(cpus), 64)
        opts.w_load_cpus = None
        opts.w_server_cpus = {w: None for w in opts.workers}
        opts.w_pinning = (f"not pinned at any W ({len(cpus)} CPUs cannot give -w {wmax} "
                          f"and fishload CPUs of their own), fishload --threads {opts.w_threads}")
    # As many in flight per load thread as the main rounds have in all, the
    # same at every W: the load is a constant and the server the variable.
    opts.w_conc = opts.conc * opts.w_threads
    opts.w_pipe_conns = opts.pipe_conns * opts.w_threads


def series_round(opts, name, w, rnd, wrows):
    """One server at -w w: fishermen, then the pipeline, CPU around each."""
    srv = Server(name, opts.binaries[name], opts.logdir, f"w{w}-r{rnd}",
                 opts.w_server_cpus[w], workers=w)
    threads = ["--threads", str(opts.w_threads)]
    try:
        c0, z0 = srv.cpu_ticks(), srv.sleeps()
        r = fishload(opts, "fishermen", srv.port,
                     ["-n", str(opts.w_conc), "--seconds", str(opts.seconds)] + threads,
                     opts.seconds + 30, cpus=opts.w_load_cpus)
        c1, z1 = srv.cpu_ticks(), srv.sleeps()
        p = fishload(opts, "pipeline", srv.port,
                     ["-n", str(opts.w_pipe_conns), "--batch", str(opts.batch),
                      "--window", str(opts.window), "--seconds", str(opts.pipe_seconds)]
                     + threads, opts.pipe_seconds + 30, cpus=opts.w_load_cpus)
        c2 = srv.cpu_ticks()
        if not srv.alive():
            raise BenchError(f"{name} -w {w} died; see {srv.errpath}")
        count, lines = int(r["count"]), int(p["lines"])
        got = {"w_fps": float(r["fps"]), "w_lps": float(p["lps"]),
               "w_cpu_us": (c1 - c0) * 1e6 / CLK_TCK / count,
               "w_cpu_line_ns": (c2 - c1) * 1e9 / CLK_TCK / lines,
               "w_sleeps": (z1 - z0) * 1000 / count}
        wrows += [(rnd, name, w, k, v) for k, v in got.items()]
        log(f"bench: workers round {rnd} {name:12s} -w {w}: fps {got['w_fps']:9.0f}  "
            f"cpu/fisherman {got['w_cpu_us']:6.1f} us  lines/s {got['w_lps']:11.0f}  "
            f"cpu/line {got['w_cpu_line_ns']:6.0f} ns  sleeps/1000 fishermen {got['w_sleeps']:4.0f}")
    finally:
        srv.stop()


def series_medians(wrows):
    """{(server, w, metric): (median, min, max)} over the rounds."""
    out = {}
    for key in sorted({r[1:4] for r in wrows}):
        vals = [r[4] for r in wrows if r[1:4] == key]
        out[key] = (statistics.median(vals), min(vals), max(vals))
    return out


def series_ratios(wmed):
    """{(server, w, metric): (to its own -w 1, to the baseline at w)}."""
    out = {}
    for (s, w, k), (v, _, _) in wmed.items():
        own = wmed.get((s, 1, k))
        base = wmed.get((BASELINE, w, k))
        out[(s, w, k)] = (v / own[0] if own and own[0] else None,
                          v / base[0] if base and base[0] and s != BASELINE else None)
    return out


def series_table(wmed, ratios, servers, opts):
    """Markdown: one row per metric and W, one column per server."""
    head = [f"metric (median of {opts.w_rounds})", "-w"] + servers
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    grew = []
    for key, (label, unit, _) in WMETRICS.items():
        for w in opts.workers:
            cells = [f"{label} ({unit})" if unit else label, str(w)]
            for s in servers:
                if (s, w, key) not in wmed:
                    cells.append("-")
                    continue
                v = wmed[(s, w, key)][0]
                own, base = ratios[(s, w, key)]
                notes = []
                if w != 1 and own is not None:
                    mark = ""
                    if WMETRICS[key][2] is False and own > CPU_GROWTH_TARGET:
                        mark = " **GREW**"
                        grew.append(f"{s} -w {w}: {label}")
                    notes.append(f"{own:.2f}x -w 1{mark}")
                if base is not None and WMETRICS[key][2] is not None:
                    notes.append(f"{base:.2f}x baseline")
                cells.append(f"{fmt(v, key)}" + (f" ({', '.join(notes)})" if notes else ""))
            lines.append("| " + " | ".join(cells) + " |")
    return lines, grew


def draw_series(opts, wmed, ratios, servers, out):
    """OUT/bench-workers.svg: throughput against W, and CPU per operation
    against W relative to -w 1 with the 1.1x line; bars are min..max."""
    gp, datadir = plot_setup(out, "workers chart")
    if gp is None:
        return False
    ws = opts.workers
    script = [
        SVG_TERMINAL,
        f"set output '{os.path.join(out, 'bench-workers.svg')}'",
        "set multiplot layout 2,2 title "
        f"\"fishmarket: -w workers, the variants and the raw epoll baseline "
        f"(median of {opts.w_rounds}, bars = min..max)\" font ',15'",
        "set grid ytics lc rgb '#dddddd'",
        "set logscale x 2" if len(ws) > 2 else "unset logscale x",
        f"set xrange [{min(ws) * 0.8}:{max(ws) * 1.25}]" if len(ws) > 2
        else f"set xrange [{min(ws) - 0.3}:{max(ws) + 0.3}]",
        "set xtics (" + ", ".join(f"'{w}' {w}" for w in ws) + ")",
        "set xlabel 'workers (-w)'",
        "set tics nomirror",
        "set border 3",
        "set format y '%.1s%c'",
    ]
    colours = colours_of(servers)
    panels = [("w_fps", False), ("w_lps", False), ("w_cpu_us", True), ("w_cpu_line_ns", True)]
    for n, (key, relative) in enumerate(panels):
        label, unit, higher = WMETRICS[key]
        plots = []
        top = CPU_GROWTH_TARGET * 1.2
        for i, s in enumerate(servers):
            path = os.path.join(datadir, f"{key}-{s}.dat")
            # Nudge each server sideways a little so that the bars do not hide each other.
            nudge = (i - (len(servers) - 1) / 2) * (0.02 if len(ws) > 2 else 0.03)
            with open(path, "w") as f:
                for w in ws:
                    if (s, w, key) not in wmed:
                        continue
                    v, lo, hi = wmed[(s, w, key)]
                    own = wmed.get((s, 1, key), (None,))[0]
                    if relative:
                        if not own:
                            continue
                        v, lo, hi = v / own, lo / own, hi / own
                        top = max(top, hi * 1.1)
                    x = w * (1 + nudge) if len(ws) > 2 else w + nudge
                    f.write(f"{x} {v} {lo} {hi}\n")
            plots.append(f"'{path}' using 1:2:3:4 with yerrorlines lw 2 pt 7 ps 0.7 "
                         f"lc rgb '{colours.get(s, '#000000')}' title '{s}'")
        if relative:
            title = (f"{label}, relative to its own -w 1: lower is better; "
                     f"dashed = {CPU_GROWTH_TARGET}x")
            script += [f"set yrange [0:{top}]", "set format y '%.2f'",
                       f"set arrow 1 from graph 0, first {CPU_GROWTH_TARGET} to graph 1, "
                       f"first {CPU_GROWTH_TARGET} nohead dt 2 lw 2 lc rgb '#c0392b' front"]
        else:
            title = f"{label}{f' ({unit})' if unit else ''}: higher is better"
            script += ["set yrange [0:*]", "set format y '%.1s%c'", "unset arrow 1"]
        # One key, in the first panel's empty bottom: the colours are the same in all four.
        script += ["set key bottom center horizontal font ',11'" if n == 0 else "unset key",
                   f"set title \"{title}\" font ',12'", "plot " + ", ".join(plots)]
    script += ["unset arrow 1", "unset multiplot"]
    return gnuplot(gp, script, os.path.join(datadir, "bench-workers.gp"))


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


def smoke_one(opts, name, workers, threads):
    """A few hundred fishermen, a short pipeline and a few held connections
    against one server, every reply checked; fishload with threads threads."""
    t0 = time.monotonic()
    tag = "smoke" if workers is None else f"smoke-w{workers}"
    srv = Server(name, opts.binaries[name], opts.logdir, tag, None, workers=workers)
    try:
        if workers is not None:
            # One event loop per thread (section 8): as many threads as -w.
            tasks = len(os.listdir(f"/proc/{srv.proc.pid}/task"))
            if tasks < workers:
                raise BenchError(f"-w {workers} but {tasks} thread(s)")
        t = ["--threads", str(threads)]
        f = fishload(opts, "fishermen", srv.port, ["-n", "50", "--count", "300"] + t, 20)
        p = fishload(opts, "pipeline", srv.port,
                     ["-n", "4", "--batch", "16", "--count", "20000"] + t, 20)
        h = fishload(opts, "hold", srv.port, ["-n", "50", "--hold-seconds", "0.2"] + t, 20)
        if int(f["count"]) != 300 or int(h["held"]) != 50 or int(p["lines"]) < 20000:
            raise BenchError(f"short run: {f} {p} {h}")
        if not srv.alive():
            raise BenchError(f"{name} died; see {srv.errpath}")
        what = f"{name}{'' if workers is None else f' -w {workers}'}"
        log(f"bench-smoke: {what:17s} ok: 300 fishermen paid, {p['lines']} pipelined "
            f"lines in {p['replies']} checked tallies, 50 held, fishload --threads "
            f"{threads} ({time.monotonic() - t0:.1f} s)")
    finally:
        srv.stop()


def smoke(opts):
    """Every server as the main rounds run it, then with -w 2 under a
    two-thread fishload: the new paths of both, correctness only."""
    failed = []
    runs = [(s, None, 1) for s in SERVERS] + [(s, 2, 2) for s in opts.w_servers]
    for name, workers, threads in runs:
        try:
            smoke_one(opts, name, workers, threads)
        except BenchError as e:
            what = f"{name}{'' if workers is None else f' -w {workers}'}"
            failed.append(what)
            log(f"bench-smoke: {what}: FAILED: {e}")
    left_out = [s for s in SERVERS if s not in opts.w_servers]
    if left_out:
        log(f"bench-smoke: no -w in {', '.join(left_out)}: not run with workers")
    if failed:
        log(f"bench-smoke: FAILED for {', '.join(failed)}")
        return 1
    log("bench-smoke: all servers paid every fisherman right")
    return 0


def medians(rows):
    med, lo, hi = {}, {}, {}
    for name in SERVERS:
        for key in list(METRICS) + list(EXTRA):
            vals = [r[3] for r in rows if r[1] == name and r[2] == key]
            med[(name, key)] = statistics.median(vals)
            lo[(name, key)], hi[(name, key)] = min(vals), max(vals)
    return med, lo, hi


def write_csv(w, rows, wrows):
    """Every measurement, then medians and ratios.  The workers column is
    empty for the main rounds (no -w given) and W for the workers series."""
    w.writerow(["round", "server", "metric", "value", "workers"])
    for r in rows:
        w.writerow([r[0], r[1], r[2], f"{r[3]:.3f}" if isinstance(r[3], float) else r[3], ""])
    if rows:
        med, _, _ = medians(rows)
        for name in SERVERS:
            for key in list(METRICS) + list(EXTRA):
                w.writerow(["median", name, key, f"{med[(name, key)]:.3f}", ""])
        for name in VARIANTS:
            for key in METRICS:
                base = med[(BASELINE, key)]
                w.writerow(["ratio", name, key, f"{med[(name, key)] / base:.4f}" if base else "nan", ""])
    for r in wrows:
        w.writerow([r[0], r[1], r[3], f"{r[4]:.3f}", r[2]])
    if wrows:
        wmed = series_medians(wrows)
        ratios = series_ratios(wmed)
        for (s, wk, key), (v, _, _) in sorted(wmed.items()):
            w.writerow(["median", s, key, f"{v:.3f}", wk])
        for (s, wk, key), (own, base) in sorted(ratios.items()):
            if own is not None and wk != 1:
                w.writerow(["ratio_w1", s, key, f"{own:.4f}", wk])
            if base is not None:
                w.writerow(["ratio", s, key, f"{base:.4f}", wk])


def replot(opts):
    with open(os.path.join(opts.out, "results.csv")) as f:
        measured = [r for r in csv.DictReader(f) if r["round"].isdigit()]
    rows = [(r["round"], r["server"], r["metric"], float(r["value"]))
            for r in measured if not r.get("workers")]
    wrows = [(r["round"], r["server"], int(r["workers"]), r["metric"], float(r["value"]))
             for r in measured if r.get("workers")]
    ok = True
    if rows:
        opts.rounds = len({r[0] for r in rows})
        med, lo, hi = medians(rows)
        ok &= draw(opts, med, lo, hi, opts.out)
    if wrows:
        opts.w_rounds = len({r[0] for r in wrows})
        opts.workers = sorted({r[2] for r in wrows})
        servers = [s for s in SERVERS if any(r[1] == s for r in wrows)]
        wmed = series_medians(wrows)
        ok &= draw_series(opts, wmed, series_ratios(wmed), servers, opts.out)
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin-dir", default="build")
    ap.add_argument("--out", default="build/bench")
    ap.add_argument("--quick", action="store_true", help="one short round")
    ap.add_argument("--smoke", action="store_true", help="correctness only, a few seconds")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--variants", help="which variants (make passes its VARIANTS; "
                    "default: every folder with a fishmarket.c)")
    ap.add_argument("--replot", action="store_true",
                    help="redraw the charts from OUT/results.csv, run nothing")
    ap.add_argument("--workers", default="1 2",
                    help="the workers series: -w values, e.g. '1 2 4 8' ('' = no series)")
    ap.add_argument("--load-threads", type=int, default=0,
                    help="fishload --threads in the workers series (default: see the docstring)")
    ap.add_argument("--series-rounds", type=int, help="rounds of the workers series")
    ap.add_argument("--workers-only", action="store_true",
                    help="only the workers series: no main rounds, no c10k")
    opts = ap.parse_args()
    try:
        opts.workers = sorted({int(w) for w in opts.workers.replace(",", " ").split()})
    except ValueError:
        ap.error(f"--workers: not a list of numbers: {opts.workers!r}")
    if any(not 1 <= w <= 64 for w in opts.workers):
        ap.error("--workers: each from 1 to 64")
    if opts.workers and opts.workers[0] != 1:
        opts.workers.insert(0, 1)   # every ratio is to -w 1
    if opts.workers_only and not opts.workers:
        ap.error("--workers-only needs --workers")
    if opts.variants:
        VARIANTS[:] = found.split(opts.variants)
        SERVERS[:] = [BASELINE] + VARIANTS

    if opts.replot:
        return replot(opts)
    opts.binaries = {BASELINE: os.path.join(opts.bin_dir, "baseline-epoll")}
    for v in VARIANTS:
        opts.binaries[v] = os.path.join(opts.bin_dir, f"fishmarket-{v}")
    opts.fishload = os.path.join(opts.bin_dir, "fishload")
    missing = [b for b in list(opts.binaries.values()) + [opts.fishload]
               if not os.access(b, os.X_OK)]
    if missing:
        log(f"bench: missing binaries: {' '.join(missing)} (make bench-bins)")
        return 1
    os.makedirs(opts.out, exist_ok=True)
    opts.logdir = os.path.join(opts.out, "logs")
    os.makedirs(opts.logdir, exist_ok=True)

    taskset = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    opts.server_cpus, opts.load_cpus = ("0", "1") if taskset else (None, None)
    opts.w_servers = [s for s in SERVERS if takes_workers(opts.binaries[s])]
    if opts.smoke:
        # Correctness only: let the scheduler place them.
        opts.server_cpus = opts.load_cpus = None
        return smoke(opts)

    if not taskset:
        log("bench: fewer than 2 CPUs or no taskset: server and load not pinned")
    if opts.quick:
        opts.rounds = opts.rounds or 1
        opts.w_rounds = opts.series_rounds or 1
        opts.seconds, opts.pipe_seconds, opts.hold_n, opts.c10k_count = 1.5, 1.0, 5000, 10000
    else:
        opts.rounds = opts.rounds or 5
        opts.w_rounds = opts.series_rounds or 3
        opts.seconds, opts.pipe_seconds, opts.hold_n, opts.c10k_count = 4.0, 3.0, 10000, 20000
    # 100 fishermen in flight keeps both CPUs busy without queueing on the
    # backlog.  Pipeline: 4 batches of 48 lines (894 bytes) in flight per
    # connection stay under the 4096 bytes libevent reads per callback
    # (EVBUFFER_MAX_READ), so every server can take a whole window at once.
    opts.conc, opts.pipe_conns, opts.batch, opts.window = 100, 32, 48, 4
    if opts.workers:
        series_plan(opts)
    if opts.workers_only:
        opts.rounds = 0
    left_out = [s for s in SERVERS if s not in opts.w_servers]

    started = time.monotonic()
    log(f"bench: {machine()}")
    if opts.rounds:
        log(f"bench: {opts.rounds} round(s) of {' '.join(SERVERS)}, "
            + ("server on CPU 0, load on CPU 1" if taskset else "not pinned"))
    if opts.workers:
        log(f"bench: workers series, {opts.w_rounds} round(s) of -w {' '.join(map(str, opts.workers))} "
            f"for {' '.join(opts.w_servers)}; {opts.w_pinning}")
        if left_out:
            log(f"bench: no -w in {' '.join(left_out)}: left out of the workers series")
    rows, wrows = [], []
    c10k_rows = {}
    ok_all = True
    try:
        for rnd in range(1, opts.rounds + 1):
            for name in SERVERS:
                one_round(opts, name, rnd, rows)
        for name in SERVERS if opts.rounds else []:
            try:
                ok = c10k(opts, name, rows)
            except BenchError as e:
                log(f"bench: c10k {name}: FAILED: {e}")
                ok = False
            ok_all &= ok
        for r in rows:
            if r[0] == "c10k" and r[2] in ("c10k_paid", "c10k_errors"):
                paid, errs = c10k_rows.get(r[1], (0, 0))
                c10k_rows[r[1]] = (r[3], errs) if r[2] == "c10k_paid" else (paid, r[3])
        # Interleaved as the main rounds: a noisy minute hurts every W alike.
        for rnd in range(1, opts.w_rounds + 1) if opts.workers else []:
            for w in opts.workers:
                for name in opts.w_servers:
                    series_round(opts, name, w, rnd, wrows)
    except BenchError as e:
        log(f"bench: FAILED: {e}")
        return 1
    finally:
        cleanup()

    mode = "QUICK=1 (short rounds)" if opts.quick else f"{opts.rounds} rounds"
    out_tables, written = [f"Machine: {machine()}; `make bench` {mode}."], []
    verdicts, grew = [], []
    if rows:
        med, lo, hi = medians(rows)
        table, verdicts = build_table(med, (lo, hi), c10k_rows, opts)
        out_tables += ["", "\n".join(table)]
        if draw(opts, med, lo, hi, opts.out):
            written.append(f"{opts.out}/bench.svg")
    if wrows:
        wmed = series_medians(wrows)
        ratios = series_ratios(wmed)
        wtable, grew = series_table(wmed, ratios, opts.w_servers, opts)
        out_tables += ["", f"Workers series, {opts.w_rounds} round(s): {opts.w_pinning}; "
                       f"{opts.w_conc} fishermen in flight, {opts.w_pipe_conns} pipelined "
                       f"connections. Ratios: to the same server's -w 1, and to the baseline "
                       f"at the same -w.", "", "\n".join(wtable)]
        if draw_series(opts, wmed, ratios, opts.w_servers, opts.out):
            written.append(f"{opts.out}/bench-workers.svg")

    with open(os.path.join(opts.out, "results.csv"), "w", newline="") as f:
        write_csv(csv.writer(f), rows, wrows)
    with open(os.path.join(opts.out, "table.md"), "w") as f:
        f.write("\n".join(out_tables) + "\n")

    print()
    print("\n".join(out_tables[1:]))
    print()
    if rows:
        missed = [f"{v}: {m}" for v, m, ok in verdicts if not ok]
        print(f"targets: {'all met' if not missed else 'missed: ' + '; '.join(missed)}")
    if wrows:
        print(f"workers: CPU per operation {'within' if not grew else 'NOT within'} "
              f"{CPU_GROWTH_TARGET}x of -w 1" + (f": {'; '.join(grew)}" if grew else ""))
    print(f"wrote {opts.out}/results.csv, {opts.out}/table.md"
          + "".join(f", {x}" for x in written)
          + f" in {time.monotonic() - started:.0f} s")
    # Figures, not assertions: a missed target is reported, not an error.
    # Wrong answers are: fishload already failed the run on any of them.
    return 0 if ok_all else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        cleanup()
