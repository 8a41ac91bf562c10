#!/usr/bin/env python3
"""new_variant.py - `make new-variant NAME=mine FROM=v2-raw`.

Copies the variant FROM (a top-level folder with a fishmarket.c) into a new
folder NAME and renames it inside (the VARIANT macro, which --version
prints).  Nothing else needs editing: the Makefile and every tool take any
folder with a fishmarket.c as a variant (tools/variants.py).

Refuses, with one line and exit status 2, a name that is not a plain lower
case word (letters, digits, '-'; it becomes part of a file name and of
make targets), a name already taken by anything in the repository, and a
FROM that is not a variant.  Standard library only.
"""

import argparse
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import variants  # noqa: E402

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
# Taken even when absent: build/ is made and removed by make.
RESERVED = {"build"}
VARIANT_RE = r'^#define VARIANT "{}"$'


def fail(msg):
    print(f"new-variant: {msg}", file=sys.stderr)
    return 2


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--name", required=True)
    ap.add_argument("--from", dest="src", required=True)
    ap.add_argument("--root", default=str(variants.REPO))
    opts = ap.parse_args(argv)
    root = Path(opts.root)
    have = variants.found(root)
    usage = "usage: make new-variant NAME=mine FROM=VARIANT (variants: %s)" % " ".join(have)
    if not opts.name or not opts.src:
        return fail(usage)
    if not NAME_RE.match(opts.name):
        return fail(f"bad NAME {opts.name!r}: a lower-case letter, then letters, digits "
                    f"or '-', at most 32 ({usage})")
    if opts.src not in have:
        return fail(f"FROM={opts.src!r} is not a variant ({usage})")
    dest = root / opts.name
    if dest.exists() or dest.is_symlink() or opts.name in RESERVED:
        return fail(f"{opts.name}/ already exists: refusing to overwrite it")
    src = root / opts.src / "fishmarket.c"
    text = src.read_text(encoding="utf-8")
    pattern = re.compile(VARIANT_RE.format(re.escape(opts.src)), re.M)
    if len(pattern.findall(text)) != 1:
        return fail(f"{src} has no single '#define VARIANT \"{opts.src}\"' line to rename")
    text = pattern.sub(f'#define VARIANT "{opts.name}"', text)
    shutil.copytree(root / opts.src, dest, ignore=shutil.ignore_patterns("*.o", "*.d"))
    (dest / "fishmarket.c").write_text(text, encoding="utf-8")
    print(f"new-variant: {opts.name}/ is a copy of {opts.src}/ (its --version says "
          f"{opts.name}).  Next:\n"
          f"  make all-variants          (builds build/fishmarket-{opts.name})\n"
          f"  make check VARIANTS={opts.name}   (the suite against it alone)\n"
          f"  make diff A={opts.src} B={opts.name}   (what you changed)\n"
          f"  make bench                 (measured with the others)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
