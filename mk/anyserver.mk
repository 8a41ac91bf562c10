# mk/anyserver.mk - the suite against any server, broken servers it must
# catch, and new variants in one command (issue 13).  See
# tests/integration/README.md and docs/EXERCISES.md.
#
#   make check-server SERVER="path/to/binary [args]"
#                         the integration suite against one server, ours or
#                         anyone's, in any language; ends with a table by
#                         contract section naming every clause it broke
#   make check ... SERVER_ARGS="-v" WORKERS="1 2"
#                         every server run with extra arguments: once per
#                         worker count (-w N), each after SERVER_ARGS; the
#                         test ids name them ("test_x[v2-raw -w 2]")
SERVER       ?=
SERVER_ARGS  ?=
WORKERS      ?=

# FISH_ARGSETS for the suite: "ARGS -w 1;ARGS -w 2" from WORKERS="1 2", or
# SERVER_ARGS alone.  (Spaces inside a set ride as @ through foreach.)
_empty       :=
_space       := $(_empty) $(_empty)
_args        := $(subst $(_space),@,$(strip $(SERVER_ARGS)))
_argsets      = $(patsubst @%,%,$(if $(strip $(WORKERS)),\
                  $(foreach w,$(WORKERS),$(_args)@-w@$(w)),$(_args)))
FISH_ARGSETS  = $(subst @,$(_space),$(subst $(_space),;,$(strip $(_argsets))))
SUITE_ENV     = FISH_ARGSETS="$(FISH_ARGSETS)"

.PHONY: check-server

check-server:
	$(NEED_PYTEST)
	@test -n "$(strip $(SERVER))" || { echo 'usage: make check-server SERVER="path/to/binary [args]"' >&2; exit 2; }
	FISH_SERVER='$(SERVER)' $(SUITE_ENV) $(PYTHON) -m pytest tests/integration $(PYTEST_ARGS)
