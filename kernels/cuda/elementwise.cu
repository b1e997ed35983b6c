/* elementwise.cu — the elementwise family on CUDA, mirroring the CPU kernels
 * of kernels/cpu/elementwise.c (same inputs, same f32 formulas): ADD SUB MUL
 * DIV (inputs broadcast against the output, any strides), SCALE, the unary
 * activations and UNARY_BWD (gx = gy * f'(x), i[0] = the forward op). */
#include <math.h>

#include "cuda_backend.h"

/* ---- formulas (f32, as on the CPU) ----------------------------------------- */

__device__ __forceinline__ static float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

#define GELU_TANH_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_TANH_C 0.044715f
#define QUICK_GELU_K 1.702f

__device__ static float unary_f(int op, float x)
{
    switch (op) {
    case NL_OP_EXP: return expf(x);
    case NL_OP_LOG: return logf(x);
    case NL_OP_SQRT: return sqrtf(x);
    case NL_OP_RSQRT: return 1.0f / sqrtf(x);
    case NL_OP_TANH: return tanhf(x);
    case NL_OP_SIGMOID: return sigmoidf_(x);
    case NL_OP_RELU: return x > 0.0f ? x : 0.0f;
    case NL_OP_SILU: return x * sigmoidf_(x);
    case NL_OP_GELU: return 0.5f * x * (1.0f + erff(x * (float)M_SQRT1_2));
    case NL_OP_GELU_TANH: return 0.5f * x * (1.0f + tanhf(GELU_TANH_K * (x + GELU_TANH_C * x * x * x)));
    case NL_OP_QUICK_GELU: return x * sigmoidf_(QUICK_GELU_K * x);
    default: return NAN;
    }
}

/* f'(x) of the forward op. */
__device__ static float unary_df(int op, float x)
{
    switch (op) {
    case NL_OP_EXP: return expf(x);
    case NL_OP_LOG: return 1.0f / x;
    case NL_OP_SQRT: return 0.5f / sqrtf(x);
    case NL_OP_RSQRT: return -0.5f / (x * sqrtf(x));
    case NL_OP_TANH: {
        float t = tanhf(x);
        return 1.0f - t * t;
    }
    case NL_OP_SIGMOID: {
        float s = sigmoidf_(x);
        return s * (1.0f - s);
    }
    case NL_OP_RELU: return x > 0.0f ? 1.0f : 0.0f;
    case NL_OP_SILU: {
        float s = sigmoidf_(x);
        return s * (1.0f + x * (1.0f - s));
    }
    case NL_OP_GELU: {
        float cdf = 0.5f * (1.0f + erff(x * (float)M_SQRT1_2));
        float pdf = expf(-0.5f * x * x) * 0.3989422804014327f;
        return cdf + x * pdf;
    }
    case NL_OP_GELU_TANH: {
        float u = GELU_TANH_K * (x + GELU_TANH_C * x * x * x), t = tanhf(u);
        float du = GELU_TANH_K * (1.0f + 3.0f * GELU_TANH_C * x * x);
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
    }
    case NL_OP_QUICK_GELU: {
        float s = sigmoidf_(QUICK_GELU_K * x);
        return s + QUICK_GELU_K * x * s * (1.0f - s);
    }
    default: return NAN;
    }
}

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
    NL_CU_FOR(i, n) out[i] = unary_f(op, x[nl_cu_offset(lx, i)]);
}

__global__ static void unary_bwd_kernel(int op, float *gx, const float *gy, nl_cu_layout lg, const float *x,
                                        nl_cu_layout lx, int64_t n)
{
    NL_CU_FOR(i, n) gx[i] = gy[nl_cu_offset(lg, i)] * unary_df(op, x[nl_cu_offset(lx, i)]);
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

void nl_cu_register_elementwise(nl_kernel_fn *t)
{
    t[NL_OP_ADD] = t[NL_OP_SUB] = t[NL_OP_MUL] = t[NL_OP_DIV] = cu_binary;
    t[NL_OP_SCALE] = cu_scale;
    for (int op = NL_OP_EXP; op <= NL_OP_QUICK_GELU; op++) t[op] = cu_unary;
    t[NL_OP_UNARY_BWD] = cu_unary_bwd;
}
