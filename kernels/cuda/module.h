/* module.h — the contract between libnotellm's loader (kernels/cuda/loader.c,
 * plain C, no CUDA headers) and the notellm-cuda module it dlopen()s.
 * The module exports exactly one symbol, NL_CUDA_MODULE_INIT; bump
 * NL_CUDA_MODULE_ABI whenever nl_backend, nl_tensor or this call changes. */
#ifndef NL_CUDA_MODULE_H
#define NL_CUDA_MODULE_H

#include "../../runtime/device.h"

#define NL_CUDA_MODULE_ABI 1
#define NL_CUDA_MODULE_INIT "nl_cuda_module_init"
#define NL_CUDA_MODULE_FILE "notellm-cuda.so"

/* Checks abi, counts the devices and fills *out / *device_count (>= 1).
 * Any failure (no driver, no GPU, ABI mismatch) returns an error with a
 * message and leaves *out untouched. */
typedef nl_status (*nl_cuda_module_init_fn)(int abi, const nl_backend **out, int *device_count);

#endif
