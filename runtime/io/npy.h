/* npy.h — NumPy .npy files of little-endian float32 arrays in C order (the
 * format numpy.save writes and FAISS users read): writing NPY v1.0 with the
 * header padded to a multiple of 64 bytes, reading v1.0/v2.0/v3.0 with every
 * header field checked before anything is allocated. Other dtypes, Fortran
 * order and object arrays are clear errors. Depends on the runtime core and
 * io/atomic.h only (no Guile). */
#ifndef NL_NPY_H
#define NL_NPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

/* Header text limit when reading (v2/v3 store a 32-bit length; numpy itself
 * refuses headers over 10000 bytes by default). */
#define NL_NPY_MAX_HEADER (1u << 20)

/* The parsed header dict {'descr': ..., 'fortran_order': ..., 'shape': (...)}. */
typedef struct nl_npy_header {
    char descr[16];
    bool fortran_order;
    int ndim;
    int64_t shape[NL_MAX_DIMS];
} nl_npy_header;

/* Parse the header dict text (n bytes, the part after the length field):
 * exactly the three keys, any order, Python literal syntax, trailing spaces
 * and one final newline. A shape whose element count overflows 62 bits,
 * more than NL_MAX_DIMS dims, unknown or duplicate keys are NL_ERR_FORMAT.
 * The dtype is not judged here. */
nl_status nl_npy_parse_header(const char *text, size_t n, nl_npy_header *h);

/* Write the f32 array data (ndim <= NL_MAX_DIMS dims, C order) to PATH as
 * NPY v1.0 '<f4', replacing PATH atomically. */
nl_status nl_npy_save_f32(const char *path, int ndim, const int64_t *shape, const float *data);

/* Read PATH: the array must be '<f4' (or '=f4'), C order, and the file must
 * hold exactly its bytes after the header (NL_ERR_FORMAT naming what is
 * wrong: magic, version, header length, dtype, order, truncated or trailing
 * data). *out is a new contiguous f32 CPU tensor. */
nl_status nl_npy_load_f32(nl_tensor **out, const char *path);

#endif
