/* test_llm.c — the LLaMA and Qwen2 decoders against the PyTorch golden
 * fixtures (tests/fixtures/models/{llama,qwen2}, made by
 * tests/ref/make_model_fixtures.py): every hidden state, the logits, every
 * parameter gradient, greedy generation with a KV cache; plus the
 * inputs_embeds path, probes, save/load, vocabulary resize and bad input. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "io/safetensors.h"
#include "llm.h"

/* Fixtures are f64 math rounded to f32; we compute in f32 with different
 * summation orders: a few ulps of the largest values involved. */
#define ATOL 2e-5
#define RTOL 1e-4

static char fixdir[512];

static nl_tensor *io_get(nl_safetensors *io, const char *name)
{
    nl_tensor *t = NULL;
    int i = nl_safetensors_find(io, name);
    nl_dtype dt = NL_F32;
    int nd;
    int64_t sh[NL_MAX_DIMS];
    if (i >= 0) nl_safetensors_shape(io, i, &dt, &nd, sh);
    if (!h_ok(nl_safetensors_load(&t, io, name, dt, NL_CPU_DEVICE), name)) return NULL;
    return t;
}

static bool close_to(const char *what, nl_tensor *got, nl_tensor *want, double atol, double rtol)
{
    if (!got || !want) return h_check(false, "%s: missing tensor", what);
    if (!nl_tensor_same_shape(got, want)) {
        char a[96], b[96];
        return h_check(false, "%s: shape %s, expected %s", what, nl_shape_str(got, a, sizeof a),
                       nl_shape_str(want, b, sizeof b));
    }
    double *ref = h_values(want);
    bool ok = h_close(what, got, ref, atol, rtol);
    free(ref);
    return ok;
}

/* loss = sum(hidden * w * mask[..., None]) */
static nl_status masked_loss(nl_tensor **loss, nl_tensor *hidden, nl_tensor *w, nl_tensor *mask)
{
    nl_tensor *mf = NULL, *mu = NULL, *a = NULL, *b = NULL;
    nl_status st = nl_to(&mf, mask, NL_F32, NL_CPU_DEVICE);
    if (st == NL_OK) st = nl_unsqueeze(&mu, mf, 2);
    if (st == NL_OK) st = nl_mul(&a, hidden, w);
    if (st == NL_OK) st = nl_mul(&b, a, mu);
    if (st == NL_OK) st = nl_sum_all(loss, b);
    nl_tensor_release(mf); nl_tensor_release(mu); nl_tensor_release(a); nl_tensor_release(b);
    return st;
}

static void check_forward_backward(const char *name, nl_llm *m, nl_safetensors *io)
{
    int L = (int)m->cfg.num_layers;
    nl_tensor *ids = io_get(io, "input_ids"), *mask = io_get(io, "attention_mask");
    nl_tensor *w = io_get(io, "loss_weight"), *hidden = NULL, *logits = NULL, *loss = NULL;
    nl_tensor *all[16] = {0};
    nl_llm_input in = {.ids = ids, .mask = mask, .all_hidden = all};
    if (!h_ok(nl_llm_forward(&hidden, &logits, m, &in), "forward")) return;
    for (int l = 0; l <= L; l++) {
        char key[64], what[96];
        snprintf(key, sizeof key, "hidden_states.%d", l);
        snprintf(what, sizeof what, "%s %s", name, key);
        nl_tensor *want = io_get(io, key);
        close_to(what, all[l], want, ATOL, RTOL);
        nl_tensor_release(want);
    }
    h_check(all[L] == hidden, "%s: all_hidden[L] is the returned hidden state", name);
    nl_tensor *want_logits = io_get(io, "logits");
    close_to("logits", logits, want_logits, ATOL, RTOL);
    nl_tensor_release(want_logits);
    if (h_ok(masked_loss(&loss, hidden, w, mask), "loss") && h_ok(nl_backward(loss, NULL, false), "backward")) {
        int checked = 0;
        for (int i = 0; i < m->params.n; i++) {
            char key[300], what[320];
            snprintf(key, sizeof key, "grad.%s", m->params.v[i].name);
            snprintf(what, sizeof what, "%s %s", name, key);
            nl_tensor *want = io_get(io, key), *g = m->params.v[i].t->grad;
            if (!g) {
                /* no gradient reached it: the reference must be zero then */
                double *ref = h_values(want);
                double mx = 0;
                for (int64_t k = 0, n = nl_tensor_numel(want); k < n; k++) mx = fmax(mx, fabs(ref[k]));
                free(ref);
                h_check(mx == 0, "%s: no gradient, reference max |g| = %g", what, mx);
            } else {
                close_to(what, g, want, 5 * ATOL, 5 * RTOL);
            }
            nl_tensor_release(want);
            checked++;
        }
        h_check(checked == m->params.n && checked > 0, "%s: %d parameter gradients compared", name, checked);
    }
    for (int l = 0; l <= L; l++) nl_tensor_release(all[l]);
    nl_tensor_release(hidden); nl_tensor_release(logits); nl_tensor_release(loss);
    nl_tensor_release(ids); nl_tensor_release(mask); nl_tensor_release(w);
    for (int i = 0; i < m->params.n; i++) nl_zero_grad(m->params.v[i].t);
}

