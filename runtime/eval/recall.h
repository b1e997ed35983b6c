/* recall.h — exact Recall@K evaluation (method notes §6.1): greedy pair
 * de-duplication in file order, the candidate pool, a fused tiled
 * GEMM + rank-counting engine (optional per-query top-k) and the metrics.
 * Memory is O(tiles) plus the outputs, never nq x N. Depends on the runtime
 * core and OpenBLAS only. Indices are rows of the embedding table [N,d]. */
#ifndef NL_RECALL_H
#define NL_RECALL_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct nl_recall_pairs_stats {
    size_t n_in;       /* pairs given */
    size_t n_unknown;  /* skipped: a negative index (a note without embedding) */
    size_t n_self;     /* rejected: q == g (see nl_recall_pairs_dedup) */
    size_t n_rejected; /* rejected: q or g already used by an accepted pair */
    size_t n_accepted;
} nl_recall_pairs_stats;

/* Greedy de-duplication in file order. Pair i is (a[i], b[i]), indices into
 * the embedding table [0, n_notes); a negative index means "unknown note"
 * (callers may also drop such pairs themselves): the pair is skipped and
 * counted. A pair is accepted only if neither note has appeared before, as a
 * query or as a target, in an accepted pair; so every note is used at most
 * once, and a later pair's target can never be an earlier query (every
 * ground truth stays in the pool). Deliberate difference from upstream: a
 * self pair (q == g) is rejected (upstream would accept it with a ground
 * truth that is not in the pool). query/gt receive the accepted pairs in
 * order (capacity n each); *n_accepted their count. stats may be NULL.
 * An index >= n_notes is NL_ERR_ARG. */
nl_status nl_recall_pairs_dedup(const int64_t *a, const int64_t *b, size_t n, int64_t n_notes,
                                int64_t *query, int64_t *gt, size_t *n_accepted,
                                nl_recall_pairs_stats *stats);

/* in_pool[N] = 1 for every row, 0 for the nq query rows; *pool_size gets
 * the number of candidates (may be NULL). Query indices out of range are
 * NL_ERR_ARG. */
nl_status nl_recall_pool_mask(int64_t N, const int64_t *query, int64_t nq, uint8_t *in_pool,
                              int64_t *pool_size);

/* How the engine runs in parallel (see recall.c for the measurements). */
typedef enum nl_recall_parallel {
    NL_RECALL_PAR_TILES = 0, /* OpenMP over query tiles, one single-threaded sgemm each (default) */
    NL_RECALL_PAR_GEMM = 1   /* query tiles in sequence, multi-threaded sgemm, OpenMP over the rows of the scan */
} nl_recall_parallel;

typedef struct nl_recall_opts {
    int64_t query_tile; /* queries per tile; 0 = default (512) */
    int64_t cand_tile;  /* candidates per tile; 0 = default (1024) */
    nl_recall_parallel parallel;
} nl_recall_opts;

/* Ranks of the ground truths. emb [N,d] row-major f32, rows L2-normalised
 * (the dot product is the cosine). For query i (row query[i], ground truth
 * row gt[i]), with s(c) = dot(query, c) as computed by sgemm:
 *   rank = #{c in pool, c != gt : s(c) > s(gt)}
 *        + #{c in pool, c != gt : s(c) == s(gt) and c < gt}
 * i.e. the 0-based position of gt when the pool is sorted by descending
 * score, ties broken by ascending row index (upstream's torch argsort leaves
 * tie order arbitrary; this rule makes it deterministic). s(gt) is the
 * diagonal of an sgemm of the same form (query tile x its ground-truth rows).
 * Scores are f32 sgemm results: OpenBLAS may round the same pair one ulp
 * differently in calls of another shape (edge or small-matrix kernels), so a
 * candidate within ~1e-6 of s(gt) may fall on either side; when every dot
 * product is exact in f32 the ranks are exact (tests/unit/test_recall.c).
 * in_pool[N]: 1 = candidate; gt[i] must be a
 * candidate (NL_ERR_ARG otherwise). rank_out[nq].
 * If topk > 0 and top_idx != NULL: top_idx/top_score [nq,topk] get the best
 * topk candidates per query, best first, same order as the rank rule (score
 * descending, then index ascending); slots beyond the pool size get -1 and
 * -INFINITY. top_score may be NULL. NaN scores never count as beating gt and
 * never enter the top-k. Threads: the runtime knob (nl_set_threads). Polls the
 * interrupt flag between tiles: NL_ERR_INTERRUPTED (outputs undefined).
 * opts may be NULL (defaults). */
nl_status nl_recall_ranks_ex(const float *emb, int64_t N, int64_t d, const int64_t *query,
                             const int64_t *gt, int64_t nq, const uint8_t *in_pool,
                             int64_t *rank_out, int64_t topk, int64_t *top_idx, float *top_score,
                             const nl_recall_opts *opts);
nl_status nl_recall_ranks(const float *emb, int64_t N, int64_t d, const int64_t *query,
                          const int64_t *gt, int64_t nq, const uint8_t *in_pool,
                          int64_t *rank_out, int64_t topk, int64_t *top_idx, float *top_score);

/* The standard Ks of the papers: 10, 20, 50, 100, 1k, 10k, 100k, 1M. */
#define NL_RECALL_MAX_K 8

typedef struct nl_recall_result {
    int64_t nq, pool;
    int nk;                         /* Ks present: those <= pool */
    int64_t k[NL_RECALL_MAX_K];
    double recall[NL_RECALL_MAX_K]; /* fraction of queries with rank < k (a hit rate) */
    double mrr;                     /* mean of 1 / (rank + 1) */
    double mean_100_100k;           /* mean of R@100, R@1k, R@10k, R@100k present; NAN if none */
    int n_mean;                     /* how many of those were present */
} nl_recall_result;

/* Metrics of ranks [nq] over a pool of `pool` candidates. Fractions (the
 * papers print percent). nq == 0 gives zeros; a rank outside [0, pool) is
 * NL_ERR_ARG. */
nl_status nl_recall_metrics(const int64_t *rank, int64_t nq, int64_t pool, nl_recall_result *r);

#endif
