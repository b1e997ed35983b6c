/* formulas.h — the scalar formulas shared by every backend: the unary
 * activations and their derivatives, in f32. The C compiler builds them into
 * kernels/cpu and nvcc into kernels/cuda, so the devices cannot drift apart.
 * Depends on ops.def (the op enum) and <math.h> only. */
#ifndef NL_FORMULAS_H
#define NL_FORMULAS_H

#include <math.h>

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

NL_HD float nl_sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* f(x) of a unary op (NL_OP_EXP ... NL_OP_QUICK_GELU). */
NL_HD float nl_unary_f(int op, float x)
{
    switch (op) {
    case NL_OP_EXP: return expf(x);
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
    case NL_OP_EXP: return expf(x);
    case NL_OP_LOG: return 1.0f / x;
    case NL_OP_SQRT: return 0.5f / sqrtf(x);
    case NL_OP_RSQRT: return -0.5f / (x * sqrtf(x));
    case NL_OP_TANH: { float t = tanhf(x); return 1.0f - t * t; }
    case NL_OP_SIGMOID: { float s = nl_sigmoidf(x); return s * (1.0f - s); }
    case NL_OP_RELU: return x > 0.0f ? 1.0f : 0.0f;
    case NL_OP_SILU: { float s = nl_sigmoidf(x); return s * (1.0f + x * (1.0f - s)); }
    case NL_OP_GELU: {
        float cdf = 0.5f * (1.0f + erff(x * (float)M_SQRT1_2));
        return cdf + x * expf(-0.5f * x * x) * NL_INV_SQRT_2PI;
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
