/* probe.h — "does my model look at the image at all?": the visual-attention
 * probes of method §5 on a NoteLLM / NoteLLM-2 composite. (1) attention
 * masses from the read-out(s) onto image / text / sink tokens (§5.3.1),
 * (2) gradient × attention saliency S_v, S_t, S_o (§5.2), (3) modality
 * ablation cosines (§5.1). Depends on runtime/models (notellm.h) and
 * runtime/train (losses.h). L layers, NH heads, B notes, T' spliced length. */
#ifndef NL_PROBE_H
#define NL_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "notellm.h"

/* Class of a key position in the spliced sequence (§4.4). */
enum {
    NL_PROBE_TOK_PAD = 0,   /* mask 0 */
    NL_PROBE_TOK_SINK = 1,  /* first real token (position 0 with right padding), unless it is visual */
    NL_PROBE_TOK_TEXT = 2,  /* every other real token, the read-out itself included */
    NL_PROBE_TOK_IMAGE = 3, /* the NQ visual tokens [slot, slot+NQ) */
};

/* ---- 1. attention probe (forward only) -------------------------------------- */

/* Attention from one read-out, per layer and head ([L*NH], index l*NH+h),
 * averaged over the B rows. For each row the softmax row A_{l,h}[t, :] is
 * split by key class: image + text + sink + pad = 1 (pad is 0 in this
 * runtime: padded keys are masked to -inf). Per-token means divide a row's
 * mass by its count of keys of that class with j <= t (image: NQ when the
 * image precedes t; text: visible text keys, t included), then average over
 * rows (a row with no such key contributes 0). */
typedef struct nl_probe_mass {
    double *image, *text, *sink, *pad;   /* sums */
    double *image_tok, *text_tok;        /* per-token means */
} nl_probe_mass;

typedef struct nl_probe_attn_result {
    int n_layers, n_heads;
    int64_t batch, seq, n_image;  /* B, T', NQ */
    nl_probe_mass text;           /* from the text read-out n^m (method §4.5) */
    nl_probe_mass visual;         /* from the visual read-out n^v (mICL; arrays NULL otherwise) */
    bool has_visual;
    int64_t *pos, *vpos, *img_start;   /* [B] spliced read-out positions (vpos NULL without mICL), first visual token */
    uint8_t *kind;                /* [B*T'] NL_PROBE_TOK_* of every key */
    float *row, *vrow;            /* [B*L*T'] head-mean attention row of the (visual) read-out, for display:
                                   * row[(b*L + l)*T' + j] = mean_h A_{l,h}[pos[b], j] */
    nl_tensor *e, *e_v;           /* the embeddings of the probed forward ([B,d], e_v mICL only) */
} nl_probe_attn_result;

/* Forward b through m with every LLM layer's attention recorded (grad mode
 * off, b->train ignored: eval, no dropout, no draws from any generator) and
 * fill r. The model must splice visual tokens (cfg.visual_tokens) and the
 * batch must give <IMG> slots; otherwise NL_ERR_ARG. */
nl_status nl_probe_attention(nl_probe_attn_result *r, nl_notellm *m, const nl_notellm_batch *b);
void nl_probe_attn_free(nl_probe_attn_result *r);
/* Mean over heads of a [L*NH] array at layer l (the §5.3 curve Ā_l). */
double nl_probe_head_mean(const double *a, int n_heads, int layer);

/* ---- 2. saliency probe (method §5.2) ------------------------------------------ */

/* One batch. The loss is L_cl = nl_gcl_loss(e, tau) on the final embedding e
 * only (§5.2 step 2: also for mICL models, whose e_v loss is not used; no
 * CSFT term), so b must be laid out [firsts; seconds] with an even B.
 *   I_l[b,i,j] = | Σ_h A_{l,h}[b,i,j] · ∂L/∂A_{l,h}[b,i,j] |, A post-softmax,
 *   I_l[b,i,i] = 0, NaN -> 0.
 * With t = pos[b] and the image span V = [s, e] inclusive, s = first visual
 * token, e = s + NQ - 1 (basic) or, under mICL, e = vpos[b] + 3 (the visual
 * read-out, <IMG_EMB>, its closing quote and period: §5.2 step 4.5):
 *   S_v = Σ_{j∈V} I[t,j] / |V|
 *   S_t = Σ_{j∉V} I[t,j] / (t - |V|)
 *   S_o = (Σ_{i,j} I[i,j] - Σ_j I[t,j]) / (t(t+1)/2 - t).
 * A span not inside [0, t) or t < 2 is NL_ERR_ARG. The model's gradients are
 * left exactly as they were: each parameter's .grad is set aside before the
 * backward, the gradients the probe produces are dropped, and the old ones
 * put back (same tensors); requires_grad flags are restored too (the token
 * embeddings are made trainable for the pass so a frozen model's attention
 * is still in the graph). Eval mode as for the attention probe. */
