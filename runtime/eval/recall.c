/* recall.c — exact Recall@K (method notes §6.1): pair de-duplication, the
 * pool mask, the fused engine and the metrics. The engine runs each query
 * tile through the candidate tiles in index order; each pair gets one sgemm
 * into an O(tile) scratch, then each query row is scanned: candidates
 * beating the ground truth are counted and a per-query top-k min-heap is
 * updated.
 * Depends on the runtime core and the CPU backend's sgemm. */
#include "recall.h"
#include "recall_scan.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../../kernels/cpu/gemm.h"
#include "alloc.h"
#include "runtime.h"

/* Tiles: 512 queries x 1024 candidates, a 2 MB f32 score tile per worker
 * (this machine's L2) that is scanned while still in cache. Each worker
 * takes a query tile and runs it through every candidate tile in index
 * order, so its 512 top-k heaps stay in cache and OpenMP synchronises once
 * per call, not once per candidate tile. With OpenBLAS's SkylakeX sgemm,
 * 512x512 and 512x1024 were best of 256/512/1024 x 512/1024/2048 on
 * 100k x 10k x d128 top-100, 2 threads (a loaded machine: ~10 % noise).
 * Parallelism: the default NL_RECALL_PAR_TILES runs OpenMP over query tiles,
 * one single-threaded sgemm per tile pair. It took 13.8 s against 48.8 s for
 * NL_RECALL_PAR_GEMM (each tile's sgemm split over the threads, then an
 * OpenMP scan: 1000s of fork/joins and small split sgemms) on the same case
 * with the generic sgemm kernel (measured when the split was OpenBLAS's own
 * threading). The scan itself is in recall_scan.c. */
#define DEFAULT_QTILE 512
#define DEFAULT_CTILE 1024

nl_status nl_recall_pairs_dedup(const int64_t *a, const int64_t *b, size_t n, int64_t n_notes,
                                int64_t *query, int64_t *gt, size_t *n_accepted,
                                nl_recall_pairs_stats *stats)
{
    nl_recall_pairs_stats st = {.n_in = n};
    if (n_accepted) *n_accepted = 0;
    if (stats) *stats = st;
    if (n_notes < 0) return nl_error_set(NL_ERR_ARG, "recall dedup: n_notes is negative (%lld)", (long long)n_notes);
    if (n > 0 && (!a || !b || !query || !gt || !n_accepted))
        return nl_error_set(NL_ERR_ARG, "recall dedup: NULL array");
    for (size_t i = 0; i < n; i++) {
        if (a[i] >= n_notes || b[i] >= n_notes)
            return nl_error_set(NL_ERR_ARG, "recall dedup: pair %zu (%lld, %lld) names a row >= n_notes %lld. "
                                "HINT: map unknown notes to -1", i, (long long)a[i], (long long)b[i],
                                (long long)n_notes);
    }
    uint8_t *seen = NULL;
    NL_TRY(nl_host_alloc((size_t)n_notes, (void **)&seen));
    memset(seen, 0, (size_t)n_notes);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t q = a[i], g = b[i];
        if (q < 0 || g < 0) {
            st.n_unknown++;
        } else if (q == g) {
            st.n_self++;
        } else if (seen[q] || seen[g]) {
            st.n_rejected++;
        } else {
            seen[q] = seen[g] = 1;
            query[k] = q;
            gt[k] = g;
            k++;
        }
    }
    nl_host_free(seen, (size_t)n_notes);
    st.n_accepted = k;
    *n_accepted = k;
    if (stats) *stats = st;
    return NL_OK;
}

nl_status nl_recall_pool_mask(int64_t N, const int64_t *query, int64_t nq, uint8_t *in_pool,
                              int64_t *pool_size)
{
    if (N < 0 || nq < 0) return nl_error_set(NL_ERR_ARG, "recall pool: negative size (N %lld, nq %lld)",
                                             (long long)N, (long long)nq);
    if ((N > 0 && !in_pool) || (nq > 0 && !query)) return nl_error_set(NL_ERR_ARG, "recall pool: NULL array");
    for (int64_t i = 0; i < nq; i++)
        if (query[i] < 0 || query[i] >= N)
            return nl_error_set(NL_ERR_ARG, "recall pool: query %lld is row %lld, outside [0, %lld)",
                                (long long)i, (long long)query[i], (long long)N);
    memset(in_pool, 1, (size_t)N);
    for (int64_t i = 0; i < nq; i++) in_pool[query[i]] = 0;
    if (pool_size) {
        int64_t c = 0;
        for (int64_t j = 0; j < N; j++) c += in_pool[j];
        *pool_size = c;
    }
    return NL_OK;
}

