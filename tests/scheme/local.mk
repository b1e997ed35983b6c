## tests/scheme/local.mk
