/* elementwise.cu — the elementwise family on CUDA, mirroring the CPU kernels
 * of kernels/cpu/elementwise.c (same inputs, same f32 formulas): ADD SUB MUL
 * DIV (inputs broadcast against the output, any strides), SCALE, the unary
 * activations and UNARY_BWD (gx = gy * f'(x), i[0] = the forward op), SWIGLU
 * and SWIGLU_BWD; the
 * scalar formulas are kernels/formulas.h, shared with the CPU. */
#include <math.h>

#include "cuda_backend.h" /* first: wraps the runtime headers in extern "C" */
#include "../formulas.h"

/* ---- kernels ------------------------------------------------------------------- */

/* out [...] = a op b, a and b read with out's shape (stride 0 where broadcast). */
__global__ static void binary_kernel(int op, float *out, const float *a, nl_cu_layout la, const float *b,
                                     nl_cu_layout lb, int64_t n)
{
    NL_CU_FOR(i, n) {
        float x = a[nl_cu_offset(la, i)], y = b[nl_cu_offset(lb, i)];
        float r;
        switch (op) {
        case NL_OP_ADD: r = x + y; break;
        case NL_OP_SUB: r = x - y; break;
        case NL_OP_MUL: r = x * y; break;
        default: r = x / y; break;
        }
        out[i] = r;
    }
}

__global__ static void scale_kernel(float *out, const float *x, nl_cu_layout lx, float s, float b, int64_t n)
{
    NL_CU_FOR(i, n) out[i] = s * x[nl_cu_offset(lx, i)] + b;
}

__global__ static void unary_kernel(int op, float *out, const float *x, nl_cu_layout lx, int64_t n)
{
    NL_CU_FOR(i, n) out[i] = nl_unary_f(op, x[nl_cu_offset(lx, i)]);
}

__global__ static void unary_bwd_kernel(int op, float *gx, const float *gy, nl_cu_layout lg, const float *x,
                                        nl_cu_layout lx, int64_t n)
{
    NL_CU_FOR(i, n) gx[i] = gy[nl_cu_offset(lg, i)] * nl_unary_df(op, x[nl_cu_offset(lx, i)]);
}

__global__ static void swiglu_kernel(float *out, const float *g, nl_cu_layout lg, const float *u, nl_cu_layout lu,
                                     int64_t n)
{
    NL_CU_FOR(i, n) out[i] = nl_swiglu_f(g[nl_cu_offset(lg, i)], u[nl_cu_offset(lu, i)]);
}

__global__ static void swiglu_bwd_kernel(float *dg, float *du, const float *gy, nl_cu_layout ly, const float *g,
                                         nl_cu_layout lg, const float *u, nl_cu_layout lu, int64_t n)
{
    NL_CU_FOR(i, n) {
        float y = gy[nl_cu_offset(ly, i)], x = g[nl_cu_offset(lg, i)];
        dg[i] = nl_swiglu_dgate(y, x, u[nl_cu_offset(lu, i)]);
        du[i] = nl_swiglu_dup(y, x);
    }
}

/* ---- host side: out[0] is a fresh contiguous f32 tensor ------------------------- */

static const float *cf(const nl_tensor *t) { return (const float *)nl_tensor_raw_ptr(t); }

/* a [...], b [...] (broadcastable to out) -> out [...] */
static nl_status cu_binary(const nl_op_args *args)
{
    nl_tensor *out = args->out[0];
    int64_t n = nl_tensor_numel(out);
    if (n == 0) return NL_OK;
    NL_TRY(nl_cu_set_device(nl_tensor_device(out).index));
    binary_kernel<<<nl_cu_blocks(n), NL_CU_THREADS>>>(args->op, (float *)nl_tensor_raw_ptr(out), cf(args->in[0]),
                                                      nl_cu_layout_bcast(args->in[0], out), cf(args->in[1]),
                                                      nl_cu_layout_bcast(args->in[1], out), n);
    NL_CU_LAUNCHED();
    return NL_OK;
}

