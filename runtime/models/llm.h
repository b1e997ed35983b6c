/* llm.h — the decoder LLM of HF model types `llama` and `qwen2`: token
 * embedding, RMSNorm, RoPE (rotate-half), grouped-query attention with
 * optional QKV bias, SwiGLU, final norm, tied or separate LM head. Forward
 * over right-padded batches (ids or inputs_embeds), backward through the
 * autograd ops, vocabulary resize, greedy generation with a KV cache.
 * Depends on runtime/ops, runtime/nn and runtime/models/model_config only.
 * Shapes: B batch, T time, C hidden, V vocab, L layers. */
#ifndef NL_LLM_H
#define NL_LLM_H

#include <stdbool.h>
#include <stdint.h>

#include "layers.h"
#include "lora.h"
#include "model_config.h"
#include "params.h"
#include "rng.h"

/* The seven projections of a layer, in HF order (index of nl_llm_layer.lora). */
typedef enum nl_llm_proj {
    NL_PROJ_Q, NL_PROJ_K, NL_PROJ_V, NL_PROJ_O, NL_PROJ_GATE, NL_PROJ_UP, NL_PROJ_DOWN, NL_PROJ_COUNT
} nl_llm_proj;

typedef struct nl_llm_layer {
    nl_tensor *q, *k, *v, *o;          /* [NH*HS,C] [NKV*HS,C] [NKV*HS,C] [C,NH*HS] */
    nl_tensor *qb, *kb, *vb;           /* biases or NULL */
    nl_tensor *gate, *up, *down;       /* [I,C] [I,C] [C,I] */
    nl_tensor *in_norm, *post_norm;    /* [C] */
    nl_lora *lora[NL_PROJ_COUNT];      /* optional adapters (NULL = none); tensors owned by lora_params */
} nl_llm_layer;

typedef struct nl_llm {
    nl_llm_config cfg;
    nl_device dev;
    nl_params params;       /* HF names; owns every tensor below */
    nl_tensor *embed;       /* [V,C] model.embed_tokens.weight */
    nl_tensor *norm;        /* [C] model.norm.weight */
    nl_tensor *lm_head;     /* [V,C]; == embed when tied */
    nl_llm_layer *layers;   /* [L] */
    int64_t nonfinite;      /* NaN/Inf values found by the last load (callers warn) */
    nl_params lora_params;  /* LoRA A/B tensors under PEFT names; empty without adapters */
    int lora_rank;          /* 0 without adapters */
    double lora_alpha;
} nl_llm;

/* Random init when rng is given (linear/embedding N(0, 0.02), norms 1, as HF's
 * initializer_range default); all zeros (norms too) otherwise, for loading. */
nl_status nl_llm_create(nl_llm **out, const nl_llm_config *c, nl_device dev, nl_rng *rng);
/* DIR/config.json + DIR/model.safetensors (or a sharded index); strict names. */
nl_status nl_llm_load(nl_llm **out, const char *dir, nl_device dev);
/* DIR/config.json + DIR/model.safetensors, both written atomically; DIR is created. */
nl_status nl_llm_save(const nl_llm *m, const char *dir);
void nl_llm_free(nl_llm *m);

/* Grow the vocabulary to new_v rows (method §3.2): new rows of the input
 * embedding — and of an untied LM head — are the mean of the old rows.
 * Existing rows keep their values; tensors are replaced (old pointers die). */
nl_status nl_llm_resize_vocab(nl_llm *m, int64_t new_v);

/* ---- LoRA adapters (runtime/nn/lora.h) ----
 * Adapters sit on the chosen projections of every layer; the forward (and so
 * generation with the KV cache and attention probes) uses them. Their tensors
 * live in m->lora_params under the names PEFT writes to adapter_model.safetensors,
 * "base_model.model.model.layers.<l>.self_attn.q_proj.lora_A.weight", so
 * m->params keeps only HF names and nl_llm_save writes the unadapted model.
 *
 * nl_llm_add_lora: targets are module names "q_proj" "k_proj" "v_proj" "o_proj"
 * "gate_proj" "up_proj" "down_proj" (duplicates ignored); rank >= 1, finite
 * alpha; scaling = alpha / rank; A ~ U(-1/sqrt(in), 1/sqrt(in)) from rng (the
 * global one when NULL), B = 0. On success every base parameter is frozen
 * (requires_grad false, .grad dropped) so training reaches only the adapters;
 * unfreeze with nl_params_set_trainable(&m->params, "", true). Unknown targets
 * and bad rank/alpha are NL_ERR_ARG; a model that already has adapters is
 * NL_ERR_STATE. On error the model is unchanged. */
