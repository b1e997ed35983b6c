## tests/unit/local.mk — C unit tests of the runtime core (no Guile).
UNIT_TESTS = tests/unit/test_tensor tests/unit/test_optable tests/unit/test_safetensors tests/unit/test_synth tests/unit/test_notes tests/unit/test_prompt tests/unit/test_params tests/unit/test_plot tests/unit/test_checkpoint tests/unit/test_run tests/unit/test_losses tests/unit/test_recall tests/unit/test_gradcache tests/unit/test_run_gradcache tests/unit/test_alloc tests/unit/test_profile tests/unit/test_tokenizer tests/unit/test_bpe_train tests/unit/test_image tests/unit/test_embfile tests/unit/test_textmetrics
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)
tests_unit_test_tensor_SOURCES = tests/unit/test_tensor.c
tests_unit_test_tensor_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_unit_test_optable_SOURCES = tests/unit/test_optable.c
tests_unit_test_optable_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_unit_test_safetensors_SOURCES = tests/unit/test_safetensors.c
tests_unit_test_safetensors_LDADD = tests/ops/libharness.la libnotellm.la $(CJSON_LIBS) -lm
tests_unit_test_synth_SOURCES = tests/unit/test_synth.c
tests_unit_test_synth_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_unit_test_notes_SOURCES = tests/unit/test_notes.c
tests_unit_test_notes_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_unit_test_prompt_SOURCES = tests/unit/test_prompt.c
tests_unit_test_prompt_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_unit_test_params_SOURCES = tests/unit/test_params.c
tests_unit_test_params_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_unit_test_plot_SOURCES = tests/unit/test_plot.c
tests_unit_test_plot_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_unit_test_checkpoint_SOURCES = tests/unit/test_checkpoint.c
tests_unit_test_checkpoint_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_unit_test_run_SOURCES = tests/unit/test_run.c
tests_unit_test_run_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_unit_test_tokenizer_SOURCES = tests/unit/test_tokenizer.c
tests_unit_test_tokenizer_LDADD = tests/ops/libharness.la libnotellm.la -lm
EXTRA_DIST += tests/ref/make_tokenizer_fixtures.py
tests_unit_test_bpe_train_SOURCES = tests/unit/test_bpe_train.c
tests_unit_test_bpe_train_CFLAGS = $(AM_CFLAGS) $(CJSON_CFLAGS)
tests_unit_test_bpe_train_LDADD = tests/ops/libharness.la libnotellm.la $(CJSON_LIBS) -lm
tests_unit_test_losses_SOURCES = tests/unit/test_losses.c
tests_unit_test_losses_LDADD = tests/ops/libharness.la libnotellm.la -lm
EXTRA_DIST += tests/ref/make_loss_fixtures.py tests/fixtures/losses/gcl.safetensors \
  tests/fixtures/losses/head.safetensors tests/fixtures/losses/csft.safetensors
tests_unit_test_recall_SOURCES = tests/unit/test_recall.c
tests_unit_test_recall_CFLAGS = $(AM_CFLAGS) $(BLAS_CFLAGS)
tests_unit_test_recall_LDADD = tests/ops/libharness.la libnotellm.la $(BLAS_LIBS) -lm
tests_unit_test_gradcache_SOURCES = tests/unit/test_gradcache.c
tests_unit_test_gradcache_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_unit_test_profile_SOURCES = tests/unit/test_profile.c
tests_unit_test_profile_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_unit_test_run_gradcache_SOURCES = tests/unit/test_run_gradcache.c
tests_unit_test_run_gradcache_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_unit_test_alloc_SOURCES = tests/unit/test_alloc.c
tests_unit_test_alloc_LDADD = tests/ops/libharness.la libnotellm.la -lpthread -lm
tests_unit_test_image_SOURCES = tests/unit/test_image.c
tests_unit_test_image_LDADD = tests/ops/libharness.la libnotellm.la -lm
EXTRA_DIST += tests/ref/make_image_fixtures.py tests/fixtures/images/alpha.webp \
  tests/fixtures/images/cmyk.jpg tests/fixtures/images/expected.safetensors \
  tests/fixtures/images/g1.png tests/fixtures/images/g16.png tests/fixtures/images/g2.png \
  tests/fixtures/images/g4.png tests/fixtures/images/g8-trns.png tests/fixtures/images/g8.png \
  tests/fixtures/images/ga16-adam7.png tests/fixtures/images/ga16.png tests/fixtures/images/ga8.png \
  tests/fixtures/images/grey.jpg tests/fixtures/images/lossless.webp \
  tests/fixtures/images/lossy.webp tests/fixtures/images/p1.png tests/fixtures/images/p2.png \
  tests/fixtures/images/p4-adam7.png tests/fixtures/images/p4-trns.png tests/fixtures/images/p4.png \
  tests/fixtures/images/p8.png tests/fixtures/images/png-named.jpg \
  tests/fixtures/images/progressive.jpg tests/fixtures/images/rgb.jpg \
  tests/fixtures/images/rgb16.png tests/fixtures/images/rgb8-adam7.png \
  tests/fixtures/images/rgb8.png tests/fixtures/images/rgba16.png tests/fixtures/images/rgba8.png \
  tests/fixtures/images/sniff-noext tests/fixtures/images/tall.png
tests_unit_test_embfile_SOURCES = tests/unit/test_embfile.c
tests_unit_test_embfile_LDADD = tests/ops/libharness.la libnotellm.la -lm
EXTRA_DIST += tests/ref/make_npy_fixtures.py tests/fixtures/npy/emb.npy tests/fixtures/npy/emb.ids.txt \
  tests/fixtures/npy/fortran.npy tests/fixtures/npy/f64.npy tests/fixtures/npy/bigendian.npy \
  tests/fixtures/npy/vector.npy
tests_unit_test_textmetrics_SOURCES = tests/unit/test_textmetrics.c
tests_unit_test_textmetrics_LDADD = tests/ops/libharness.la libnotellm.la -lm
