"""
suite.py - what the tests of this folder share: run the integration suite
(tests/integration) as a program, the way `make check-server` does, and
read its table back (FISH_TABLE_JSON); run make in a copy of the
repository.  Every process started here is waited for with a deadline and
killed if it outlives it.
"""

import concurrent.futures
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("FISH_BUILD") or REPO / "build")
SUITE = REPO / "tests" / "integration"
FIXTURES = REPO / "tests" / "fixtures" / "broken"


def fixtures():
    """{name: {"base": variant, "breaks": (section, quote part), "patch": path}}
    from the header lines of tests/fixtures/broken/*.patch."""
    out = {}
    for path in sorted(FIXTURES.glob("*.patch")):
        head = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("--- "):
                break
            key, sep, value = line.partition(": ")
            if sep and key in ("Base", "Breaks"):
                head[key] = value.strip()
        section, _, quote = head.get("Breaks", "").partition(":")
        out[path.stem] = {"base": head.get("Base"), "patch": path,
                          "breaks": (section.strip(), " ".join(quote.split()))}
    return out


class Run:
    """One run of the suite in the background: Run(env).result(timeout)."""

    def __init__(self, env, args=()):
        self.tmp = tempfile.TemporaryDirectory(prefix="fish-suite-")
        self.json = Path(self.tmp.name) / "table.json"
        self.out = open(Path(self.tmp.name) / "out.txt", "w+b")
        full = dict(os.environ)
        for key in ("FISH_VARIANTS", "FISH_SERVERS", "FISH_SERVER", "FISH_SERVER_ID",
                    "FISH_ARGSETS", "FISH_ONLY"):
            full.pop(key, None)
        full.update(env)
        full["FISH_TABLE_JSON"] = str(self.json)
        full["FISH_BIN_DIR"] = str(BUILD)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(SUITE),
             *args], cwd=REPO, env=full, stdin=subprocess.DEVNULL, stdout=self.out,
            stderr=subprocess.STDOUT)

    def result(self, timeout):
        """(exit status, printed output, the table as JSON or None)."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the suite did not finish within {timeout} s")
        self.out.seek(0)
        text = self.out.read().decode("utf-8", "replace")
        table = json.loads(self.json.read_text()) if self.json.exists() else None
        return rc, text, table

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        self.kill()
        self.out.close()
        self.tmp.cleanup()


# --------------------------------------------------------------------------
# make in a copy of the repository

# What a copy of the repository needs besides the sources: this build, less
# what other targets leave there.
BUILD_SKIP = ("fixtures", "bench", "bench-bin", "valgrind-bin", "valgrind", "fuzz",
              "soak", "logs", "comparison", "san")
TREE_SKIP = ("build", ".git", "__pycache__", ".pytest_cache", "*.pyc")
MAKE_TIMEOUT = 180


def make_env():
    """This environment, less what would make a make in the copy see another
    list of variants than the copy's own: our caller's VARIANTS=... (in
    MAKEFLAGS, as make passes command-line variables down) and the
    FISH_VARIANTS a recipe may have set."""
    env = dict(os.environ)
    env.pop("FISH_VARIANTS", None)
    # This Python has pytest: telling make spares it the search (an import
    # of pytest at every use of $(PYTHON)).
    env.setdefault("PYTHON", sys.executable)
    # SANITIZE=thread builds libevent from a source tree under build/ (not
    # copied): the copy's make uses this one's.
    source = REPO / "build" / "src" / "libevent"
    if "LIBEVENT_SRC" not in env and source.is_dir():
        env["LIBEVENT_SRC"] = str(source)
    for key in ("MAKEFLAGS", "MAKEOVERRIDES"):
        if key in env:
            env[key] = re.sub(r"(^|\s)VARIANTS=(\\.|\S)*", " ", env[key])
    return env


def copy_tree(dest):
    """Copy the repository into dest, with this build (times kept, so make
    finds it up to date and compiles only what is new).  Returns the build
    directory's path relative to the repository."""
    shutil.copytree(REPO, dest, ignore=shutil.ignore_patterns(*TREE_SKIP))
    rel = os.path.relpath(BUILD, REPO)
    if rel.startswith(".."):
        raise AssertionError(f"the build {BUILD} is outside the repository")
    shutil.copytree(BUILD, Path(dest) / rel, symlinks=True,
                    ignore=lambda d, names: [n for n in names if n in BUILD_SKIP
                                             and os.path.samefile(d, BUILD)
                                             or _special(os.path.join(d, n))])
    return rel


def _special(path):
    """A FIFO or a socket (a run under faults may leave libfiu's control
    FIFOs in build/): nothing a build needs, and copytree cannot copy it."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return True
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def make(tree, *args, stdin=None, extra_env=None):
    """make ARGS in tree: the CompletedProcess (never raises on failure).
    stdin: text for make to read (a makefile given as -f -); extra_env:
    variables to add to its environment."""
    env = make_env()
    env.update(extra_env or {})
    return subprocess.run(["make", "--no-print-directory", *args], cwd=tree,
                          env=env, input=stdin, capture_output=True, text=True,
                          timeout=MAKE_TIMEOUT,
                          **({} if stdin is not None else {"stdin": subprocess.DEVNULL}))


def new_variant_steps(tree):
    """`make new-variant` in tree (a copy of the repository) and all that
    should follow from it; {step: CompletedProcess}, for the test to judge.
    The steps after the build are independent and run at once."""
    steps = {}
    refusals = [("Mine", "v2-raw"), ("../mine", "v2-raw"), ("common", "v2-raw"),
                ("build", "v2-raw"), ("mine", "v9-none"), ("", "v2-raw")]
    steps["listing before"] = sorted(os.listdir(tree))
    run_at_once(steps, tree, {f"refuse {name!r} from {src}":
                              ("new-variant", f"NAME={name}", f"FROM={src}")
                              for name, src in refusals})
    steps["listing after refusals"] = sorted(os.listdir(tree))
    steps["new-variant"] = make(tree, "new-variant", "NAME=mine", "FROM=v2-raw")
    steps["again"] = make(tree, "new-variant", "NAME=mine", "FROM=v2-listener")
    steps["all-variants"] = make(tree, "all-variants")
    if steps["all-variants"].returncode != 0:
        return steps
    after = {"check list": ("-n", "check-integration"),
             "suite": ("check-integration", "VARIANTS=mine"),
             "diff": ("diff", "A=v2-raw", "B=mine"),
             "bench-smoke": ("bench-smoke",),
             "tables": ("variant-tables", "TABLES=symbols size")}
    run_at_once(steps, tree, after)
    return steps


def run_at_once(steps, tree, todo):
    """make in tree for each {step: args} of todo, all at once, into steps."""
    with concurrent.futures.ThreadPoolExecutor(len(todo)) as pool:
        done = {k: pool.submit(make, tree, *args) for k, args in todo.items()}
        for k, future in done.items():
            steps[k] = future.result()
