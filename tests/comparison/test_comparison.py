"""The staleness check of COMPARISON.md must fail when it should.

Two kinds of test:
- on a small self-contained tree (three tiny variants, notes, a story, a
  document) built in a temporary directory: generate, then check passes;
  every way of drifting (an edited generated block, a note without a hunk,
  a hunk without a note, a story call the source lacks, an ambiguous quote
  marker) makes the check fail with its own message;
- on the real COMPARISON.md, copied to a temporary directory: altering one
  of its generated blocks makes the check fail naming that block, and a
  note added to the real notes (in a copy of the tree) that matches no hunk
  fails too.

Runs with the Python standard library only:
    python3 -m unittest discover -s tests/comparison
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "tools", "comparison", "comparison.py")
BUILD = os.environ.get("FISH_BUILD", os.path.join(ROOT, "build"))

V1 = """/* v1 */
#include <event.h>

static void
buy_fish(struct bufferevent *bev, void *arg)
{
\tstruct evbuffer *in = EVBUFFER_INPUT(bev);
\t(void)arg;
\tevbuffer_drain(in, EVBUFFER_LENGTH(in));
}

/* Weigh one fish: the same in every variant. */
static int
weigh(int pounds, int price)
{
\tint value = pounds * price;

\tif (value < 0)
\t\treturn 0;
\treturn value;
}

int
main(void)
{
\tevent_init();
\tevent_dispatch();
\treturn 0;
}
"""

V2 = """/* v2 */
#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>

static void
buy_fish(struct bufferevent *bev, void *arg)
{
\tstruct evbuffer *in = bufferevent_get_input(bev);
\t(void)arg;
\tevbuffer_drain(in, evbuffer_get_length(in));
}

/* Weigh one fish: the same in every variant. */
static int
weigh(int pounds, int price)
{
\tint value = pounds * price;

\tif (value < 0)
\t\treturn 0;
\treturn value;
}

