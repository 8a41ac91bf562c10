"""The variants of this repository: which servers are "ours".

A variant is a top-level folder holding a fishmarket.c (the Makefile's rule,
see its VARIANTS comment): `make new-variant NAME=mine FROM=v2-raw` makes
one, and from then on every tool takes it along, no list to edit.

`make` passes its own VARIANTS (teaching order first: v1-style, v2-raw,
v2-listener, then the others by name) in the FISH_VARIANTS environment
variable or a --variants option; run on their own, the tools find the
folders themselves, in name order.  Standard library only.
"""
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def found(root=REPO):
    """Every top-level folder of root with a fishmarket.c, by name."""
    return sorted(p.parent.name for p in Path(root).glob("*/fishmarket.c")
                  if not p.parent.name.startswith("."))


def split(text):
    """'a b,c' -> ['a', 'b', 'c']: make passes lists with spaces, people
    type them with commas."""
    return [v for v in text.replace(",", " ").split() if v]


def variants(given=None, root=REPO, env=os.environ):
    """The variants to work on: those given (a string or a list), else
    FISH_VARIANTS, else every folder found."""
    if given is None:
        given = env.get("FISH_VARIANTS", "")
    if isinstance(given, str):
        given = split(given)
    return list(given) or found(root)
