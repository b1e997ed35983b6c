/* test_recall.c — the Recall@K engine (runtime/eval/recall.c): pair
 * de-duplication and the pool on hand-made cases, ranks and top-k on exact
 * (dyadic) embeddings with ties and duplicates, the fused engine against a
 * naive full-matrix sort on random data of several shapes, tile sizes,
 * parallel modes and thread counts, the metrics on a hand-computed example,
 * bad arguments, and the interrupt flag. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "harness.h"
#include "recall.h"
#include "recall_scan.h"
#include "runtime.h"

/* ---- naive reference: one full [nq,N] sgemm, then a sort per query ------ */

typedef struct sc {
    float s;
    int64_t i;
} sc;

static int by_score_then_index(const void *pa, const void *pb)
{
    const sc *a = pa, *b = pb;
    if (a->s != b->s) return a->s > b->s ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

/* rank[nq]; top_idx/top_score [nq,topk] (-1 / -inf beyond the pool);
 * band[q] = candidates c != gt with |s(c) - s(gt)| <= TIE_TOL (near-ties
 * whose order may flip when another sgemm shape rounds differently). */
#define TIE_TOL 1e-5f
static void naive_ranks(const float *emb, int64_t N, int64_t d, const int64_t *query, const int64_t *gt,
                        int64_t nq, const uint8_t *in_pool, int64_t *rank, int64_t topk, int64_t *top_idx,
                        float *top_score, int64_t *band)
{
    float *Q = malloc((size_t)(nq * d) * sizeof(float));
    float *S = malloc((size_t)(nq * N) * sizeof(float));
    sc *v = malloc((size_t)N * sizeof(sc));
    for (int64_t q = 0; q < nq; q++) memcpy(Q + q * d, emb + query[q] * d, (size_t)d * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)N, (int)d, 1.0f, Q, (int)d, emb, (int)d,
                0.0f, S, (int)N);
    for (int64_t q = 0; q < nq; q++) {
        int64_t n = 0;
        for (int64_t j = 0; j < N; j++)
            if (in_pool[j]) v[n++] = (sc){S[q * N + j], j};
        qsort(v, (size_t)n, sizeof(sc), by_score_then_index);
        rank[q] = -1;
        band[q] = 0;
        float g = S[q * N + gt[q]];
        for (int64_t j = 0; j < n; j++) {
            if (v[j].i == gt[q]) rank[q] = j;
            else band[q] += fabsf(v[j].s - g) <= TIE_TOL;
        }
        for (int64_t j = 0; j < topk; j++) {
            top_idx[q * topk + j] = j < n ? v[j].i : -1;
            top_score[q * topk + j] = j < n ? v[j].s : -INFINITY;
        }
    }
    free(Q);
    free(S);
    free(v);
}

/* ---- random data ---------------------------------------------------------- */

static uint64_t rs = 88172645463325252ull;
static uint64_t xr(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}
static double unif(void) { return (double)(xr() >> 11) / 9007199254740992.0; }

static float *random_unit(int64_t N, int64_t d)
{
    float *e = malloc((size_t)(N * d) * sizeof(float));
    for (int64_t i = 0; i < N; i++) {
        double nn = 0;
        for (int64_t k = 0; k < d; k++) {
            double x = unif() + unif() + unif() - 1.5;
            e[i * d + k] = (float)x;
            nn += x * x;
        }
        double inv = nn > 0 ? 1.0 / sqrt(nn) : 1.0;
        for (int64_t k = 0; k < d; k++) e[i * d + k] = (float)(e[i * d + k] * inv);
    }
    return e;
}

static nl_recall_opts opt(int64_t tq, int64_t tc, nl_recall_parallel p)
{
    return (nl_recall_opts){.query_tile = tq, .cand_tile = tc, .parallel = p};
}

