## tests/local.mk — make check: C unit tests, op conformance, Scheme suites, REPL.
include tests/unit/local.mk
include tests/ops/local.mk
include tests/scheme/local.mk
include tests/repl/local.mk