static void check_generate(const char *name, nl_llm *m, nl_safetensors *io)
{
    nl_tensor *p = io_get(io, "gen.prompt"), *want = io_get(io, "gen.output");
    if (!p || !want) return;
    const int64_t *prompt = nl_tensor_host_ptr(p), *exp = nl_tensor_host_ptr(want);
    int64_t np = nl_tensor_numel(p), nw = nl_tensor_numel(want), *got = NULL, n = 0;
    nl_gen_opts o = {.max_new_tokens = (int)(nw - np), .repetition_penalty = 1.3, .eos_token_id = -1};
    if (h_ok(nl_llm_generate(&got, &n, m, prompt, np, &o), "generate")) {
        bool same = n == nw && memcmp(got, exp, (size_t)n * sizeof *got) == 0;
        char buf[256] = "";
        for (int64_t i = np; i < n && strlen(buf) < 200; i++) sprintf(buf + strlen(buf), " %lld", (long long)got[i]);
        h_check(same, "%s: greedy generation with KV cache and penalty 1.3 equals the reference:%s", name, buf);
        free(got);
    }
    nl_tensor_release(p);
    nl_tensor_release(want);
}

/* embeds path, probes and the padding invariance of row 1. */
static void check_paths(const char *name, nl_llm *m, nl_safetensors *io)
{
    nl_tensor *ids = io_get(io, "input_ids"), *mask = io_get(io, "attention_mask");
    nl_tensor *h1 = NULL, *e = NULL, *h2 = NULL, *h3 = NULL;
    nl_llm_input a = {.ids = ids, .mask = mask};
    h_ok(nl_llm_forward(&h1, NULL, m, &a), "forward ids");
    h_ok(nl_llm_embed(&e, m, ids), "embed");
    nl_llm_input b = {.embeds = e, .mask = mask};
    if (h_ok(nl_llm_forward(&h2, NULL, m, &b), "forward embeds")) {
        double *r = h_values(h1);
        h_close("inputs_embeds path equals the ids path", h2, r, 0, 0);
        free(r);
    }
    nl_attn_probe probe;
    h_ok(nl_attn_probe_init(&probe, (int)m->cfg.num_layers), "probe");
    nl_llm_input c = {.ids = ids, .mask = mask, .probe = &probe};
    nl_tensor *loss = NULL;
    if (h_ok(nl_llm_forward(&h3, NULL, m, &c), "forward probe")) {
        double *r = h_values(h1);
        h_close("probe path (explicit attention) equals the fused path", h3, r, 1e-5, 1e-5);
        free(r);
        nl_tensor *p0 = probe.probs[0];
        h_check(p0 && p0->ndim == 4 && p0->shape[1] == m->cfg.num_heads && p0->shape[2] == ids->shape[1],
                "%s: probe keeps [B NH T T] probabilities", name);
        if (h_ok(nl_sum_all(&loss, h3), "probe loss") && h_ok(nl_backward(loss, NULL, false), "probe backward")) {
            bool all = true;
            for (int l = 0; l < probe.n_layers; l++) all = all && probe.probs[l] && probe.probs[l]->grad;
            h_check(all, "%s: every layer's probabilities received a gradient", name);
            /* row 1 is padded at t = 5, 6: no query may put weight on those keys */
            const float *pv = nl_tensor_host_ptr(p0);
            int64_t NH = p0->shape[1], T = p0->shape[2];
            double leak = 0;
            for (int64_t hh = 0; hh < NH; hh++)
                for (int64_t i = 0; i < T; i++)
                    for (int64_t j = 5; j < T; j++) leak += pv[((1 * NH + hh) * T + i) * T + j];
            h_check(leak == 0, "%s: padded keys get zero attention (sum %g)", name, leak);
        }
    }
    for (int i = 0; i < m->params.n; i++) nl_zero_grad(m->params.v[i].t);
    nl_attn_probe_free(&probe);
    nl_tensor_release(loss);
    nl_tensor_release(h1); nl_tensor_release(e); nl_tensor_release(h2); nl_tensor_release(h3);
    nl_tensor_release(ids); nl_tensor_release(mask);
}