/* Fused vs naive. exact (grid data: every score exact in f32 whatever the
 * summation order): ranks and top-k lists (indices and scores) must be
 * identical. Otherwise (real-valued unit vectors) OpenBLAS may round a
 * score differently for another tile shape, so a rank may differ only by
 * near-ties (|r0 - r1| <= band) and the top-k scores by <= TIE_TOL; the
 * number of differing top-k index slots is printed. */
static void compare_case(const char *what, const float *emb, int64_t N, int64_t d, const int64_t *query,
                         const int64_t *gt, int64_t nq, const uint8_t *in_pool, int64_t topk,
                         const nl_recall_opts *o, int exact)
{
    int64_t *r0 = malloc((size_t)nq * sizeof(int64_t)), *r1 = malloc((size_t)nq * sizeof(int64_t));
    int64_t *band = malloc((size_t)nq * sizeof(int64_t));
    int64_t *i0 = malloc((size_t)(nq * topk + 1) * sizeof(int64_t)), *i1 = malloc((size_t)(nq * topk + 1) * sizeof(int64_t));
    float *s0 = malloc((size_t)(nq * topk + 1) * sizeof(float)), *s1 = malloc((size_t)(nq * topk + 1) * sizeof(float));
    naive_ranks(emb, N, d, query, gt, nq, in_pool, r0, topk, i0, s0, band);
    nl_status st = nl_recall_ranks_ex(emb, N, d, query, gt, nq, in_pool, r1, topk, topk ? i1 : NULL, s1, o);
    if (h_ok(st, what)) {
        int64_t bad_r = 0, diff_r = 0, bad_t = 0, diff_t = 0, first = -1;
        for (int64_t q = 0; q < nq; q++) {
            int64_t dr = r0[q] > r1[q] ? r0[q] - r1[q] : r1[q] - r0[q];
            diff_r += dr != 0;
            if (exact ? dr != 0 : dr > band[q]) {
                bad_r++;
                if (first < 0) first = q;
            }
        }
        for (int64_t k = 0; k < nq * topk; k++) {
            diff_t += i0[k] != i1[k];
            if (exact ? (i0[k] != i1[k] || s0[k] != s1[k]) : !(fabsf(s0[k] - s1[k]) <= TIE_TOL || s0[k] == s1[k]))
                bad_t++;
        }
        h_check(bad_r == 0, "%s: ranks %s the naive sort (%lld of %lld differ%s; first bad q %lld: %lld vs %lld)",
                what, exact ? "equal" : "match (up to near-ties)", (long long)diff_r, (long long)nq,
                exact ? "" : " by near-ties", (long long)first, (long long)(first >= 0 ? r0[first] : 0),
                (long long)(first >= 0 ? r1[first] : 0));
        if (topk)
            h_check(bad_t == 0, "%s: top-%lld %s the naive sort (%lld index slots differ, %lld beyond tolerance)",
                    what, (long long)topk, exact ? "lists equal" : "scores match", (long long)diff_t,
                    (long long)bad_t);
    }
    free(r0);
    free(r1);
    free(band);
    free(i0);
    free(i1);
    free(s0);
    free(s1);
}

/* A random case: N rows, nq disjoint pairs from a permutation; `dups` rows
 * overwritten by copies of ground truths / other rows to force exact ties. */
