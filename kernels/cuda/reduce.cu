/* reduce.cu — SUM_TO on CUDA (the backward of every broadcasting op), as the
 * CPU kernel of kernels/cpu/reduce.c defines it: x [...] (any strides) summed
 * over its broadcast dims into out (contiguous, a shape x broadcasts from),
 * accumulated in double. One thread per output element, in a fixed order,
 * so results are deterministic. */
#include "cuda_backend.h"

/* out[j] = sum over r of x[offset(keep, j) + offset(red, r)] */
__global__ static void sum_to_kernel(float *out, const float *x, nl_cu_layout keep, nl_cu_layout red, int64_t n,
                                     int64_t nred)
{
    NL_CU_FOR(j, n) {
        const float *base = x + nl_cu_offset(keep, j);
        double s = 0;
        for (int64_t r = 0; r < nred; r++) s += base[nl_cu_offset(red, r)];
        out[j] = (float)s;
    }
}

/* x [..., dims of out or 1 ...] -> out [shape]; out's dims align right with x's. */
static nl_status cu_sum_to(const nl_op_args *args)
{
    const nl_tensor *x = args->in[0];
    nl_tensor *out = args->out[0];
    int64_t n = nl_tensor_numel(out);
    if (n == 0) return NL_OK;
    nl_cu_layout keep, red;
    memset(&keep, 0, sizeof keep);
    memset(&red, 0, sizeof red);
    keep.ndim = red.ndim = x->ndim;
    int lead = x->ndim - out->ndim;
    int64_t nred = 1;
    for (int d = 0; d < x->ndim; d++) {
        bool kept = d >= lead && out->shape[d - lead] == x->shape[d];
        keep.shape[d] = kept ? x->shape[d] : 1;
        keep.strides[d] = kept ? x->strides[d] : 0;
        red.shape[d] = kept ? 1 : x->shape[d];
        red.strides[d] = kept ? 0 : x->strides[d];
        nred *= red.shape[d];
    }
    NL_TRY(nl_cu_set_device(nl_tensor_device(out).index));
    sum_to_kernel<<<nl_cu_blocks(n), NL_CU_THREADS>>>((float *)nl_tensor_raw_ptr(out),
                                                      (const float *)nl_tensor_raw_ptr(x), keep, red, n, nred);
    NL_CU_LAUNCHED();
    return NL_OK;
}

void nl_cu_register_reduce(nl_kernel_fn *t)
{
    t[NL_OP_SUM_TO] = cu_sum_to;
}