/* loss = sum(rows * w): rows [B,2,C] of hidden at pos, or hidden itself when pos is NULL. */
static nl_status rows_loss(nl_tensor **loss, nl_tensor *hidden, const int64_t *flat_ids, nl_tensor *w)
{
    int64_t B = hidden->shape[0], T = hidden->shape[1], C = hidden->shape[2];
    nl_tensor *f = NULL, *ids = NULL, *sel = NULL, *r = NULL, *p = NULL;
    nl_status st = NL_OK;
    if (flat_ids) {
        st = nl_reshape(&f, hidden, 2, (const int64_t[]){B * T, C});
        if (st == NL_OK) st = nl_tensor_from_host(&ids, NL_I64, 1, (const int64_t[]){2 * B}, flat_ids, NL_I64, NL_CPU_DEVICE);
        if (st == NL_OK) st = nl_index_select(&sel, f, 0, ids);
        if (st == NL_OK) st = nl_reshape(&r, sel, 3, (const int64_t[]){B, 2, C});
    } else {
        r = nl_tensor_retain(hidden);
    }
    if (st == NL_OK) st = nl_mul(&p, r, w);
    if (st == NL_OK) st = nl_sum_all(loss, p);
    nl_tensor_release(f); nl_tensor_release(ids); nl_tensor_release(sel); nl_tensor_release(r); nl_tensor_release(p);
    return st;
}

/* out_pos: the last layer at chosen rows only gives the full forward's rows
 * and the same parameter gradients (up to rounding); bad out_pos. */
