# mk/faults.mk - fault injection (issue 12): every variant under injected
# allocation and system-call failures, with libfiu.  See docs/TESTING.md,
# "Faults", and tests/faults/.
#
#   make faults [FAULT_SECONDS=20]  faults-probe, faults-regress, then
#                          faults-random: all three must pass
#   make faults-probe      which calls each fault family can fail here, and
#                          with which errno (the table docs/TESTING.md quotes)
#   make faults-regress    the deterministic tests: the Nth call fails, for
#                          each path a fault once broke (pytest)
#   make faults-random     each variant under a rate of random failures per
#                          family (alloc, rw, net, all) for FAULT_SECONDS,
#                          then faults off and a clean load: nothing paid
#                          wrong, no crash, no leak, no hang, no spin;
#                          FAULT_WORKERS=2 runs the servers with -w 2
#
# The servers run with libfiu's preloads (what `fiu-run -x` sets up) and
# tests/faults/fishfault.so between them, and are built for this with
# -fsanitize=leak by gcc into $(FAULT_BIN): LeakSanitizer checks every exit
# for leaks without changing a line of our code.  Not clang: it links the
# sanitizer runtime into the executable, whose malloc then comes before the
# preloaded libfiu's in the symbol lookup order, so no allocation would
# ever fail (docs/TESTING.md shows it).

FAULT_SECONDS  ?= 20
FAULT_RATE     ?= 0.01
FAULT_FAMILIES ?= alloc rw net all
FAULT_SEED     ?= 12
FAULT_WORKERS  ?= 1
FAULT_ARGS     ?=
FAULT_CC       ?= gcc
FAULT_BUILD    := $(BUILD)/faults
FAULT_BIN      := $(FAULT_BUILD)/bin
FAULT_SHIM     := $(FAULT_BUILD)/fishfault.so
FAULT_PROBE    := $(FAULT_BUILD)/probe
FIU_LIBS       := $(shell $(PKG_CONFIG) --libs libfiu 2>/dev/null)
FIU_CFLAGS     := $(shell $(PKG_CONFIG) --cflags libfiu 2>/dev/null)

.PHONY: faults faults-build faults-need faults-probe faults-regress faults-random

faults-need:
	@$(PKG_CONFIG) --exists libfiu && command -v fiu-ctrl >/dev/null && \
	  test -f /usr/lib/fiu/fiu_posix_preload.so || \
	  { echo "faults: needs libfiu: apt-get install fiu-utils libfiu-dev" >&2; exit 1; }

$(FAULT_SHIM): tests/faults/fishfault.c | faults-need
	@mkdir -p $(@D)
	$(FAULT_CC) $(WARN) -D_GNU_SOURCE $(FIU_CFLAGS) -O2 -g -fPIC -shared $< \
	  -o $@ -ldl $(FIU_LIBS)

$(FAULT_PROBE): tests/faults/probe.c | faults-need
	@mkdir -p $(@D)
	$(FAULT_CC) $(WARN) -D_GNU_SOURCE $(FIU_CFLAGS) -O2 -g $< -o $@ $(FIU_LIBS)

# The servers under test: the normal sources, gcc, -fsanitize=leak (and
# -gdwarf-4 so that valgrind can read them too, should one want to).
faults-build: $(FAULT_SHIM) $(FAULT_PROBE)
	$(MAKE) --no-print-directory BUILD=$(FAULT_BIN) CC=$(FAULT_CC) \
	  CFLAGS='-O2 -g -gdwarf-4' XCFLAGS=-fsanitize=leak XLDFLAGS= \
	  SANITIZE= all-variants

FAULT_ENV = FAULT_BIN_DIR=$(abspath $(FAULT_BIN)) \
            FAULT_SHIM=$(abspath $(FAULT_SHIM)) \
            FAULT_PROBE=$(abspath $(FAULT_PROBE)) \
            FAULT_LOG_DIR=$(abspath $(FAULT_BUILD))/logs

faults-probe: faults-build
	$(FAULT_ENV) $(PYTHON3_ANY) tests/faults/faults.py --probe-only

faults-regress: faults-build
	$(NEED_PYTEST)
	$(FAULT_ENV) $(PYTHON) -m pytest tests/faults $(PYTEST_ARGS)

faults-random: faults-build
	$(FAULT_ENV) $(PYTHON3_ANY) tests/faults/faults.py \
	  --seconds $(FAULT_SECONDS) --rate $(FAULT_RATE) --seed $(FAULT_SEED) \
	  --workers $(FAULT_WORKERS) \
	  --families "$(FAULT_FAMILIES)" $(FAULT_ARGS) $(VARIANTS_UNDER_TEST)

# All three, each even if one before failed; fails if any did.
faults: faults-build
	@fail=""; \
	for t in faults-probe faults-regress faults-random; do \
	  $(MAKE) --no-print-directory $$t || fail="$$fail $$t"; \
	done; \
	if [ -n "$$fail" ]; then echo "faults: FAILED:$$fail" >&2; exit 1; fi; \
	echo "faults: probe, regression tests and random faults all passed"
