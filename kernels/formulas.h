/* formulas.h — the scalar formulas shared by every backend: the unary
 * activations and their derivatives, in f32. The C compiler builds them into
 * kernels/cpu and nvcc into kernels/cuda, so the devices cannot drift apart.
 * Depends on ops.def (the op enum) and <math.h> only. */
#ifndef NL_FORMULAS_H
#define NL_FORMULAS_H

#include <math.h>
#include <stdint.h>

#include "../runtime/op.h"

#ifdef __CUDACC__
#define NL_HD static __host__ __device__ __forceinline__
#else
#define NL_HD static inline
#endif

#define NL_SQRT_2_OVER_PI 0.7978845608028654f
#define NL_GELU_C 0.044715f
#define NL_QUICK_GELU_K 1.702f
#define NL_INV_SQRT_2PI 0.3989422804014327f

/* e^x without a libm call, so loops over it vectorise: x = n ln2 + r with
 * |r| <= ln2/2 (n rounded by the 1.5 * 2^23 trick, exact in round-to-nearest
 * for these |x|), e^r by a degree-7 polynomial (Cephes' expf coefficients),
 * times 2^n built in the exponent bits (2^127 * 2 when n = 128). Within
 * 2 ulp of expf for normal results; results below FLT_MIN flush to 0
 * (x < -87.3365), x > 88.7228 gives +inf, NaN stays NaN. Only IEEE
 * add/mul/convert and selects: every vector width gives the same bits. */
#define NL_EXPF_LO -87.33654475f /* ln FLT_MIN */
#define NL_EXPF_HI 88.72283936f  /* ln FLT_MAX */
NL_HD float nl_expf(float x)
{
    float c = x < NL_EXPF_LO ? NL_EXPF_LO : (x > NL_EXPF_HI ? NL_EXPF_HI : x);
    float n = (c * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = c - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    float twice = n > 127.5f ? 2.0f : 1.0f;
    union { int32_t i; float f; } scale = {((int32_t)n + 127 - (n > 127.5f)) << 23};
    float y = p * scale.f * twice;
    y = x < NL_EXPF_LO ? 0.0f : (x > NL_EXPF_HI ? INFINITY : y);
    return x != x ? x : y;
}

NL_HD float nl_sigmoidf(float x) { return 1.0f / (1.0f + nl_expf(-x)); }

/* SwiGLU, silu(g) * u, and its partial derivatives times gy: the same
 * float operations, in the same order, as SILU then MUL and their backward
 * kernels, so fusing changes no bit. */
NL_HD float nl_swiglu_f(float g, float u) { return g * nl_sigmoidf(g) * u; }
NL_HD float nl_swiglu_dgate(float gy, float g, float u)
{
    float s = nl_sigmoidf(g);
    return gy * u * (s * (1.0f + g * (1.0f - s)));
}
NL_HD float nl_swiglu_dup(float gy, float g) { return gy * (g * nl_sigmoidf(g)); }

/* f(x) of a unary op (NL_OP_EXP ... NL_OP_QUICK_GELU). */
NL_HD float nl_unary_f(int op, float x)
{
    switch (op) {
    case NL_OP_EXP: return nl_expf(x);
    case NL_OP_LOG: return logf(x);
    case NL_OP_SQRT: return sqrtf(x);
    case NL_OP_RSQRT: return 1.0f / sqrtf(x);
    case NL_OP_TANH: return tanhf(x);
    case NL_OP_SIGMOID: return nl_sigmoidf(x);
    case NL_OP_RELU: return x > 0.0f ? x : 0.0f;
    case NL_OP_SILU: return x * nl_sigmoidf(x);
    case NL_OP_GELU: return 0.5f * x * (1.0f + erff(x * (float)M_SQRT1_2));
    case NL_OP_GELU_TANH: return 0.5f * x * (1.0f + tanhf(NL_SQRT_2_OVER_PI * (x + NL_GELU_C * x * x * x)));
    case NL_OP_QUICK_GELU: return x * nl_sigmoidf(NL_QUICK_GELU_K * x);
    default: return NAN;
    }
}

/* f'(x) of a unary op; relu'(0) = 0. */
NL_HD float nl_unary_df(int op, float x)
{
    switch (op) {
    case NL_OP_EXP: return nl_expf(x);
    case NL_OP_LOG: return 1.0f / x;
    case NL_OP_SQRT: return 0.5f / sqrtf(x);
    case NL_OP_RSQRT: return -0.5f / (x * sqrtf(x));
    case NL_OP_TANH: { float t = tanhf(x); return 1.0f - t * t; }
    case NL_OP_SIGMOID: { float s = nl_sigmoidf(x); return s * (1.0f - s); }
    case NL_OP_RELU: return x > 0.0f ? 1.0f : 0.0f;
    case NL_OP_SILU: { float s = nl_sigmoidf(x); return s * (1.0f + x * (1.0f - s)); }
    case NL_OP_GELU: {
        float cdf = 0.5f * (1.0f + erff(x * (float)M_SQRT1_2));
        return cdf + x * nl_expf(-0.5f * x * x) * NL_INV_SQRT_2PI;
    }
    case NL_OP_GELU_TANH: {
        float t = tanhf(NL_SQRT_2_OVER_PI * (x + NL_GELU_C * x * x * x));
        float du = NL_SQRT_2_OVER_PI * (1.0f + 3.0f * NL_GELU_C * x * x);
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
    }
    case NL_OP_QUICK_GELU: {
        float s = nl_sigmoidf(NL_QUICK_GELU_K * x);
        return s + NL_QUICK_GELU_K * x * s * (1.0f - s);
    }
    default: return NAN;
    }
}

#endif
