/* matrix.h — how a strided tensor's last two dims map onto a BLAS matrix
 * (row- or column-major with a leading dim) and where each batch matrix
 * starts. Shared by the CPU and CUDA matmul kernels and the matmul
 * front-end, which copies exactly the operands these rules reject. Host code. */
#ifndef NL_MATRIX_H
#define NL_MATRIX_H

#include <limits.h>
#include <stdint.h>

#include "../runtime/tensor.h"

/* Storage of the last two dims [R, C] of t: row-major (*col = 0) or
 * column-major (*col = 1) with the returned leading dim; -1 when neither
 * (or the leading dim exceeds the BLAS int range). Size-1 dims may carry any
 * stride. */
static inline int64_t nl_mat_layout(const nl_tensor *t, int *col)
{
    int64_t R = t->shape[t->ndim - 2], C = t->shape[t->ndim - 1];
    int64_t sr = t->strides[t->ndim - 2], sc = t->strides[t->ndim - 1];
    int64_t minr = C > 1 ? C : 1, minc = R > 1 ? R : 1;
    if (sc == 1 || C == 1) {
        int64_t ld = R == 1 ? minr : sr;
        if (ld >= minr && ld <= INT_MAX) { *col = 0; return ld; }
    }
    if (sr == 1 || R == 1) {
        int64_t ld = C == 1 ? minc : sc;
        if (ld >= minc && ld <= INT_MAX) { *col = 1; return ld; }
    }
    return -1;
}

/* Element offset in t of batch matrix `bi` (row-major over out's batch dims;
 * t's batch dims are already broadcast to out's, stride 0 where expanded). */
static inline int64_t nl_batch_offset(const nl_tensor *t, const nl_tensor *out, int64_t bi)
{
    int64_t off = 0;
    for (int d = out->ndim - 3; d >= 0; d--) {
        off += (bi % out->shape[d]) * t->strides[d];
        bi /= out->shape[d];
    }
    return off;
}

#endif
