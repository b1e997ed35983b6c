## tests/gpu/local.mk — CUDA tests. `make check` runs test_cuda_absent (cuda:0
## fails with a clean device error when there is no GPU, and CPU work never
## maps the CUDA libraries) and builds the conformance suite; `make check-gpu`
## runs the suite (every CUDA op against the CPU reference, values and
## gradients) and fails when no CUDA device is found.
GPU_TESTS = tests/gpu/test_cuda_absent
check_PROGRAMS += $(GPU_TESTS) tests/gpu/test_conformance
TESTS += $(GPU_TESTS)
tests_gpu_test_cuda_absent_SOURCES = tests/gpu/test_cuda_absent.c
tests_gpu_test_cuda_absent_LDADD = tests/ops/libharness.la libnotellm.la -lm
tests_gpu_test_conformance_SOURCES = tests/gpu/test_conformance.c
tests_gpu_test_conformance_LDADD = tests/ops/libharness.la libnotellm.la -lm

# With the CUDA loader in libnotellm, the suite also runs in `make check`
# against a host-memory stand-in for the module (tests/gpu/fake_cuda.c).
if HAVE_CUDA
check_LTLIBRARIES = tests/gpu/fake-cuda.la
tests_gpu_fake_cuda_la_SOURCES = tests/gpu/fake_cuda.c
tests_gpu_fake_cuda_la_LIBADD = libnotellm.la
tests_gpu_fake_cuda_la_LDFLAGS = -module -avoid-version -no-undefined -rpath $(abs_builddir)/tests/gpu
TESTS += tests/gpu/fake-conformance.sh
endif
EXTRA_DIST += tests/gpu/fake-conformance.sh

check-gpu: all tests/gpu/test_conformance$(EXEEXT)
	NOTELLM_REQUIRE_GPU=1 NOTELLM_THREADS=2 ./tests/gpu/test_conformance$(EXEEXT)
.PHONY: check-gpu
