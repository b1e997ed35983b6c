/* eval.c — evaluation primitives: embedding a run's notes, the exact
 * recall@K protocol of method §6.1 (greedy pair de-duplication, pool = all
 * embedded notes minus the queries, fused GEMM + rank counting), embedding
 * tables on disk, generation for NoteLLM's metrics, BLEU/ROUGE, a checkpoint's
 * configuration on another data directory, and atomic text files. */
#include "glue.h"

#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "embfile.h"
#include "evalrun.h"
#include "recall.h"
#include "run.h"
#include "textmetrics.h"

#define FUNC_NAME "embed-notes"
static SCM run_embed(SCM run, SCM notes, SCM batch, SCM visual, SCM variant)
{
    nl_run *r = nl_scm_to_run(run, 1, FUNC_NAME);
    long n;
    int64_t *idx = nl_scm_to_note_indices(notes, &n, 2, FUNC_NAME);
    nl_run_variant v = (nl_run_variant)nl_scm_to_run_variant(variant, 5, FUNC_NAME);
    int64_t d = nl_run_model(r)->head->d;
    nl_tensor *t;
    NL_SCM_CHECK(FUNC_NAME, nl_tensor_empty(&t, NL_F32, 2, (const int64_t[]){n, d}, NL_CPU_DEVICE));
    SCM out = nl_scm_take_tensor(t); /* owned by Scheme from here: freed on an error below */
    int64_t per = nl_scm_to_i64(batch, 3, FUNC_NAME);
    scm_dynwind_begin(0);
    nl_scm_dynwind_transient_allocations();
    NL_SCM_CHECK(FUNC_NAME, nl_run_embed_variant(r, idx, n, per, scm_is_true(visual), v, nl_tensor_host_ptr(t)));
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

#define FUNC_NAME "save-embeddings"
static SCM save_embeddings(SCM emb, SCM ids, SCM file)
{
    nl_tensor *e = nl_scm_to_tensor(emb, 1, FUNC_NAME);
    long n = scm_ilength(ids);
    if (n < 0) scm_wrong_type_arg_msg(FUNC_NAME, 2, ids, "list of note id strings");
    scm_dynwind_begin(0);
    const char **v = scm_gc_malloc_pointerless(sizeof *v * (size_t)(n ? n : 1), "ids");
    SCM l = ids;
    for (long i = 0; i < n; i++, l = scm_cdr(l)) {
        if (!scm_is_string(scm_car(l))) scm_wrong_type_arg_msg(FUNC_NAME, 2, scm_car(l), "note id string");
        v[i] = nl_scm_dynwind_utf8(scm_car(l), 2, FUNC_NAME);
    }
    NL_SCM_CHECK(FUNC_NAME, nl_emb_save(nl_scm_dynwind_utf8(file, 3, FUNC_NAME), e, v, n));
    scm_dynwind_end();
    scm_remember_upto_here_2(emb, ids);
    return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

typedef struct id_list {
    char **v;
    int64_t n;
} id_list;

static void free_ids(void *p)
{
    id_list *l = p;
    nl_emb_ids_free(l->v, l->n);
}

#define FUNC_NAME "load-embeddings"
static SCM load_embeddings(SCM file)
{
    scm_dynwind_begin(0);
    nl_tensor *t;
    id_list ids;
    NL_SCM_CHECK(FUNC_NAME, nl_emb_load(nl_scm_dynwind_utf8(file, 1, FUNC_NAME), &t, &ids.v, &ids.n));
    scm_dynwind_unwind_handler(free_ids, &ids, SCM_F_WIND_EXPLICITLY);
    SCM out = nl_scm_take_tensor(t), l = SCM_EOL;
    for (int64_t i = ids.n; i-- > 0;) l = scm_cons(scm_from_utf8_string(ids.v[i]), l);
    scm_dynwind_end();
    return scm_cons(out, l);
}
#undef FUNC_NAME

#define FUNC_NAME "write-file-atomically"
static SCM write_file(SCM file, SCM text)
{
    SCM_VALIDATE_STRING(2, text);
    scm_dynwind_begin(0);
    size_t n;
    char *s = scm_to_utf8_stringn(text, &n);
    scm_dynwind_free(s);
    NL_SCM_CHECK(FUNC_NAME, nl_atomic_save(nl_scm_dynwind_utf8(file, 1, FUNC_NAME), s, n));
    scm_dynwind_end();
    return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

#define FUNC_NAME "load-run-with-data"
static SCM run_config_with_data(SCM dir, SCM data)
{
    scm_dynwind_begin(0);
    char *text = NULL;
    int64_t step;
    NL_SCM_CHECK(FUNC_NAME, nl_eval_run_config(nl_scm_dynwind_utf8(dir, 1, FUNC_NAME),
                                               nl_scm_dynwind_utf8(data, 2, FUNC_NAME), &text, &step));
    scm_dynwind_free(text);
    SCM out = scm_cons(scm_from_utf8_string(text), step < 0 ? SCM_BOOL_F : scm_from_int64(step));
    scm_dynwind_end();
    return out;
}
#undef FUNC_NAME

static nl_prompt_kind gen_kind(SCM kind, int pos, const char *who)
{
    if (scm_is_eq(kind, sym("category"))) return NL_PROMPT_GEN_CATEGORY;
    if (scm_is_eq(kind, sym("hashtag"))) return NL_PROMPT_GEN_HASHTAG;
    scm_wrong_type_arg_msg(who, pos, kind, "'category or 'hashtag");
}

#define FUNC_NAME "generation-metrics"
static SCM run_generate(SCM run, SCM note, SCM kind, SCM max_new, SCM penalty)
{
    nl_run *r = nl_scm_to_run(run, 1, FUNC_NAME);
    nl_eval_gen_opts o = {.max_new_tokens = (int)nl_scm_to_i64(max_new, 4, FUNC_NAME),
                          .repetition_penalty = nl_scm_to_real(penalty, 5, FUNC_NAME)};
    char *pred = NULL, *ref = NULL;
    scm_dynwind_begin(0);
    nl_scm_dynwind_transient_allocations();
    NL_SCM_CHECK(FUNC_NAME, nl_eval_generate(r, nl_scm_to_i64(note, 2, FUNC_NAME), gen_kind(kind, 3, FUNC_NAME), &o,
                                             &pred, &ref));
    scm_dynwind_free(pred);
    scm_dynwind_free(ref);
    SCM out = scm_cons(scm_from_utf8_string(pred), scm_from_utf8_string(ref));
    scm_dynwind_end();
    scm_remember_upto_here_1(run);
    return out;
}

static SCM run_gen_reference(SCM run, SCM note, SCM kind)
{
    nl_run *r = nl_scm_to_run(run, 1, FUNC_NAME);
    nl_sample s;
    NL_SCM_CHECK(FUNC_NAME, nl_eval_gen_prompt(r, nl_scm_to_i64(note, 2, FUNC_NAME), gen_kind(kind, 3, FUNC_NAME), &s));
    SCM out = scm_cons(scm_from_utf8_string(s.text), scm_from_utf8_string(s.target ? s.target : ""));
    nl_sample_free(&s);
    scm_remember_upto_here_1(run);
    return out;
}

#undef FUNC_NAME

#define FUNC_NAME "text-scores"
static SCM text_scores(SCM preds, SCM refs)
{
    long n = scm_ilength(preds);
    if (n < 0 || scm_ilength(refs) != n) scm_wrong_type_arg_msg(FUNC_NAME, 2, refs, "two string lists of one length");
    scm_dynwind_begin(0);
    const char **p = scm_gc_malloc_pointerless(sizeof *p * (size_t)(n ? n : 1), "preds");
    const char **q = scm_gc_malloc_pointerless(sizeof *q * (size_t)(n ? n : 1), "refs");
    for (long i = 0; i < n; i++, preds = scm_cdr(preds), refs = scm_cdr(refs)) {
        p[i] = nl_scm_dynwind_utf8(scm_car(preds), 1, FUNC_NAME);
        q[i] = nl_scm_dynwind_utf8(scm_car(refs), 2, FUNC_NAME);
    }
    nl_text_scores t;
    NL_SCM_CHECK(FUNC_NAME, nl_text_scores_compute(p, q, n, &t));
    scm_dynwind_end();
    return scm_list_n(scm_cons(sym("n"), scm_from_int64(t.n)), scm_cons(sym("skipped"), scm_from_int64(t.skipped)),
                      scm_cons(sym("bleu4"), scm_from_double(t.bleu4)),
                      scm_cons(sym("corpus-bleu4"), scm_from_double(t.corpus_bleu4)),
                      scm_cons(sym("rouge1"), scm_from_double(t.rouge1)), scm_cons(sym("rouge2"), scm_from_double(t.rouge2)),
                      scm_cons(sym("rougeL"), scm_from_double(t.rougeL)), SCM_UNDEFINED);
}
#undef FUNC_NAME

void nl_scm_init_eval(void)
{
    static const nl_scm_proc procs[] = {
        {"%nl-run-embed", 5, 0, 0, (scm_t_subr)run_embed,
         "Embeddings [n d] of the dataset notes NOTES (indices) with RUN's model, BATCH notes per forward; VISUAL: "
         "the mICL visual embeddings; VARIANT 'full, 'text-only (zero image) or 'image-only (text fields emptied)."},
        {"%nl-recall", 3, 0, 0, (scm_t_subr)recall,
         "Recall of the pairs PAIRS ((query-row . target-row), #f for a note without embedding) over the rows of EMB, "
         "method §6.1; TOPK retrieved rows per query in 'cases."},
        {"%nl-save-embeddings", 3, 0, 0, (scm_t_subr)save_embeddings,
         "Write the unit-row table EMB [n d] with the n note id strings IDS to FILE: .safetensors (ids in the "
         "metadata) or .npy (+ FILE minus .npy + .ids.txt)."},
        {"%nl-load-embeddings", 1, 0, 0, (scm_t_subr)load_embeddings,
         "Read an embedding table written by %nl-save-embeddings (or numpy): (TENSOR . IDS)."},
        {"%nl-run-config-with-data", 2, 0, 0, (scm_t_subr)run_config_with_data,
         "The run configuration of checkpoint DIR (its run.json) as JSON text, with data_dir DATA and no out_dir, "
         "and the checkpoint's step (#f if unknown): (json . step)."},
        {"%nl-run-generate", 5, 0, 0, (scm_t_subr)run_generate,
         "Greedy generation for dataset note NOTE of RUN with the generation prompt KIND ('category or 'hashtag), "
         "MAX-NEW tokens at most, repetition PENALTY: (prediction . reference)."},
        {"%nl-run-gen-prompt", 3, 0, 0, (scm_t_subr)run_gen_reference,
         "The generation prompt of KIND ('category or 'hashtag) for dataset note NOTE of RUN: (text . reference)."},
        {"%nl-text-scores", 2, 0, 0, (scm_t_subr)text_scores,
         "BLEU-4 (sentence mean and corpus) and ROUGE-1/2/L F1 of the prediction strings PREDS against REFS."},
        {"%nl-write-file-atomically", 2, 0, 0, (scm_t_subr)write_file,
         "Replace FILE atomically with the UTF-8 string TEXT."},
    };
    NL_SCM_DEFINE_ALL(procs);
}