static void check_out_pos(const char *name, nl_llm *m, nl_safetensors *io)
{
    nl_tensor *ids = io_get(io, "input_ids"), *mask = io_get(io, "attention_mask");
    if (!ids || !mask || ids->shape[0] != 2) return;
    int64_t T = ids->shape[1], C = m->cfg.hidden_size;
    const int64_t pos[4] = {T - 1, 2, 4, 0}, flat[4] = {T - 1, 2, T + 4, T + 0}; /* row 1 is real up to t = 4 */
    nl_tensor *op = NULL, *w = h_rand(3, (const int64_t[]){2, 2, C}, -1, 1, false), *hf = NULL, *hs = NULL;
    nl_tensor *lf = NULL, *ls = NULL;
    h_ok(nl_tensor_from_host(&op, NL_I64, 2, (const int64_t[]){2, 2}, pos, NL_I64, NL_CPU_DEVICE), "out_pos");
    int np = m->params.n;
    nl_tensor **gf = calloc((size_t)np, sizeof *gf);
    nl_llm_input full = {.ids = ids, .mask = mask}, sel = {.ids = ids, .mask = mask, .out_pos = op};
    for (int i = 0; i < np; i++) nl_zero_grad(m->params.v[i].t);
    if (h_ok(nl_llm_forward(&hf, NULL, m, &full), "forward, every row") && h_ok(rows_loss(&lf, hf, flat, w), "loss") &&
        h_ok(nl_backward(lf, NULL, false), "backward, every row")) {
        for (int i = 0; i < np; i++) gf[i] = m->params.v[i].t->grad, m->params.v[i].t->grad = NULL;
        if (h_ok(nl_llm_forward(&hs, NULL, m, &sel), "forward, last layer at out_pos")) {
            char what[160];
            snprintf(what, sizeof what, "%s: hidden [B 2 C]", name);
            h_check(hs->ndim == 3 && hs->shape[1] == 2 && hs->shape[2] == C, "%s", what);
            nl_tensor *want = NULL, *f2 = NULL, *ix = NULL;
            nl_reshape(&f2, hf, 2, (const int64_t[]){2 * T, C});
            nl_tensor_from_host(&ix, NL_I64, 1, (const int64_t[]){4}, flat, NL_I64, NL_CPU_DEVICE);
            if (f2 && ix && h_ok(nl_index_select(&want, f2, 0, ix), "rows")) {
                double *r = h_values(want);
                snprintf(what, sizeof what, "%s: last layer at out_pos = the full forward's rows", name);
                h_close(what, hs, r, 1e-5, 1e-5);
                free(r);
            }
            nl_tensor_release(want); nl_tensor_release(f2); nl_tensor_release(ix);
            if (h_ok(rows_loss(&ls, hs, NULL, w), "loss at out_pos") && h_ok(nl_backward(ls, NULL, false), "backward at out_pos")) {
                int bad = 0, checked = 0;
                for (int i = 0; i < np; i++) {
                    nl_tensor *g = m->params.v[i].t->grad;
                    if (!gf[i] && !g) continue;
                    checked++;
                    if (!gf[i] || !g) { bad++; continue; }
                    double *r = h_values(gf[i]);
                    snprintf(what, sizeof what, "%s: grad %s, last layer at out_pos vs every row", name, m->params.v[i].name);
                    bad += !h_close(what, g, r, 1e-6, 1e-4);
                    free(r);
                }
                h_check(bad == 0 && checked > 0, "%s: %d parameter gradients agree (%d differ)", name, checked, bad);
            }
        }
    }
    nl_attn_probe probe;
    nl_tensor *hp = NULL;
    bool was = nl_grad_set_enabled(false);
    h_ok(nl_attn_probe_init(&probe, (int)m->cfg.num_layers), "probe");
    nl_llm_input pr = {.ids = ids, .mask = mask, .out_pos = op, .probe = &probe};
    if (h_ok(nl_llm_forward(&hp, NULL, m, &pr), "forward, probe and out_pos")) {
        nl_tensor *pl = probe.probs[m->cfg.num_layers - 1];
        h_check(pl && pl->shape[2] == 2 && pl->shape[3] == T, "%s: the probe records the last layer as [B NH 2 T]", name);
        double *r = hs ? h_values(hs) : NULL;
        if (r) h_close("probed forward at out_pos equals the plain one", hp, r, 0, 0);
        free(r);
    }
    nl_grad_set_enabled(was);
    nl_attn_probe_free(&probe);
    nl_tensor *bad = NULL, *h = NULL;
    int64_t oob[4] = {0, T, 0, 0};
    nl_tensor_from_host(&bad, NL_I64, 2, (const int64_t[]){2, 2}, oob, NL_I64, NL_CPU_DEVICE);
    nl_llm_input b1 = {.ids = ids, .mask = mask, .out_pos = bad};
    h_expect_error(nl_llm_forward(&h, NULL, m, &b1), NL_ERR_ARG, "out_pos outside [0, T)");
    nl_tensor_release(bad);
    bad = NULL;
    nl_tensor_from_host(&bad, NL_I64, 1, (const int64_t[]){2}, pos, NL_I64, NL_CPU_DEVICE);
    nl_llm_input b2 = {.ids = ids, .mask = mask, .out_pos = bad};
    h_expect_error(nl_llm_forward(&h, NULL, m, &b2), NL_ERR_SHAPE, "out_pos not [B n]");
    nl_tensor_release(bad);
    for (int i = 0; i < np; i++) {
        nl_tensor_release(gf[i]);
        nl_zero_grad(m->params.v[i].t);
    }
    free(gf);
    nl_tensor_release(hp); nl_tensor_release(hf); nl_tensor_release(hs); nl_tensor_release(lf); nl_tensor_release(ls);
    nl_tensor_release(op); nl_tensor_release(w); nl_tensor_release(ids); nl_tensor_release(mask);
}

