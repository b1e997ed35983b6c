## tests/scheme/local.mk — SRFI-64 suites of the Guile layer, one suite per
## file, run in-process by build-aux/test-driver.scm (one result per test).
SCHEME_TESTS = \
  tests/scheme/construct.scm tests/scheme/print.scm tests/scheme/views.scm \
  tests/scheme/ops.scm tests/scheme/errors.scm tests/scheme/autograd.scm \
  tests/scheme/train.scm tests/scheme/docs.scm tests/scheme/gc-stress.scm \
  tests/scheme/models.scm tests/scheme/text.scm tests/scheme/data.scm tests/scheme/train-run.scm \
  tests/scheme/train-learns.scm tests/scheme/plot.scm tests/scheme/eval.scm tests/scheme/probe.scm \
  tests/scheme/notebook.scm
TESTS += $(SCHEME_TESTS)
EXTRA_DIST += $(SCHEME_TESTS) build-aux/test-driver.scm
SCM_LOG_DRIVER = $(GUILE) --no-auto-compile $(top_srcdir)/build-aux/test-driver.scm
