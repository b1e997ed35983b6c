## tests/model/local.mk — model golden tests against the PyTorch fixtures in
## tests/fixtures/models (made by tests/ref/make_model_fixtures.py).
MODEL_TESTS = tests/model/test_llm
check_PROGRAMS += $(MODEL_TESTS)
TESTS += $(MODEL_TESTS)
tests_model_test_llm_SOURCES = tests/model/test_llm.c
tests_model_test_llm_LDADD = tests/ops/libharness.la libnotellm.la -lm
EXTRA_DIST += tests/fixtures/models/README.md tests/ref/make_model_fixtures.py \
  tests/fixtures/models/llama/config.json tests/fixtures/models/llama/model.safetensors \
  tests/fixtures/models/llama/io.safetensors \
  tests/fixtures/models/qwen2/config.json tests/fixtures/models/qwen2/model.safetensors \
  tests/fixtures/models/qwen2/io.safetensors
