/* test_run_gradcache.c — the run option grad_cache_chunk: a gradient-cached
 * run and an uncached run of the same seed stay together over 3 optimizer
 * steps (NoteLLM-2 with Q-Former dropout 0.1, mICL and late fusion; NoteLLM
 * with CSFT and grad_accum 2), the comparison is shown to catch broken
 * dropout replay and dropout really being on, resume stays bit-identical
 * with the option on, the key goes through JSON and validation, and
 * row-keyed dropout masks do not depend on the rest of the batch.
 *
 * Tolerance. The two runs compute the same gradients in a different float
 * summation order (per-chunk graphs, dL/dE through detached leaves), so the
 * gradients differ by f32 rounding (~1e-6 relative). With AdamW's default
 * eps 1e-8 a gradient element at the rounding-noise level can flip the sign
 * of its first update (lr * g/(|g|+eps) ~ ±lr), so these runs use eps 1e-4:
 * the update is then Lipschitz in g with constant ~lr/eps and the parameter
 * difference after 3 steps stays ~1e-3 * lr (measured 1e-6 at lr 1e-3).
 * Parameters must agree to 0.01 * lr; real differences (other dropout
 * masks, dropout off, a missed chunk, a wrong 1/grad_accum) move them by
 * O(lr) (measured 5e-3). Losses, their parts and the grad norms must agree
 * to 1e-4 relative. */
#define _GNU_SOURCE
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bpe_train.h"
#include "gradcache.h"
#include "harness.h"
#include "ops.h"
#include "run.h"
#include "synth.h"

enum { STEPS = 3 };
#define LR 1e-3
#define ADAM_EPS 1e-4
#define PARAM_TOL (0.01 * LR)
#define REL_TOL 1e-4

static char root[64], data_dir[128], tok_path[128];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    return remove(p);
}

static bool setup(void)
{
    snprintf(data_dir, sizeof data_dir, "%s/data", root);
    snprintf(tok_path, sizeof tok_path, "%s/tokenizer.json", root);
    nl_synth_opts o;
    nl_synth_defaults(&o);
    o.items = 30, o.lang = "en", o.image_size = 32, o.distractor_items = 0, o.seed = 11;
    if (!h_ok(nl_synth_write(data_dir, &o, NULL), "synthetic data")) return false;
    char a[256];
    snprintf(a, sizeof a, "%s/notes_train.csv", data_dir);
    const char *files[1] = {a};
    nl_bpe_train_opts bo;
    nl_bpe_train_opts_init(&bo);
    bo.vocab_size = 500;
    return h_ok(nl_bpe_train_files(files, 1, &bo, tok_path), "train a 500-id BPE");
}

static void config(nl_run_config *c, const char *method)
{
    nl_run_config_defaults(c);
    snprintf(c->method, sizeof c->method, "%s", method);
    snprintf(c->data_dir, sizeof c->data_dir, "%s", data_dir);
    snprintf(c->tokenizer, sizeof c->tokenizer, "%s", tok_path);
    snprintf(c->lang, sizeof c->lang, "en");
    c->llm.hidden_size = 32, c->llm.intermediate_size = 64, c->llm.num_layers = 2;
    c->llm.num_heads = 2, c->llm.num_kv_heads = 2, c->llm.head_dim = 16;
    c->vision.hidden_size = 32, c->vision.intermediate_size = 64, c->vision.num_layers = 1;
    c->vision.num_heads = 2, c->vision.image_size = 32, c->vision.patch_size = 16;
    c->qformer.hidden_size = 32, c->qformer.intermediate_size = 64, c->qformer.num_layers = 1;
    c->qformer.num_heads = 2, c->qformer.num_query_tokens = 4, c->qformer.cross_attention_frequency = 1;
    c->dim = 16, c->max_note_tokens = 100, c->pairs_per_batch = 4, c->lr = LR, c->max_steps = 10;
    c->qformer_dropout = 0.1;
    c->eps = ADAM_EPS;
}

typedef struct trace {
    double loss[STEPS], l_cl[STEPS], l_v[STEPS], l_gen[STEPS], norm[STEPS];
} trace;

/* STEPS steps of a fresh run; the run is returned for the parameters. */
static nl_run *train(const nl_run_config *c, trace *t)
{
    nl_run *r = NULL;
    if (!h_ok(nl_run_create(&r, c), "create run")) return NULL;
    for (int s = 0; s < STEPS; s++) {
        nl_run_metrics m = {0};
        if (!h_ok(nl_run_step(r, &m), "step")) {
            nl_run_free(r);
            return NULL;
        }
        t->loss[s] = m.loss, t->l_cl[s] = m.l_cl, t->l_v[s] = m.l_v, t->l_gen[s] = m.l_gen, t->norm[s] = m.grad_norm;
    }
    return r;
}