/* x [...] -> out [...] = f[0]*x + f[1] */
static nl_status cu_scale(const nl_op_args *args)
{
    nl_tensor *out = args->out[0];
    int64_t n = nl_tensor_numel(out);
    if (n == 0) return NL_OK;
    NL_TRY(nl_cu_set_device(nl_tensor_device(out).index));
    scale_kernel<<<nl_cu_blocks(n), NL_CU_THREADS>>>((float *)nl_tensor_raw_ptr(out), cf(args->in[0]),
                                                     nl_cu_layout_bcast(args->in[0], out), (float)args->p.f[0],
                                                     (float)args->p.f[1], n);
    NL_CU_LAUNCHED();
    return NL_OK;
}

/* x [...] -> out [...] = f(x) */
static nl_status cu_unary(const nl_op_args *args)
{
    nl_tensor *out = args->out[0];
    int64_t n = nl_tensor_numel(out);
    if (n == 0) return NL_OK;
    NL_TRY(nl_cu_set_device(nl_tensor_device(out).index));
    unary_kernel<<<nl_cu_blocks(n), NL_CU_THREADS>>>(args->op, (float *)nl_tensor_raw_ptr(out), cf(args->in[0]),
                                                     nl_cu_layout_bcast(args->in[0], out), n);
    NL_CU_LAUNCHED();
    return NL_OK;
}

/* gy [...], x [...] -> gx [...] = gy * f'(x), f = i[0] */
static nl_status cu_unary_bwd(const nl_op_args *args)
{
    nl_tensor *out = args->out[0];
    int64_t n = nl_tensor_numel(out);
    if (n == 0) return NL_OK;
    NL_TRY(nl_cu_set_device(nl_tensor_device(out).index));
    const nl_tensor *gy = args->in[0], *x = args->in[1];
    unary_bwd_kernel<<<nl_cu_blocks(n), NL_CU_THREADS>>>((int)args->p.i[0], (float *)nl_tensor_raw_ptr(out), cf(gy),
                                                         nl_cu_layout_bcast(gy, out), cf(x),
                                                         nl_cu_layout_bcast(x, out), n);
    NL_CU_LAUNCHED();
    return NL_OK;
}

/* gate [...], up [...] -> out [...] = silu(gate) * up */
static nl_status cu_swiglu(const nl_op_args *args)
{
    nl_tensor *out = args->out[0];
    int64_t n = nl_tensor_numel(out);
    if (n == 0) return NL_OK;
    NL_TRY(nl_cu_set_device(nl_tensor_device(out).index));
    swiglu_kernel<<<nl_cu_blocks(n), NL_CU_THREADS>>>((float *)nl_tensor_raw_ptr(out), cf(args->in[0]),
                                                      nl_cu_layout_bcast(args->in[0], out), cf(args->in[1]),
                                                      nl_cu_layout_bcast(args->in[1], out), n);
    NL_CU_LAUNCHED();
    return NL_OK;
}

/* gy, gate, up [...] -> out[0] dgate, out[1] dup */
static nl_status cu_swiglu_bwd(const nl_op_args *args)
{
    nl_tensor *dg = args->out[0], *du = args->out[1];
    int64_t n = nl_tensor_numel(dg);
    if (n == 0) return NL_OK;
    NL_TRY(nl_cu_set_device(nl_tensor_device(dg).index));
    swiglu_bwd_kernel<<<nl_cu_blocks(n), NL_CU_THREADS>>>(
        (float *)nl_tensor_raw_ptr(dg), (float *)nl_tensor_raw_ptr(du), cf(args->in[0]), nl_cu_layout_bcast(args->in[0], dg),
        cf(args->in[1]), nl_cu_layout_bcast(args->in[1], dg), cf(args->in[2]), nl_cu_layout_bcast(args->in[2], dg), n);
    NL_CU_LAUNCHED();
    return NL_OK;
}

void nl_cu_register_elementwise(nl_kernel_fn *t)
{
    t[NL_OP_ADD] = t[NL_OP_SUB] = t[NL_OP_MUL] = t[NL_OP_DIV] = cu_binary;
    t[NL_OP_SCALE] = cu_scale;
    for (int op = NL_OP_EXP; op <= NL_OP_QUICK_GELU; op++) t[op] = cu_unary;
    t[NL_OP_UNARY_BWD] = cu_unary_bwd;
    t[NL_OP_SWIGLU] = cu_swiglu;
    t[NL_OP_SWIGLU_BWD] = cu_swiglu_bwd;
}