/* ---- the engine ---------------------------------------------------------- */

/* One candidate tile: nc pool rows (indices cidx, increasing) whose vectors
 * are at B (row stride d): either inside emb (a contiguous run) or packed. */
typedef struct ctile {
    const float *B;
    const int64_t *cidx;
    int64_t nc;
} ctile;

/* First position p in cidx[0, n) with cidx[p] >= x (cidx increasing). */
static int64_t lower_bound(const int64_t *cidx, int64_t n, int64_t x)
{
    if (n == 0 || cidx[n - 1] < x) return n;
    if (cidx[0] >= x) return 0;
    int64_t lo = 0, hi = n - 1; /* cidx[lo] < x <= cidx[hi] */
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cidx[mid] < x) lo = mid;
        else hi = mid;
    }
    return hi;
}

/* Scan one query's score row against one candidate tile: rank counting
 * (ties before the ground truth's index count, the ground truth itself is
 * skipped) and the top-k heap, candidates offered in index order. */
static void scan_row(nl_recall_span_fn span, const float *s, const ctile *ct, float g, int64_t gtrow,
                     int64_t *rank, int64_t topk, float *hs, int64_t *hi)
{
    int64_t p = lower_bound(ct->cidx, ct->nc, gtrow);
    int64_t c = span(s, ct->cidx, p, g, 1, hs, hi, topk);
    if (p < ct->nc && ct->cidx[p] == gtrow) { /* the ground truth: top-k only */
        if (topk > 0 && s[p] > hs[0]) {
            hs[0] = s[p];
            hi[0] = gtrow;
            nl_recall_heap_sift_down(hs, hi, topk, 0);
        }
        p++;
    }
    *rank += c + span(s + p, ct->cidx + p, ct->nc - p, g, 0, hs, hi, topk);
}

static void pack_rows(float *dst, const float *emb, int64_t d, const int64_t *rows, int64_t n)
{
    for (int64_t i = 0; i < n; i++) memcpy(dst + i * d, emb + rows[i] * d, (size_t)d * sizeof(float));
}

/* C[m,n] = A[m,d] B[n,d]^T */
static void sgemm_nt(const float *A, const float *B, float *C, int64_t m, int64_t n, int64_t d)
{
    nl_cpu_sgemm(0, 1, m, n, d, 1.0f, A, d, B, d, 0.0f, C, n);
}

typedef struct engine {
    const float *emb;
    int64_t N, d, nq, tq, tc, topk;
    const int64_t *query, *gt;
    const uint8_t *in_pool;
    float *gscore;   /* [nq] s(gt) */
    int64_t *rank;   /* [nq] */
    float *hs;       /* [nq, topk] or NULL */
    int64_t *hi;
    nl_recall_span_fn span; /* the scan version for this CPU */
    volatile int *stop;     /* set on interrupt */
} engine;

/* One worker's scratch: the packed query tile, its ground-truth rows, the
 * score tile and a packed candidate tile with its row indices. */
typedef struct worker {
    float *q, *g, *s, *cbuf;
    int64_t *cidx;
} worker;

/* Scores of query tile t against its ground truths: the diagonal of one
 * sgemm of the same form as the candidate tiles (so exact duplicates tie). */
static void tile_gt_scores(const engine *e, int64_t t, float *qbuf, float *gbuf, float *sbuf)
{
    int64_t q0 = t * e->tq, m = e->nq - q0 < e->tq ? e->nq - q0 : e->tq;
    pack_rows(qbuf, e->emb, e->d, e->query + q0, m);
    pack_rows(gbuf, e->emb, e->d, e->gt + q0, m);
    sgemm_nt(qbuf, gbuf, sbuf, m, m, e->d);
    for (int64_t i = 0; i < m; i++) e->gscore[q0 + i] = sbuf[i * m + i];
}

