## tests/ops/local.mk — the op conformance suite: one program per op family,
## each a main() on tests/ops/harness.c (naive references, gradient checks, guards).
noinst_LTLIBRARIES += tests/ops/libharness.la
tests_ops_libharness_la_SOURCES = tests/ops/harness.c tests/ops/harness.h
OPS_TESTS = tests/ops/test_elementwise tests/ops/test_reduce tests/ops/test_optim tests/ops/test_matmul tests/ops/test_softmax tests/ops/test_index tests/ops/test_norm tests/ops/test_loss tests/ops/test_attention
check_PROGRAMS += $(OPS_TESTS)
TESTS += $(OPS_TESTS)
tests_ops_test_elementwise_SOURCES = tests/ops/test_elementwise.c
tests_ops_test_elementwise_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_ops_test_reduce_SOURCES = tests/ops/test_reduce.c
tests_ops_test_reduce_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_ops_test_optim_SOURCES = tests/ops/test_optim.c
tests_ops_test_optim_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_ops_test_matmul_SOURCES = tests/ops/test_matmul.c
tests_ops_test_matmul_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_ops_test_softmax_SOURCES = tests/ops/test_softmax.c
tests_ops_test_softmax_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_ops_test_index_SOURCES = tests/ops/test_index.c
tests_ops_test_index_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_ops_test_norm_SOURCES = tests/ops/test_norm.c
tests_ops_test_norm_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_ops_test_loss_SOURCES = tests/ops/test_loss.c
tests_ops_test_loss_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_ops_test_attention_SOURCES = tests/ops/test_attention.c
tests_ops_test_attention_LDADD = tests/ops/libharness.la libnotellm.la -lm
