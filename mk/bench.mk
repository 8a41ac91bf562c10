# mk/bench.mk - the benchmark (issue 5): every variant (VARIANTS) against a
# raw epoll baseline that shares their parser, under the same load generator.
#
#   make bench            full run: 5 interleaved rounds, c10k, table,
#                         build/bench/results.csv and build/bench/bench.svg
#   make bench QUICK=1    one short round (under a minute), same outputs
#   make bench WORKERS="1 2 4 8"
#                         the workers series' -w values (default "1 2": up
#                         to the CPUs of the 2-CPU machine it was written on)
#   make bench-smoke      correctness only, a few seconds: a few hundred
#                         fishermen and a short pipeline against every
#                         variant and the baseline (CI runs this)
#   make bench-bins       just build/fishload and build/baseline-epoll
#
# Benchmarks print figures; nothing here asserts a timing.  `make bench`
# builds its own optimised binaries (-O2, no sanitizers) into
# build/bench-bin with a recursive make, so a sanitizer or -O0 build in
# build/ is never what gets measured.

BENCH_BIN    ?= build/bench-bin
BENCH_OUT    ?= $(BUILD)/bench
BENCH_PY     ?= python3
BENCH_ARGS   ?=
QUICK        ?=
WORKERS      ?= 1 2

BENCH_TOOLS  := $(BUILD)/fishload $(BUILD)/baseline-epoll

.PHONY: bench bench-bins bench-smoke

bench-bins: $(BENCH_TOOLS) $(SERVERS)

# fishload is deliberately independent of libfishcommon (its own copy of
# the price list): the checker must not share the server's bugs.
$(BUILD)/fishload: $(BUILD)/obj/bench/fishload.o
	$(CC) $(ALL_LDFLAGS) $^ -o $@

$(BUILD)/baseline-epoll: $(BUILD)/obj/bench/baseline-epoll.o $(COMMON_LIB)
	$(CC) $(ALL_LDFLAGS) $^ -o $@

# The measured binaries: optimised, no sanitizer, whatever this make got.
bench:
	$(MAKE) --no-print-directory BUILD=$(BENCH_BIN) CFLAGS='-O2 -g' \
	    XCFLAGS= XLDFLAGS= SANITIZE= bench-bins
	$(BENCH_PY) bench/run.py --bin-dir $(BENCH_BIN) --out $(BENCH_OUT) \
	    --variants "$(VARIANTS)" $(if $(QUICK),--quick) --workers '$(WORKERS)' $(BENCH_ARGS)

bench-smoke: bench-bins
	$(BENCH_PY) bench/run.py --bin-dir $(BUILD) --variants "$(VARIANTS)" --smoke

-include $(BUILD)/obj/bench/fishload.d $(BUILD)/obj/bench/baseline-epoll.d
