## tests/notebooks/local.mk — every notebook in its --quick mode.
NOTEBOOK_TESTS = tests/notebooks/quickstart.sh
TESTS += $(NOTEBOOK_TESTS)
EXTRA_DIST += $(NOTEBOOK_TESTS) notebooks/00-quickstart.scm
