# COMPARISON.md: the three variants side by side (issue 4).
#
#   make comparison           regenerate every deterministic generated block
#                             of COMPARISON.md in place (diffs and their notes,
#                             story table, glossary, symbols, size, quotes) and
#                             copy the benchmark's and make cost's tables (and
#                             the excerpts) from docs/BENCH.md
#   make comparison-check     fail if COMPARISON.md is stale; then the tests
#                             of that check (part of `make check`)
#   make comparison-measure   re-measure syscalls per fisherman (strace) and
#                             rerun the pitfall demonstrations: machine-
#                             dependent, never part of the staleness check
#   make comparison-pitfalls  the pitfalls of section 7, made to happen
#   make story                the story table of section 1 as plain text, for
#                             a terminal (its names checked as the table's)
#   make diff A=v2-raw B=v2-listener
#                             the diff between any two variants, for reading
#   make variant-tables [TABLES="symbols compat size syscalls"]
#                             the measuring tables for every variant in
#                             VARIANTS (a new one too), printed; COMPARISON.md
#                             itself stays about the three teaching variants
#
# The generator needs only python3's standard library, nm and diff.

COMPARISON_PY ?= python3
COMPARISON    := $(COMPARISON_PY) tools/comparison/comparison.py --build $(BUILD)

# Small programs that print what this machine's libevent and kernel do
# (figures, not tests).  comparison-check only builds them, so they cannot rot.
PITFALL_DEMOS := $(patsubst tools/comparison/pitfalls/%.c,$(BUILD)/comparison/%,\
                   $(sort $(wildcard tools/comparison/pitfalls/*.c)))

.PHONY: comparison comparison-check comparison-measure comparison-pitfalls diff \
        variant-tables story

comparison: $(SERVERS)
	$(COMPARISON) generate

comparison-check: $(SERVERS) $(PITFALL_DEMOS)
	$(COMPARISON) check
	FISH_BUILD=$(abspath $(BUILD)) $(COMPARISON_PY) -m unittest discover -s tests/comparison -p 'test_*.py'

comparison-measure: $(SERVERS) $(PITFALL_DEMOS)
	$(COMPARISON) measure

TABLES ?= symbols compat size
variant-tables: $(SERVERS)
	@$(COMPARISON) tables --variants "$(VARIANTS)" --kinds "$(TABLES)"

$(BUILD)/comparison/%: tools/comparison/pitfalls/%.c tools/comparison/pitfalls/demo.h | need-deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(EVENT_CFLAGS) $< $(ALL_LDFLAGS) $(EVENT_LIBS) -o $@

story:
	@$(COMPARISON) story

comparison-pitfalls: $(PITFALL_DEMOS)
	@for d in $(PITFALL_DEMOS); do timeout 30 $$d || exit 1; done

diff:
	@test -n "$(A)" && test -n "$(B)" || { echo "usage: make diff A=VARIANT B=VARIANT (variants: $(VARIANTS))" >&2; exit 2; }
	@for v in $(A) $(B); do test -f "$$v/fishmarket.c" || { echo "no variant '$$v' (variants: $(VARIANTS))" >&2; exit 2; }; done
	@diff -u --color=auto -F '^[A-Za-z_].*(' $(A)/fishmarket.c $(B)/fishmarket.c; test $$? -le 1

# Not under SANITIZE=thread: its servers link a static, instrumented
# libevent, so they import no libevent symbol for section 3 to list.
ifndef TSAN_EVENT
CHECK_EXTRA += comparison-check
endif