static void random_case(int64_t N, int64_t d, int64_t nq, int64_t topk, int64_t dups, int grid)
{
    float *emb = random_unit(N, d);
    if (grid) /* k/16, k in [-8, 8]: products are multiples of 2^-8, every partial sum exact */
        for (int64_t i = 0; i < N * d; i++) emb[i] = (float)((int)(xr() % 17) - 8) / 16.0f;
    int64_t *perm = malloc((size_t)N * sizeof(int64_t));
    for (int64_t i = 0; i < N; i++) perm[i] = i;
    for (int64_t i = N - 1; i > 0; i--) {
        int64_t j = (int64_t)(xr() % (uint64_t)(i + 1)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    int64_t *query = malloc((size_t)nq * sizeof(int64_t)), *gt = malloc((size_t)nq * sizeof(int64_t));
    for (int64_t i = 0; i < nq; i++) {
        query[i] = perm[2 * i];
        gt[i] = perm[2 * i + 1];
    }
    for (int64_t k = 0; k < dups; k++) { /* copy a ground truth over some other row */
        int64_t src = gt[xr() % (uint64_t)nq], dst = (int64_t)(xr() % (uint64_t)N);
        memcpy(emb + dst * d, emb + src * d, (size_t)d * sizeof(float));
    }
    uint8_t *pool = malloc((size_t)N);
    int64_t psize = 0;
    h_ok(nl_recall_pool_mask(N, query, nq, pool, &psize), "pool mask");
    char what[160];
    static const struct { int64_t tq, tc; nl_recall_parallel p; } cfg[] = {
        {0, 0, NL_RECALL_PAR_TILES}, {0, 0, NL_RECALL_PAR_GEMM}, {7, 33, NL_RECALL_PAR_TILES},
        {64, 1000, NL_RECALL_PAR_GEMM}, {1, 1, NL_RECALL_PAR_TILES}};
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        if (cfg[c].tc == 1 && N > 400) continue; /* 1x1 tiles: small cases only */
        nl_recall_opts o = opt(cfg[c].tq, cfg[c].tc, cfg[c].p);
        snprintf(what, sizeof what, "%s N %lld d %lld nq %lld top %lld dups %lld tiles %lldx%lld %s",
                 grid ? "grid" : "random", (long long)N, (long long)d, (long long)nq, (long long)topk, (long long)dups,
                 (long long)cfg[c].tq, (long long)cfg[c].tc, cfg[c].p == NL_RECALL_PAR_GEMM ? "gemm" : "tiles");
        compare_case(what, emb, N, d, query, gt, nq, pool, topk, &o, grid);
    }
    free(emb);
    free(perm);
    free(query);
    free(gt);
    free(pool);
}

/* ---- hand-made cases ------------------------------------------------------ */

static void test_dedup(void)
{
    /* (0,1) ok; (2,3) ok; (-1,4) unknown; (4,0) 0 was a query; (5,1) 1 was a
     * target; (6,6) self; (7,8) ok; (8,9) 8 used; (9,7) 7 used; (10,11) ok;
     * (3,12) 3 was a target (a target can never become a later query). */
    const int64_t a[] = {0, 2, -1, 4, 5, 6, 7, 8, 9, 10, 3};
    const int64_t b[] = {1, 3, 4, 0, 1, 6, 8, 9, 7, 11, 12};
    int64_t q[11], g[11];
    size_t n = 0;
    nl_recall_pairs_stats st;
    if (!h_ok(nl_recall_pairs_dedup(a, b, 11, 13, q, g, &n, &st), "dedup")) return;
    const int64_t wq[] = {0, 2, 7, 10}, wg[] = {1, 3, 8, 11};
    int same = n == 4;
    for (size_t i = 0; same && i < 4; i++) same = q[i] == wq[i] && g[i] == wg[i];
    h_check(same, "dedup: accepted (0,1) (2,3) (7,8) (10,11) in file order (got %zu pairs)", n);
    h_check(st.n_in == 11 && st.n_unknown == 1 && st.n_self == 1 && st.n_rejected == 5 && st.n_accepted == 4,
            "dedup stats: in %zu unknown %zu self %zu rejected %zu accepted %zu", st.n_in, st.n_unknown, st.n_self,
            st.n_rejected, st.n_accepted);
    /* the first occurrence wins: (1,0) then (0,1) */
    const int64_t a2[] = {1, 0}, b2[] = {0, 1};
    h_ok(nl_recall_pairs_dedup(a2, b2, 2, 2, q, g, &n, NULL), "dedup reversed");
    h_check(n == 1 && q[0] == 1 && g[0] == 0, "dedup: a note used twice, the second pair is rejected");
    const int64_t bad[] = {13};
    h_expect_error(nl_recall_pairs_dedup(bad, b, 1, 13, q, g, &n, NULL), NL_ERR_ARG, "dedup: row >= n_notes");
    h_ok(nl_recall_pairs_dedup(NULL, NULL, 0, 0, NULL, NULL, &n, NULL), "dedup: no pairs");
    h_check(n == 0, "dedup: no pairs accepted from none");

    uint8_t pool[13];
    int64_t ps = 0;
    h_ok(nl_recall_pool_mask(13, wq, 4, pool, &ps), "pool mask");
    h_check(ps == 9 && !pool[0] && !pool[2] && !pool[7] && !pool[10] && pool[1] && pool[3] && pool[8] && pool[11] &&
                pool[12],
            "pool: every row minus the queries (targets stay), size %lld", (long long)ps);
    const int64_t oob[] = {13};
    h_expect_error(nl_recall_pool_mask(13, oob, 1, pool, NULL), NL_ERR_ARG, "pool: query out of range");
}

/* d = 4, dyadic components: every score is exact whatever the summation order. */
static const float hand_emb[10 * 4] = {
    1, 0, 0, 0,             /* 0 query A */
    .5f, .5f, .5f, .5f,     /* 1 gt of A; duplicate of query B */
    1, 0, 0, 0,             /* 2 duplicate of query A */
    .5f, .5f, .5f, -.5f,    /* 3 */
    0, 1, 0, 0,             /* 4 */
    .5f, -.5f, .5f, .5f,    /* 5 */
    .5f, .5f, .5f, .5f,     /* 6 query B */
    0, 0, 1, 0,             /* 7 gt of B */
    -1, 0, 0, 0,            /* 8 */
    0, 0, 1, 0,             /* 9 duplicate of gt B, larger index */
};

static void test_hand_ranks(void)
{
    const int64_t pa[] = {0, 6, 1}, pb[] = {1, 7, 9}; /* third pair rejected: 1 was a target */
    int64_t q[3], g[3];
    size_t n = 0;
    h_ok(nl_recall_pairs_dedup(pa, pb, 3, 10, q, g, &n, NULL), "hand dedup");
    h_check(n == 2, "hand: two pairs accepted");
    uint8_t pool[10];
    int64_t ps;
    h_ok(nl_recall_pool_mask(10, q, 2, pool, &ps), "hand pool");
    /* A = row 0: pool scores 1:.5 2:1 3:.5 4:0 5:.5 7:0 8:-1 9:0 -> order 2 1 3 5 4 7 9 8, rank 1
     *   (3 and 5 tie with the gt but have larger indices).
     * B = row 6: 1:1 2:.5 3:.5 4:.5 5:.5 7:.5 8:-.5 9:.5 -> order 1 2 3 4 5 7 9 8, rank 5
     *   (2..5 tie with smaller indices and count; 9 is an exact duplicate of the gt after it). */
    const int64_t want_rank[2] = {1, 5};
    const int64_t want_top[2][10] = {{2, 1, 3, 5, 4, 7, 9, 8, -1, -1}, {1, 2, 3, 4, 5, 7, 9, 8, -1, -1}};
    const float want_sc[2][8] = {{1, .5f, .5f, .5f, 0, 0, 0, -1}, {1, .5f, .5f, .5f, .5f, .5f, .5f, -.5f}};
    static const struct { int64_t tq, tc; nl_recall_parallel p; } cfg[] = {
        {0, 0, NL_RECALL_PAR_TILES}, {0, 0, NL_RECALL_PAR_GEMM}, {1, 3, NL_RECALL_PAR_TILES},
        {2, 2, NL_RECALL_PAR_GEMM}, {1, 1, NL_RECALL_PAR_TILES}};
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        nl_recall_opts o = opt(cfg[c].tq, cfg[c].tc, cfg[c].p);
        int64_t rank[2], ti[20];
        float ts[20];
        if (!h_ok(nl_recall_ranks_ex(hand_emb, 10, 4, q, g, 2, pool, rank, 10, ti, ts, &o), "hand ranks")) continue;
        h_check(rank[0] == want_rank[0] && rank[1] == want_rank[1],
                "hand ranks (tiles %lldx%lld): A %lld (want 1), B %lld (want 5)", (long long)cfg[c].tq,
                (long long)cfg[c].tc, (long long)rank[0], (long long)rank[1]);
        int ok = 1;
        for (int qq = 0; qq < 2; qq++)
            for (int k = 0; k < 10; k++) {
                ok &= ti[qq * 10 + k] == want_top[qq][k];
                ok &= k < 8 ? ts[qq * 10 + k] == want_sc[qq][k] : ts[qq * 10 + k] == -INFINITY;
            }
        h_check(ok, "hand top-10 over a pool of 8: sorted, ties by index, padded with -1/-inf (tiles %lldx%lld)",
                (long long)cfg[c].tq, (long long)cfg[c].tc);
    }
    /* without top-k, and top_score NULL */
    int64_t rank[2], ti[6];
    h_ok(nl_recall_ranks(hand_emb, 10, 4, q, g, 2, pool, rank, 0, NULL, NULL), "hand ranks no top-k");
    h_check(rank[0] == 1 && rank[1] == 5, "hand ranks without top-k");
    h_ok(nl_recall_ranks(hand_emb, 10, 4, q, g, 2, pool, rank, 3, ti, NULL), "hand ranks top_score NULL");
    h_check(ti[0] == 2 && ti[1] == 1 && ti[2] == 3 && ti[3] == 1 && ti[4] == 2 && ti[5] == 3,
            "hand top-3 with top_score NULL");

    /* a ground truth outside the pool (only possible without dedup: here
     * B's query row 6 as A's gt) is refused */
    const int64_t g_bad[2] = {6, 7};
    h_expect_error(nl_recall_ranks(hand_emb, 10, 4, q, g_bad, 2, pool, rank, 0, NULL, NULL), NL_ERR_ARG,
                   "ranks: gt not in the pool");
    const int64_t q_oob[2] = {0, 10};
    h_expect_error(nl_recall_ranks(hand_emb, 10, 4, q_oob, g, 2, pool, rank, 0, NULL, NULL), NL_ERR_ARG,
                   "ranks: query out of range");
    h_expect_error(nl_recall_ranks(hand_emb, 10, 0, q, g, 2, pool, rank, 0, NULL, NULL), NL_ERR_ARG,
                   "ranks: d = 0");
    nl_recall_opts badopt = {.parallel = 7};
    h_expect_error(nl_recall_ranks_ex(hand_emb, 10, 4, q, g, 2, pool, rank, 0, NULL, NULL, &badopt), NL_ERR_ARG,
                   "ranks: bad parallel mode");
    h_ok(nl_recall_ranks(hand_emb, 10, 4, q, g, 0, pool, rank, 0, NULL, NULL), "ranks: no queries");
}

