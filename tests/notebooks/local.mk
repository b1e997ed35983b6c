## tests/notebooks/local.mk — every notebook in its --quick mode.
NOTEBOOK_TESTS = tests/notebooks/quickstart.sh tests/notebooks/notellm.sh tests/notebooks/notellm2.sh \
	tests/notebooks/probe-tour.sh
TESTS += $(NOTEBOOK_TESTS)
EXTRA_DIST += $(NOTEBOOK_TESTS) notebooks/00-quickstart.scm notebooks/10-notellm.scm \
	notebooks/20-notellm2.scm notebooks/30-probe-tour.scm
