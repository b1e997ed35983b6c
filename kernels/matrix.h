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

/* The problem one MATMUL call describes: out [..., M, N] = op(a) op(b) over
 * nbatch matrices, K the inner size; ta/tb the requested transposes
 * (p.i[0], p.i[1]) and opa/opb whether BLAS must transpose each operand's
 * row-major view (the request combined with a column-major layout). */
typedef struct nl_mm_problem {
    int64_t M, N, K, nbatch, lda, ldb;
    int opa, opb;
} nl_mm_problem;

/* Fill *pb from the kernel arguments; -1 when an operand's layout is not one
 * BLAS accepts (the front-end copies those, so this is an internal error). */
static inline int nl_mm_problem_of(const nl_tensor *a, const nl_tensor *b, const nl_tensor *out, int ta, int tb,
                                   nl_mm_problem *pb)
{
    int nd = out->ndim, acol = 0, bcol = 0;
    pb->M = out->shape[nd - 2];
    pb->N = out->shape[nd - 1];
    pb->K = ta ? a->shape[nd - 2] : a->shape[nd - 1];
    pb->nbatch = pb->M * pb->N > 0 ? nl_tensor_numel(out) / (pb->M * pb->N) : 0;
    pb->lda = nl_mat_layout(a, &acol);
    pb->ldb = nl_mat_layout(b, &bcol);
    pb->opa = ta ^ acol;
    pb->opb = tb ^ bcol;
    return pb->lda < 0 || pb->ldb < 0 ? -1 : 0;
}

#endif
