/* kernels.h — the CPU backend's kernel families. Each family file fills the
 * table entries of its ops; backend.c calls every registration function.
 * Kernels do arithmetic only: front-ends in runtime/ops/ validated shapes,
 * dtypes and devices and allocated the outputs. */
#ifndef NL_CPU_KERNELS_H
#define NL_CPU_KERNELS_H

#include "../../runtime/device.h"
#include "../../runtime/tensor.h"

void nl_cpu_register_copy(nl_kernel_fn *table);
void nl_cpu_register_elementwise(nl_kernel_fn *table);
void nl_cpu_register_reduce(nl_kernel_fn *table);
void nl_cpu_register_optim(nl_kernel_fn *table);
void nl_cpu_register_matmul(nl_kernel_fn *table);
void nl_cpu_register_softmax(nl_kernel_fn *table);
void nl_cpu_register_index(nl_kernel_fn *table);
void nl_cpu_register_norm(nl_kernel_fn *table);
void nl_cpu_register_loss(nl_kernel_fn *table);
void nl_cpu_register_attention(nl_kernel_fn *table);

/* f32 data pointer of a CPU tensor (offset applied). */
static inline float *nl_f32(const nl_tensor *t) { return (float *)nl_tensor_host_ptr(t); }

#endif