static void test_metrics(void)
{
    const int64_t rank[6] = {0, 5, 15, 99, 100, 2000};
    nl_recall_result r;
    if (!h_ok(nl_recall_metrics(rank, 6, 5000, &r), "metrics")) return;
    const int64_t wk[5] = {10, 20, 50, 100, 1000};
    const double wr[5] = {2 / 6., 3 / 6., 3 / 6., 4 / 6., 5 / 6.};
    int ok = r.nk == 5 && r.nq == 6 && r.pool == 5000;
    for (int i = 0; ok && i < 5; i++) ok = r.k[i] == wk[i] && fabs(r.recall[i] - wr[i]) < 1e-12;
    h_check(ok, "metrics: Ks <= pool (10..1000) and R@K = #(rank < K)/nq (nk %d)", r.nk);
    double mrr = (1 + 1 / 6. + 1 / 16. + 1 / 100. + 1 / 101. + 1 / 2001.) / 6;
    h_check(fabs(r.mrr - mrr) < 1e-12, "metrics: MRR %.12f (want %.12f)", r.mrr, mrr);
    h_check(r.n_mean == 2 && fabs(r.mean_100_100k - 0.75) < 1e-12, "metrics: mean of R@100, R@1k = %.6f (n %d)",
            r.mean_100_100k, r.n_mean);
    const int64_t big[1] = {0};
    h_ok(nl_recall_metrics(big, 1, 2000000, &r), "metrics big pool");
    h_check(r.nk == 8 && r.n_mean == 4 && r.mean_100_100k == 1.0 && r.mrr == 1.0,
            "metrics: all 8 Ks and 4 in the mean for a pool of 2M");
    h_ok(nl_recall_metrics(big, 1, 50, &r), "metrics small pool");
    h_check(r.nk == 3 && r.n_mean == 0 && isnan(r.mean_100_100k), "metrics: pool 50 -> R@10,20,50, no mean");
    const int64_t oob[1] = {5000};
    h_expect_error(nl_recall_metrics(oob, 1, 5000, &r), NL_ERR_ARG, "metrics: rank >= pool");
}

