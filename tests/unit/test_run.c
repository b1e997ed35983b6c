/* test_run.c — the training-run core (runtime/train/run.h) on a synthetic
 * 40-item dataset, a 600-id byte-level BPE and a very small model: NoteLLM
 * (CSFT) loss falls on a fixed pair subset; NoteLLM-2 steps load images (a
 * corrupt one becomes the zero image) and the loop writes metrics and a
 * checkpoint; every other method steps; HF directories load (vocabulary
 * grown); N straight steps equal N/2 + save + resume + N/2 bit for bit; the
 * NaN guard and Ctrl-C; config JSON round trip, errors and the schedule. */
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
#include "harness.h"
#include "notes.h"
#include "run.h"
#include "synth.h"
#include "tokenizer.h"

static char root[64];
static char data_dir[128], tok_path[128];

static const char *at(const char *name)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", root, name);
    return buf[k];
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    return remove(p);
}

static bool msg_has(const char *s)
{
    bool ok = strstr(nl_last_error(), s) != NULL;
    if (!ok) printf("  (message was: %s)\n", nl_last_error());
    return ok;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (b) b[n] = '\0';
    fclose(f);
    if (len) *len = (size_t)n;
    return b;
}

/* Synthetic data, a fixed 8-pair list, a corrupt image, and a BPE on the notes. */
static bool setup(void)
{
    snprintf(data_dir, sizeof data_dir, "%s", at("data"));
    snprintf(tok_path, sizeof tok_path, "%s", at("tokenizer.json"));
    nl_synth_opts o;
    nl_synth_defaults(&o);
    o.items = 40, o.lang = "en", o.image_size = 32, o.distractor_items = 0, o.seed = 7;
    if (!h_ok(nl_synth_write(data_dir, &o, NULL), "synthetic data")) return false;

    /* 8 training pairs with 16 distinct notes as list "fixed" (one full batch) */
    char path[256];
    snprintf(path, sizeof path, "%s/note_pairs_train.csv", data_dir);
    char *all = read_all(path, NULL);
    if (!h_check(all != NULL, "read note_pairs_train.csv")) return false;
    snprintf(path, sizeof path, "%s/note_pairs_fixed.csv", data_dir);
    FILE *f = fopen(path, "wb");
    char seen[16][64];
    int kept = 0;
    for (char *line = strtok(all, "\n"); line && kept < 8 && f; line = strtok(NULL, "\n")) {
        char a[64], b[64];
        if (sscanf(line, "%63[^,],%63s", a, b) != 2 || strcmp(a, b) == 0) continue;
        bool dup = false;
        for (int i = 0; i < 2 * kept; i++) dup = dup || strcmp(seen[i], a) == 0 || strcmp(seen[i], b) == 0;
        if (dup) continue;
        snprintf(seen[2 * kept], 64, "%s", a);
        snprintf(seen[2 * kept + 1], 64, "%s", b);
        fprintf(f, "%s,%s\n", a, b);
        kept++;
    }
    if (f) fclose(f);
    free(all);

    /* corrupt the image of the first fixed pair's query note */
    nl_notes *ds = NULL;
    if (!h_ok(nl_notes_load(&ds, data_dir, NULL), "load notes")) return false;
    size_t n = 0;
    const nl_note_pair *pairs = nl_notes_pairs(ds, "fixed", &n);
    h_check(pairs && n == 8, "8 fixed pairs (%zu)", n);
    if (pairs) {
        const nl_note *q = nl_notes_get(ds, (size_t)pairs[0].a);
        snprintf(path, sizeof path, "%s/%s/%s", data_dir, q->split == NL_NOTE_TEST ? "images_test" : "images",
                 q->image_id);
        f = fopen(path, "wb");
        if (f) fputs("not an image", f), fclose(f);
    }
    nl_notes_free(ds);

    const char *files[2];
    char a[256], b[256];
    snprintf(a, sizeof a, "%s/notes_train.csv", data_dir);
    snprintf(b, sizeof b, "%s/notes_test.csv", data_dir);
    files[0] = a, files[1] = b;
    nl_bpe_train_opts bo;
    nl_bpe_train_opts_init(&bo);
    bo.vocab_size = 600;
    return h_ok(nl_bpe_train_files(files, 2, &bo, tok_path), "train a 600-id BPE");
}

