/* params.h — a model's named parameters in HF naming order: registration,
 * lookup, counting, freezing, and moving them in and out of safetensors
 * (one file, a directory with model.safetensors, or a sharded checkpoint
 * through model.safetensors.index.json). Depends on the runtime core and
 * runtime/io only. */
#ifndef NL_PARAMS_H
#define NL_PARAMS_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor.h"

typedef struct nl_param {
    char *name;    /* HF name, e.g. "model.layers.0.self_attn.q_proj.weight" */
    nl_tensor *t;  /* leaf tensor owned by the list; requires_grad = trainable */
} nl_param;

typedef struct nl_params {
    int n, cap;
    nl_param *v;
} nl_params;

/* Register a new f32 parameter of the given shape on dev, zero-filled, with
 * requires_grad set; *out (optional) is a borrowed pointer. Duplicate names
 * are NL_ERR_ARG. */
nl_status nl_params_new(nl_params *p, nl_tensor **out, const char *name, int ndim,
                        const int64_t *shape, nl_device dev);
/* Register an existing tensor t under NAME (the list takes a reference):
 * used to gather the parameters of several modules into one list. */
nl_status nl_params_add(nl_params *p, const char *name, nl_tensor *t);
void nl_params_free(nl_params *p); /* releases every tensor; p may be reused after */

nl_tensor *nl_params_get(const nl_params *p, const char *name); /* borrowed, NULL if absent */
/* Swap in t (the list takes a reference) for NAME's tensor, which is released
 * (used by vocabulary resizing). NL_ERR_ARG if absent. */
nl_status nl_params_replace(nl_params *p, const char *name, nl_tensor *t);
int64_t nl_params_numel(const nl_params *p, bool trainable_only);

/* Set requires_grad on every parameter whose name starts with prefix ("" =
 * all); returns how many matched. Freezing also drops their .grad. */
int nl_params_set_trainable(nl_params *p, const char *prefix, bool trainable);

/* Fill every parameter from PATH: a .safetensors file, or a directory holding
 * model.safetensors or model.safetensors.index.json (+ shards). Names in the
 * files are matched after stripping `file_prefix` (may be NULL or "").
 * Missing weights, shape mismatches and (when strict) unexpected names are
 * NL_ERR_FORMAT errors naming the tensors; an index naming a missing shard
 * or one tensor twice too. Buffers that checkpoints carry (rotary
 * `inv_freq`, `embeddings.position_ids`) are skipped. NaN/Inf values are counted into *nonfinite
 * (optional) for the caller to warn about. Values are converted to f32. */
nl_status nl_params_load(nl_params *p, const char *path, const char *file_prefix, bool strict,
                         int64_t *nonfinite);

/* Write all parameters (prefixed with name_prefix, may be NULL) to one
 * safetensors file, atomically, with optional metadata pairs. */
nl_status nl_params_save(const nl_params *p, const char *path, const char *name_prefix,
                         int n_meta, const char *const *meta_kv);

#endif
