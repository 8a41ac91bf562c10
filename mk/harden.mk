# mk/harden.mk - hardening: sanitizers, valgrind, fuzzing, soak, backends,
# lint, and ci-harden running them all.  See docs/TESTING.md.
#
#   make check SANITIZE=1     servers + unit tests under ASan/UBSan (build/san)
#   make check SANITIZE=thread   the same under ThreadSanitizer, libevent
#                             included (build/tsan), the suite with -w 4
#   make valgrind             each variant under valgrind, scripted clients
#   make fuzz [FUZZ_SECONDS=60]   libFuzzer on parser, weighing, prices, options
#   make fuzz-regress         every harness over its committed corpus, once
#   make soak [SOAK_SECONDS=60]   good and hostile clients, then resource checks
#   make check BACKEND=poll   (or select, epoll) the suite with that backend
#   make lint                 cppcheck and clang-tidy over common/ and variants
#   make faults [FAULT_SECONDS=20]  injected failures (mk/faults.mk)
#   make ci-harden            all of the above within the CI budget

# Which variants valgrind and soak run: `make soak VARIANTS_UNDER_TEST=v2-raw`.
VARIANTS_UNDER_TEST ?= $(VARIANTS)

.PHONY: valgrind fuzz fuzz-build fuzz-regress soak lint lint-cppcheck \
        lint-clang-tidy ci-harden san-clear-logs san-check-logs san-report \
        backend-check

# ---------------------------------------------------------------------------
# Sanitizers.  BUILD and XCFLAGS are set at the top of the Makefile when
# SANITIZE=1 (they must be known before COMMON_OBJ and ALL_CFLAGS are
# computed).  Here: the runtime options, and a check that no report was
# written.  halt_on_error/abort_on_error make a server die at the first
# report, so the suite sees a dead server; but a report in a server the
# suite only stops with SIGTERM at the end could go unnoticed by the tests,
# hence the log files, checked after the run: any file there fails it.
ifneq ($(filter $(SANITIZE),1 thread),)
SAN_LOGS := $(abspath $(BUILD))/logs
ifeq ($(SANITIZE),1)
export ASAN_OPTIONS := halt_on_error=1:abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:log_path=$(SAN_LOGS)/asan
export UBSAN_OPTIONS := halt_on_error=1:print_stacktrace=1:log_path=$(SAN_LOGS)/ubsan
# LSan inside ASan reads ASAN_OPTIONS; its own options (none needed) go here.
export LSAN_OPTIONS :=
else
# tests/tsan.supp names the one race inside libevent 2.1 that is known and
# harmless, and why; anything else is a report.
export TSAN_OPTIONS := halt_on_error=1:second_deadlock_stack=1:suppressions=$(abspath tests/tsan.supp):log_path=$(SAN_LOGS)/tsan
endif

# Clear the logs before anything runs, check them after everything ran.
check-unit check-integration: san-clear-logs
san-clear-logs:
	@rm -rf $(SAN_LOGS) && mkdir -p $(SAN_LOGS)
CHECK_EXTRA += san-check-logs
SAN_REPORT = if [ -n "$$(ls -A $(SAN_LOGS) 2>/dev/null)" ]; then \
	  echo "sanitizer reports in $(SAN_LOGS):" >&2; \
	  for f in $(SAN_LOGS)/*; do echo "== $$f" >&2; cat "$$f" >&2; done; \
	  exit 1; \
	fi; echo "sanitizers: no report in $(SAN_LOGS)"
san-check-logs: check-unit check-integration
	@$(SAN_REPORT)
# The same on its own: after a failed run, the reports it left.
san-report:
	@$(SAN_REPORT)
endif

# ---------------------------------------------------------------------------
# ThreadSanitizer sees only code compiled with it, and Debian's libevent is
# not: a race inside libevent (two threads writing one of its globals, say)
# would go unseen.  So SANITIZE=thread builds libevent itself, from the
# Debian source of the very version installed (apt-get source, which needs
# deb-src in apt's sources; or point LIBEVENT_SRC at an unpacked tree), with
# cmake, as a static libevent_core with -fsanitize=thread, and links the
# servers with it (EVENT_CFLAGS/EVENT_LIBS in the Makefile).  Its own
# configuration is libevent's default, as Debian's build (debug mode code
# included).
ifdef TSAN_EVENT
LIBEVENT_DEB_VERSION := $(shell dpkg-query -W -f='$${Version}' libevent-dev 2>/dev/null)
$(LIBEVENT_SRC)/CMakeLists.txt:
	@test -n "$(LIBEVENT_DEB_VERSION)" || { echo "SANITIZE=thread: libevent-dev is not installed" >&2; exit 1; }
	rm -rf build/src/apt && mkdir -p build/src/apt
	cd build/src/apt && apt-get source -qq libevent=$(LIBEVENT_DEB_VERSION) >/dev/null 2>&1 || \
	  { echo "SANITIZE=thread needs libevent's Debian source: add deb-src to the Types: line of apt's sources (.ci/run does) and apt-get update, or make LIBEVENT_SRC=/path/to/libevent" >&2; exit 1; }
	mkdir -p $(dir $(LIBEVENT_SRC))
	rm -rf $(LIBEVENT_SRC) && mv build/src/apt/libevent-*/ $(LIBEVENT_SRC)
	rm -rf build/src/apt

