## tests/repl/local.mk — the notellm executable: command line and pipes
## (cli.sh), and the interactive prompt through a terminal (tty.sh, tmux).
REPL_TESTS = tests/repl/cli.sh tests/repl/tty.sh
TESTS += $(REPL_TESTS)
EXTRA_DIST += $(REPL_TESTS) tests/repl/lib.sh
