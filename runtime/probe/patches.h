/* patches.h — the patch view of the probes (issue 7 item 4): which regions
 * of the image reach the embedding. The read-out's head-mean attention on
 * the NQ visual tokens (one LLM layer) is propagated through the projector
 * (token-wise, so visual token q is Q-Former query q) and the Q-Former's
 * cross-attention (head mean, averaged over the cross-attention layers,
 * CLS key dropped and each query's row renormalised over the patches) onto
 * the ViT patch grid. Depends on probe.h and runtime/models. */
#ifndef NL_PROBE_PATCHES_H
#define NL_PROBE_PATCHES_H

#include "probe.h"

/* For row `row` of batch b (already probed into att by nl_probe_attention
 * with the same model and batch) at LLM layer `layer`:
 *   a_q  = att->row[(row*L + layer)*T' + s + q] / Σ_q' (same)   (uniform if the sum is 0)
 *   c_qp = mean over cross layers and heads of the Q-Former cross-attention
 *          of query q on key 1+p (key 0 is CLIP's CLS), renormalised over p
 *   w_p  = Σ_q a_q c_qp                                          (Σ_p w_p = 1)
 * w gets grid*grid floats (row-major, top row first; the caller's buffer of
 * at least *grid * *grid, ask with w NULL to learn *grid first). The
 * Q-Former runs in eval mode without gradients on b's pixels of that row.
 * A model without visual tokens, a row or layer out of range, or a
 * non-square patch count is NL_ERR_ARG. */
nl_status nl_probe_patches(float *w, int64_t *grid, nl_notellm *m, const nl_notellm_batch *b,
                           const nl_probe_attn_result *att, int64_t row, int layer);

#endif
