/* embfile.h — note-embedding tables on disk: an [N d] f32 matrix of unit
 * rows and the N note ids (strings, not dataset indices, so a file outlives
 * the dataset's row order). Two formats, chosen by the file name:
 *   X.safetensors  tensor "embeddings" [N d] F32; __metadata__ "format":
 *                  "notellm-embeddings" and "note_ids": a JSON array of the
 *                  N id strings (one self-contained file);
 *   X.npy          NPY v1.0 '<f4' C order (numpy.load / faiss), plus the
 *                  ids in X.ids.txt next to it, one per line (UTF-8, '\n').
 * Both save and load check that the rows have unit L2 norm (|norm - 1| <=
 * NL_EMB_NORM_TOL) and that the ids are non-empty, unique, valid UTF-8 and
 * free of '\r' / '\n'. Depends on the runtime core, io/ (safetensors, npy,
 * atomic) and cJSON; no Guile. */
#ifndef NL_EMBFILE_H
#define NL_EMBFILE_H

#include <stdint.h>

#include "tensor.h"

#define NL_EMB_NORM_TOL 1e-3

typedef enum nl_emb_format { NL_EMB_SAFETENSORS, NL_EMB_NPY } nl_emb_format;

/* The format of PATH by its extension (".safetensors" or ".npy");
 * NL_ERR_ARG otherwise. */
nl_status nl_emb_format_of(const char *path, nl_emb_format *fmt);
/* The ids file of an .npy path: "X.npy" -> "X.ids.txt" (malloc'ed). */
nl_status nl_emb_ids_path(const char *npy_path, char **out);

/* Row norms within NL_EMB_NORM_TOL of 1 (and finite); NL_ERR_FORMAT naming
 * the first bad row and its norm otherwise. `who` prefixes the message. */
nl_status nl_emb_check_unit(const float *e, int64_t n, int64_t d, const char *who);
/* ids[0..n) non-NULL, non-empty, valid UTF-8, without '\r' or '\n', unique
 * (NL_ERR_ARG naming the first offender). */
nl_status nl_emb_check_ids(const char *const *ids, int64_t n, const char *who);

/* Write emb (any f32-convertible tensor [n d], any layout/device) with its
 * n ids. The .safetensors file is replaced atomically; for .npy the ids file
 * is written first, then the .npy (each atomically). */
nl_status nl_emb_save(const char *path, const nl_tensor *emb, const char *const *ids, int64_t n);

/* Read a file written by nl_emb_save (or by numpy + a text file): *emb a new
 * f32 CPU tensor [n d], *ids n malloc'ed strings (nl_emb_ids_free). The id
 * count must equal the row count. F16/BF16 safetensors are converted. */
nl_status nl_emb_load(const char *path, nl_tensor **emb, char ***ids, int64_t *n);
void nl_emb_ids_free(char **ids, int64_t n); /* NULL allowed */

#endif