$(TSAN_EVENT)/lib/libevent_core.a: $(LIBEVENT_SRC)/CMakeLists.txt
	@command -v cmake >/dev/null || { echo "SANITIZE=thread needs cmake: apt-get install cmake" >&2; exit 1; }
	cmake -S $(LIBEVENT_SRC) -B $(TSAN_EVENT) -DCMAKE_C_COMPILER=$(CC) \
	  -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_C_FLAGS="-O1 -g -fsanitize=thread -fno-omit-frame-pointer" \
	  -DEVENT__LIBRARY_TYPE=STATIC -DEVENT__DISABLE_OPENSSL=ON \
	  -DEVENT__DISABLE_MBEDTLS=ON -DEVENT__DISABLE_TESTS=ON \
	  -DEVENT__DISABLE_REGRESS=ON -DEVENT__DISABLE_SAMPLES=ON \
	  -DEVENT__DISABLE_BENCHMARK=ON >$(TSAN_EVENT).cmake.log 2>&1 || \
	  { cat $(TSAN_EVENT).cmake.log >&2; exit 1; }
	$(MAKE) -s -C $(TSAN_EVENT) event_core_static >/dev/null

# Everything that includes a libevent header waits for the instrumented one.
$(VARIANTS:%=$(BUILD)/obj/%/fishmarket.o) $(PITFALL_DEMOS): | $(TSAN_EVENT)/lib/libevent_core.a
endif

# ---------------------------------------------------------------------------
# Event backends.  libevent skips a backend whose EVENT_NO<NAME> variable is
# set (any value), so forcing one means disabling those it prefers:
# epoll > poll > select on Linux.  The pitfall: EVENT_NOEPOLL alone does
# not give select, it gives poll.  backend-check asserts, from --version,
# that every binary really runs on the forced backend before the suite runs:
# a typo in a variable name would otherwise test epoll three times.
ifneq ($(BACKEND),)
# Whatever the caller's environment holds, exactly the listed ones are set.
ifeq ($(BACKEND),epoll)
unexport EVENT_NOEPOLL EVENT_NOPOLL EVENT_NOSELECT
else ifeq ($(BACKEND),poll)
export EVENT_NOEPOLL := 1
unexport EVENT_NOPOLL EVENT_NOSELECT
else ifeq ($(BACKEND),select)
export EVENT_NOEPOLL := 1
export EVENT_NOPOLL := 1
unexport EVENT_NOSELECT
else
$(error BACKEND must be epoll, poll or select, not '$(BACKEND)')
endif
check-integration: backend-check
backend-check: $(SERVERS)
	@for s in $(SERVERS); do \
	  v=$$($$s --version) || { echo "$$s --version failed" >&2; exit 1; }; \
	  echo "$$v"; \
	  case "$$v" in \
	    *", backend $(BACKEND)") ;; \
	    *) echo "$$s: expected backend $(BACKEND)" >&2; exit 1 ;; \
	  esac; \
	done
endif

