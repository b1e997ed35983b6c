/* dtype.h — element types, their sizes and names, and bf16/f16 <-> f32 conversion.
 * f32 is the reference compute type on CPU; bf16/f16 are storage formats there. */
#ifndef NL_DTYPE_H
#define NL_DTYPE_H

#include <stddef.h>
#include <stdint.h>

typedef enum nl_dtype {
    NL_F32 = 0, NL_BF16, NL_F16, NL_I32, NL_I64, NL_U8,
    NL_DTYPE_COUNT
} nl_dtype;

size_t nl_dtype_size(nl_dtype t);
const char *nl_dtype_name(nl_dtype t);           /* "f32", "bf16", ... */
int nl_dtype_from_name(const char *name, nl_dtype *out); /* 0 on success */
int nl_dtype_is_float(nl_dtype t);

/* Round-to-nearest-even conversions; NaN stays NaN, overflow gives Inf. */
uint16_t nl_f32_to_bf16(float f);
float nl_bf16_to_f32(uint16_t h);
uint16_t nl_f32_to_f16(float f);
float nl_f16_to_f32(uint16_t h);

/* Convert n elements between any two dtypes (contiguous buffers). Float to
 * integer conversion truncates toward zero and saturates at the integer
 * type's range (NaN gives 0), so no input is undefined behaviour. */
void nl_convert(void *dst, nl_dtype dt, const void *src, nl_dtype st, size_t n);

#endif