/* max |a - b| over every parameter element (frozen ones included). */
static double param_diff(nl_run *a, nl_run *b)
{
    nl_params *pa = nl_run_params(a), *pb = nl_run_params(b);
    if (pa->n != pb->n) return INFINITY;
    double d = 0;
    for (int i = 0; i < pa->n; i++) {
        int64_t n = nl_tensor_numel(pa->v[i].t);
        if (n != nl_tensor_numel(pb->v[i].t)) return INFINITY;
        const float *x = nl_tensor_host_ptr(pa->v[i].t), *y = nl_tensor_host_ptr(pb->v[i].t);
        for (int64_t j = 0; j < n; j++) d = fmax(d, fabs((double)x[j] - y[j]));
    }
    return d;
}

static bool close_rel(double a, double b) { return fabs(a - b) <= REL_TOL * fmax(fabs(a), fabs(b)) + 1e-12; }

static bool traces_close(const trace *a, const trace *b)
{
    bool ok = true;
    for (int s = 0; s < STEPS; s++)
        ok = ok && close_rel(a->loss[s], b->loss[s]) && close_rel(a->l_cl[s], b->l_cl[s]) &&
             close_rel(a->l_v[s], b->l_v[s]) && close_rel(a->l_gen[s], b->l_gen[s]) && close_rel(a->norm[s], b->norm[s]);
    return ok;
}

/* Uncached vs grad_cache_chunk = chunk, same seed and batches. */
static void compare(const char *method, int64_t grad_accum, int64_t chunk)
{
    nl_run_config c;
    config(&c, method);
    c.grad_accum = grad_accum;
    trace tu = {0}, tc = {0};
    nl_run *u = train(&c, &tu);
    c.grad_cache_chunk = chunk;
    nl_run *g = train(&c, &tc);
    if (u && g) {
        double d = param_diff(u, g);
        printf("  %s, grad_accum %lld, chunk %lld: max |param diff| = %.3g (lr %g); loss %.8f / %.8f\n", method,
               (long long)grad_accum, (long long)chunk, d, LR, tu.loss[STEPS - 1], tc.loss[STEPS - 1]);
        h_check(d <= PARAM_TOL, "%s (grad_accum %lld): chunk %lld gives the uncached parameters after %d steps "
                "(%.3g <= %.3g)", method, (long long)grad_accum, (long long)chunk, STEPS, d, PARAM_TOL);
        h_check(traces_close(&tu, &tc), "%s: losses, parts and grad norms agree to %g", method, REL_TOL);
        h_check(tu.loss[0] != tu.loss[STEPS - 1], "%s: the runs really train (loss changes)", method);
    }
    nl_run_free(u);
    nl_run_free(g);
}

/* The comparison above can fail: other dropout masks on the re-run, and
 * dropout off instead of on, both move the parameters by O(lr). */
static void sensitivity(void)
{
    nl_run_config c;
    config(&c, "notellm2");
    trace t0 = {0}, t1 = {0}, t2 = {0};
    c.grad_cache_chunk = 3;
    nl_run *ref = train(&c, &t0);
    nl_gradcache_replay_salt = 0x5eed;
    nl_run *broken = train(&c, &t1);
    nl_gradcache_replay_salt = 0;
    c.qformer_dropout = 0;
    nl_run *off = train(&c, &t2);
    if (ref && broken && off) {
        double db = param_diff(ref, broken), doff = param_diff(ref, off);
        printf("  broken replay: %.3g, dropout off: %.3g (tolerance %.3g)\n", db, doff, PARAM_TOL);
        h_check(db > 10 * PARAM_TOL, "a re-run with other dropout masks is detected (%.3g)", db);
        h_check(doff > 10 * PARAM_TOL, "dropout 0.1 is really on (%.3g against dropout 0)", doff);
    }
    nl_run_free(ref), nl_run_free(broken), nl_run_free(off);
}

static bool params_equal(nl_params *a, nl_params *b)
{
    if (a->n != b->n) return false;
    for (int i = 0; i < a->n; i++) {
        size_t n = nl_tensor_nbytes(a->v[i].t);
        if (n != nl_tensor_nbytes(b->v[i].t) || memcmp(nl_tensor_host_ptr(a->v[i].t), nl_tensor_host_ptr(b->v[i].t), n))
            return false;
    }
    return true;
}

