/* matmul.c — CPU kernel of MATMUL: one sgemm per batch matrix.
 * Contract (runtime/ops/matmul.c): a, b, out f32 with equal batch dims (a and
 * b may have any batch strides, 0 for broadcast); each operand's last two dims
 * have a unit stride in one of them (see mat_layout); out is contiguous.
 * One matrix is split over the threads by nl_cpu_sgemm; several matrices
 * are shared out whole, one per thread at a time. */
#include <string.h>

#include "../../runtime/runtime.h"
#include "../matrix.h"
#include "gemm.h"
#include "kernels.h"

/* a [..., M, K] or [..., K, M] (i[0]), b [..., K, N] or [..., N, K] (i[1]) -> out [..., M, N] */
static nl_status cpu_matmul(const nl_op_args *args)
{
    const nl_tensor *a = args->in[0], *b = args->in[1];
    nl_tensor *out = args->out[0];
    nl_mm_problem pb;
    int bad = nl_mm_problem_of(a, b, out, (int)args->p.i[0], (int)args->p.i[1], &pb);
    if (pb.nbatch == 0) return NL_OK;
    float *C = nl_f32(out);
    if (pb.K == 0) {
        memset(C, 0, (size_t)nl_tensor_numel(out) * sizeof(float));
        return NL_OK;
    }
    if (bad) return nl_error_set(NL_ERR_ARG, "operand layout not accepted by the kernel (front-end bug)");
    const float *A = nl_f32(a), *B = nl_f32(b);
    NL_TRY(nl_interrupt_poll());
    if (pb.nbatch == 1) {
        nl_cpu_sgemm(pb.opa, pb.opb, pb.M, pb.N, pb.K, 1.0f, A, pb.lda, B, pb.ldb, 0.0f, C, pb.N);
        return NL_OK;
    }
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t bi = 0; bi < pb.nbatch; bi++) {
        if (nl_interrupt_pending()) continue;
        nl_cpu_sgemm(pb.opa, pb.opb, pb.M, pb.N, pb.K, 1.0f, A + nl_batch_offset(a, out, bi), pb.lda,
                     B + nl_batch_offset(b, out, bi), pb.ldb, 0.0f, C + bi * pb.M * pb.N, pb.N);
    }
    return nl_interrupt_poll();
}

void nl_cpu_register_matmul(nl_kernel_fn *t)
{
    t[NL_OP_MATMUL] = cpu_matmul;
}