static void small_config(nl_run_config *c, const char *method)
{
    nl_run_config_defaults(c);
    snprintf(c->method, sizeof c->method, "%s", method);
    snprintf(c->data_dir, sizeof c->data_dir, "%s", data_dir);
    snprintf(c->tokenizer, sizeof c->tokenizer, "%s", tok_path);
    snprintf(c->lang, sizeof c->lang, "en");
    c->llm.hidden_size = 64, c->llm.intermediate_size = 128, c->llm.num_layers = 2;
    c->llm.num_heads = 4, c->llm.num_kv_heads = 4, c->llm.head_dim = 16;
    c->vision.hidden_size = 32, c->vision.intermediate_size = 64, c->vision.num_layers = 1;
    c->vision.num_heads = 2, c->vision.image_size = 32, c->vision.patch_size = 16;
    c->qformer.hidden_size = 32, c->qformer.intermediate_size = 64, c->qformer.num_layers = 1;
    c->qformer.num_heads = 2, c->qformer.num_query_tokens = 4, c->qformer.cross_attention_frequency = 1;
    c->dim = 32;
    c->max_note_tokens = 100;
    c->pairs_per_batch = 8;
}

static bool params_equal(nl_params *a, nl_params *b)
{
    if (a->n != b->n) return false;
    for (int i = 0; i < a->n; i++) {
        size_t n = nl_tensor_nbytes(a->v[i].t);
        if (n != nl_tensor_nbytes(b->v[i].t) || strcmp(a->v[i].name, b->v[i].name) != 0) return false;
        if (memcmp(nl_tensor_host_ptr(a->v[i].t), nl_tensor_host_ptr(b->v[i].t), n) != 0) {
            printf("  (first difference in %s)\n", a->v[i].name);
            return false;
        }
    }
    return true;
}

/* (a) NoteLLM (GCL + CSFT) on 8 fixed pairs: finite, and the loss falls. */
static void test_notellm_text(void)
{
    nl_run_config c;
    small_config(&c, "notellm");
    snprintf(c.train_list, sizeof c.train_list, "fixed");
    c.max_steps = 30, c.lr = 2e-3;
    nl_run *r = NULL;
    if (!h_ok(nl_run_create(&r, &c), "create a NoteLLM run")) return;
    h_check(nl_run_total_steps(r) == 30, "max_steps gives the schedule length (%lld)",
            (long long)nl_run_total_steps(r));
    double loss[30];
    bool finite = true, gen = true;
    for (int s = 0; s < 30; s++) {
        nl_run_metrics m;
        if (!h_ok(nl_run_step(r, &m), "NoteLLM step")) break;
        loss[s] = m.loss;
        finite = finite && isfinite(m.loss) && isfinite(m.grad_norm) && isfinite(m.tau);
        bool g = m.l_gen > 0 && m.l_cl > 0 && m.notes == 16 && fabs(m.loss - (m.l_cl + 0.01 * m.l_gen) / 1.01) < 1e-4;
        if (!g && gen) printf("  (step %d: loss %g l_cl %g l_gen %g)\n", s + 1, m.loss, m.l_cl, m.l_gen);
        gen = gen && g;
        if (s == 0)
            h_check(m.lr > 0 && m.lr < c.lr && m.notes == 16, "first step: warm-up lr %g, %lld notes",
                    m.lr, (long long)m.notes);
    }
    h_check(finite, "loss, grad norm and tau stay finite");
    h_check(gen, "loss = (L_cl + 0.01 L_gen) / 1.01 with both parts positive");
    double first = 0, last = 0;
    for (int i = 0; i < 5; i++) first += loss[i] / 5, last += loss[25 + i] / 5;
    printf("  NoteLLM loss: first 5 mean %.4f, last 5 mean %.4f\n", first, last);
    h_check(last < first, "loss decreases: last-5 mean %.4f < first-5 mean %.4f", last, first);
    h_check(nl_run_done(r), "schedule done after 30 steps");
    h_expect_error(nl_run_step(r, NULL), NL_ERR_STATE, "a step past the schedule");
    double v = 0, v2 = 0;
    h_ok(nl_run_eval(r, &v), "eval on the val list");
    h_ok(nl_run_eval(r, &v2), "eval again");
    h_check(isfinite(v) && v > 0 && v == v2, "val loss finite and the same each time (%g, %g)", v, v2);
    nl_run_free(r);
}

