## tests/fuzz/local.mk — fuzz targets for every untrusted-input parser.
##
## make check runs each target through driver.c: its seeds, then a fixed
## number of deterministic mutations (a few seconds each; NL_FUZZ_RUNS=N and
## NL_FUZZ_SEED=S change the count and the xorshift seed, e.g.
##   make check TESTS=tests/fuzz/fuzz_csv NL_FUZZ_RUNS=200000).
## A crashing input is saved as crash-<target>-<run> in the build directory;
## `NL_FUZZ_RUNS=0 tests/fuzz/fuzz_<target> FILE` replays it.
##
## make fuzz builds the same targets with clang's libFuzzer and ASan+UBSan,
## compiling the runtime sources directly (not libnotellm.la) into
## $(builddir)/fuzz-bin/, seeds fuzz-bin/corpus/<target>/ and runs each target
## for FUZZ_SECONDS (default 60); crashes go to fuzz-bin/crashes/<target>/ and
## the output to fuzz-bin/fuzz_<target>.log. Knobs: FUZZ_TARGETS='csv image',
## FUZZ_CC, FUZZ_ARGS (extra libFuzzer flags, e.g. -jobs=2). `make fuzz-clean`
## removes fuzz-bin/ (needed after a header change: objects track .c files only).
FUZZ_PROGS = tests/fuzz/fuzz_safetensors tests/fuzz/fuzz_tokenizer tests/fuzz/fuzz_config \
  tests/fuzz/fuzz_image tests/fuzz/fuzz_csv
check_PROGRAMS += $(FUZZ_PROGS)
TESTS += $(FUZZ_PROGS)
FUZZ_COMMON = tests/fuzz/driver.c tests/fuzz/common.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_safetensors_SOURCES = tests/fuzz/fuzz_safetensors.c $(FUZZ_COMMON)
tests_fuzz_fuzz_safetensors_LDADD = libnotellm.la -lm
tests_fuzz_fuzz_tokenizer_SOURCES = tests/fuzz/fuzz_tokenizer.c $(FUZZ_COMMON)
tests_fuzz_fuzz_tokenizer_LDADD = libnotellm.la -lm
tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz_config.c $(FUZZ_COMMON)
tests_fuzz_fuzz_config_CFLAGS = $(AM_CFLAGS) $(CJSON_CFLAGS)
tests_fuzz_fuzz_config_LDADD = libnotellm.la $(CJSON_LIBS) -lm
tests_fuzz_fuzz_image_SOURCES = tests/fuzz/fuzz_image.c $(FUZZ_COMMON)
tests_fuzz_fuzz_image_LDADD = libnotellm.la -lm
tests_fuzz_fuzz_csv_SOURCES = tests/fuzz/fuzz_csv.c $(FUZZ_COMMON)
tests_fuzz_fuzz_csv_LDADD = libnotellm.la -lm
EXTRA_DIST += tests/fuzz/seeds/bytelevel.tokenizer.json tests/fuzz/seeds/qwen.tokenizer.json \
  tests/fuzz/seeds/llama.tokenizer.json tests/fuzz/seeds/metaspace.tokenizer.json \
  tests/fuzz/seeds/notes.csv tests/fuzz/seeds/quoted.csv tests/fuzz/seeds/dtypes.safetensors \
  tests/fuzz/seeds/one.safetensors

FUZZ_SECONDS = 60
FUZZ_TARGETS = safetensors tokenizer config image csv
FUZZ_CC = clang
FUZZ_MAX_LEN = 262144
FUZZ_ARGS =
FUZZ_SAN = -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CPP = $(DEFS) $(DEFAULT_INCLUDES) $(AM_CPPFLAGS) $(CPPFLAGS)
FUZZ_ENV = NL_FIXTURES=$(abs_top_srcdir)/tests/fixtures abs_top_srcdir=$(abs_top_srcdir)

fuzz-bin/libnotellm-fuzz.a: $(libnotellm_la_SOURCES)
	@mkdir -p fuzz-bin/obj
	@set -e; objs=; for s in $(libnotellm_la_SOURCES); do \
	  case $$s in *.c) ;; *) continue ;; esac; \
	  o=fuzz-bin/obj/`echo $$s | sed 's|/|_|g; s|\.c$$|.o|'`; objs="$$objs $$o"; \
	  if test -f $$o && test ! $(srcdir)/$$s -nt $$o; then continue; fi; \
	  echo "  FUZZCC   $$o"; \
	  $(FUZZ_CC) $(FUZZ_CPP) $(libnotellm_la_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
	    -c $(srcdir)/$$s -o $$o; \
	done; rm -f $@; $(AR) rc $@ $$objs

fuzz-build: fuzz-bin/libnotellm-fuzz.a
	@set -e; for t in $(FUZZ_TARGETS); do \
	  echo "  FUZZLD   fuzz-bin/fuzz_$$t"; \
	  $(FUZZ_CC) $(FUZZ_CPP) $(AM_CFLAGS) $(CJSON_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer \
	    -o fuzz-bin/fuzz_$$t $(srcdir)/tests/fuzz/fuzz_$$t.c $(srcdir)/tests/fuzz/common.c \
	    fuzz-bin/libnotellm-fuzz.a $(libnotellm_la_LIBADD) $(LIBS); \
	done

fuzz: fuzz-build $(FUZZ_PROGS)
	@status=0; for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz-bin/corpus/$$t fuzz-bin/crashes/$$t; n=0; \
	  for f in `$(FUZZ_ENV) NL_FUZZ_LIST=1 ./tests/fuzz/fuzz_$$t`; do \
	    n=`expr $$n + 1`; cp "$$f" fuzz-bin/corpus/$$t/seed-$$n; done; \
	  echo "fuzz_$$t: $(FUZZ_SECONDS) s, log in fuzz-bin/fuzz_$$t.log"; \
	  if ASAN_OPTIONS=allocator_may_return_null=1 fuzz-bin/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
	      -max_len=$(FUZZ_MAX_LEN) -print_final_stats=1 -artifact_prefix=fuzz-bin/crashes/$$t/ \
	      $(FUZZ_ARGS) fuzz-bin/corpus/$$t > fuzz-bin/fuzz_$$t.log 2>&1; then \
	    grep -E 'number_of_executed_units|average_exec_per_sec' fuzz-bin/fuzz_$$t.log | tr '\n' ' '; echo; \
	  else status=1; echo "fuzz_$$t: FAILED (see fuzz-bin/fuzz_$$t.log and fuzz-bin/crashes/$$t/)"; fi; \
	done; exit $$status

fuzz-clean:
	rm -rf fuzz-bin
.PHONY: fuzz fuzz-build fuzz-clean