static void tile_scan_rows(const engine *e, const ctile *ct, int64_t q0, int64_t i0, int64_t i1,
                           const float *sbuf)
{
    for (int64_t i = i0; i < i1; i++) {
        int64_t qi = q0 + i;
        scan_row(e->span, sbuf + i * ct->nc, ct, e->gscore[qi], e->gt[qi], &e->rank[qi], e->topk,
                 e->hs ? e->hs + qi * e->topk : NULL, e->hi ? e->hi + qi * e->topk : NULL);
    }
}

/* Final order of each heap: best first (heapsort of a min-heap). */
static void heaps_sort(float *hs, int64_t *hi, int64_t nq, int64_t topk)
{
    for (int64_t q = 0; q < nq; q++) {
        float *s = hs + q * topk;
        int64_t *x = hi + q * topk;
        for (int64_t n = topk - 1; n > 0; n--) {
            float ts = s[0];
            int64_t ti = x[0];
            s[0] = s[n];
            x[0] = x[n];
            s[n] = ts;
            x[n] = ti;
            nl_recall_heap_sift_down(s, x, n, 0);
        }
    }
}

static int threads_now(void)
{
    int n = nl_get_threads();
#ifdef _OPENMP
    if (n < 1) n = omp_get_max_threads();
#endif
    return n < 1 ? 1 : n;
}

/* Next candidate tile starting at row *cursor: up to tc pool rows. Contiguous
 * runs are used in place; otherwise the rows are packed into cbuf. */
static int next_ctile(const float *emb, int64_t N, int64_t d, const uint8_t *in_pool, int64_t tc,
                      int64_t *cursor, int64_t *cidx, float *cbuf, ctile *ct)
{
    int64_t j = *cursor, n = 0;
    while (j < N && n < tc) {
        if (in_pool[j]) cidx[n++] = j;
        j++;
    }
    *cursor = j;
    if (n == 0) return 0;
    ct->cidx = cidx;
    ct->nc = n;
    if (cidx[n - 1] - cidx[0] == n - 1) {
        ct->B = emb + cidx[0] * d;
    } else {
        pack_rows(cbuf, emb, d, cidx, n);
        ct->B = cbuf;
    }
    return 1;
}

/* Query tile t against every candidate tile, in index order: sgemm into the
 * score tile, then the scan of its rows (scan_threads > 1: an OpenMP loop
 * over the rows, for the multi-threaded-sgemm mode). Stops early when the
 * interrupt flag is set. */
static void run_qtile(const engine *e, int64_t t, const worker *w, int scan_threads)
{
    int64_t q0 = t * e->tq, m = e->nq - q0 < e->tq ? e->nq - q0 : e->tq, cursor = 0;
    ctile ct;
    pack_rows(w->q, e->emb, e->d, e->query + q0, m);
    while (!*e->stop && next_ctile(e->emb, e->N, e->d, e->in_pool, e->tc, &cursor, w->cidx, w->cbuf, &ct)) {
        if (nl_interrupt_pending()) {
            *e->stop = 1;
            break;
        }
        sgemm_nt(w->q, ct.B, w->s, m, ct.nc, e->d);
        if (scan_threads > 1) {
#pragma omp parallel for num_threads(scan_threads) schedule(static) if (m > 1)
            for (int64_t i = 0; i < m; i++) tile_scan_rows(e, &ct, q0, i, i + 1, w->s);
        } else {
            tile_scan_rows(e, &ct, q0, 0, m, w->s);
        }
    }
}