static void test_interrupt(void)
{
    int64_t N = 3000, d = 16, nq = 50;
    float *emb = random_unit(N, d);
    int64_t q[50], g[50], rank[50], ti[50 * 5];
    for (int64_t i = 0; i < nq; i++) {
        q[i] = 2 * i;
        g[i] = 2 * i + 1;
    }
    uint8_t *pool = malloc((size_t)N);
    nl_recall_pool_mask(N, q, nq, pool, NULL);
    nl_mem_stats before, after;
    nl_host_mem_stats(&before);
    nl_interrupt_request();
    for (int p = 0; p < 2; p++) {
        nl_recall_opts o = opt(16, 256, p ? NL_RECALL_PAR_GEMM : NL_RECALL_PAR_TILES);
        h_expect_error(nl_recall_ranks_ex(emb, N, d, q, g, nq, pool, rank, 5, ti, NULL, &o), NL_ERR_INTERRUPTED,
                       p ? "interrupt (gemm mode)" : "interrupt (tiles mode)");
    }
    nl_interrupt_clear();
    h_ok(nl_recall_ranks(emb, N, d, q, g, nq, pool, rank, 5, ti, NULL), "after the interrupt is cleared");
    nl_host_mem_stats(&after);
    h_check(after.live_bytes == before.live_bytes, "no host memory left allocated (%zu -> %zu bytes)",
            before.live_bytes, after.live_bytes);
    free(emb);
    free(pool);
}

