/* gradcache.h — gradient caching for large contrastive batches on small
 * memory (GradCache): embed every note without a graph, take the loss and
 * the embedding gradients on detached copies, then re-run the batch chunk by
 * chunk with the graph and back-propagate the cached gradients. The result
 * is the full-batch gradient of method §3.5–3.6 (GCL + CSFT) and §4.7 (mICL).
 * Shapes: B notes laid out [firsts; seconds], d embedding width. */
#ifndef NL_GRADCACHE_H
#define NL_GRADCACHE_H

#include <stdint.h>

#include "notellm.h"

typedef struct nl_gradcache_out {
    double loss;             /* the full-batch total loss (what nl_notellm_loss reports) */
    double l_cl, l_v, l_gen; /* its parts: GCL on e, GCL on e_v (mICL), token-mean L_gen (CSFT) */
    uint64_t seed;           /* step seed of the per-chunk dropout streams (train batches), else 0 */
    int64_t chunks;          /* number of chunks run */
    nl_tensor *e;            /* [B,d] embeddings, no graph */
    nl_tensor *e_v;          /* [B,d] visual embeddings (mICL) or NULL */
} nl_gradcache_out;

void nl_gradcache_out_clear(nl_gradcache_out *o);

/* The dropout generator of chunk `chunk` of a step with seed `seed`: both
 * forwards of that chunk draw from a copy of it, so their masks agree.
 * Different (seed, chunk) pairs give unrelated streams. */
void nl_gradcache_chunk_rng(nl_rng *r, uint64_t seed, int64_t chunk);

/* Fault injection for tests (per thread, default 0): a nonzero value is
 * XORed into the seed of the re-run's dropout streams only, breaking replay
 * on purpose so a test can show that its comparison would catch it. */
extern _Thread_local uint64_t nl_gradcache_replay_salt;

/* One gradient-cached step: accumulates (+=) into every trainable
 * parameter's .grad the gradient of the full-batch loss of b (the value
 * nl_notellm_loss + nl_backward would give), holding a graph for at most
 * chunk_rows rows at a time. Chunk k covers rows [k·chunk_rows,
 * min((k+1)·chunk_rows, B)).
 *   1. no grad: embed each chunk -> E [B,d] (and E_v under mICL);
 *   2. detached leaves of E, E_v: the contrastive part of the loss
 *      (GCL, mICL weights, 1/(1+alpha) under CSFT) -> dL/dE, dL/dE_v and
 *      directly the gradient of tau;
 *   3. per chunk, with the graph: backward of sum(e·dL/dE) + sum(e_v·dL/dE_v)
 *      + alpha/(1+alpha) · (chunk's supervised tokens / batch's) · L_gen(chunk),
 *      so the chunks' generation terms add up to the batch's token mean.
 * Dropout: when b->train, the step seed is one draw from b->rng (the global
 * generator when NULL) and chunk k uses nl_gradcache_chunk_rng(seed, k) in
 * both forwards (b->rng itself is not used by the forwards). With
 * b->row_dropout the batch's row-keyed masks are used instead (each chunk
 * keeps its rows' global indices, no draw from b->rng, seed 0 in out), so
 * any chunk size gives the masks of the uncached pass. The caller's
 * grad mode is restored. chunk_rows < 1 is NL_ERR_ARG; B odd is the GCL
 * loss's NL_ERR_SHAPE. On error the gradients may be partly accumulated. */
nl_status nl_gradcache_step(nl_notellm *m, const nl_notellm_batch *b, int64_t chunk_rows, nl_gradcache_out *out);

#endif
