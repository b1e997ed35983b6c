/* cuda_backend.h — internals shared by the notellm-cuda module's .cu files:
 * error checks (one macro per library, NL_ERR_CUDA with file:line and the
 * library's error string), device selection, strided layouts for kernels,
 * launch geometry and the per-family registration functions.
 * Kernels see data structures only: no op front-ends, no autograd. */
#ifndef NL_CUDA_BACKEND_H
#define NL_CUDA_BACKEND_H

#include <cublas_v2.h>
#include <cuda_runtime.h>

extern "C" {
#include "../../runtime/runtime.h"
#include "../../runtime/tensor.h"
}

#define NL_CU_MAX_DEVICES 64

nl_status nl_cu_fail(cudaError_t e, const char *file, int line, const char *expr);
nl_status nl_cublas_fail(cublasStatus_t s, const char *file, int line, const char *expr);

#define NL_CU_CHECK(expr)                                                           \
    do {                                                                            \
        cudaError_t nl_cu_e_ = (expr);                                              \
        if (nl_cu_e_ != cudaSuccess) return nl_cu_fail(nl_cu_e_, __FILE__, __LINE__, #expr); \
    } while (0)

#define NL_CUBLAS_CHECK(expr)                                                       \
    do {                                                                            \
        cublasStatus_t nl_cb_s_ = (expr);                                           \
        if (nl_cb_s_ != CUBLAS_STATUS_SUCCESS) return nl_cublas_fail(nl_cb_s_, __FILE__, __LINE__, #expr); \
    } while (0)

/* Check the launch just made (configuration errors show at once; faults in
 * the kernel surface at the next synchronising call). */
#define NL_CU_LAUNCHED() NL_CU_CHECK(cudaGetLastError())

/* Make `index` the calling thread's current device. */
nl_status nl_cu_set_device(int index);
/* The cuBLAS handle of a device (created on first use). */
nl_status nl_cu_blas(int index, cublasHandle_t *out);

/* Shape and element strides of a tensor as a kernel argument. */
typedef struct nl_cu_layout {
    int ndim;
    int contiguous;                 /* offset(i) == i */
    int64_t shape[NL_MAX_DIMS];
    int64_t strides[NL_MAX_DIMS];
} nl_cu_layout;

/* t's own layout. */
nl_cu_layout nl_cu_layout_of(const nl_tensor *t);
/* t read with out's shape (numpy broadcasting: missing and size-1 dims of t
 * get stride 0). The front-end has checked that the shapes broadcast. */
nl_cu_layout nl_cu_layout_bcast(const nl_tensor *t, const nl_tensor *out);

/* Element offset of the i-th element (row-major order) of a layout. */
__device__ __forceinline__ int64_t nl_cu_offset(const nl_cu_layout &l, int64_t i)
{
    if (l.contiguous) return i;
    int64_t off = 0;
    for (int d = l.ndim - 1; d >= 0; d--) {
        int64_t s = l.shape[d];
        off += (i % s) * l.strides[d];
        i /= s;
    }
    return off;
}

/* 1-d launches: grid-stride loops over n elements. */
#define NL_CU_THREADS 256
static inline unsigned nl_cu_blocks(int64_t n)
{
    int64_t b = (n + NL_CU_THREADS - 1) / NL_CU_THREADS;
    return (unsigned)(b < 1 ? 1 : b > 65535 ? 65535 : b);
}
#define NL_CU_FOR(i, n)                                                             \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);       \
         i += (int64_t)blockDim.x * gridDim.x)

void nl_cu_register_copy(nl_kernel_fn *table);
void nl_cu_register_elementwise(nl_kernel_fn *table);
void nl_cu_register_reduce(nl_kernel_fn *table);
void nl_cu_register_matmul(nl_kernel_fn *table);

#endif
