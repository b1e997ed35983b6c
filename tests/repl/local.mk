## tests/repl/local.mk
