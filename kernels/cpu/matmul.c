/* matmul.c — CPU kernel of MATMUL: one cblas_sgemm per batch matrix.
 * Contract (runtime/ops/matmul.c): a, b, out f32 with equal batch dims (a and
 * b may have any batch strides, 0 for broadcast); each operand's last two dims
 * have a unit stride in one of them (see mat_layout); out is contiguous.
 * Depends on OpenBLAS only; no OpenMP region around the BLAS calls. */
#include <cblas.h>
#include <limits.h>
#include <string.h>

#include "../../runtime/runtime.h"
#include "../matrix.h"
#include "kernels.h"

/* a [..., M, K] or [..., K, M] (i[0]), b [..., K, N] or [..., N, K] (i[1]) -> out [..., M, N] */
static nl_status cpu_matmul(const nl_op_args *args)
{
    const nl_tensor *a = args->in[0], *b = args->in[1];
    nl_tensor *out = args->out[0];
    int nd = out->ndim, ta = (int)args->p.i[0], tb = (int)args->p.i[1];
    int64_t M = out->shape[nd - 2], N = out->shape[nd - 1];
    int64_t K = ta ? a->shape[nd - 2] : a->shape[nd - 1];
    int64_t nbatch = nl_tensor_numel(out) / (M * N > 0 ? M * N : 1);
    if (M == 0 || N == 0 || nbatch == 0) return NL_OK;
    float *C = nl_f32(out);
    if (K == 0) {
        memset(C, 0, (size_t)nl_tensor_numel(out) * sizeof(float));
        return NL_OK;
    }
    int acol, bcol;
    int64_t lda = nl_mat_layout(a, &acol), ldb = nl_mat_layout(b, &bcol);
    if (lda < 0 || ldb < 0)
        return nl_error_set(NL_ERR_ARG, "operand layout not accepted by the kernel (front-end bug)");
    enum CBLAS_TRANSPOSE opa = (ta ^ acol) ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE opb = (tb ^ bcol) ? CblasTrans : CblasNoTrans;
    const float *A = nl_f32(a), *B = nl_f32(b);
    for (int64_t bi = 0; bi < nbatch; bi++) {
        NL_TRY(nl_interrupt_poll());
        cblas_sgemm(CblasRowMajor, opa, opb, (blasint)M, (blasint)N, (blasint)K, 1.0f,
                    A + nl_batch_offset(a, out, bi), (blasint)lda, B + nl_batch_offset(b, out, bi), (blasint)ldb,
                    0.0f, C + bi * M * N, (blasint)N);
    }
    return NL_OK;
}

void nl_cpu_register_matmul(nl_kernel_fn *t)
{
    t[NL_OP_MATMUL] = cpu_matmul;
}