nl_status nl_recall_ranks_ex(const float *emb, int64_t N, int64_t d, const int64_t *query,
                             const int64_t *gt, int64_t nq, const uint8_t *in_pool,
                             int64_t *rank_out, int64_t topk, int64_t *top_idx, float *top_score,
                             const nl_recall_opts *opts)
{
    nl_recall_opts o = opts ? *opts : (nl_recall_opts){0};
    int64_t tq = o.query_tile > 0 ? o.query_tile : DEFAULT_QTILE;
    int64_t tc = o.cand_tile > 0 ? o.cand_tile : DEFAULT_CTILE;
    if (N < 0 || d < 1 || nq < 0 || topk < 0)
        return nl_error_set(NL_ERR_ARG, "recall ranks: bad sizes N %lld, d %lld, nq %lld, topk %lld",
                            (long long)N, (long long)d, (long long)nq, (long long)topk);
    if (o.query_tile < 0 || o.cand_tile < 0 || (o.parallel != NL_RECALL_PAR_TILES && o.parallel != NL_RECALL_PAR_GEMM))
        return nl_error_set(NL_ERR_ARG, "recall ranks: bad options (tiles %lld x %lld, parallel %d)",
                            (long long)o.query_tile, (long long)o.cand_tile, (int)o.parallel);
    if (d > INT32_MAX || N > INT32_MAX || tq * tc > INT32_MAX || tq > INT32_MAX / d || tc > INT32_MAX / d)
        return nl_error_set(NL_ERR_ARG, "recall ranks: sizes exceed the BLAS integer range");
    if (nq == 0) return NL_OK;
    if (!emb || !query || !gt || !in_pool || !rank_out)
        return nl_error_set(NL_ERR_ARG, "recall ranks: NULL array");
    for (int64_t i = 0; i < nq; i++) {
        if (query[i] < 0 || query[i] >= N || gt[i] < 0 || gt[i] >= N)
            return nl_error_set(NL_ERR_ARG, "recall ranks: pair %lld (%lld, %lld) outside [0, %lld)",
                                (long long)i, (long long)query[i], (long long)gt[i], (long long)N);
        if (!in_pool[gt[i]])
            return nl_error_set(NL_ERR_ARG, "recall ranks: ground truth %lld of query %lld is not in the pool. "
                                "HINT: de-duplicate the pairs with nl_recall_pairs_dedup",
                                (long long)gt[i], (long long)i);
    }
    if (!top_idx) topk = 0;
    if (topk > 0 && nq > INT64_MAX / topk) return nl_error_set(NL_ERR_OOM, "recall ranks: nq * topk overflows");

    int nth = threads_now();
    int64_t ntiles = (nq + tq - 1) / tq;
    if (o.parallel == NL_RECALL_PAR_TILES && nth > ntiles) nth = (int)ntiles;
    int nscratch = o.parallel == NL_RECALL_PAR_TILES ? nth : 1;
    /* per worker: q, g [tq,d], s [tq, max(tc,tq)], cbuf [tc,d], cidx [tc];
     * shared: gscore [nq] */
    int64_t sw = tq * (tc > tq ? tc : tq);
    size_t per = (size_t)(2 * tq * d + sw + tc * d) * sizeof(float), per_idx = (size_t)tc * sizeof(int64_t);
    size_t b_scr = per * (size_t)nscratch, b_idx = per_idx * (size_t)nscratch, b_g = (size_t)nq * sizeof(float);
    size_t b_hs = top_score || topk == 0 ? 0 : (size_t)(nq * topk) * sizeof(float);
    float *scr = NULL, *gscore = NULL, *hs = NULL;
    int64_t *cidx = NULL;
    nl_status st = nl_host_alloc(b_scr, (void **)&scr);
    if (st == NL_OK) st = nl_host_alloc(b_idx, (void **)&cidx);
    if (st == NL_OK) st = nl_host_alloc(b_g, (void **)&gscore);
    if (st == NL_OK && b_hs) st = nl_host_alloc(b_hs, (void **)&hs);
    if (st != NL_OK) goto done;
    if (topk > 0) {
        if (!hs) hs = top_score;
        for (int64_t i = 0; i < nq * topk; i++) {
            hs[i] = -INFINITY;
            top_idx[i] = -1;
        }
    }
    memset(rank_out, 0, (size_t)nq * sizeof(int64_t));
    volatile int stop = 0;
    engine e = {emb, N, d, nq, tq, tc, topk, query, gt, in_pool, gscore, rank_out, topk ? hs : NULL,
                topk ? top_idx : NULL, nl_recall_scan_select(), &stop};

    int tiles_mode = o.parallel == NL_RECALL_PAR_TILES;

    /* phase 1: ground-truth scores; phase 2: each query tile against every
     * candidate tile in index order (its heaps stay in cache) */
    if (tiles_mode) {
#pragma omp parallel num_threads(nth) if (nth > 1)
        {
#ifdef _OPENMP
            int w = omp_get_thread_num();
#else
            int w = 0;
#endif
            float *qb = scr + (size_t)w * per / sizeof(float);
            worker wk = {qb, qb + tq * d, qb + 2 * tq * d, qb + 2 * tq * d + sw, cidx + (size_t)w * tc};
#pragma omp for schedule(dynamic, 1)
            for (int64_t t = 0; t < ntiles; t++) tile_gt_scores(&e, t, wk.q, wk.g, wk.s);
#pragma omp for schedule(dynamic, 1)
            for (int64_t t = 0; t < ntiles; t++) run_qtile(&e, t, &wk, 1);
        }
    } else {
        worker wk = {scr, scr + tq * d, scr + 2 * tq * d, scr + 2 * tq * d + sw, cidx};
        for (int64_t t = 0; t < ntiles; t++) tile_gt_scores(&e, t, wk.q, wk.g, wk.s);
        for (int64_t t = 0; t < ntiles; t++) run_qtile(&e, t, &wk, nth);
    }
    if (stop) {
        st = nl_error_set(NL_ERR_INTERRUPTED, "recall ranks: interrupted");
        goto done;
    }
    if (topk > 0) heaps_sort(hs, top_idx, nq, topk);
done:
    nl_host_free(scr, b_scr);
    nl_host_free(cidx, b_idx);
    nl_host_free(gscore, b_g);
    if (b_hs) nl_host_free(hs, b_hs);
    return st;
}

