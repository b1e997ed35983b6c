/* qformer.h — the Q-Former connector (HF Blip2QFormerModel, transformers 4.28
 * names, query path only) plus its learnable "query_tokens" [1,NQ,C]: BERT
 * post-LN layers with self-attention, cross-attention to the vision tokens
 * on layers i % cross_attention_frequency == 0, and a GELU (erf) FFN.
 * Depends on runtime/ops.h, runtime/nn and runtime/models/model_config.h.
 * Shapes: B batch, NQ queries, Tv vision tokens, C hidden, CE encoder width.
 *
 * Initialisation deviates from NoteLLM-2 on purpose: query_tokens are drawn
 * from N(0, 0.02) (as BLIP-2 does), NOT zeros. With zero queries and no
 * position embedding on the query path every query is identical at init and
 * only dropout breaks the symmetry (method notes §2). */
#ifndef NL_QFORMER_H
#define NL_QFORMER_H

#include <stdbool.h>

#include "model_config.h"
#include "layers.h"
#include "params.h"

typedef struct nl_qformer_attn { /* "<layer>.attention.*" or "<layer>.crossattention.*"; borrowed */
    nl_tensor *q_w, *q_b;          /* attention.query [C,C], [C] */
    nl_tensor *k_w, *k_b;          /* attention.key [C,C] (self) or [C,CE] (cross), [C] */
    nl_tensor *v_w, *v_b;          /* attention.value, as key */
    nl_tensor *o_w, *o_b;          /* output.dense [C,C], [C] */
    nl_tensor *ln_w, *ln_b;        /* output.LayerNorm [C] */
} nl_qformer_attn;

typedef struct nl_qformer_layer {
    nl_qformer_attn self, cross;   /* cross is all NULL when has_cross is false */
    bool has_cross;
    nl_tensor *fc1_w, *fc1_b;      /* intermediate_query.dense [I,C], [I] */
    nl_tensor *fc2_w, *fc2_b;      /* output_query.dense [C,I], [C] */
    nl_tensor *ln_w, *ln_b;        /* output_query.LayerNorm [C] */
} nl_qformer_layer;

typedef struct nl_qformer {
    nl_qformer_config cfg;
    nl_params params;              /* HF names, no file prefix */
    nl_tensor *query_tokens;       /* [1,NQ,C]; borrowed */
    nl_tensor *ln_w, *ln_b;        /* layernorm [C]; borrowed */
    nl_qformer_layer *layers;      /* cfg.num_layers */
} nl_qformer;

/* A model shaped by c on dev. With rng: linear weights and query_tokens
 * N(0, 0.02), biases 0, LayerNorm weights 1, biases 0. With rng NULL every
 * parameter stays zero (to be loaded). */
nl_status nl_qformer_create(nl_qformer **out, const nl_qformer_config *c, nl_device dev, nl_rng *rng);
/* DIR/config.json + DIR's checkpoint (strict: missing, misshapen and
 * unexpected weights are NL_ERR_FORMAT naming the tensor). */
nl_status nl_qformer_load(nl_qformer **out, const char *dir, nl_device dev);
/* DIR/config.json and DIR/model.safetensors; DIR is created if missing. */
nl_status nl_qformer_save(const nl_qformer *m, const char *dir);
void nl_qformer_free(nl_qformer *m); /* NULL allowed */

/* vision [B,Tv,CE] f32 -> *out [B,NQ,C] (last_hidden_state).
 * all_hidden (optional, cfg.num_layers+1 slots): new references to
 * layernorm(query_tokens) expanded to B, then each layer's output.
 * probe (optional, n_layers >= 2*num_layers): layer i's self-attention is
 * recorded at index 2*i and its cross-attention at 2*i+1 (left NULL on
 * layers without cross-attention); probabilities are recorded before
 * attention dropout.
 * dropout_p > 0 (training) applies dropout where HF does (embeddings, the
 * attention probabilities, each sub-layer's dense output before the
 * residual LayerNorm), drawing from rng (NULL = the global generator);
 * dropout_p 0 is eval mode. */
nl_status nl_qformer_forward(nl_tensor **out, nl_qformer *m, nl_tensor *vision, nl_tensor **all_hidden,
                             nl_attn_probe *probe, double dropout_p, nl_rng *rng);
/* The same forward with row-keyed dropout masks (training with gradient
 * caching): row i of the batch is row row0 + i of the whole batch, and its
 * masks depend only on (seed, row0 + i), so any split of a batch into
 * chunks gives the masks of the whole batch (nl_dropout_rows, one seed per
 * dropout site). */
nl_status nl_qformer_forward_rows(nl_tensor **out, nl_qformer *m, nl_tensor *vision, double dropout_p, uint64_t seed,
                                  int64_t row0);

#endif