/* 4 straight steps == 2 + save + resume + 2, with grad_cache_chunk 3. */
static void resume(void)
{
    nl_run_config c;
    config(&c, "notellm2");
    c.grad_cache_chunk = 3;
    nl_run *a = NULL, *b = NULL, *b2 = NULL;
    char dir[128];
    snprintf(dir, sizeof dir, "%s/ckpt", root);
    if (!h_ok(nl_run_create(&a, &c), "create A") || !h_ok(nl_run_create(&b, &c), "create B")) {
        nl_run_free(a);
        return;
    }
    bool ok = true;
    for (int s = 0; s < 4; s++) ok = h_ok(nl_run_step(a, NULL), "A step") && ok;
    for (int s = 0; s < 2; s++) ok = h_ok(nl_run_step(b, NULL), "B step") && ok;
    ok = h_ok(nl_run_save(b, dir), "save B") && ok;
    nl_run_free(b);
    if (ok && h_ok(nl_run_resume(&b2, dir), "resume B")) {
        h_check(nl_run_get_config(b2)->grad_cache_chunk == 3, "the checkpoint keeps grad_cache_chunk");
        for (int s = 0; s < 2; s++) ok = h_ok(nl_run_step(b2, NULL), "B' step") && ok;
        h_check(ok && params_equal(nl_run_params(a), nl_run_params(b2)),
                "grad_cache_chunk 3: 4 straight steps == 2 + save + resume + 2, byte for byte");
    }
    nl_run_free(b2);
    nl_run_free(a);
}

static void json(void)
{
    nl_run_config c, d;
    nl_run_config_defaults(&c);
    h_check(c.grad_cache_chunk == 0, "grad_cache_chunk defaults to 0 (off)");
    c.grad_cache_chunk = 6;
    char *t = NULL;
    nl_run_config_defaults(&d);
    if (h_ok(nl_run_config_to_json(&c, &t), "to JSON") && h_ok(nl_run_config_from_json(&d, t, "cfg"), "from JSON"))
        h_check(d.grad_cache_chunk == 6 && strstr(t, "\"grad_cache_chunk\":\t6"), "grad_cache_chunk round-trips");
    free(t);
    h_expect_error(nl_run_config_from_json(&d, "{\"grad_cache_chunk\": -1}", "cfg"), NL_ERR_FORMAT, "negative chunk");
    h_expect_error(nl_run_config_from_json(&d, "{\"grad_cache_chunk\": 2.5}", "cfg"), NL_ERR_FORMAT, "fractional chunk");
    config(&c, "notellm");
    c.grad_cache_chunk = -2;
    h_expect_error(nl_run_config_validate(&c), NL_ERR_ARG, "validate: negative chunk");
    h_check(strstr(nl_last_error(), "grad_cache_chunk") != NULL, "the error names the key");
}

/* Row-keyed dropout: rows [2, 5) of a batch alone (row0 2) get the masks
 * they get inside the whole batch; the Q-Former forward likewise. */
static void row_keyed(void)
{
    nl_tensor *x = NULL, *full = NULL, *part = NULL, *xs = NULL, *other = NULL;
    float a[5 * 3 * 4], b[3 * 3 * 4], c[5 * 3 * 4];
    bool ok = h_ok(nl_tensor_full(&x, NL_F32, 3, (const int64_t[]){5, 3, 4}, 1.0, NL_CPU_DEVICE), "ones") &&
              h_ok(nl_dropout_rows(&full, x, 0.5, 99, 0), "dropout rows, whole") &&
              h_ok(nl_narrow(&xs, x, 0, 2, 3), "narrow") && h_ok(nl_dropout_rows(&part, xs, 0.5, 99, 2), "rows 2..5") &&
              h_ok(nl_dropout_rows(&other, x, 0.5, 100, 0), "another seed") &&
              h_ok(nl_tensor_to_host(full, a, NL_F32), "to host") && h_ok(nl_tensor_to_host(part, b, NL_F32), "to host") &&
              h_ok(nl_tensor_to_host(other, c, NL_F32), "to host");
    if (ok) {
        int kept = 0;
        for (int i = 0; i < 60; i++) kept += a[i] != 0;
        h_check(memcmp(a + 24, b, sizeof b) == 0, "rows 2..4 alone draw the masks they draw in the whole batch");
        h_check(memcmp(a, c, sizeof a) != 0, "another seed gives other masks");
        h_check(kept > 15 && kept < 45 && (a[0] == 0 || a[0] == 2.0f), "about half kept (%d of 60), scaled by 2", kept);
    }
    nl_tensor_release(x), nl_tensor_release(full), nl_tensor_release(part), nl_tensor_release(xs);
    nl_tensor_release(other);
}

int main(void)
{
    h_init("run_gradcache");
    nl_set_threads(1); /* tiny matrices; results do not depend on the thread count */
    snprintf(root, sizeof root, "/tmp/nl-rungc-XXXXXX");
    if (!mkdtemp(root)) return 1;
    time_t w0 = time(NULL);
    if (setup()) {
        json();
        row_keyed();
        compare("notellm2", 1, 4);
        compare("notellm2", 1, 3);
        compare("notellm", 2, 4);
        sensitivity();
        resume();
    }
    printf("  wall %lds\n", (long)(time(NULL) - w0));
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return h_finish();
}
