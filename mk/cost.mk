# mk/cost.mk - per-connection cost, counted (issue 11).
#
#   make cost         system calls (strace -c -f) and user-space instructions
#                     (callgrind) per fisherman and per pipelined reply/line,
#                     and RSS per held connection, for the baseline and each
#                     variant, 3 runs each (~30 s): prints one table, writes
#                     build/cost/cost.{md,json} and rewrites the generated
#                     `cost` block of docs/BENCH.md (`make comparison` copies
#                     it into COMPARISON.md section 5)
#   make cost-check   one run, compared with the committed counts in
#                     bench/cost-baseline.json: fails if any is more than 10 %
#                     higher (CI runs this; counts, not times, so a busy
#                     machine does not make it fail)
#   make cost-save    measure (3 runs) and commit the counts as the new
#                     bench/cost-baseline.json, after a change that is meant
#                     to cost less (or more: say why in the commit)
#
# Like `make bench`, the measured binaries are built apart, optimised and
# without sanitizers, by a recursive make into build/cost-bin.  The compiler
# is pinned to gcc: instruction counts depend on it, and the committed
# counts were made with it (`make cost COST_CC=clang` to look, not to
# check).  The method and the scenario are in bench/cost.py.

COST_BIN      ?= build/cost-bin
COST_OUT      ?= $(BUILD)/cost
COST_CC       ?= gcc
COST_PY       ?= python3
COST_BASELINE ?= bench/cost-baseline.json
COST_RUNS     ?= 3
COST_ARGS     ?=
COST          := FISH_VARIANTS="$(VARIANTS)" $(COST_PY) bench/cost.py --bin-dir $(COST_BIN)

.PHONY: cost cost-check cost-save cost-bins

cost-bins:
	$(MAKE) --no-print-directory BUILD=$(COST_BIN) CC=$(COST_CC) CFLAGS='-O2 -g' \
	    XCFLAGS= XLDFLAGS= SANITIZE= bench-bins

cost: cost-bins
	$(COST) --runs $(COST_RUNS) --out $(COST_OUT) --doc docs/BENCH.md $(COST_ARGS)

cost-check: cost-bins
	$(COST) --runs 1 --check $(COST_BASELINE) $(COST_ARGS)

cost-save: cost-bins
	$(COST) --runs $(COST_RUNS) --out $(COST_OUT) --save $(COST_BASELINE) $(COST_ARGS)