# ---------------------------------------------------------------------------
# Fuzzing with libFuzzer: clang only.  common/ is compiled again here with
# -fsanitize=fuzzer-no-link (coverage for the fuzzer) into build/fuzz, so
# the normal build is untouched.  New inputs go to build/fuzz/corpus/<h>
# (the first corpus directory is the one libFuzzer writes to); the
# committed seeds in tests/fuzz/corpus/<h> are only read.
FUZZ_CC        ?= clang
FUZZ_BUILD     := build/fuzz
FUZZ_SECONDS   ?= 60
FUZZ_HARNESSES := catch_parse weigh_catch prices_parse options_parse
FUZZ_SAN       := -fsanitize=address,undefined -fno-sanitize-recover=all \
                  -fno-omit-frame-pointer
FUZZ_CFLAGS    := $(WARN) -D_GNU_SOURCE -Icommon -O1 -g $(FUZZ_SAN)
FUZZ_OBJ       := $(COMMON_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_BINS      := $(FUZZ_HARNESSES:%=$(FUZZ_BUILD)/fuzz-%)

$(FUZZ_BUILD)/obj/common/%.o: common/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/fuzz-%: tests/fuzz/%.c $(FUZZ_OBJ)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(filter %.c %.o,$^) -o $@

# A harness includes only common/ headers; the objects are kept (make would
# delete them as intermediates of the pattern chain otherwise).
$(FUZZ_BINS): $(wildcard common/*.h)
.SECONDARY: $(FUZZ_OBJ)

fuzz-build: $(FUZZ_BINS)

# Each harness once over its committed corpus: the regression tests.
FUZZ_REGRESS = fail=0; for h in $(FUZZ_HARNESSES); do \
	  n=$$(ls tests/fuzz/corpus/$$h | wc -l); \
	  if $(FUZZ_BUILD)/fuzz-$$h -artifact_prefix=$(FUZZ_BUILD)/regress-$$h- \
	       tests/fuzz/corpus/$$h/* >$(FUZZ_BUILD)/regress-$$h.log 2>&1; then \
	    echo "fuzz-regress: $$h: $$n committed inputs pass"; \
	  else \
	    grep -E "oracle|ERROR|Running: " $(FUZZ_BUILD)/regress-$$h.log | tail -4 >&2; \
	    echo "fuzz-regress: $$h FAILED (log $(FUZZ_BUILD)/regress-$$h.log)" >&2; fail=1; \
	  fi; \
	done
fuzz-regress: $(FUZZ_BINS)
	@$(FUZZ_REGRESS); exit $$fail

# The regression run first; the fuzzing runs even if it failed (a harness
# whose committed corpus crashes stops at once, the others go on).
fuzz: $(FUZZ_BINS)
	@$(FUZZ_REGRESS); \
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) \
	  sh tests/fuzz/run.sh $(FUZZ_HARNESSES) || fail=1; \
	exit $$fail

-include $(FUZZ_OBJ:.o=.d)

# ---------------------------------------------------------------------------
# Valgrind: each variant under memcheck, serving a scripted mix of good,
# malformed, overlong, idle, resetting and mid-batch fishermen, then SIGTERM.
# The normal build (your CC and CFLAGS), in a directory of its own with
# -gdwarf-4 added: valgrind 3.19 (Debian 12) cannot read clang 14's default
# DWARF 5 and gives up before main().  Logs in $(BUILD)/valgrind/.
VALGRIND_BIN := $(BUILD)/valgrind-bin
# Each variant once with one worker and once with two (section 8).
VALGRIND_WORKERS ?= 1 2
valgrind:
	$(MAKE) --no-print-directory BUILD=$(VALGRIND_BIN) \
	    CFLAGS='$(CFLAGS) -gdwarf-4' all-variants
	$(PYTHON3_ANY) tests/valgrind/run_valgrind.py --bin-dir $(VALGRIND_BIN) \
	  --log-dir $(BUILD)/valgrind --workers "$(VALGRIND_WORKERS)" \
	  $(VARIANTS_UNDER_TEST)

# ---------------------------------------------------------------------------
# Soak: every variant for SOAK_SECONDS under thousands of good fishermen and
# hostile clients, then: everyone paid right, the summary line equal to
# what the clients saw, fds back to the baseline, VmRSS near it.
SOAK_SECONDS ?= 60
SOAK_ARGS    ?=
soak: $(SERVERS)
	$(PYTHON3_ANY) tests/soak/soak.py --bin-dir $(BUILD) --log-dir $(BUILD)/soak \
	  --seconds $(SOAK_SECONDS) $(SOAK_ARGS) $(VARIANTS_UNDER_TEST)

# ---------------------------------------------------------------------------
# Lint: cppcheck and clang-tidy over common/ and the three variants, with
# the flags the build uses.  Every finding fails the target; checks left
# out are listed with a reason in .clang-tidy, and here for cppcheck.
LINT_SRC     := $(COMMON_SRC) $(VARIANTS:%=%/fishmarket.c)
LINT_CFLAGS  := -std=c11 -D_GNU_SOURCE -Icommon $(EVENT_CFLAGS)
CLANG_TIDY   ?= clang-tidy
CPPCHECK     ?= cppcheck
# cppcheck: warning, style, performance and portability, with the POSIX
# library model (so it knows socket/close/malloc ownership).  Left out:
#   unusedFunction      the library is shared by three programs, the unit
#                       tests and the fuzzers, and cppcheck sees only one
#                       at a time: prices_count() looks unused.
#   missingIncludeSystem  we do not point cppcheck at /usr/include (slow,
#                       and it would lint glibc); the POSIX model stands in.
# A genuine false positive is suppressed where it occurs, with a comment:
#   /* cppcheck-suppress <id> ; reason */
CPPCHECK_FLAGS := --enable=warning,style,performance,portability \
                  --library=posix --platform=unix64 --std=c11 \
                  --inline-suppr --suppress=missingIncludeSystem \
                  --error-exitcode=1 --quiet \
                  $(filter -I% -D%,$(LINT_CFLAGS))

lint: lint-cppcheck lint-clang-tidy

lint-cppcheck:
	$(CPPCHECK) $(CPPCHECK_FLAGS) $(LINT_SRC)
	@echo "cppcheck: clean over $(words $(LINT_SRC)) files"

# One clang-tidy per file: run over several files in one process, clang 14's
# analyzer reports a va_list in options.c:say() as uninitialised right
# after its va_start (a false positive it never gives for the file alone).
lint-clang-tidy:
	@fail=0; for f in $(LINT_SRC); do \
	  echo "$(CLANG_TIDY) $$f"; \
	  $(CLANG_TIDY) --quiet $$f -- $(LINT_CFLAGS) 2>/dev/null || fail=1; \
	done; \
	[ $$fail = 0 ] || { echo "clang-tidy: findings above" >&2; exit 1; }; \
	echo "clang-tidy: clean over $(words $(LINT_SRC)) files"

# ---------------------------------------------------------------------------
# ci-harden: every stage above, within about 25 minutes on 2 cores.  Every
# stage runs even if an earlier one failed, so one CI run shows all that is
# wrong; the target fails if any stage did.  The unit tests do not depend on
# the event backend, so the poll and select runs are check-integration only.
CI_HARDEN_STAGES := "check SANITIZE=1" "check SANITIZE=thread" "valgrind" \
                    "fuzz FUZZ_SECONDS=20" \
                    "soak SOAK_SECONDS=15" "faults FAULT_SECONDS=5" \
                    "faults-random FAULT_SECONDS=3 FAULT_WORKERS=2" "lint" \
                    "check-integration BACKEND=poll" \
                    "check-integration BACKEND=select"
ci-harden:
	@failed=""; table=""; \
	for stage in $(CI_HARDEN_STAGES); do \
	  echo; echo "======== ci-harden: make $$stage ========"; \
	  t0=$$(date +%s); \
	  if $(MAKE) --no-print-directory $$stage; then r=ok; else r=FAILED; fi; \
	  case "$$stage" in *SANITIZE=*) [ $$r = ok ] || \
	    $(MAKE) --no-print-directory san-report $${stage#check };; esac; \
	  [ $$r = ok ] || failed="$$failed [$$stage]"; \
	  t=$$(( $$(date +%s) - t0 )); \
	  echo "======== ci-harden: make $$stage: $$r in $${t} s ========"; \
	  table="$$table$$(printf '  %-38s %-7s %5d s' "make $$stage" $$r $$t)\n"; \
	done; \
	echo; echo "======== ci-harden summary ========"; printf "$$table"; \
	if [ -n "$$failed" ]; then echo "ci-harden: FAILED:$$failed"; exit 1; fi; \
	echo "ci-harden: all stages passed"
