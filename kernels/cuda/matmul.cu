/* matmul.cu — MATMUL on CUDA through cuBLAS, with the CPU kernel's contract
 * (kernels/cpu/matmul.c): a, b, out f32 with equal batch dims (a and b may
 * have any batch strides, 0 for broadcast); each operand's last two dims have
 * a unit stride in one of them; out is contiguous. Row-major results come
 * from column-major cuBLAS by swapping the operands: C^T = op(B)^T op(A)^T. */
#include <limits.h>

#include "cuda_backend.h" /* first: wraps the runtime headers in extern "C" */
#include "../matrix.h"

/* True when the batch offsets of t are bi * (*stride) for every bi, so one
 * strided-batched call covers all batch matrices. */
static bool uniform_batches(const nl_tensor *t, const nl_tensor *out, int64_t nbatch, long long *stride)
{
    *stride = nbatch > 1 ? nl_batch_offset(t, out, 1) : 0;
    for (int64_t bi = 2; bi < nbatch; bi++)
        if (nl_batch_offset(t, out, bi) != bi * *stride) return false;
    return true;
}

/* a [..., M, K] or [..., K, M] (i[0]), b [..., K, N] or [..., N, K] (i[1]) -> out [..., M, N] */
static nl_status cu_matmul(const nl_op_args *args)
{
    const nl_tensor *a = args->in[0], *b = args->in[1];
    nl_tensor *out = args->out[0];
    nl_mm_problem pb;
    int bad = nl_mm_problem_of(a, b, out, (int)args->p.i[0], (int)args->p.i[1], &pb);
    if (pb.nbatch == 0) return NL_OK;
    int index = nl_tensor_device(out).index;
    float *C = (float *)nl_tensor_raw_ptr(out);
    if (pb.K == 0) {
        NL_TRY(nl_cu_set_device(index));
        NL_CU_CHECK(cudaMemsetAsync(C, 0, nl_tensor_nbytes(out), 0));
        return NL_OK;
    }
    if (bad) return nl_error_set(NL_ERR_ARG, "operand layout not accepted by the kernel (front-end bug)");
    /* cuBLAS is column-major: compute out^T = op(b)^T op(a)^T by swapping the operands. */
    cublasOperation_t opa = pb.opa ? CUBLAS_OP_T : CUBLAS_OP_N, opb = pb.opb ? CUBLAS_OP_T : CUBLAS_OP_N;
    const float *A = (const float *)nl_tensor_raw_ptr(a), *B = (const float *)nl_tensor_raw_ptr(b);
    const float one = 1.0f, zero = 0.0f;
    int M = (int)pb.M, N = (int)pb.N, K = (int)pb.K, lda = (int)pb.lda, ldb = (int)pb.ldb;
    cublasHandle_t h;
    NL_TRY(nl_cu_blas(index, &h));
    long long sa, sb;
    if (pb.nbatch <= INT_MAX && uniform_batches(a, out, pb.nbatch, &sa) && uniform_batches(b, out, pb.nbatch, &sb)) {
        NL_CUBLAS_CHECK(cublasSgemmStridedBatched(h, opb, opa, N, M, K, &one, B, ldb, sb, A, lda, sa, &zero, C, N,
                                                  (long long)M * N, (int)pb.nbatch));
        return NL_OK;
    }
    for (int64_t bi = 0; bi < pb.nbatch; bi++) {
        NL_TRY(nl_interrupt_poll());
        NL_CUBLAS_CHECK(cublasSgemm(h, opb, opa, N, M, K, &one, B + nl_batch_offset(b, out, bi), ldb,
                                    A + nl_batch_offset(a, out, bi), lda, &zero, C + bi * pb.M * pb.N, N));
    }
    return NL_OK;
}

void nl_cu_register_matmul(nl_kernel_fn *t)
{
    t[NL_OP_MATMUL] = cu_matmul;
}
