# mk/anyserver.mk - the suite against any server, broken servers it must
# catch, and new variants in one command (issue 13).  See
# tests/integration/README.md and docs/EXERCISES.md.
#
#   make check-server SERVER="path/to/binary [args]"
#                         the integration suite against one server, ours or
#                         anyone's, in any language; ends with a table by
#                         contract section naming every clause it broke
#   make check ... SERVER_ARGS="-v" WORKERS="1 2"  (or WORKERS=1,2)
#                         every server run with extra arguments: once per
#                         worker count (-w N), each after SERVER_ARGS; the
#                         test ids name them ("test_x[v2-raw -w 2]").
#                         CHECK_WORKERS is the same; WORKERS counts for the
#                         suite only when given on the command line (its
#                         default, in mk/bench.mk, is the bench's series).
#                         SANITIZE=thread runs -w 4 unless told.
#   make new-variant NAME=mine FROM=v2-raw
#                         copy a variant into mine/; from then on every
#                         target takes it along (a variant is a folder with
#                         a fishmarket.c: see VARIANTS in the Makefile)
#   make fixtures         the broken servers of tests/fixtures/broken/,
#                         build/fixtures/fishmarket-NAME
#   make check-anyserver  the suite catches each broken server on its clause,
#                         new-variant works, the exercises' checks hold
#                         (part of `make check`)
#   make exercise-check EX=port|listener V=mine
#                         the check of one exercise of docs/EXERCISES.md

SERVER       ?=
SERVER_ARGS  ?=
# The suite's worker counts.  By default every server runs the suite twice,
# with -w 1 and with -w 2 (section 8: every clause holds with workers as
# with one); CHECK_WORKERS= (empty) runs each as it is, one worker, in half
# the time.  ThreadSanitizer is there for the workers, so SANITIZE=thread
# runs four.
ifeq ($(origin WORKERS),command line)
CHECK_WORKERS ?= $(WORKERS)
endif
ifeq ($(SANITIZE),thread)
CHECK_WORKERS ?= 4
endif
CHECK_WORKERS ?= 1 2

# FISH_ARGSETS for the suite: "ARGS -w 1;ARGS -w 2" from CHECK_WORKERS="1 2",
# or SERVER_ARGS alone.  (Spaces inside a set ride as @ through foreach.)
_empty       :=
_space       := $(_empty) $(_empty)
_comma       := ,
_workers      = $(subst $(_comma),$(_space),$(CHECK_WORKERS))
_args        := $(subst $(_space),@,$(strip $(SERVER_ARGS)))
_argsets      = $(patsubst @%,%,$(if $(strip $(_workers)),\
                  $(foreach w,$(_workers),$(_args)@-w@$(w)),$(_args)))
FISH_ARGSETS  = $(subst @,$(_space),$(subst $(_space),;,$(strip $(_argsets))))
SUITE_ENV     = FISH_ARGSETS="$(FISH_ARGSETS)"

.PHONY: check-server new-variant fixtures check-anyserver exercise-check

check-server:
	$(NEED_PYTEST)
	@test -n "$(strip $(SERVER))" || { echo 'usage: make check-server SERVER="path/to/binary [args]"' >&2; exit 2; }
	FISH_SERVER='$(SERVER)' $(SUITE_ENV) $(PYTHON) -m pytest tests/integration $(PYTEST_ARGS)

new-variant:
	@$(PYTHON3_ANY) tools/new_variant.py --name '$(NAME)' --from '$(FROM)'

# ---------------------------------------------------------------------------
# Broken servers: each tests/fixtures/broken/NAME.patch is applied to a copy
# of the variant its "Base:" line names, under build/, and compiled against
# libfishcommon.a like the variants.  A patch that no longer applies (no
# fuzz: a hunk may move, its context lines may not change) fails the build
# loudly: refresh it (tests/fixtures/README.md).  "control" is the unpatched FIXTURE_CONTROL
# built the same way: the suite must pass it as anyone's server.
FIXTURE_DIR     := tests/fixtures/broken
FIXTURES        := $(patsubst $(FIXTURE_DIR)/%.patch,%,$(sort $(wildcard $(FIXTURE_DIR)/*.patch)))
FIXTURE_CONTROL ?= v2-raw
FIXTURE_BINS    := $(FIXTURES:%=$(BUILD)/fixtures/fishmarket-%) $(BUILD)/fixtures/fishmarket-control

$(BUILD)/fixtures/%/fishmarket.c: $(FIXTURE_DIR)/%.patch $(FOUND_VARIANTS:%=%/fishmarket.c)
	@mkdir -p $(@D)
	@base=$$(sed -n 's/^Base: *//p' $<); \
	test -f "$$base/fishmarket.c" || { echo "$<: its 'Base:' line names no variant" >&2; exit 1; }; \
	echo "patch $$base/fishmarket.c < $<"; \
	patch --batch --silent --fuzz=0 --reject-file=- -o $@.tmp $$base/fishmarket.c $< || \
	  { rm -f $@.tmp; echo "$<: no longer applies to $$base/fishmarket.c: refresh it (tests/fixtures/README.md)" >&2; exit 1; }; \
	mv $@.tmp $@

$(BUILD)/fixtures/control/fishmarket.c: $(FIXTURE_CONTROL)/fishmarket.c
	@mkdir -p $(@D)
	cp $< $@

$(BUILD)/fixtures/fishmarket-%: $(BUILD)/fixtures/%/fishmarket.c $(COMMON_LIB) $(FLAGS_STAMP) | need-deps
	$(CC) $(ALL_CFLAGS) $(EVENT_CFLAGS) $< $(COMMON_LIB) $(ALL_LDFLAGS) $(EVENT_LIBS) -o $@

.SECONDARY: $(FIXTURES:%=$(BUILD)/fixtures/%/fishmarket.c) $(BUILD)/fixtures/control/fishmarket.c
ifdef TSAN_EVENT
$(FIXTURE_BINS): | $(TSAN_EVENT)/lib/libevent_core.a
endif

fixtures: $(FIXTURE_BINS)

check-anyserver: $(FIXTURE_BINS) $(SERVERS)
	$(NEED_PYTEST)
	FISH_BUILD=$(abspath $(BUILD)) \
	  $(PYTHON) -m pytest -p no:cacheprovider tests/anyserver $(ANYSERVER_ARGS)

CHECK_EXTRA += check-anyserver

exercise-check: $(if $(V),$(BUILD)/fishmarket-$(V))
	@test -n "$(EX)" && test -n "$(V)" || { echo "usage: make exercise-check EX=port|listener V=VARIANT" >&2; exit 2; }
	@$(PYTHON3_ANY) tools/exercise.py $(EX) $(BUILD)/obj/$(V)/fishmarket.o