/* (b) NoteLLM-2 (visual tokens + mICL + late fusion): finite, images used. */
static void test_notellm2(void)
{
    nl_run_config c;
    small_config(&c, "notellm2");
    snprintf(c.train_list, sizeof c.train_list, "fixed");
    snprintf(c.out_dir, sizeof c.out_dir, "%s", at("out2"));
    c.max_steps = 4, c.lr = 1e-3, c.eval_every = 2, c.eval_batches = 2;
    nl_run *r = NULL;
    if (!h_ok(nl_run_create(&r, &c), "create a NoteLLM-2 run")) return;
    int64_t zeroed = 0, notes = 0;
    double secs = 0;
    bool ok = true;
    for (int s = 0; s < 3; s++) {
        nl_run_metrics m;
        if (!h_ok(nl_run_step(r, &m), "NoteLLM-2 step")) return nl_run_free(r);
        ok = ok && isfinite(m.loss) && m.l_cl > 0 && m.l_v > 0 && m.l_gen == 0 &&
             fabs(m.loss - 0.9 * m.l_cl - 0.1 * m.l_v) < 1e-4;
        zeroed += m.images_zeroed, notes += m.notes, secs += m.seconds;
        h_ok(nl_run_append_metrics(r, &m), "append metrics");
    }
    h_check(ok, "NoteLLM-2 loss finite, = 0.9 L_cl + 0.1 L_v");
    h_check(zeroed >= 1 && zeroed < notes, "the corrupt image became the zero image (%lld of %lld)",
            (long long)zeroed, (long long)notes);
    printf("  NoteLLM-2 small: %.2f steps/s, %.1f notes/s\n", 3 / secs, (double)notes / secs);
    /* the loop: one more step, an eval at step 4, a metrics line, a final checkpoint */
    h_ok(nl_run_train(r), "nl_run_train to the end");
    size_t len = 0;
    char *text = read_all(at("out2/metrics.jsonl"), &len);
    int lines = 0;
    for (size_t i = 0; text && i < len; i++) lines += text[i] == '\n';
    h_check(lines == 4 && text && strstr(text, "\"val_loss\"") && strstr(text, "\"l_v\""),
            "metrics.jsonl: 4 lines, the last with val_loss (%d)", lines);
    free(text);
    struct stat sb;
    h_check(stat(at("out2/checkpoint/state.json"), &sb) == 0, "the loop saved out_dir/checkpoint");
    nl_run_free(r);
}

/* The other methods take a step each; HF directories replace the random
 * models (the LLM's vocabulary grows to the tokenizer's). */
