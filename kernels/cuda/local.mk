## kernels/cuda/local.mk — the CUDA backend module (built when configure finds CUDA).
