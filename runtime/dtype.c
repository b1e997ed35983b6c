/* dtype.c — dtype table and scalar conversions (bf16 and IEEE half by bit manipulation). */
#include "dtype.h"

#include <math.h>
#include <string.h>

static const struct { const char *name; size_t size; int is_float; } table[NL_DTYPE_COUNT] = {
    [NL_F32] = {"f32", 4, 1}, [NL_BF16] = {"bf16", 2, 1}, [NL_F16] = {"f16", 2, 1},
    [NL_I32] = {"i32", 4, 0}, [NL_I64] = {"i64", 8, 0},   [NL_U8] = {"u8", 1, 0},
};

size_t nl_dtype_size(nl_dtype t) { return (unsigned)t < NL_DTYPE_COUNT ? table[t].size : 0; }
const char *nl_dtype_name(nl_dtype t) { return (unsigned)t < NL_DTYPE_COUNT ? table[t].name : "?"; }
int nl_dtype_is_float(nl_dtype t) { return (unsigned)t < NL_DTYPE_COUNT && table[t].is_float; }

int nl_dtype_from_name(const char *name, nl_dtype *out)
{
    for (int i = 0; i < NL_DTYPE_COUNT; i++)
        if (strcmp(name, table[i].name) == 0) { *out = (nl_dtype)i; return 0; }
    return -1;
}

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

uint16_t nl_f32_to_bf16(float f)
{
    uint32_t u = f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float nl_bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }

uint16_t nl_f32_to_f16(float f)
{
    uint32_t u = f2u(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);          /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);         /* overflow -> Inf */
    if (a < 0x38800000u) {                                           /* subnormal or zero */
        if (a < 0x33000000u) return (uint16_t)sign;                  /* rounds to 0 */
        uint32_t m = (a & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)(a >> 23); /* 14..24 */
        uint32_t r = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = a + 0xfffu + ((a >> 13) & 1u);                       /* round mantissa */
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

float nl_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ffu;
    if (e == 0) {
        float v = ldexpf((float)m, -24);
        return sign ? -v : v;
    }
    if (e == 31) return u2f(sign | 0x7f800000u | (m << 13));
    return u2f(sign | ((e + 112) << 23) | (m << 13));
}

static double load(const void *p, nl_dtype t, size_t i)
{
    switch (t) {
    case NL_F32: return ((const float *)p)[i];
    case NL_BF16: return nl_bf16_to_f32(((const uint16_t *)p)[i]);
    case NL_F16: return nl_f16_to_f32(((const uint16_t *)p)[i]);
    case NL_I32: return ((const int32_t *)p)[i];
    case NL_I64: return (double)((const int64_t *)p)[i];
    case NL_U8: return ((const uint8_t *)p)[i];
    default: return 0;
    }
}

/* Float to integer without undefined behaviour: truncate toward zero, clamp
 * to [lo, hi], NaN -> 0. */
static int64_t clamp_int(double v, double lo, double hi)
{
    if (isnan(v)) return 0;
    if (v <= lo) return (int64_t)lo;
    if (v >= hi) return (int64_t)hi;
    return (int64_t)v;
}

void nl_convert(void *dst, nl_dtype dt, const void *src, nl_dtype st, size_t n)
{
    if (dt == st) { memcpy(dst, src, n * nl_dtype_size(dt)); return; }
    if (dt == NL_I64 && st == NL_I32) {   /* exact path: ids must not pass through double rounding */
        for (size_t i = 0; i < n; i++) ((int64_t *)dst)[i] = ((const int32_t *)src)[i];
        return;
    }
    if (st == NL_I64 && dt != NL_F32 && dt != NL_BF16 && dt != NL_F16) {
        for (size_t i = 0; i < n; i++) {
            int64_t v = ((const int64_t *)src)[i];
            if (dt == NL_I32) ((int32_t *)dst)[i] = (int32_t)v;
            else ((uint8_t *)dst)[i] = (uint8_t)v;
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        double v = load(src, st, i);
        switch (dt) {
        case NL_F32: ((float *)dst)[i] = (float)v; break;
        case NL_BF16: ((uint16_t *)dst)[i] = nl_f32_to_bf16((float)v); break;
        case NL_F16: ((uint16_t *)dst)[i] = nl_f32_to_f16((float)v); break;
        case NL_I32: ((int32_t *)dst)[i] = (int32_t)clamp_int(v, INT32_MIN, INT32_MAX); break;
        case NL_I64: ((int64_t *)dst)[i] = clamp_int(v, -9.2233720368547758e18, 9.2233720368547748e18); break;
        case NL_U8: ((uint8_t *)dst)[i] = (uint8_t)clamp_int(v, 0, 255); break;
        default: break;
        }
    }
}