static void test_methods_and_hf_dirs(void)
{
    static const char *const methods[] = {"text_only", "mm_basic", "micl", "late_fusion", "late_fusion_only"};
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) {
        nl_run_config c;
        small_config(&c, methods[i]);
        c.pairs_per_batch = 4, c.max_steps = 2;
        nl_run *r = NULL;
        nl_run_metrics m = {0};
        if (!h_ok(nl_run_create(&r, &c), methods[i])) continue;
        if (h_ok(nl_run_step(r, &m), methods[i]))
            h_check(isfinite(m.loss) && m.loss > 0 && (strcmp(methods[i], "micl") != 0 || m.l_v > 0),
                    "%s: a finite step (loss %g)", methods[i], m.loss);
        nl_run_free(r);
    }

    /* "w/o GCL": the loss is alpha·L_gen alone; L_cl is still reported */
    nl_run_config c;
    small_config(&c, "csft_only");
    c.pairs_per_batch = 4, c.max_steps = 2, c.alpha = 0.5;
    nl_run *rc = NULL;
    nl_run_metrics mc = {0};
    if (h_ok(nl_run_create(&rc, &c), "csft_only") && h_ok(nl_run_step(rc, &mc), "csft_only step"))
        h_check(mc.l_gen > 0 && mc.l_cl > 0 && fabs(mc.loss - 0.5 * mc.l_gen) <= 1e-6 * mc.loss,
                "csft_only: loss %.7g = alpha 0.5 x L_gen %.7g, L_cl %.4g only reported", mc.loss, mc.l_gen, mc.l_cl);
    nl_run_free(rc);
    rc = NULL;
    c.grad_cache_chunk = 4;
    h_expect_error(nl_run_create(&rc, &c), NL_ERR_ARG, "csft_only with gradient caching");

    small_config(&c, "late_fusion_only");
    nl_rng g;
    nl_rng_seed(&g, 5);
    nl_llm_config lc = c.llm;
    lc.vocab_size = 300;
    nl_llm *llm = NULL;
    nl_vit *vit = NULL;
    if (!h_ok(nl_llm_create(&llm, &lc, NL_CPU_DEVICE, &g), "an LLM with 300 ids") ||
        !h_ok(nl_vit_create(&vit, &c.vision, NL_CPU_DEVICE, &g), "a vision model")) {
        nl_llm_free(llm);
        return;
    }
    h_ok(nl_llm_save(llm, at("hf_llm")), "save the LLM");
    h_ok(nl_vit_save(vit, at("hf_vit")), "save the vision model");
    nl_llm_free(llm);
    nl_vit_free(vit);
    snprintf(c.llm_dir, sizeof c.llm_dir, "%s", at("hf_llm"));
    snprintf(c.vision_dir, sizeof c.vision_dir, "%s", at("hf_vit"));
    c.pairs_per_batch = 4, c.max_steps = 2;
    nl_run *r = NULL;
    if (!h_ok(nl_run_create(&r, &c), "a run from HF directories")) return;
    nl_notellm *m = nl_run_model(r);
    h_check(m->llm->cfg.vocab_size == nl_tok_vocab_size(nl_run_tokenizer(r)) && m->llm->embed->shape[0] > 300,
            "the vocabulary grew to the tokenizer's %d ids", nl_tok_vocab_size(nl_run_tokenizer(r)));
    nl_run_metrics mm;
    if (h_ok(nl_run_step(r, &mm), "a step from HF directories"))
        h_check(isfinite(mm.loss), "finite loss %g", mm.loss);
    nl_run_free(r);
}

/* (c) N straight steps == N/2, save, resume, N/2 (bit-identical). */
static void test_resume(const char *method, int64_t grad_accum)
{
    enum { N = 6 };
    nl_run_config c;
    small_config(&c, method);
    c.pairs_per_batch = 4, c.grad_accum = grad_accum, c.max_steps = 10, c.lr = 1e-3;
    nl_run *a = NULL, *b = NULL, *b2 = NULL;
    double la[N], lb[N];
    if (!h_ok(nl_run_create(&a, &c), "create run A")) return;
    for (int s = 0; s < N; s++) {
        nl_run_metrics m = {0};
        h_ok(nl_run_step(a, &m), "A step");
        la[s] = m.loss;
    }
    if (h_ok(nl_run_create(&b, &c), "create run B")) {
        for (int s = 0; s < N / 2; s++) {
            nl_run_metrics m = {0};
            h_ok(nl_run_step(b, &m), "B step");
            lb[s] = m.loss;
        }
        h_ok(nl_run_save(b, at("ckpt")), "save B");
        nl_run_free(b);
        if (h_ok(nl_run_resume(&b2, at("ckpt")), "resume B")) {
            h_check(nl_run_steps_done(b2) == N / 2, "resumed at step %d", N / 2);
            for (int s = N / 2; s < N; s++) {
                nl_run_metrics m = {0};
                h_ok(nl_run_step(b2, &m), "B' step");
                lb[s] = m.loss;
            }
            h_check(memcmp(la, lb, sizeof la) == 0, "%s: losses of the resumed run equal the straight run's", method);
            h_check(params_equal(nl_run_params(a), nl_run_params(b2)),
                    "%s (grad_accum %lld): %d straight steps == %d + save + resume + %d, byte for byte", method,
                    (long long)grad_accum, N, N / 2, N / 2);
            nl_run_free(b2);
        }
    }
    nl_run_free(a);
    h_expect_error(nl_run_resume(&b2, at("nowhere")), NL_ERR_IO, "resume from a missing directory");
}

