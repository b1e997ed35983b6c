/* layers.h — building blocks shared by the decoder, the vision encoder and
 * the Q-Former: head split/merge and multi-head attention that can record
 * its probabilities for probes. Composed from runtime/ops.h only.
 * Shapes: B batch, T/Tq/Tk time, C = NH*HS channels. */
#ifndef NL_LAYERS_H
#define NL_LAYERS_H

#include <stdbool.h>

#include "ops.h"

/* [B,T,NH*HS] -> [B,NH,T,HS] (a permuted view) and back (contiguous). */
nl_status nl_heads_split(nl_tensor **out, nl_tensor *x, int64_t nh);
nl_status nl_heads_merge(nl_tensor **out, nl_tensor *x);

/* What a probe asks the attention layers to keep. When `enabled`, layer l
 * computes its attention from explicit ops (scores, masks, softmax, product)
 * so that probs[l] ([B,NH,Tq,Tk], part of the autograd graph, retain_grad
 * set) also receives dL/dA after backward. When disabled (the default) the
 * fused attention op runs and nothing is kept: no cost. */
typedef struct nl_attn_probe {
    bool enabled;
    int n_layers;       /* length of probs */
    nl_tensor **probs;  /* filled by the forward; caller releases */
    nl_tensor **scores; /* NULL, or (nl_attn_probe_want_scores) the pre-softmax scores S [B,NH,Tq,Tk]:
                         * scaled, additive mask added, masked keys -inf; retain_grad set, so
                         * scores[l]->grad = dL/dS after backward (method §5.2, the LLaMA variant) */
} nl_attn_probe;

nl_status nl_attn_probe_init(nl_attn_probe *p, int n_layers); /* enabled, probs zeroed */
nl_status nl_attn_probe_want_scores(nl_attn_probe *p);         /* after init: record scores too */
void nl_attn_probe_clear(nl_attn_probe *p);                    /* release probs, keep enabled */
void nl_attn_probe_free(nl_attn_probe *p);

/* q [B,NH,Tq,HS], k,v [B,NKV,Tk,HS] -> [B,NH,Tq,HS]. Same semantics as
 * nl_attention (causal offset Tk-Tq, u8 key-padding or f32 additive mask);
 * records into probe->probs[layer] when probe && probe->enabled: with
 * autograd off and no scores wanted, the fused kernel's probabilities (the
 * forward is then exactly the unprobed one); otherwise an explicit
 * matmul/softmax graph whose probabilities (and scores) carry gradients. */
nl_status nl_mha(nl_tensor **out, nl_tensor *q, nl_tensor *k, nl_tensor *v, const nl_attention_opts *o,
                 nl_attn_probe *probe, int layer);

#endif
