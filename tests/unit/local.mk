## tests/unit/local.mk — C unit tests of the runtime core (no Guile).
UNIT_TESTS = tests/unit/test_tensor tests/unit/test_optable tests/unit/test_safetensors
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)
tests_unit_test_tensor_SOURCES = tests/unit/test_tensor.c
tests_unit_test_tensor_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_unit_test_optable_SOURCES = tests/unit/test_optable.c
tests_unit_test_optable_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_unit_test_safetensors_SOURCES = tests/unit/test_safetensors.c
tests_unit_test_safetensors_LDADD = tests/ops/libharness.la libnotellm.la $(CJSON_LIBS) -lm
