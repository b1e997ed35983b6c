## tests/local.mk — make check: C unit tests, op conformance, Scheme suites, REPL.
include tests/unit/local.mk
include tests/ops/local.mk
include tests/scheme/local.mk
include tests/repl/local.mk
include tests/gpu/local.mk
include tests/notebooks/local.mk
include tests/model/local.mk
include tests/fuzz/local.mk

TESTS += tests/check-layering.sh
EXTRA_DIST += tests/check-layering.sh
check-layering:
	abs_top_srcdir=$(abs_top_srcdir) $(SHELL) $(srcdir)/tests/check-layering.sh
.PHONY: check-layering