static void check_save_load(const char *name, nl_llm *m, nl_safetensors *io)
{
    char dir[] = "/tmp/nl_llm_XXXXXX";
    if (!mkdtemp(dir)) return;
    nl_llm *m2 = NULL;
    if (h_ok(nl_llm_save(m, dir), "save") && h_ok(nl_llm_load(&m2, dir, NL_CPU_DEVICE), "reload")) {
        nl_tensor *ids = io_get(io, "input_ids"), *h1 = NULL, *h2 = NULL;
        nl_llm_input a = {.ids = ids};
        h_ok(nl_llm_forward(&h1, NULL, m, &a), "fwd");
        h_ok(nl_llm_forward(&h2, NULL, m2, &a), "fwd reloaded");
        double *r = h_values(h1);
        h_close("save -> load gives bit-identical outputs", h2, r, 0, 0);
        free(r);
        h_check(m2->params.n == m->params.n && m2->cfg.tie_word_embeddings == m->cfg.tie_word_embeddings,
                "%s: reloaded model has the same %d parameters", name, m->params.n);
        nl_tensor_release(ids); nl_tensor_release(h1); nl_tensor_release(h2);
    }
    nl_llm_free(m2);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    h_check(system(cmd) == 0, "cleanup");
}

static void check_model(const char *name)
{
    char dir[700], iop[800];
    snprintf(dir, sizeof dir, "%s/%s", fixdir, name);
    snprintf(iop, sizeof iop, "%s/io.safetensors", dir);
    nl_llm *m = NULL;
    nl_safetensors *io = NULL;
    if (!h_ok(nl_llm_load(&m, dir, NL_CPU_DEVICE), name) || !h_ok(nl_safetensors_open(&io, iop), iop)) {
        nl_llm_free(m);
        return;
    }
    h_check(m->nonfinite == 0, "%s: no NaN/Inf weights reported", name);
    check_forward_backward(name, m, io);
    check_generate(name, m, io);
    check_paths(name, m, io);
    check_out_pos(name, m, io);
    check_save_load(name, m, io);
    nl_safetensors_close(io);
    nl_llm_free(m);
}

