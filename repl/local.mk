## repl/local.mk — the notellm executable.