int
main(void)
{
\tstruct event_base *base = event_base_new();
\tevent_base_dispatch(base);
\tevent_base_free(base);
\treturn 0;
}
"""

STORY = """# test story
## Open the warehouse
> make the loop
v1-style: event_init
v2-raw: event_base_new
v2-listener: event_base_new
## Weigh and pay
v1-style: EVBUFFER_INPUT evbuffer_drain
v2-raw: bufferevent_get_input evbuffer_drain
v2-listener: bufferevent_get_input, evbuffer_drain
"""

GLOSSARY = """# test glossary
## the fish
code: buy_fish, struct scale@common/scale.h, weigh_one@common/scale.c
> what is bought
## the old loop
code: event_dispatch@v1-style
> v1 only
"""

SCALE_H = """/* a scale */
struct scale {
\tint pounds;
};
int weigh_one(struct scale *s);
"""

SCALE_C = """#include "scale.h"
/* weigh_one() in a comment first */
int weigh_one(struct scale *s)
{
\treturn s->pounds;
}
"""

NOTES_1 = """# notes: free text before the first heading is not a note
### (top): event2/event.h
The headers.
### main: event_base_new
The base.
"""

NOTES_2 = """### (top): v2 listener
A comment.
"""

DOC = """# Doc
Hand-written prose.
<!-- BEGIN GENERATED: story -->
<!-- END GENERATED -->
<!-- BEGIN GENERATED: diff a=v1-style b=v2-raw -->
<!-- END GENERATED -->
<!-- BEGIN GENERATED: diff a=v2-raw b=v2-listener -->
<!-- END GENERATED -->
<!-- BEGIN GENERATED: size -->
<!-- END GENERATED -->
<!-- BEGIN GENERATED: quote file=v2-raw/fishmarket.c find="event_base_new()" before=1 after=1 -->
<!-- END GENERATED -->
<!-- BEGIN GENERATED: absent names=evbuffer_readline -->
<!-- END GENERATED -->
<!-- BEGIN GENERATED: glossary -->
<!-- END GENERATED -->
More prose.
"""


def run(*args):
    return subprocess.run([sys.executable, TOOL] + list(args),
                          capture_output=True, text=True, timeout=60)


class SmallTree(unittest.TestCase):
    """A tree small enough to know every hunk."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fish-comparison-")
        self.addCleanup(shutil.rmtree, self.tmp)
        files = {
            "v1-style/fishmarket.c": V1,
            "v2-raw/fishmarket.c": V2,
            "v2-listener/fishmarket.c": V2.replace("/* v2 */", "/* v2 listener */"),
            "tools/comparison/story.txt": STORY,
            "tools/comparison/glossary.txt": GLOSSARY,
            "common/scale.h": SCALE_H,
            "common/scale.c": SCALE_C,
            "tools/comparison/notes/v1-style--v2-raw.md": NOTES_1,
            "tools/comparison/notes/v2-raw--v2-listener.md": NOTES_2,
            "DOC.md": DOC,
        }
        for rel, text in files.items():
            self.write(rel, text)
        p = self.tool("generate")
        self.assertEqual(p.returncode, 0, p.stderr)

    def write(self, rel, text):
        path = os.path.join(self.tmp, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    def read(self, rel):
        with open(os.path.join(self.tmp, rel)) as f:
            return f.read()

    def tool(self, cmd):
        return run(cmd, "--root", self.tmp, "--doc", os.path.join(self.tmp, "DOC.md"),
                   "--no-require")

    def assertCheckFails(self, message):
        p = self.tool("check")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn(message, p.stderr)

    def test_fresh_document_passes_and_generation_is_stable(self):
        before = self.read("DOC.md")
        p = self.tool("check")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.tool("generate").returncode, 0)
        self.assertEqual(self.read("DOC.md"), before)
        self.assertIn("event_base_new()", before)
        self.assertIn("-\tevent_init();", before)
        self.assertIn("The base.", before)

    def test_hand_written_prose_is_kept_and_not_checked(self):
        self.write("DOC.md", self.read("DOC.md").replace("More prose.", "Other prose."))
        self.assertEqual(self.tool("check").returncode, 0)
        self.assertEqual(self.tool("generate").returncode, 0)
        self.assertIn("Other prose.", self.read("DOC.md"))

    def test_measured_blocks_are_not_checked(self):
        # Machine-dependent figures are rewritten by `measure` only: a check
        # must neither run strace nor call them stale.
        self.write("DOC.md", self.read("DOC.md") +
                   "<!-- BEGIN GENERATED: syscalls -->\nfigures from another machine\n"
                   "<!-- END GENERATED -->\n")
        p = self.tool("check")
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_edited_generated_block_is_stale(self):
        doc = self.read("DOC.md")
        self.assertIn("+\tevent_base_free(base);", doc)
        self.write("DOC.md", doc.replace("+\tevent_base_free(base);", "+\tfree(base);", 1))
        self.assertCheckFails("block 'diff'")
        self.assertCheckFails("is stale")

    def test_changed_source_makes_document_stale(self):
        self.write("v1-style/fishmarket.c", V1.replace("\t(void)arg;", "\t(void)arg; /* unused */"))
        p = self.tool("check")
        self.assertEqual(p.returncode, 1)
        self.assertRegex(p.stderr, r"is stale: block 'diff' at line \d+")
        self.assertNotIn("block 'size'", p.stderr, "comments are not code: size is unchanged")

    def test_note_without_hunk_fails(self):
        self.write("tools/comparison/notes/v2-raw--v2-listener.md",
                   NOTES_2 + "### buy_fish: evconnlistener_new_bind\nNo such change.\n")
        self.assertCheckFails("note 'buy_fish: evconnlistener_new_bind' matches no hunk")

    def test_hunk_without_note_fails(self):
        self.write("tools/comparison/notes/v1-style--v2-raw.md",
                   NOTES_1.replace("### main: event_base_new\nThe base.\n", ""))
        self.assertCheckFails("hunk 2 (@@ -23,7 +25,8 @@, in main) has no note")

    def test_two_notes_on_one_hunk_are_both_shown(self):
        # diff merges nearby changes into one hunk: each may keep its note.
        self.write("tools/comparison/notes/v1-style--v2-raw.md",
                   NOTES_1 + "### main: event_base_dispatch\nThe loop.\n")
        p = self.tool("generate")
        self.assertEqual(p.returncode, 0, p.stderr)
        doc = self.read("DOC.md")
        self.assertLess(doc.index("+\tevent_base_free(base);"), doc.index("The base."))
        self.assertLess(doc.index("The base."), doc.index("The loop."))
        self.assertEqual(self.tool("check").returncode, 0)

    def test_shared_token_goes_to_the_hunk_left_over(self):
        # main() with two separate changes that both remove "close(fd);".
        pad = "".join(f"\tstep{i}();\n" for i in range(8))
        one = "int\nmain(void)\n{\n\tclose(fd);\n\tone();\n" + pad + "\tclose(fd);\n\ttwo();\n}\n"
        other = "int\nmain(void)\n{\n\tuno();\n" + pad + "\tdos();\n}\n"
        self.write("v2-raw/fishmarket.c", one)
        self.write("v2-listener/fishmarket.c", other)
        notes = "### main: uno\nFirst.\n### main: close(fd);\nSecond.\n"
        self.write("tools/comparison/notes/v2-raw--v2-listener.md", notes)
        self.write("tools/comparison/notes/v1-style--v2-raw.md", "### (top): v1\nAll.\n")
        self.write("DOC.md", "<!-- BEGIN GENERATED: diff a=v2-raw b=v2-listener -->\n"
                   "<!-- END GENERATED -->\n")
        p = self.tool("generate")
        self.assertEqual(p.returncode, 0, p.stderr)
        doc = self.read("DOC.md")
        self.assertLess(doc.index("First."), doc.index("+\tdos();"))
        self.assertLess(doc.index("+\tdos();"), doc.index("Second."))
        # Without the note that claims the first hunk, close(fd); is ambiguous.
        self.write("tools/comparison/notes/v2-raw--v2-listener.md",
                   "### main: close(fd);\nSecond.\n")
        self.assertCheckFails("matches hunks 1, 2: use a more distinctive token")

    def test_story_call_missing_from_source_fails(self):
        self.write("tools/comparison/story.txt", STORY.replace("v2-raw: event_base_new",
                                                               "v2-raw: event_base_new_with_config"))
        self.assertCheckFails("event_base_new_with_config does not appear in the code of "
                              "v2-raw/fishmarket.c")

    def test_story_call_only_in_a_comment_fails(self):
        self.write("v2-raw/fishmarket.c", V2.replace("/* v2 */", "/* v2: not evconnlistener_new_bind() */"))
        self.write("tools/comparison/story.txt",
                   STORY.replace("v2-raw: event_base_new", "v2-raw: event_base_new evconnlistener_new_bind"))
        self.assertCheckFails("evconnlistener_new_bind does not appear")

    def story(self, *extra):
        return run("story", "--root", self.tmp, *extra)

    def test_story_as_text_names_each_call_with_its_line(self):
        p = self.story()
        self.assertEqual(p.returncode, 0, p.stderr)
        text = p.stdout
        self.assertIn("1. Open the warehouse\n   make the loop\n", text)
        # Each call with its line in that variant's own file.
        self.assertRegex(text, r"\n   v1-style     event_init\(\) 26\n")
        self.assertRegex(text, r"\n   v2-raw       event_base_new\(\) 28\n")
        # v2-listener makes exactly v2-raw's calls: only its lines are given.
        self.assertRegex(text, r"\n   v2-listener  the same calls as v2-raw, at line 28\n")
        self.assertIn("EVBUFFER_INPUT 7, evbuffer_drain() 9", text)
        # The libevent calls no step names, in a last block.
        self.assertIn("Every other libevent call in the file\n"
                      "   v1-style     EVBUFFER_LENGTH 9, event_dispatch() 27\n", text)
        self.assertRegex(text, r"event_base_dispatch\(\) 29,\s+event_base_free\(\) 30")

    def test_story_as_text_wraps_without_splitting_a_call(self):
        p = self.story("--width", "44")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.split("\n")
        self.assertTrue(all(len(l) <= 44 for l in lines), p.stdout)
        # Each call and its line number stay on one line.
        self.assertRegex(p.stdout, r"bufferevent_get_input\(\) 9,\n +evbuffer_drain\(\) 11")

    def test_story_as_text_fails_on_a_call_missing_from_the_source(self):
        self.write("tools/comparison/story.txt", STORY.replace("v2-raw: event_base_new",
                                                               "v2-raw: event_base_new_with_config"))
        p = self.story()
        self.assertEqual(p.returncode, 1)
        self.assertIn("event_base_new_with_config does not appear in the code of "
                      "v2-raw/fishmarket.c", p.stderr)
        self.assertEqual(p.stdout, "")

    def test_glossary_links_each_name_where_it_is(self):
        doc = self.read("DOC.md")
        self.assertIn("| **the fish** | [`buy_fish()`](v2-raw/fishmarket.c#L7)<br>"
                      "[`struct scale`](common/scale.h#L2)<br>"
                      "[`weigh_one()`](common/scale.c#L3) | what is bought |", doc)
        self.assertIn("| **the old loop** | [`event_dispatch()`](v1-style/fishmarket.c#L27) |", doc)

    def test_glossary_name_missing_from_a_variant_fails(self):
        self.write("v2-listener/fishmarket.c", V2.replace("buy_fish", "buy_fishes"))
        self.assertCheckFails("glossary.txt: 'the fish': buy_fish does not appear in the "
                              "code of v2-listener/fishmarket.c")

    def test_glossary_name_only_in_a_comment_fails(self):
        self.write("common/scale.c", SCALE_C.replace("int weigh_one(struct scale *s)\n",
                                                     "int weigh(struct scale *s)\n"))
        self.assertCheckFails("glossary.txt: 'the fish': weigh_one does not appear in the "
                              "code of common/scale.c")

    def test_glossary_entry_needs_code_and_prose(self):
        self.write("tools/comparison/glossary.txt", GLOSSARY + "## a term\n> no code line\n")
        self.assertCheckFails("'a term' needs a 'code:' line and a '>' line")

    BENCH = ("# Bench\n\n**Alone, remedy by remedy**\n\n| remedy | count |\n|---|---|\n"
             "| none | 11 |\n\ntext\n\n| second | 2 |\n|---|---|\n\n## Next\n\n| not | this |\n")

    def add_excerpt(self, after="**Alone, remedy by remedy**", tables=2):
        self.write("docs/BENCH.md", self.BENCH)
        self.write("DOC.md", self.read("DOC.md") +
                   f'<!-- BEGIN GENERATED: excerpt file=docs/BENCH.md after="{after}" '
                   f'tables={tables} -->\n<!-- END GENERATED -->\n')

    def test_excerpt_copies_the_tables_under_a_line(self):
        self.add_excerpt()
        p = self.tool("generate")
        self.assertEqual(p.returncode, 0, p.stderr)
        doc = self.read("DOC.md")
        self.assertIn("From [docs/BENCH.md](docs/BENCH.md), copied by `make comparison`:\n\n"
                      "| remedy | count |\n|---|---|\n| none | 11 |\n\n| second | 2 |\n|---|---|\n"
                      "<!-- END GENERATED -->", doc)
        self.assertNotIn("| not | this |", doc)
        # Another document's figures: copied again by generate, never checked.
        self.write("docs/BENCH.md", self.BENCH.replace("| none | 11 |", "| none | 9 |"))
        self.assertEqual(self.tool("check").returncode, 0)
        self.assertEqual(self.tool("generate").returncode, 0)
        self.assertIn("| none | 9 |", self.read("DOC.md"))

    def test_excerpt_fails_when_its_line_or_tables_are_gone(self):
        self.add_excerpt(after="**No such line**")
        p = self.tool("generate")
        self.assertEqual(p.returncode, 1)
        self.assertIn("excerpt: no line of docs/BENCH.md contains '**No such line**'", p.stderr)
        self.write("DOC.md", self.read("DOC.md").replace("**No such line**", "# Bench")
                   .replace("tables=2", "tables=3"))
        p = self.tool("generate")
        self.assertEqual(p.returncode, 1)
        self.assertIn("has 2 table(s) after '# Bench' before the next heading, not 3", p.stderr)

    def test_quote_marker_must_be_unique(self):
        self.write("v2-raw/fishmarket.c", V2 + "/* event_base_new() again */\n")
        self.assertCheckFails("'event_base_new()' must occur exactly once in v2-raw/fishmarket.c")

    def test_absent_name_present_fails(self):
        self.write("v2-listener/fishmarket.c",
                   V2.replace("(void)arg;", "(void)arg; (void)evbuffer_readline(in);"))
        self.assertCheckFails("absent: evbuffer_readline is used in v2-listener/fishmarket.c")

    def test_absent_regex_matching_code_fails(self):
        self.write("DOC.md", self.read("DOC.md") +
                   '<!-- BEGIN GENERATED: absent regex="evbuffer_drain\\(in," what="draining in" -->\n'
                   "<!-- END GENERATED -->\n")
        self.assertCheckFails("absent: /evbuffer_drain\\(in,/ matches v1-style/fishmarket.c:9")

    def test_missing_end_marker_fails(self):
        doc = self.read("DOC.md")
        last = doc.rindex("<!-- END GENERATED -->")
        self.write("DOC.md", doc[:last] + doc[last + len("<!-- END GENERATED -->"):])
        self.assertCheckFails("has no <!-- END GENERATED -->")

    def test_required_blocks_are_required(self):
        p = run("check", "--root", self.tmp, "--doc", os.path.join(self.tmp, "DOC.md"))
        self.assertEqual(p.returncode, 1)
        self.assertIn("has no 'symbols' block", p.stderr)