nl_status nl_llm_add_lora(nl_llm *m, int rank, double alpha, const char *const *targets, int n_targets, nl_rng *rng);
/* W += scaling * B A for every adapter, then drop the adapters (lora_params
 * emptied). Base parameters stay frozen. No adapters: a no-op. Only an
 * out-of-memory error can stop it midway; some weights are then merged. */
nl_status nl_llm_merge_lora(nl_llm *m);
/* Drop the adapters without merging (base parameters stay frozen). */
void nl_llm_remove_lora(nl_llm *m);
/* DIR/adapter_model.safetensors + DIR/adapter_config.json (PEFT LORA config),
 * written atomically; DIR is created. NL_ERR_STATE without adapters. */
nl_status nl_llm_save_lora(const nl_llm *m, const char *dir);
/* Attach the adapters saved in DIR (rank, alpha and targets from its
 * adapter_config.json; strict names) and freeze the base as nl_llm_add_lora.
 * Malformed or unsupported configs, missing/unexpected tensors and shape
 * mismatches are NL_ERR_FORMAT naming the key or tensor; on error the model
 * is unchanged. NL_ERR_STATE if the model already has adapters. NaN/Inf
 * values in the adapter are counted into m->nonfinite. */
nl_status nl_llm_load_lora(nl_llm *m, const char *dir);

/* KV cache for incremental decoding (batch 1, no padding). */
typedef struct nl_llm_cache {
    int n_layers;
    nl_tensor **k, **v;     /* [1,NKV,len,HS] per layer */
    int64_t len;
} nl_llm_cache;
nl_status nl_llm_cache_init(nl_llm_cache *c, const nl_llm *m);
void nl_llm_cache_free(nl_llm_cache *c);

typedef struct nl_llm_input {
    nl_tensor *ids;          /* [B,T] i64/i32 — or NULL when embeds is given */
    nl_tensor *embeds;       /* [B,T,C] f32 inputs_embeds (e.g. with visual tokens spliced in) */
    nl_tensor *mask;         /* [B,T] nonzero = real token (any int dtype or u8); NULL: all real */
    nl_tensor **all_hidden;  /* optional out, L+1 entries in HF order (see below) */
    nl_attn_probe *probe;    /* optional attention recording */
    nl_llm_cache *cache;     /* optional: positions continue at cache->len, keys/values appended */
    nl_tensor *out_pos;      /* optional i64 [B,n] (host-readable): the last layer runs only at these
                              * positions and hidden is [B,n,C], the rows hidden[b, out_pos[b,j]]
                              * of the full forward (up to rounding); a probe records the last
                              * layer's attention as [B,NH,n,T]; not with cache or all_hidden */
} nl_llm_input;

/* hidden [B,T,C] = final-norm output ([B,n,C] with out_pos); logits [B,T,V]
 * when logits != NULL.
 * all_hidden[0] is the embedding output, all_hidden[l] the output of layer l
 * for 1 <= l < L, all_hidden[L] == hidden (HF output_hidden_states). */
nl_status nl_llm_forward(nl_tensor **hidden, nl_tensor **logits, nl_llm *m, const nl_llm_input *in);
/* ids [...] -> [..., C] (for building inputs_embeds). */
nl_status nl_llm_embed(nl_tensor **out, nl_llm *m, nl_tensor *ids);
/* hidden [..., C] -> logits [..., V]. */
nl_status nl_llm_logits(nl_tensor **out, nl_llm *m, nl_tensor *hidden);

typedef struct nl_gen_opts {
    int max_new_tokens;
    double repetition_penalty; /* 1.0 = off; HF rule: logit<0 ? logit*p : logit/p for seen ids */
    int64_t eos_token_id;      /* stop after emitting it; -1: never stop early */
} nl_gen_opts;
/* Greedy decoding of one prompt with a KV cache, under no-grad. *out holds
 * prompt + new tokens (malloc'ed, *n_out entries). */
nl_status nl_llm_generate(int64_t **out, int64_t *n_out, nl_llm *m, const int64_t *prompt, int64_t n_prompt,
                          const nl_gen_opts *o);

#endif
