/* recall.c — notellm side of bench/recall-run: reads FILE (raw little-endian
 * f32, nq query rows then N candidate rows of width d, written by
 * recall_peers.py), times nl_recall_ranks_ex (top-k, both parallel modes)
 * and the GEMM alone over the same tiles (both loop orders; gemm-only is the
 * faster), prints "NAME SECONDS" lines (best
 * of REPS, interleaved) and writes the top-k candidate indices (int64, [nq,k]) to OUT.
 * Usage: recall FILE N nq d k OUT [REPS] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "recall.h"
#include "runtime.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The GEMM of the engine without the ranking: the same query x candidate
 * tiles, OpenMP over query tiles with single-threaded sgemm (as the default
 * mode), each tile written to a per-thread scratch. qouter: each query tile
 * runs through all candidate tiles (the engine's order), else candidate
 * tiles outer with a parallel loop over query tiles each. */
static double gemm_only(const float *emb, int64_t nq, int64_t N, int64_t d, int64_t tq, int64_t tc, int nth,
                        int qouter)
{
    int64_t ntiles = (nq + tq - 1) / tq, nct = (N + tc - 1) / tc;
    float *scr = malloc((size_t)nth * (size_t)(tq * tc) * sizeof(float));
    int saved = openblas_get_num_threads();
    openblas_set_num_threads(1);
    double t0 = now();
    for (int64_t c = 0; c < (qouter ? 1 : nct); c++) {
#pragma omp parallel for num_threads(nth) schedule(dynamic, 1)
        for (int64_t t = 0; t < ntiles; t++) {
#ifdef _OPENMP
            float *sb = scr + (size_t)omp_get_thread_num() * (size_t)(tq * tc);
#else
            float *sb = scr;
#endif
            int64_t q0 = t * tq, m = nq - q0 < tq ? nq - q0 : tq;
            for (int64_t c0 = (qouter ? 0 : c * tc); c0 < (qouter ? N : c * tc + 1); c0 += tc) {
                int64_t nc = N - c0 < tc ? N - c0 : tc;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)nc, (int)d, 1.0f,
                            emb + q0 * d, (int)d, emb + (nq + c0) * d, (int)d, 0.0f, sb, (int)nc);
            }
        }
    }
    double t = now() - t0;
    openblas_set_num_threads(saved);
    free(scr);
    return t;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: %s FILE N nq d k OUT [REPS]\n", argv[0]);
        return 2;
    }
    int64_t N = atoll(argv[2]), nq = atoll(argv[3]), d = atoll(argv[4]), k = atoll(argv[5]);
    int reps = argc > 7 ? atoi(argv[7]) : 2;
    int64_t rows = N + nq;
    nl_runtime_init();
    float *emb = malloc((size_t)(rows * d) * sizeof(float));
    FILE *f = fopen(argv[1], "rb");
    if (!f || fread(emb, sizeof(float), (size_t)(rows * d), f) != (size_t)(rows * d)) {
        fprintf(stderr, "recall: cannot read %s\n", argv[1]);
        return 1;
    }
    fclose(f);
    int64_t *query = malloc((size_t)nq * sizeof(int64_t)), *gt = malloc((size_t)nq * sizeof(int64_t));
    for (int64_t i = 0; i < nq; i++) {
        query[i] = i;
        gt[i] = nq + (i * 7919) % N; /* any candidate: the work does not depend on it */
    }
    uint8_t *pool = malloc((size_t)rows);
    int64_t *rank = malloc((size_t)nq * sizeof(int64_t)), *top = malloc((size_t)(nq * k) * sizeof(int64_t));
    float *tsc = malloc((size_t)(nq * k) * sizeof(float));
    nl_recall_pool_mask(rows, query, nq, pool, NULL);
    const char *mode_name[2] = {"notellm-tiles", "notellm-gemm"};
    const char *only = getenv("RECALL_MODES"); /* "0", "1", "all" or unset (both) */
    if (only && !strcmp(only, "all")) only = NULL;
    int64_t tq = getenv("RECALL_QTILE") ? atoll(getenv("RECALL_QTILE")) : 512; /* the engine's defaults */
    int64_t tc = getenv("RECALL_CTILE") ? atoll(getenv("RECALL_CTILE")) : 1024;
    /* Repetitions interleave the engine and the GEMM alone, so that load
     * from other processes drifting over time hits both alike. */
    double best[2] = {1e30, 1e30}, g[2] = {1e30, 1e30};
    for (int r = 0; r < reps; r++) {
        for (int mode = 0; mode < 2; mode++) {
            if (only && atoi(only) != mode) continue;
            nl_recall_opts o = {.query_tile = tq, .cand_tile = tc,
                                .parallel = mode ? NL_RECALL_PAR_GEMM : NL_RECALL_PAR_TILES};
            double t0 = now();
            nl_status st = nl_recall_ranks_ex(emb, rows, d, query, gt, nq, pool, rank, k, top, tsc, &o);
            double t = now() - t0;
            if (st != NL_OK) {
                fprintf(stderr, "recall: %s\n", nl_last_error());
                return 1;
            }
            if (t < best[mode]) best[mode] = t;
        }
        for (int qouter = 0; qouter < 2; qouter++) {
            double t = gemm_only(emb, nq, N, d, tq, tc, nl_get_threads(), qouter);
            if (t < g[qouter]) g[qouter] = t;
        }
    }
    for (int mode = 0; mode < 2; mode++)
        if (!only || atoi(only) == mode) printf("%s %.6f\n", mode_name[mode], best[mode]);
    printf("gemm-ctile-outer %.6f\ngemm-qtile-outer %.6f\n", g[0], g[1]);
    printf("gemm-only %.6f\n", g[0] < g[1] ? g[0] : g[1]); /* the faster order */
    for (int64_t i = 0; i < nq * k; i++) top[i] = top[i] >= 0 ? top[i] - nq : -1; /* candidate numbering */
    FILE *o = fopen(argv[6], "wb");
    if (!o || fwrite(top, sizeof(int64_t), (size_t)(nq * k), o) != (size_t)(nq * k)) {
        fprintf(stderr, "recall: cannot write %s\n", argv[6]);
        return 1;
    }
    fclose(o);
    free(emb);
    free(query);
    free(gt);
    free(pool);
    free(rank);
    free(top);
    free(tsc);
    return 0;
}
