/* safetensors.h — read (mmap, fully validated on open) and write (atomic
 * temp-file + rename) HF safetensors files: an 8-byte little-endian header
 * length N, N bytes of JSON, then the data buffer.
 * Owns: nl_safetensors. Depends on the runtime core only (no Guile). */
#ifndef NL_SAFETENSORS_H
#define NL_SAFETENSORS_H

#include <stdint.h>

#include "tensor.h"

typedef struct nl_safetensors nl_safetensors;

/* Map PATH read-only and validate the header and every range (NL_ERR_FORMAT
 * for malformed contents, NL_ERR_IO for OS errors). */
nl_status nl_safetensors_open(nl_safetensors **out, const char *path);
void nl_safetensors_close(nl_safetensors *f); /* NULL allowed */

/* Tensors in the order the header lists them. */
int nl_safetensors_count(const nl_safetensors *f);
const char *nl_safetensors_name(const nl_safetensors *f, int i); /* NULL when out of range */
int nl_safetensors_find(const nl_safetensors *f, const char *name); /* index or -1 */
/* Stored dtype (BOOL reports NL_U8), rank and dims (shape holds NL_MAX_DIMS). */
nl_status nl_safetensors_shape(const nl_safetensors *f, int i, nl_dtype *dtype, int *ndim, int64_t *shape);
/* Value of a "__metadata__" key, or NULL. Owned by f. */
const char *nl_safetensors_metadata(const nl_safetensors *f, const char *key);
int nl_safetensors_metadata_count(const nl_safetensors *f);
const char *nl_safetensors_metadata_key(const nl_safetensors *f, int i); /* NULL when out of range */

/* A new contiguous tensor of dtype `want` on `dev` with the values of NAME. */
nl_status nl_safetensors_load(nl_tensor **out, nl_safetensors *f, const char *name,
                              nl_dtype want, nl_device dev);

/* Write n tensors (any layout/device) under names, in order, plus n_meta
 * metadata pairs meta_kv[2k] -> meta_kv[2k+1]. PATH is replaced atomically:
 * on any error it is left untouched. */
nl_status nl_safetensors_save(const char *path, int n, const char *const *names,
                              nl_tensor *const *tensors, int n_meta, const char *const *meta_kv);

#endif