static void test_resize(void)
{
    nl_llm_config c;
    nl_llm_config_preset(&c, "tiny");
    c.vocab_size = 10, c.hidden_size = 8, c.intermediate_size = 8, c.num_layers = 1, c.num_heads = 2;
    c.num_kv_heads = 1, c.head_dim = 4;
    nl_rng r;
    nl_rng_seed(&r, 7);
    nl_llm *m = NULL;
    if (!h_ok(nl_llm_create(&m, &c, NL_CPU_DEVICE, &r), "create")) return;
    double *old = h_values(m->embed);
    if (h_ok(nl_llm_resize_vocab(m, 13), "resize")) {
        double *nw = h_values(m->embed);
        bool keep = memcmp(old, nw, 10 * 8 * sizeof *old) == 0, mean = true;
        for (int j = 0; j < 8; j++) {
            double s = 0;
            for (int r2 = 0; r2 < 10; r2++) s += old[r2 * 8 + j];
            for (int r2 = 10; r2 < 13; r2++) mean = mean && fabs(nw[r2 * 8 + j] - s / 10) < 1e-6;
        }
        h_check(keep && mean && m->cfg.vocab_size == 13 && m->lm_head->shape[0] == 13,
                "resize vocab 10 -> 13: old rows kept, new rows = mean of old rows, lm_head resized");
        h_check(nl_params_get(&m->params, "model.embed_tokens.weight") == m->embed, "resized embedding is registered");
        free(nw);
        h_expect_error(nl_llm_resize_vocab(m, 5), NL_ERR_ARG, "shrinking the vocabulary");
    }
    free(old);
    nl_tensor *ids = NULL, *h = NULL;
    int64_t bad[3] = {1, 13, 2};
    nl_tensor_from_host(&ids, NL_I64, 2, (const int64_t[]){1, 3}, bad, NL_I64, NL_CPU_DEVICE);
    nl_llm_input in = {.ids = ids};
    h_expect_error(nl_llm_forward(&h, NULL, m, &in), NL_ERR_ARG, "token id 13 >= vocab 13");
    nl_tensor_release(ids);
    nl_llm_free(m);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_bad_inputs(void)
{
    char dir[] = "/tmp/nl_llmbad_XXXXXX", path[600], cmd[1400];
    if (!mkdtemp(dir)) return;
    nl_llm *m = NULL;
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_file(path, "{\"model_type\": \"llama\", \"vocab_size\": 97, \"hidden_size\": 30, \"intermediate_size\": 64,"
                     " \"num_hidden_layers\": 2, \"num_attention_heads\": 4}");
    h_expect_error(nl_llm_load(&m, dir, NL_CPU_DEVICE), NL_ERR_FORMAT, "hidden 30 with 4 heads");
    h_check(strstr(nl_last_error(), "not divisible") != NULL, "message says why: %s", nl_last_error());
    write_file(path, "{\"model_type\": \"llama\", \"vocab_size\": \"97\"}");
    h_expect_error(nl_llm_load(&m, dir, NL_CPU_DEVICE), NL_ERR_FORMAT, "string vocab_size");
    h_check(strstr(nl_last_error(), "vocab_size") != NULL, "message names the key: %s", nl_last_error());
    write_file(path, "{\"model_type\": \"llama\", \"vocab_size\": 97, \"hidden_size\": 32, \"intermediate_size\": 64,"
                     " \"num_hidden_layers\": 0, \"num_attention_heads\": 4}");
    h_expect_error(nl_llm_load(&m, dir, NL_CPU_DEVICE), NL_ERR_FORMAT, "0 layers");
    write_file(path, "{\"model_type\": \"gpt2\"}");
    h_expect_error(nl_llm_load(&m, dir, NL_CPU_DEVICE), NL_ERR_FORMAT, "unsupported model type");
    h_check(strstr(nl_last_error(), "gpt2") && strstr(nl_last_error(), "llama"), "names it and the supported ones: %s",
            nl_last_error());
    write_file(path, "{\"model_type\": \"llama\", \"vocab_size\": 97,");
    h_expect_error(nl_llm_load(&m, dir, NL_CPU_DEVICE), NL_ERR_FORMAT, "truncated config.json");
    /* the llama fixture's weights with one tensor missing, and a wrong shape */
    snprintf(cmd, sizeof cmd, "cp %s/llama/config.json %s/", fixdir, dir);
    h_check(system(cmd) == 0, "copy config");
    nl_safetensors *f = NULL;
    snprintf(path, sizeof path, "%s/llama/model.safetensors", fixdir);
    if (h_ok(nl_safetensors_open(&f, path), "open fixture")) {
        int n = nl_safetensors_count(f);
        const char *names[64];
        nl_tensor *ts[64];
        for (int i = 0; i < n && i < 64; i++) {
            names[i] = nl_safetensors_name(f, i);
            nl_safetensors_load(&ts[i], f, names[i], NL_F32, NL_CPU_DEVICE);
        }
        const char *skip = "model.layers.1.mlp.up_proj.weight";
        const char *kept[64];
        nl_tensor *kt[64];
        int k = 0;
        for (int i = 0; i < n; i++)
            if (strcmp(names[i], skip)) kept[k] = names[i], kt[k++] = ts[i];
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        nl_safetensors_save(path, k, kept, kt, 0, NULL);
        h_expect_error(nl_llm_load(&m, dir, NL_CPU_DEVICE), NL_ERR_FORMAT, "missing weight");
        h_check(strstr(nl_last_error(), skip) != NULL, "message names the missing weight: %s", nl_last_error());
        /* an extra weight */
        kept[k] = "model.layers.9.extra.weight", kt[k] = ts[0];
        for (int i = 0; i < n; i++)
            if (!strcmp(names[i], skip)) kept[k + 1] = names[i], kt[k + 1] = ts[i];
        nl_safetensors_save(path, k + 2, kept, kt, 0, NULL);
        h_expect_error(nl_llm_load(&m, dir, NL_CPU_DEVICE), NL_ERR_FORMAT, "unexpected weight");
        h_check(strstr(nl_last_error(), "model.layers.9.extra.weight") != NULL, "message names the extra weight: %s",
                nl_last_error());
        for (int i = 0; i < n; i++) nl_tensor_release(ts[i]);
        nl_safetensors_close(f);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    h_check(system(cmd) == 0, "cleanup");
}

int main(void)
{
    h_init("llm");
    const char *fx = getenv("NL_FIXTURES");
    snprintf(fixdir, sizeof fixdir, "%s/models", fx ? fx : "tests/fixtures");
    check_model("llama");
    check_model("qwen2");
    test_resize();
    test_bad_inputs();
    return h_finish();
}