nl_status nl_recall_ranks(const float *emb, int64_t N, int64_t d, const int64_t *query,
                          const int64_t *gt, int64_t nq, const uint8_t *in_pool,
                          int64_t *rank_out, int64_t topk, int64_t *top_idx, float *top_score)
{
    return nl_recall_ranks_ex(emb, N, d, query, gt, nq, in_pool, rank_out, topk, top_idx, top_score, NULL);
}

/* ---- metrics ------------------------------------------------------------- */

nl_status nl_recall_metrics(const int64_t *rank, int64_t nq, int64_t pool, nl_recall_result *r)
{
    static const int64_t ks[NL_RECALL_MAX_K] = {10, 20, 50, 100, 1000, 10000, 100000, 1000000};
    if (!r) return nl_error_set(NL_ERR_ARG, "recall metrics: NULL result");
    memset(r, 0, sizeof *r);
    if (nq < 0 || pool < 0)
        return nl_error_set(NL_ERR_ARG, "recall metrics: negative size (nq %lld, pool %lld)", (long long)nq,
                            (long long)pool);
    if (nq > 0 && !rank) return nl_error_set(NL_ERR_ARG, "recall metrics: NULL ranks");
    r->nq = nq;
    r->pool = pool;
    for (int i = 0; i < NL_RECALL_MAX_K; i++)
        if (ks[i] <= pool) r->k[r->nk++] = ks[i];
    int64_t hits[NL_RECALL_MAX_K] = {0};
    double rr = 0.0;
    for (int64_t q = 0; q < nq; q++) {
        if (rank[q] < 0 || rank[q] >= pool)
            return nl_error_set(NL_ERR_ARG, "recall metrics: rank %lld of query %lld outside [0, %lld)",
                                (long long)rank[q], (long long)q, (long long)pool);
        rr += 1.0 / (double)(rank[q] + 1);
        for (int i = 0; i < r->nk; i++) hits[i] += rank[q] < r->k[i];
    }
    double sum = 0.0;
    for (int i = 0; i < r->nk; i++) {
        r->recall[i] = nq ? (double)hits[i] / (double)nq : 0.0;
        if (r->k[i] >= 100 && r->k[i] <= 100000) {
            sum += r->recall[i];
            r->n_mean++;
        }
    }
    r->mrr = nq ? rr / (double)nq : 0.0;
    r->mean_100_100k = r->n_mean ? sum / r->n_mean : NAN;
    return NL_OK;
}