/* (d) A NaN weight: the step fails naming it and changes nothing. */
static void test_nan_guard(void)
{
    nl_run_config c;
    small_config(&c, "notellm");
    c.max_steps = 5;
    nl_run *r = NULL;
    if (!h_ok(nl_run_create(&r, &c), "create a run")) return;
    h_ok(nl_run_step(r, NULL), "a good step");
    const char *name = "llm.model.layers.0.mlp.up_proj.weight";
    nl_tensor *w = nl_params_get(nl_run_params(r), name);
    if (!h_check(w != NULL, "parameter %s exists", name)) return nl_run_free(r);
    float *p = nl_tensor_host_ptr(w);
    float keep = p[3];
    p[3] = NAN;
    nl_params *ps = nl_run_params(r);
    size_t total = 0;
    for (int i = 0; i < ps->n; i++) total += nl_tensor_nbytes(ps->v[i].t);
    unsigned char *snap = malloc(total), *q = snap;
    for (int i = 0; i < ps->n; i++) {
        memcpy(q, nl_tensor_host_ptr(ps->v[i].t), nl_tensor_nbytes(ps->v[i].t));
        q += nl_tensor_nbytes(ps->v[i].t);
    }
    h_expect_error(nl_run_step(r, NULL), NL_ERR_STATE, "a step with a NaN weight");
    h_check(msg_has(name), "the error names the NaN parameter");
    bool same = true;
    q = snap;
    for (int i = 0; i < ps->n; i++) {
        same = same && memcmp(q, nl_tensor_host_ptr(ps->v[i].t), nl_tensor_nbytes(ps->v[i].t)) == 0;
        q += nl_tensor_nbytes(ps->v[i].t);
    }
    free(snap);
    h_check(same, "every weight is unchanged after the failed step");
    h_check(nl_run_steps_done(r) == 1, "the step counter did not move");
    bool no_grad = true;
    for (int i = 0; i < ps->n; i++) no_grad = no_grad && ps->v[i].t->grad == NULL;
    h_check(no_grad, "no gradient is left behind");
    p[3] = keep;
    nl_interrupt_request();
    h_expect_error(nl_run_step(r, NULL), NL_ERR_INTERRUPTED, "a step with Ctrl-C pending");
    nl_interrupt_clear();
    nl_run_metrics m;
    h_ok(nl_run_step(r, &m), "the run goes on once the weight is repaired");
    h_check(nl_run_steps_done(r) == 2 && isfinite(m.loss), "step 2 done, finite loss");
    nl_run_free(r);
}