@unittest.skipUnless(os.path.exists(os.path.join(ROOT, "COMPARISON.md")), "no COMPARISON.md")
class RealDocument(unittest.TestCase):
    """The real COMPARISON.md, copied: drift is caught there too."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fish-comparison-real-")
        self.addCleanup(shutil.rmtree, self.tmp)
        with open(os.path.join(ROOT, "COMPARISON.md")) as f:
            self.doc = f.read()

    def check(self, doc, root=ROOT):
        path = os.path.join(self.tmp, "COMPARISON.md")
        with open(path, "w") as f:
            f.write(doc)
        return run("check", "--root", root, "--doc", path, "--build", BUILD)

    def test_altered_blocks_are_stale(self):
        for kind in ("story", "glossary", "size", "diff", "symbols"):
            with self.subTest(kind=kind):
                m = re.search(r"<!-- BEGIN GENERATED: " + kind + r"\b[^\n]*-->\n(.*?\n)<!-- END",
                              self.doc, re.S)
                self.assertIsNotNone(m, f"COMPARISON.md has no {kind} block")
                body = m.group(1)
                self.assertTrue(body.strip(), f"the {kind} block is empty: run `make comparison`")
                line = next(l for l in body.split("\n") if l.strip())
                altered = self.doc[:m.start(1)] + body.replace(line, line + " x", 1) + \
                    self.doc[m.end(1):]
                p = self.check(altered)
                self.assertEqual(p.returncode, 1, p.stderr)
                self.assertRegex(p.stderr, r"is stale: block '" + kind + "' at line \\d+")

    def test_note_without_hunk_fails_on_the_real_notes(self):
        tree = os.path.join(self.tmp, "tree")
        for rel in ["tools/comparison", "common", "v1-style", "v2-raw", "v2-listener"]:
            shutil.copytree(os.path.join(ROOT, rel), os.path.join(tree, rel),
                            ignore=shutil.ignore_patterns("__pycache__"))
        notes = os.path.join(tree, "tools/comparison/notes/v2-raw--v2-listener.md")
        with open(notes, "a") as f:
            f.write("\n### main: no_such_token_anywhere\nA note for a change that never was.\n")
        p = self.check(self.doc, root=tree)
        self.assertEqual(p.returncode, 1)
        self.assertIn("note 'main: no_such_token_anywhere' matches no hunk", p.stderr)


if __name__ == "__main__":
    unittest.main()