int main(void)
{
    h_init("test_recall");
    test_dedup();
    test_hand_ranks();
    test_metrics();
    test_interrupt();
    int saved = nl_get_threads();
    /* every scan version this CPU runs (plain C, AVX2, AVX-512) against the
     * naive reference; the grid cases demand exact equality */
    for (int level = NL_RECALL_SCAN_PLAIN; level <= NL_RECALL_SCAN_AVX512; level++) {
        if (!nl_recall_scan_supported(level)) {
            printf("# scan level %d not supported here: skipped\n", level);
            continue;
        }
        h_ok(nl_recall_scan_set_level(level), "scan level");
        for (int th = 1; th <= 2; th++) {
            nl_set_threads(th);
            for (int grid = 1; grid >= 0; grid--) {
                random_case(1000, 17, 100, 10, 0, grid);   /* N not a multiple of any tile */
                random_case(5003, 33, 300, 100, 40, grid); /* several query tiles, forced duplicates */
                random_case(2049, 129, 1, 50, 5, grid);    /* one query, d odd and > 128 */
                random_case(300, 1, 20, 7, 0, grid);       /* d = 1: massive ties */
                random_case(64, 8, 32, 40, 10, grid);      /* pool 32 < topk 40 */
            }
        }
    }
    h_expect_error(nl_recall_scan_set_level(3), NL_ERR_ARG, "unknown scan level");
    h_ok(nl_recall_scan_set_level(NL_RECALL_SCAN_BEST), "scan level best");
    nl_set_threads(saved);
    return h_finish();
}
