/* copy.cu — COPY (any layout and dtype -> any layout and dtype, same shape)
 * and FILL (in place, any layout) on CUDA. Conversions follow nl_convert
 * (runtime/dtype.c) exactly: round-to-nearest-even into bf16/f16, exact
 * i32<->i64 paths, float -> integer truncates toward zero, non-finite -> 0. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda_backend.h"

__device__ static double load_elem(const char *p, int dt, int64_t i)
{
    switch (dt) {
    case NL_F32: return ((const float *)p)[i];
    case NL_BF16: return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    case NL_F16: return __half2float(((const __half *)p)[i]);
    case NL_I32: return ((const int32_t *)p)[i];
    case NL_I64: return (double)((const int64_t *)p)[i];
    case NL_U8: return ((const uint8_t *)p)[i];
    default: return 0;
    }
}

__device__ static void store_elem(char *p, int dt, int64_t i, double v)
{
    bool fin = isfinite(v);
    switch (dt) {
    case NL_F32: ((float *)p)[i] = (float)v; break;
    case NL_BF16: ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn((float)v); break;
    case NL_F16: ((__half *)p)[i] = __float2half_rn((float)v); break;
    case NL_I32: ((int32_t *)p)[i] = fin ? (int32_t)v : 0; break;
    case NL_I64: ((int64_t *)p)[i] = fin ? (int64_t)v : 0; break;
    case NL_U8: ((uint8_t *)p)[i] = fin ? (uint8_t)(int64_t)v : 0; break;
    default: break;
    }
}

/* dst[i] = src[i] converted, with nl_convert's exact integer paths. */
__device__ static void convert_elem(char *dst, int dt, int64_t di, const char *src, int st, int64_t si)
{
    if (st == NL_I32 && dt == NL_I64) {
        ((int64_t *)dst)[di] = ((const int32_t *)src)[si];
    } else if (st == NL_I64 && dt == NL_I32) {
        ((int32_t *)dst)[di] = (int32_t)((const int64_t *)src)[si];
    } else if (st == NL_I64 && dt == NL_U8) {
        ((uint8_t *)dst)[di] = (uint8_t)((const int64_t *)src)[si];
    } else {
        store_elem(dst, dt, di, load_elem(src, st, si));
    }
}

template <typename E>
__global__ static void copy_same(E *dst, nl_cu_layout dl, const E *src, nl_cu_layout sl, int64_t n)
{
    NL_CU_FOR(i, n) dst[nl_cu_offset(dl, i)] = src[nl_cu_offset(sl, i)];
}

__global__ static void copy_convert(char *dst, int dt, nl_cu_layout dl, const char *src, int st, nl_cu_layout sl,
                                    int64_t n)
{
    NL_CU_FOR(i, n) convert_elem(dst, dt, nl_cu_offset(dl, i), src, st, nl_cu_offset(sl, i));
}

template <typename E>
__global__ static void fill_kernel(E *dst, nl_cu_layout dl, E v, int64_t n)
{
    NL_CU_FOR(i, n) dst[nl_cu_offset(dl, i)] = v;
}

/* Copy n elements between two layouts of the same shape on the current device. */
static nl_status launch_copy(void *dst, nl_dtype dt, nl_cu_layout dl, const void *src, nl_dtype st,
                             nl_cu_layout sl, int64_t n)
{
    size_t es = nl_dtype_size(dt);
    unsigned g = nl_cu_blocks(n);
    if (dt == st && dl.contiguous && sl.contiguous) {
        NL_CU_CHECK(cudaMemcpyAsync(dst, src, (size_t)n * es, cudaMemcpyDeviceToDevice, 0));
        return NL_OK;
    }
    if (dt != st)
        copy_convert<<<g, NL_CU_THREADS>>>((char *)dst, dt, dl, (const char *)src, st, sl, n);
    else if (es == 1)
        copy_same<<<g, NL_CU_THREADS>>>((uint8_t *)dst, dl, (const uint8_t *)src, sl, n);
    else if (es == 2)
        copy_same<<<g, NL_CU_THREADS>>>((uint16_t *)dst, dl, (const uint16_t *)src, sl, n);
    else if (es == 4)
        copy_same<<<g, NL_CU_THREADS>>>((uint32_t *)dst, dl, (const uint32_t *)src, sl, n);
    else
        copy_same<<<g, NL_CU_THREADS>>>((uint64_t *)dst, dl, (const uint64_t *)src, sl, n);
    NL_CU_LAUNCHED();
    return NL_OK;
}

/* out[0] <- in[0]: same shape, any layouts, any dtypes. */
static nl_status cu_copy(const nl_op_args *a)
{
    nl_tensor *dst = a->out[0], *src = a->in[0];
    int64_t n = nl_tensor_numel(dst);
    if (n == 0) return NL_OK;
    NL_TRY(nl_cu_set_device(nl_tensor_device(dst).index));
    return launch_copy(nl_tensor_raw_ptr(dst), dst->dtype, nl_cu_layout_of(dst), nl_tensor_raw_ptr(src), src->dtype,
                       nl_cu_layout_of(src), n);
}

/* out[0] <- f[0] everywhere (in place), converted as the CPU kernel does. */
static nl_status cu_fill(const nl_op_args *a)
{
    nl_tensor *t = a->out[0];
    int64_t n = nl_tensor_numel(t);
    if (n == 0) return NL_OK;
    NL_TRY(nl_cu_set_device(nl_tensor_device(t).index));
    uint64_t v = 0; /* the element's bytes, low bytes first */
    if (t->dtype == NL_I64) {
        int64_t x = (int64_t)a->p.f[0];
        memcpy(&v, &x, 8);
    } else {
        float f = (float)a->p.f[0];
        nl_convert(&v, t->dtype, &f, NL_F32, 1);
    }
    void *p = nl_tensor_raw_ptr(t);
    nl_cu_layout l = nl_cu_layout_of(t);
    size_t es = nl_dtype_size(t->dtype);
    unsigned g = nl_cu_blocks(n);
    if (v == 0 && l.contiguous) {
        NL_CU_CHECK(cudaMemsetAsync(p, 0, (size_t)n * es, 0));
        return NL_OK;
    }
    if (es == 1) fill_kernel<<<g, NL_CU_THREADS>>>((uint8_t *)p, l, (uint8_t)v, n);
    else if (es == 2) fill_kernel<<<g, NL_CU_THREADS>>>((uint16_t *)p, l, (uint16_t)v, n);
    else if (es == 4) fill_kernel<<<g, NL_CU_THREADS>>>((uint32_t *)p, l, (uint32_t)v, n);
    else fill_kernel<<<g, NL_CU_THREADS>>>((uint64_t *)p, l, v, n);
    NL_CU_LAUNCHED();
    return NL_OK;
}

void nl_cu_register_copy(nl_kernel_fn *t)
{
    t[NL_OP_COPY] = cu_copy;
    t[NL_OP_FILL] = cu_fill;
}
