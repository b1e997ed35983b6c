/* losses.h — the NoteLLM / NoteLLM-2 training losses (method notes §3.5,
 * §3.6, §4.7): the in-batch generative-contrastive loss (GCL), the CSFT
 * token-mean LM loss, their combinations, and the differentiable read-out of
 * one hidden state per row. Composed from runtime/ops.h only (no kernels).
 * Shapes: N pairs (2N rows), d embedding width, B batch, T time, C channels,
 * V vocabulary. Every result is a new reference in *out / *loss. */
#ifndef NL_LOSSES_H
#define NL_LOSSES_H

#include <stdbool.h>
#include <stdint.h>

#include "ops.h"

/* Label value that CSFT leaves unsupervised (HF convention). */
#define NL_IGNORE_INDEX (-100)

/* GCL / NT-Xent loss (§3.5). emb [2N,d] f32, already L2-normalised, laid out
 * [firsts; seconds]; tau: one element (0-d or [1]), the learnable log scale.
 *   s = exp(tau) * emb emb^T, diagonal masked to -inf;
 *   target of row k = k+N (k < N) or k-N (k >= N);
 *   loss = mean over all 2N rows of cross-entropy(s[k], target[k]) (0-d).
 * Gradients flow into emb and tau. Deliberate difference from upstream,
 * which subtracts 1e12 from the diagonal cosine before scaling: here the
 * diagonal is exactly -inf, so its softmax weight is exactly 0 for any tau
 * (upstream's is only ~exp(-1e12*exp(tau)), i.e. 0 in practice) and its
 * gradient is exactly 0. An odd or zero row count, or a 2-d emb that is not
 * [rows,d], is NL_ERR_SHAPE; tau with numel != 1 is NL_ERR_SHAPE. */
nl_status nl_gcl_loss(nl_tensor **loss, nl_tensor *emb, nl_tensor *tau);

/* CSFT generation loss (§3.6). hidden [B,T,C] f32 (the LLM's last hidden
 * states), lm_head [V,C] (the LM head's weight; NULL: hidden already holds
 * the logits, C = V), labels [B,T] i64/i32 (NL_IGNORE_INDEX = not
 * supervised; labels live on the host or on any device and are read back).
 * Position t predicts labels[:, t+1] (the shift happens inside: the last
 * position of every row is never supervised), and the LM head is applied
 * only at the positions that predict a supervised label — the same loss as
 * full logits at a fraction of the cost. The loss is the mean over all
 * supervised tokens of the batch (token-mean), 0-d. No supervised token:
 * loss 0 and a zero gradient. A label outside [0, V) other than
 * NL_IGNORE_INDEX is NL_ERR_ARG. */
nl_status nl_gen_loss(nl_tensor **loss, nl_tensor *hidden, nl_tensor *lm_head, nl_tensor *labels);

/* NoteLLM total loss (§3.6). contrastive true:  (l_cl + alpha*l_gen)/(1+alpha)
 * (alpha 0 gives l_cl; l_gen may then be NULL: "w/o CSFT"). contrastive false
 * ("w/o GCL"): alpha*l_gen, l_cl ignored (may be NULL). alpha >= 0, else
 * NL_ERR_ARG; a needed loss that is NULL is NL_ERR_ARG. 0-d inputs. */
nl_status nl_csft_loss(nl_tensor **loss, nl_tensor *l_cl, nl_tensor *l_gen, double alpha, bool contrastive);

/* NoteLLM-2 mICL loss (§4.7): (w_t*l_m + w_v*l_v)/(w_t + w_v); the runs use
 * w_t = 9, w_v = 1. Weights >= 0 with a positive sum, else NL_ERR_ARG. */
nl_status nl_micl_loss(nl_tensor **loss, nl_tensor *l_m, nl_tensor *l_v, double w_t, double w_v);

/* Read-out (§3.4, §4.5): out[b] = hidden[b, pos[b]] for b < B; hidden
 * [B,T,C] f32, pos: B host positions. Differentiable (reshape to [B*T,C] +
 * index-select), so the gradient lands at exactly those positions. A
 * position outside [0,T) is NL_ERR_ARG naming the row and the position. */
nl_status nl_readout(nl_tensor **out, nl_tensor *hidden, const int64_t *pos);

#endif
