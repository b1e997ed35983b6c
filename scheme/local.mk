## scheme/local.mk — the Guile extension (scheme/glue) and the (notellm ...) modules.
