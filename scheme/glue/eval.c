/* eval.c — evaluation primitives: embedding a run's notes and the exact
 * recall@K protocol of method §6.1 (greedy pair de-duplication, pool = all
 * embedded notes minus the queries, fused GEMM + rank counting). */
#include "glue.h"

#include <stdlib.h>

#include "recall.h"
#include "run.h"

#define FUNC_NAME "embed-notes"
static SCM run_embed(SCM run, SCM notes, SCM batch, SCM visual)
{
    nl_run *r = nl_scm_to_run(run, 1, FUNC_NAME);
    long n = scm_ilength(notes);
    if (n < 0) scm_wrong_type_arg_msg(FUNC_NAME, 2, notes, "list of note indices");
    int64_t *idx = scm_gc_malloc_pointerless(sizeof *idx * (size_t)(n ? n : 1), "notes");
    SCM l = notes;
    for (long i = 0; i < n; i++, l = scm_cdr(l)) idx[i] = nl_scm_to_i64(scm_car(l), 2, FUNC_NAME);
    int64_t d = nl_run_model(r)->head->d;
    nl_tensor *t;
    NL_SCM_CHECK(FUNC_NAME, nl_tensor_empty(&t, NL_F32, 2, (const int64_t[]){n, d}, NL_CPU_DEVICE));
    SCM out = nl_scm_take_tensor(t); /* owned by Scheme from here: freed on an error below */
    int64_t per = nl_scm_to_i64(batch, 3, FUNC_NAME);
    scm_dynwind_begin(0);
    nl_scm_dynwind_transient_allocations();
    NL_SCM_CHECK(FUNC_NAME, nl_run_embed(r, idx, n, per, scm_is_true(visual), nl_tensor_host_ptr(t)));
    scm_dynwind_end();
    scm_remember_upto_here_1(run);
    return out;
}
#undef FUNC_NAME

static SCM sym(const char *s) { return scm_from_utf8_symbol(s); }

#define FUNC_NAME "recall"
static SCM recall(SCM emb, SCM pairs, SCM topk)
{
    nl_tensor *e = nl_scm_to_tensor(emb, 1, FUNC_NAME);
    if (e->ndim != 2 || e->dtype != NL_F32 || !nl_tensor_is_contiguous(e) || nl_tensor_device(e).type != NL_DEV_CPU)
        nl_scm_raisef(NL_ERR_SHAPE, FUNC_NAME, "embeddings must be a contiguous f32 [N d] CPU tensor");
    int64_t N = e->shape[0], d = e->shape[1], k = nl_scm_to_i64(topk, 3, FUNC_NAME);
    long n = scm_ilength(pairs);
    if (n < 0) scm_wrong_type_arg_msg(FUNC_NAME, 2, pairs, "list of (row . row) pairs");
    size_t sz = sizeof(int64_t) * (size_t)(n ? n : 1);
    int64_t *a = scm_gc_malloc_pointerless(sz, "pairs"), *b = scm_gc_malloc_pointerless(sz, "pairs");
    int64_t *q = scm_gc_malloc_pointerless(sz, "queries"), *g = scm_gc_malloc_pointerless(sz, "targets");
    SCM l = pairs;
    for (long i = 0; i < n; i++, l = scm_cdr(l)) {
        SCM p = scm_car(l);
        if (!scm_is_pair(p)) scm_wrong_type_arg_msg(FUNC_NAME, 2, p, "(row . row) pair");
        a[i] = scm_is_false(scm_car(p)) ? -1 : nl_scm_to_i64(scm_car(p), 2, FUNC_NAME);
        b[i] = scm_is_false(scm_cdr(p)) ? -1 : nl_scm_to_i64(scm_cdr(p), 2, FUNC_NAME);
    }
    size_t nq = 0;
    nl_recall_pairs_stats ps;
    NL_SCM_CHECK(FUNC_NAME, nl_recall_pairs_dedup(a, b, (size_t)n, N, q, g, &nq, &ps));
    uint8_t *pool = scm_gc_malloc_pointerless((size_t)(N ? N : 1), "pool");
    int64_t pool_size = 0;
    NL_SCM_CHECK(FUNC_NAME, nl_recall_pool_mask(N, q, (int64_t)nq, pool, &pool_size));
    int64_t *rank = scm_gc_malloc_pointerless(sizeof *rank * (nq ? nq : 1), "ranks");
    int64_t *top = k > 0 ? scm_gc_malloc_pointerless(sizeof *top * (nq ? nq * (size_t)k : 1), "top") : NULL;
    NL_SCM_CHECK(FUNC_NAME, nl_recall_ranks(nl_tensor_host_ptr(e), N, d, q, g, (int64_t)nq, pool, rank, k, top, NULL));
    nl_recall_result res;
    NL_SCM_CHECK(FUNC_NAME, nl_recall_metrics(rank, (int64_t)nq, pool_size, &res));
    SCM rk = SCM_EOL;
    for (int i = res.nk - 1; i >= 0; i--) rk = scm_acons(scm_from_int64(res.k[i]), scm_from_double(res.recall[i]), rk);
    SCM cases = SCM_EOL;
    for (size_t i = nq; i-- > 0;) {
        SCM tl = SCM_EOL;
        for (int64_t j = k - 1; top && j >= 0; j--) tl = scm_cons(scm_from_int64(top[i * (size_t)k + (size_t)j]), tl);
        cases = scm_cons(scm_list_4(scm_from_int64(q[i]), scm_from_int64(g[i]), scm_from_int64(rank[i]), tl), cases);
    }
    scm_remember_upto_here_1(emb);
    return scm_list_n(scm_cons(sym("queries"), scm_from_int64(res.nq)), scm_cons(sym("pool"), scm_from_int64(res.pool)),
                      scm_cons(sym("recall"), rk), scm_cons(sym("mrr"), scm_from_double(res.mrr)),
                      scm_cons(sym("mean-100-100k"), res.n_mean ? scm_from_double(res.mean_100_100k) : SCM_BOOL_F),
                      scm_cons(sym("pairs-unknown"), scm_from_size_t(ps.n_unknown)),
                      scm_cons(sym("pairs-rejected"), scm_from_size_t(ps.n_rejected + ps.n_self)),
                      scm_cons(sym("cases"), cases), SCM_UNDEFINED);
}
#undef FUNC_NAME

void nl_scm_init_eval(void)
{
    static const nl_scm_proc procs[] = {
        {"%nl-run-embed", 4, 0, 0, (scm_t_subr)run_embed,
         "Embeddings [n d] of the dataset notes NOTES (indices) with RUN's model, BATCH notes per forward; VISUAL: "
         "the mICL visual embeddings."},
        {"%nl-recall", 3, 0, 0, (scm_t_subr)recall,
         "Recall of the pairs PAIRS ((query-row . target-row), #f for a note without embedding) over the rows of EMB, "
         "method §6.1; TOPK retrieved rows per query in 'cases."},
    };
    NL_SCM_DEFINE_ALL(procs);
}
