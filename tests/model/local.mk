## tests/model/local.mk — model golden tests against the PyTorch fixtures in
## tests/fixtures/models (made by tests/ref/make_model_fixtures.py).
MODEL_TESTS = tests/model/test_llm tests/model/test_lora tests/model/test_notellm tests/model/test_vit tests/model/test_qformer tests/model/test_projector tests/model/test_probe
check_PROGRAMS += $(MODEL_TESTS)
TESTS += $(MODEL_TESTS)
tests_model_test_llm_SOURCES = tests/model/test_llm.c
tests_model_test_llm_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_model_test_notellm_SOURCES = tests/model/test_notellm.c
tests_model_test_notellm_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_model_test_probe_SOURCES = tests/model/test_probe.c
tests_model_test_probe_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_model_test_lora_SOURCES = tests/model/test_lora.c
tests_model_test_lora_CFLAGS = $(AM_CFLAGS) $(CJSON_CFLAGS)
tests_model_test_lora_LDADD = tests/ops/libharness.la libnotellm.la $(CJSON_LIBS) -lm
tests_model_test_vit_SOURCES = tests/model/test_vit.c
tests_model_test_vit_LDADD = tests/ops/libharness.la libnotellm.la $(CJSON_LIBS) -lm
tests_model_test_qformer_SOURCES = tests/model/test_qformer.c
tests_model_test_qformer_LDADD = tests/ops/libharness.la libnotellm.la $(CJSON_LIBS) -lm
tests_model_test_projector_SOURCES = tests/model/test_projector.c
tests_model_test_projector_LDADD = tests/ops/libharness.la libnotellm.la -lm
EXTRA_DIST += tests/fixtures/models/README.md tests/ref/make_model_fixtures.py \
  tests/fixtures/models/llama/config.json tests/fixtures/models/llama/model.safetensors \
  tests/fixtures/models/llama/io.safetensors \
  tests/fixtures/models/qwen2/config.json tests/fixtures/models/qwen2/model.safetensors \
  tests/fixtures/models/qwen2/io.safetensors \
  tests/fixtures/models/clip_vision/config.json tests/fixtures/models/clip_vision/model.safetensors \
  tests/fixtures/models/clip_vision/io.safetensors \
  tests/fixtures/models/qformer/config.json tests/fixtures/models/qformer/model.safetensors \
  tests/fixtures/models/qformer/io.safetensors
