# fishmarket: one fish market server, three libevent API generations.
#
#   make all-variants   build/fishmarket-VARIANT for every variant
#   make check          Check unit tests, then the pytest suite on every variant
#   make check-server SERVER="path/to/binary [args]"
#                       the pytest suite against anyone's server
#   make new-variant NAME=mine FROM=v2-raw
#                       a new variant, mine/, that everything takes along
#   make demo           the original article's fishermen, against each variant
#                       (DEMO_ARGS=--unload-delay=2: their random pauses too)
#   make clean          rm -rf build
#
# Warning flags live in WARN, apart from your CFLAGS: `make CFLAGS=-O0` keeps
# them.  WERROR=1 (set by default when CI is set) turns warnings into errors.
# Topic targets (bench, comparison, sanitizers, ...) live in mk/*.mk.

# -- mk/harden.mk: `make ... SANITIZE=1` picks its own build dir and flags
# here, before BUILD and ALL_CFLAGS are computed below (mk/*.mk is included
# too late for that).  The rest of the sanitizer setup is in mk/harden.mk.
ifeq ($(SANITIZE),1)
BUILD       ?= build/san
XCFLAGS     += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
endif
# SANITIZE=thread: ThreadSanitizer, for the workers of section 8, linked
# with a libevent built from its Debian source with ThreadSanitizer too
# (TSAN_EVENT, made by mk/harden.mk), so that TSan sees inside libevent.
ifeq ($(SANITIZE),thread)
BUILD       ?= build/tsan
XCFLAGS     += -fsanitize=thread -fno-omit-frame-pointer
TSAN_EVENT  := $(BUILD)/libevent
endif
# -- end mk/harden.mk

# The variants: every top-level folder with a fishmarket.c is one, so that
# `make new-variant` (mk/anyserver.mk) needs no list edited after it; the
# three teaching variants first, in the order COMPARISON.md reads them, then
# the others by name.  `make check VARIANTS="v2-raw mine"` takes only those.
TEACHING_VARIANTS := v1-style v2-raw v2-listener
FOUND_VARIANTS := $(patsubst %/fishmarket.c,%,$(wildcard */fishmarket.c))
VARIANTS    := $(strip $(filter $(FOUND_VARIANTS),$(TEACHING_VARIANTS)) \
               $(sort $(filter-out $(TEACHING_VARIANTS),$(FOUND_VARIANTS))))
PKG_CONFIG  ?= pkg-config
CFLAGS      ?= -O2 -g
BUILD       ?= build

WARN        := -std=c11 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
               -Wmissing-prototypes -Wformat=2
ifneq ($(CI),)
WERROR      ?= 1
endif
ifeq ($(WERROR),1)
WARN        += -Werror
endif

EVENT_CFLAGS := $(shell $(PKG_CONFIG) --cflags libevent 2>/dev/null)
EVENT_LIBS   := $(shell $(PKG_CONFIG) --libs libevent 2>/dev/null)
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell $(PKG_CONFIG) --libs check 2>/dev/null)
ifdef TSAN_EVENT
LIBEVENT_SRC ?= build/src/libevent
EVENT_CFLAGS := -I$(TSAN_EVENT)/include -I$(LIBEVENT_SRC)/include
EVENT_LIBS   := $(TSAN_EVENT)/lib/libevent_core.a
endif

# Extra flags a topic adds to every compile and link (sanitizers, coverage).
XCFLAGS     ?=
XLDFLAGS    ?=

# -pthread: the workers of section 8 (common/crew.c) run on POSIX threads.
ALL_CFLAGS  := $(WARN) -D_GNU_SOURCE -pthread -Icommon $(XCFLAGS) $(CFLAGS) $(CPPFLAGS)
ALL_LDFLAGS := -pthread $(XCFLAGS) $(XLDFLAGS) $(LDFLAGS)