typedef struct nl_probe_sal_result {
    int n_layers;
    int64_t batch, seq;
    double loss;               /* L_cl */
    double *per_row;           /* [B*L*3]: (b*L + l)*3 + {0: S_v, 1: S_t, 2: S_o} */
    double *mean;              /* [L*3] mean over rows */
    float *sal;                /* [L*B*T'*T'] I_l, ((l*B + b)*T' + i)*T' + j */
    int64_t *pos, *v_start, *v_end;  /* [B] t and V (spliced positions) */
} nl_probe_sal_result;

nl_status nl_probe_saliency(nl_probe_sal_result *r, nl_notellm *m, const nl_notellm_batch *b);
/* Where A is taken: post-softmax probabilities (the default above, Wang et
 * al. and the Qwen path) or the pre-softmax scores of the upstream LLaMA
 * code (scaled, mask added; masked keys are -inf here, so their A ⊙ dL/dA
 * is NaN and set to 0 like upstream's dtype-min × 0). Everything else
 * (diagonal, spans, S_v/S_t/S_o) is the same. */
typedef enum nl_probe_sal_at { NL_PROBE_POST_SOFTMAX = 0, NL_PROBE_PRE_SOFTMAX = 1 } nl_probe_sal_at;
/* The loss: L_cl (the default above), or for one note and a related one
 * (method §5.3, option b) L = -(1/P) Σ_i cos(e_i, e_{i+P}) over the
 * [firsts; seconds] rows (e is L2-normalised by the head, so cos = e_i·e_j);
 * r->loss is then that mean -cos. */
typedef enum nl_probe_sal_loss { NL_PROBE_LOSS_GCL = 0, NL_PROBE_LOSS_NEG_COS = 1 } nl_probe_sal_loss;
typedef struct nl_probe_sal_opts {
    nl_probe_sal_at at;
    nl_probe_sal_loss loss;
} nl_probe_sal_opts;
nl_status nl_probe_saliency_ex(nl_probe_sal_result *r, nl_notellm *m, const nl_notellm_batch *b,
                               const nl_probe_sal_opts *opts);
void nl_probe_sal_free(nl_probe_sal_result *r);

/* Across batches (§5.2 step 5-6): every row is one sample; the summary is
 * the mean over samples [L*3] and that mean normalised per layer to sum 1
 * over (S_v, S_t, S_o) (a layer summing to 0 stays 0). Zero-initialise the
 * accumulator; the first result fixes L (another L later is NL_ERR_SHAPE). */
typedef struct nl_probe_sal_acc {
    int n_layers;
    int64_t n_samples;
    double *sum;   /* [L*3] */
} nl_probe_sal_acc;

nl_status nl_probe_sal_accumulate(nl_probe_sal_acc *acc, const nl_probe_sal_result *r);
/* mean and/or norm ([L*3] each, caller's buffers, either NULL). No samples: NL_ERR_STATE. */
nl_status nl_probe_sal_summary(const nl_probe_sal_acc *acc, double *mean, double *norm);
void nl_probe_sal_acc_free(nl_probe_sal_acc *acc);

/* ---- 3. modality ablation (method §5.1) --------------------------------------- */

/* Per-note cosines between embeddings of the same notes under the variants
 * full, text-only (image zeroed after normalisation, placeholder and visual
 * tokens kept) and image-only (text fields emptied; the caller builds those
 * prompts), and, when n is even (the [firsts; seconds] pair layout), the
 * in-batch rank of each note's related note under each variant (§5.3.3).
 * Arrays for a missing variant are NULL. */
typedef struct nl_probe_ablation {
    int64_t n;
    double *full_text, *full_image, *text_image;  /* [n] */
    int64_t *rank_full, *rank_text, *rank_image;  /* [n], 1 = the partner is the nearest other note */
} nl_probe_ablation;

/* rank[k] = 1 + the number of other rows j (j != k, j != partner) with
 * cos(e_k, e_j) > cos(e_k, e_partner), partner = k + n/2 or k - n/2, for
 * [n,d] e with n even (else NL_ERR_SHAPE). */
nl_status nl_probe_pair_ranks(int64_t *rank, nl_tensor *e);

/* out[i] = cos(a[i], b[i]) for [n,d] a and b (computed in double; a zero
 * row gives 0). Shapes differ: NL_ERR_SHAPE. */
nl_status nl_probe_cosine_rows(double *out, nl_tensor *a, nl_tensor *b);
/* Fill r from the variants' embeddings (e_full required, the others may be NULL). */
nl_status nl_probe_cosines(nl_probe_ablation *r, nl_tensor *e_full, nl_tensor *e_text, nl_tensor *e_image);
/* Zeros shaped like the preprocessed pixels: the text-only image. */
nl_status nl_probe_zero_pixels(nl_tensor **out, const nl_tensor *pixels);
/* Run the variants (eval, no grad): full = b, text-only = b with zero
 * pixels, image-only = image_only (its own prompts; NULL skips it), and fill
 * r. Needs a model with vision. */
nl_status nl_probe_ablate(nl_probe_ablation *r, nl_notellm *m, const nl_notellm_batch *b,
                          const nl_notellm_batch *image_only);
void nl_probe_ablation_free(nl_probe_ablation *r);

#endif
