/* notellm.h — the NoteLLM and NoteLLM-2 representation models as one
 * composite: a decoder LLM, optionally a CLIP vision encoder, a Q-Former and
 * a projector that turn the image into visual tokens spliced over the
 * prompt's <IMG> slot (method §4.4), and the embedding head (late-fusion
 * gate, reduction, L2, τ). Computes note embeddings and the training loss
 * (GCL, + CSFT for NoteLLM, + mICL for NoteLLM-2). Depends on runtime/models,
 * runtime/nn and runtime/train. Shapes: B notes (= 2P pairs), T tokens, C
 * LLM width, NQ visual tokens, d embedding width. */
#ifndef NL_NOTELLM_H
#define NL_NOTELLM_H

#include <stdbool.h>

#include "head.h"
#include "llm.h"
#include "projector.h"
#include "qformer.h"
#include "vit.h"

typedef struct nl_notellm_config {
    bool vision;          /* NoteLLM-2: an image per note */
    bool visual_tokens;   /* splice the connector's tokens into the LLM input (false: "only late fusion") */
    bool late_fusion;     /* gate the CLIP CLS feature into the embedding (§4.6) */
    bool micl;            /* second read-out before <IMG_EMB>, loss (w_t·L(e) + w_v·L(e_v))/(w_t+w_v) */
    double w_t, w_v;      /* mICL weights, default 9 : 1 */
    bool csft;            /* NoteLLM: add the generation loss, (L_cl + alpha·L_gen)/(1+alpha) */
    bool gcl;             /* the contrastive loss L_cl (default); false ("w/o GCL", needs csft, no mICL):
                           * the loss is alpha·L_gen alone and L_cl is only reported */
    double alpha;         /* default 0.01 */
    int64_t dim;          /* reduction width d, default 64 */
    bool freeze_vision;   /* §4.8: the vision encoder runs without gradients (default) */
    double qformer_dropout; /* Q-Former dropout in training batches (batch.train), default 0.1 as HF's */
} nl_notellm_config;

/* Defaults of method §3.7 / §4.9 for text-only NoteLLM (vision false, csft
 * true) or NoteLLM-2 (vision, visual tokens, late fusion and mICL true). */
void nl_notellm_config_defaults(nl_notellm_config *c, bool notellm2);

typedef struct nl_notellm {
    nl_notellm_config cfg;
    nl_llm *llm;              /* owned */
    nl_vit *vit;              /* owned; NULL without vision */
    nl_qformer *qformer;      /* owned; NULL without visual tokens */
    nl_projector *projector;  /* owned; Q-Former width -> C; NULL without visual tokens */
    nl_head *head;            /* owned */
} nl_notellm;

/* Take ownership of the parts (vit/qformer/projector may be NULL as the
 * configuration allows) and build the head (random init from rng). On error
 * nothing is taken. */
nl_status nl_notellm_assemble(nl_notellm **out, const nl_notellm_config *c, nl_llm *llm, nl_vit *vit,
                              nl_qformer *qformer, nl_projector *projector, nl_rng *rng);
void nl_notellm_free(nl_notellm *m);

/* Every parameter of every part in one list with prefixes "llm.",
 * "vision.", "qformer.", "projector.", "head." (new references), for
 * optimizers and checkpoints. Frozen parts are included (requires_grad
 * off). */
nl_status nl_notellm_params(const nl_notellm *m, nl_params *out);

typedef struct nl_notellm_batch {
    nl_tensor *ids;           /* [B,T] i64 prompt ids (one <IMG> token per row with vision + visual tokens) */
    nl_tensor *mask;          /* [B,T] nonzero = real token; NULL: all real */
    nl_tensor *labels;        /* [B,T] i64, -100 = unsupervised (CSFT only) */
    const int64_t *readout;   /* [B] text read-out positions in ids */
    const int64_t *vreadout;  /* [B] visual read-out positions (mICL) */
    const int64_t *img_slot;  /* [B] position of <IMG> (visual tokens) */
    nl_tensor *pixels;        /* [B,3,S,S] preprocessed images (vision) */
    bool train;               /* training pass: the Q-Former applies cfg.qformer_dropout (false: eval) */
    nl_rng *rng;              /* dropout draws when train (NULL = the global generator); copy the state
                               * before a pass to replay its masks (gradient caching) */
    /* Row-keyed dropout (training runs): when row_dropout, rng is not used;
     * row i's Q-Former masks depend only on (dropout_seed, row0 + i)
     * (nl_qformer_forward_rows), so they do not depend on how the batch is
     * cut into chunks (gradient caching equals the uncached step). */
    bool row_dropout;
    uint64_t dropout_seed;
    int64_t row0;             /* index of row 0 in the whole batch */
} nl_notellm_batch;

typedef struct nl_notellm_out {
    nl_tensor *e;       /* [B,d] note embeddings (from n^m) */
    nl_tensor *e_v;     /* [B,d] visual embeddings (mICL) or NULL */
    nl_tensor *loss;    /* 0-d total loss (nl_notellm_loss only) */
    double l_cl, l_v, l_gen; /* parts of the loss, for logging */
} nl_notellm_out;
void nl_notellm_out_clear(nl_notellm_out *o);

/* Visual tokens the LLM sees per note: NQ (the Q-Former's query count) with
 * visual tokens, else 0. */
int64_t nl_notellm_num_visual_tokens(const nl_notellm *m);
/* Map B positions of the prompt ids to the sequence the LLM sees: with
 * visual tokens (slot non-NULL) row b's image occupies [slot[b], slot[b]+NQ)
 * and every position after slot[b] moves by NQ-1; slot NULL copies pos.
 * The rule forward() uses for the read-outs (and the attention probes). */
void nl_notellm_spliced_positions(int64_t *out, const int64_t *pos, const int64_t *slot, int64_t B, int64_t NQ);

/* Embeddings of a batch (the graph is kept when grad mode is on). probe
 * (optional) records the LLM's attention, positions after splicing. */
nl_status nl_notellm_embed(nl_notellm_out *out, nl_notellm *m, const nl_notellm_batch *b, nl_attn_probe *probe);
/* Embeddings and the training loss of a batch laid out [firsts; seconds]. */
nl_status nl_notellm_loss(nl_notellm_out *out, nl_notellm *m, const nl_notellm_batch *b);
/* Embeddings and, with CSFT, the generation loss alone (token mean over the
 * supervised tokens of these rows) in out->loss and out->l_gen; out->loss is
 * NULL without CSFT. Any row count (no contrastive term): the per-chunk pass
 * of gradient caching (runtime/train/gradcache.h). */
nl_status nl_notellm_embed_gen(nl_notellm_out *out, nl_notellm *m, const nl_notellm_batch *b);

#endif
