#!/bin/sh
# fake-conformance.sh — the CUDA conformance suite against tests/gpu/fake_cuda.c
# (host memory, CPU kernels behind the CUDA op table): checks the loader, the
# suite itself and that every front-end and backward path the suite uses
# works on tensors that are not on the CPU, on machines without a GPU.
NOTELLM_CUDA_MODULE=${abs_top_builddir:-.}/tests/gpu/.libs/fake-cuda.so
export NOTELLM_CUDA_MODULE
exec "${abs_top_builddir:-.}/tests/gpu/test_conformance"
