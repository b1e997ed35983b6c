/* projector.h — the vision-to-LLM projectors of LLaVA's mm_projector:
 * "linear" (one Linear), "mlp2x_gelu" (Linear, GELU (erf), Linear, named by
 * their nn.Sequential indices 0 and 2) and "identity". Owns their named
 * parameters. Depends on runtime/ops.h and runtime/nn/params.h only.
 * Shapes: ... any leading dims, IN input width, OUT output width. */
#ifndef NL_PROJECTOR_H
#define NL_PROJECTOR_H

#include "params.h"
#include "ops.h"

typedef enum {
    NL_PROJ_IDENTITY = 0,
    NL_PROJ_LINEAR = 1,     /* "weight" [OUT,IN], "bias" [OUT] */
    NL_PROJ_MLP2X_GELU = 2, /* "0.weight" [OUT,IN], "0.bias" [OUT], "2.weight" [OUT,OUT], "2.bias" [OUT] */
} nl_projector_kind;

typedef struct nl_projector {
    nl_projector_kind kind;
    int64_t in_dim, out_dim;
    nl_params params;         /* empty for identity */
    nl_tensor *w0, *b0;       /* first (or only) Linear; borrowed */
    nl_tensor *w2, *b2;       /* second Linear of mlp2x_gelu; borrowed, else NULL */
} nl_projector;

/* mm_projector_type names: "linear", "mlp2x_gelu", "identity" (NL_ERR_ARG
 * naming the supported ones otherwise). */
nl_status nl_projector_kind_parse(nl_projector_kind *out, const char *name);
const char *nl_projector_kind_name(nl_projector_kind k);

/* A projector IN -> OUT on dev. With rng: weights N(0, 0.02) (HF
 * initializer_range), biases 0; rng NULL leaves zeros for loading.
 * identity needs IN == OUT (NL_ERR_ARG). */
nl_status nl_projector_create(nl_projector **out, nl_projector_kind kind, int64_t in_dim, int64_t out_dim,
                              nl_device dev, nl_rng *rng);
void nl_projector_free(nl_projector *m); /* NULL allowed */

/* Fill the parameters from PATH (file or checkpoint directory) under
 * file_prefix (e.g. "model.mm_projector."; NULL or "" for none). Strict
 * within the prefix: missing, misshapen or unexpected weights are
 * NL_ERR_FORMAT naming the tensor. */
nl_status nl_projector_load(nl_projector *m, const char *path, const char *file_prefix);
/* Write the parameters to the safetensors file PATH with name_prefix. */
nl_status nl_projector_save(const nl_projector *m, const char *path, const char *name_prefix);

/* x [...,IN] f32 -> *out [...,OUT]. A last dim other than IN is NL_ERR_SHAPE. */
nl_status nl_projector_forward(nl_tensor **out, nl_projector *m, nl_tensor *x);

#endif