/* (e) config JSON: round trip, unknown keys, bad values, schedule. */
static void test_config(void)
{
    nl_run_config c, d;
    nl_run_config_defaults(&c);
    h_check(c.lr == 1e-4 && c.weight_decay == 0.001 && c.warmup_ratio == 0.1 && c.pairs_per_batch == 8 &&
            c.grad_accum == 1 && c.clip == 1.0 && c.topic_rate == 0.4 && c.alpha == 0.01 && c.w_t == 9 &&
            c.w_v == 1 && c.dim == 64 && c.max_note_tokens == 140 && c.epochs == 1 && strcmp(c.model, "tiny") == 0,
            "defaults");
    small_config(&c, "notellm2");
    c.lr = 3e-6, c.seed = 123456789012345ULL, c.beta2 = 0.98, c.freeze_vision = false;
    snprintf(c.out_dir, sizeof c.out_dir, "/tmp/some \"quoted\" dir");
    char *t1 = NULL, *t2 = NULL;
    if (!h_ok(nl_run_config_to_json(&c, &t1), "to JSON")) return;
    nl_run_config_defaults(&d);
    nl_run_config_set_preset(&d, "small");
    if (h_ok(nl_run_config_from_json(&d, t1, "cfg.json"), "from JSON") && h_ok(nl_run_config_to_json(&d, &t2), "again"))
        h_check(strcmp(t1, t2) == 0 && d.lr == 3e-6 && d.seed == 123456789012345ULL && d.llm.hidden_size == 64 &&
                d.vision.image_size == 32 && d.qformer.num_query_tokens == 4 && !d.freeze_vision &&
                strcmp(d.out_dir, c.out_dir) == 0, "JSON round trip");
    free(t1);
    free(t2);

    nl_run_config_defaults(&d);
    h_expect_error(nl_run_config_from_json(&d, "{\"lr\": 0.5, \"learning_rate\": 1}", "cfg.json"), NL_ERR_FORMAT,
                   "unknown key");
    h_check(msg_has("learning_rate") && msg_has("HINT") && msg_has("pairs_per_batch") && msg_has("cfg.json"),
            "the unknown-key error names it and lists the known keys");
    h_check(d.lr == 1e-4, "the config is unchanged after an error");
    h_expect_error(nl_run_config_from_json(&d, "{\"llm\": {\"hidden\": 8}}", "cfg.json"), NL_ERR_FORMAT,
                   "unknown nested key");
    h_check(msg_has("hidden") && msg_has("llm") && msg_has("num_layers"), "the nested error names object and key");
    h_expect_error(nl_run_config_from_json(&d, "{\"pairs_per_batch\": \"8\"}", "cfg.json"), NL_ERR_FORMAT,
                   "wrong type");
    h_check(msg_has("pairs_per_batch"), "the type error names the key");
    h_expect_error(nl_run_config_from_json(&d, "{\"warmup_ratio\": 2}", "cfg.json"), NL_ERR_FORMAT, "out of range");
    h_check(msg_has("warmup_ratio"), "the range error names the key");
    h_expect_error(nl_run_config_from_json(&d, "{\"model\": \"huge\"}", "cfg.json"), NL_ERR_FORMAT, "unknown preset");
    h_expect_error(nl_run_config_from_json(&d, "[1]", "cfg.json"), NL_ERR_FORMAT, "not an object");
    if (h_ok(nl_run_config_from_json(&d, "{\"model\": \"small\", \"llm\": {\"hidden_size\": 96}}", "cfg.json"),
             "preset + override"))
        h_check(d.llm.hidden_size == 96 && d.llm.head_dim == 96 / d.llm.num_heads && d.vision.image_size == 112,
                "override after the preset, head_dim follows");

    nl_run_config_defaults(&d);
    snprintf(d.method, sizeof d.method, "notellm3");
    nl_run *r = NULL;
    h_expect_error(nl_run_create(&r, &d), NL_ERR_ARG, "unknown method");
    h_check(msg_has("late_fusion_only"), "the method error lists the methods");
    nl_run_config_defaults(&d);
    h_expect_error(nl_run_create(&r, &d), NL_ERR_ARG, "no data_dir");

    /* schedule: T = 20, W = 2 */
    double l0 = nl_run_schedule_lr(1.0, 0.1, 20, 0), l1 = nl_run_schedule_lr(1.0, 0.1, 20, 1);
    double l2 = nl_run_schedule_lr(1.0, 0.1, 20, 2), l19 = nl_run_schedule_lr(1.0, 0.1, 20, 19);
    h_check(l0 == 0.5 && l1 == 1.0 && fabs(l2 - 18.0 / 18) < 1e-15 && fabs(l19 - 1.0 / 18) < 1e-15 &&
            nl_run_schedule_lr(1.0, 0.1, 20, 20) == 0, "warm-up then linear decay to 0 (%g %g %g %g)", l0, l1, l2,
            l19);
}

int main(void)
{
    h_init("run");
    /* The matrices are tiny: one thread is fastest, and a second one spins in
     * OpenMP barriers when the machine is busy (make check sets 2). Results do
     * not depend on the thread count. */
    nl_set_threads(1);
    snprintf(root, sizeof root, "/tmp/nl-run-XXXXXX");
    if (!mkdtemp(root)) return 1;
    double t0 = (double)clock();
    time_t w0 = time(NULL);
    if (setup()) {
        printf("  setup: %lds\n", (long)(time(NULL) - w0));
        test_config();
        test_notellm_text();
        printf("  NoteLLM done: %lds\n", (long)(time(NULL) - w0));
        test_notellm2();
        printf("  NoteLLM-2 done: %lds\n", (long)(time(NULL) - w0));
        test_methods_and_hf_dirs();
        printf("  other methods done: %lds\n", (long)(time(NULL) - w0));
        test_resume("notellm", 2);
        test_resume("notellm2", 1);
        printf("  resume done: %lds\n", (long)(time(NULL) - w0));
        test_nan_guard();
    }
    printf("  wall %lds, cpu %.1fs\n", (long)(time(NULL) - w0), ((double)clock() - t0) / CLOCKS_PER_SEC);
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return h_finish();
}