COMMON_SRC  := $(sort $(wildcard common/*.c))
COMMON_OBJ  := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
COMMON_LIB  := $(BUILD)/libfishcommon.a
UNIT_SRC    := $(sort $(wildcard tests/unit/*.c))
UNIT_OBJ    := $(UNIT_SRC:%.c=$(BUILD)/obj/%.o)
SERVERS     := $(VARIANTS:%=$(BUILD)/fishmarket-%)

# A Python 3 that has pytest: the first python3 on PATH may be a separate
# build without it, so try Debian's own as well.
PYTHON      ?= $(shell for p in python3 /usr/bin/python3; do \
                 $$p -c 'import pytest' >/dev/null 2>&1 && { command -v $$p; break; }; done)
NEED_PYTEST  = @test -n "$(PYTHON)" || { echo "no Python 3 with pytest found: apt-get install python3-pytest (or make PYTHON=/path/to/python3)" >&2; exit 1; }
PYTEST_ARGS ?=

.PHONY: all all-variants check check-unit check-integration demo clean need-deps
.DEFAULT_GOAL := all

all: all-variants

# Checks the topics add to `make check` (mk/*.mk append to it).
CHECK_EXTRA :=
-include $(sort $(wildcard mk/*.mk))

need-deps:
	@$(PKG_CONFIG) --exists libevent check || { echo "missing libevent or check: apt-get install libevent-dev check pkg-config" >&2; exit 1; }

all-variants: $(SERVERS)

# Objects depend on the compiler and flags they were built with, so that
# `make CC=clang check` after a gcc build really rebuilds with clang.
FLAGS_STAMP := $(BUILD)/.flags
FLAGS_NOW   := $(CC) $(ALL_CFLAGS) $(EVENT_CFLAGS) $(CHECK_CFLAGS) $(ALL_LDFLAGS)
ifneq ($(MAKECMDGOALS),clean)
$(shell mkdir -p $(BUILD) && { test "$$(cat $(FLAGS_STAMP) 2>/dev/null)" = "$(subst ",\",$(FLAGS_NOW))" || echo "$(subst ",\",$(FLAGS_NOW))" > $(FLAGS_STAMP); })
endif
$(FLAGS_STAMP):
	@mkdir -p $(@D)
	@echo "$(subst ",\",$(FLAGS_NOW))" > $@

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP) | need-deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

# common/ never includes a libevent header: compiled without its flags.
$(BUILD)/obj/common/%.o: common/%.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(COMMON_LIB): $(COMMON_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(VARIANTS:%=$(BUILD)/obj/%/fishmarket.o): ALL_CFLAGS += $(EVENT_CFLAGS)

# Kept after linking (make would delete them as intermediate files, and
# rebuild them every time).
.SECONDARY: $(VARIANTS:%=$(BUILD)/obj/%/fishmarket.o)

$(BUILD)/fishmarket-%: $(BUILD)/obj/%/fishmarket.o $(COMMON_LIB)
	$(CC) $(ALL_LDFLAGS) $^ $(EVENT_LIBS) -o $@

$(BUILD)/obj/tests/unit/%.o: ALL_CFLAGS += $(CHECK_CFLAGS)

# The unit tests link a copy of libfishcommon whose calls to these go to
# test_X in tests/unit/test_alloc.c instead, the test double that can fail
# them.  Only common/'s calls: the tests' own and Check's (a static library
# here) are left alone, which -Wl,--wrap could not do.
OBJCOPY     ?= objcopy
UNIT_DOUBLE := malloc calloc realloc free read
UNIT_COMMON := $(BUILD)/libfishcommon-double.a

$(UNIT_COMMON): $(COMMON_LIB)
	$(OBJCOPY) $(foreach f,$(UNIT_DOUBLE),--redefine-sym $(f)=test_$(f)) $< $@

$(BUILD)/unit-tests: $(UNIT_OBJ) $(UNIT_COMMON)
	$(CC) $(ALL_LDFLAGS) $^ $(CHECK_LIBS) -o $@

check: check-unit check-integration $(CHECK_EXTRA)

check-unit: $(BUILD)/unit-tests
	$(BUILD)/unit-tests

check-integration: $(SERVERS)
	$(NEED_PYTEST)
	FISH_BIN_DIR=$(abspath $(BUILD)) FISH_VARIANTS="$(VARIANTS)" $(SUITE_ENV) \
	  $(PYTHON) -m pytest tests/integration $(PYTEST_ARGS)

DEMO_ARGS ?=
demo: $(SERVERS)
	@FISH_VARIANTS="$(VARIANTS)" $(PYTHON3_ANY) tools/demo.py --bin-dir $(BUILD) $(DEMO_ARGS)

PYTHON3_ANY ?= $(or $(PYTHON),python3)

clean:
	rm -rf build

-include $(COMMON_OBJ:.o=.d) $(UNIT_OBJ:.o=.d) $(VARIANTS:%=$(BUILD)/obj/%/fishmarket.d)
