/* test_lora.c — LoRA adapters (runtime/nn/lora.h) on the decoder LLM: the
 * adapted linear map against a double-precision reference and finite
 * differences; on the llama fixture a fresh adapter changes nothing, a trained
 * one does, merging equals the unmerged model, only adapters get gradients,
 * KV-cache generation and probes still work, PEFT save/load round trips, and
 * bad targets, ranks and adapter files fail with messages naming them. */
#define _GNU_SOURCE
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "io/safetensors.h"
#include "llm.h"

/* Merged vs unmerged: W + s*B*A rounded once to f32 against the two products
 * summed in the forward; hidden states are O(1) after the final norm. */
#define MERGE_ATOL 1e-5
#define MERGE_RTOL 1e-5

static char fixdir[600];

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

static bool same_as(const char *what, nl_tensor *got, nl_tensor *want, double atol, double rtol)
{
    if (!got || !want) return h_check(false, "%s: missing tensor", what);
    double *ref = h_values(want);
    bool ok = h_close(what, got, ref, atol, rtol);
    free(ref);
    return ok;
}

static double max_abs_diff(nl_tensor *a, nl_tensor *b)
{
    double *x = h_values(a), *y = h_values(b), mx = 0;
    for (int64_t i = 0, n = nl_tensor_numel(a); i < n; i++) mx = fmax(mx, fabs(x[i] - y[i]));
    free(x);
    free(y);
    return mx;
}

static nl_status hidden_of(nl_tensor **h, nl_llm *m, nl_tensor *ids, nl_tensor *mask)
{
    nl_llm_input in = {.ids = ids, .mask = mask};
    return nl_llm_forward(h, NULL, m, &in);
}

static nl_llm *load_fixture(void)
{
    char dir[700];
    snprintf(dir, sizeof dir, "%s/llama", fixdir);
    nl_llm *m = NULL;
    return h_ok(nl_llm_load(&m, dir, NL_CPU_DEVICE), "load llama fixture") ? m : NULL;
}

static bool base_trainable(const nl_llm *m, bool want)
{
    for (int i = 0; i < m->params.n; i++)
        if (m->params.v[i].t->requires_grad != want) return false;
    return true;
}

static bool no_adapters(const nl_llm *m)
{
    for (int l = 0; l < m->cfg.num_layers; l++)
        for (int p = 0; p < NL_PROJ_COUNT; p++)
            if (m->layers[l].lora[p]) return false;
    return m->lora_params.n == 0 && m->lora_rank == 0;
}

static void randomize_b(nl_llm *m, uint64_t seed)
{
    nl_rng r;
    nl_rng_seed(&r, seed);
    for (int i = 0; i < m->lora_params.n; i++)
        if (strstr(m->lora_params.v[i].name, "lora_B")) nl_fill_normal(m->lora_params.v[i].t, 0.0, 0.2, &r);
}

static void rm_rf(const char *dir)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    h_check(system(cmd) == 0, "cleanup %s", dir);
}

/* ---- nl_lora_linear alone ------------------------------------------------------ */

static nl_status lora_fn(nl_tensor **out, nl_tensor **in, void *ctx)
{
    nl_lora l = {.A = in[3], .B = in[4], .scaling = *(double *)ctx, .rank = (int)in[3]->shape[0]};
    return nl_lora_linear(out, in[0], in[1], in[2], &l);
}

static void test_lora_linear(void)
{
    const int64_t N = 5, IN = 7, OUT = 6, R = 3;
    nl_tensor *x = h_rand(3, (const int64_t[]){1, N, IN}, -1, 1, true);
    nl_tensor *w = h_rand(2, (const int64_t[]){OUT, IN}, -1, 1, false);
    nl_tensor *b = h_rand(1, (const int64_t[]){OUT}, -1, 1, false);
    nl_tensor *A = h_rand(2, (const int64_t[]){R, IN}, -1, 1, false);
    nl_tensor *B = h_rand(2, (const int64_t[]){OUT, R}, -1, 1, false);
    double scaling = 16.0 / 3.0;
    nl_lora l = {.A = A, .B = B, .scaling = scaling, .rank = (int)R};
    nl_tensor *y = NULL, *y0 = NULL, *yl = NULL;
    if (h_ok(nl_lora_linear(&y, x, w, b, &l), "lora linear")) {
        double *xv = h_values(x), *wv = h_values(w), *bv = h_values(b), *av = h_values(A), *bb = h_values(B);
        double *ref = malloc((size_t)(N * OUT) * sizeof *ref);
        for (int64_t n = 0; n < N; n++)
            for (int64_t o = 0; o < OUT; o++) {
                double s = bv[o], d = 0;
                for (int64_t i = 0; i < IN; i++) s += xv[n * IN + i] * wv[o * IN + i];
                for (int64_t r = 0; r < R; r++) {
                    double xa = 0;
                    for (int64_t i = 0; i < IN; i++) xa += xv[n * IN + i] * av[r * IN + i];
                    d += xa * bb[o * R + r];
                }
                ref[n * OUT + o] = s + scaling * d;
            }
        h_close("lora linear = x W^T + b + s (x A^T) B^T (non-contiguous x)", y, ref, 1e-5, 1e-5);
        free(xv); free(wv); free(bv); free(av); free(bb); free(ref);
    }
    if (h_ok(nl_lora_linear(&y0, x, w, b, NULL), "plain") && h_ok(nl_linear(&yl, x, w, b), "linear"))
        same_as("lora linear without adapter is nl_linear, bit for bit", y0, yl, 0, 0);
    nl_tensor *in[5] = {x, w, b, A, B};
    for (int i = 0; i < 5; i++) in[i]->requires_grad = true;
    h_gradcheck("lora linear: d/dx, dW, db, dA, dB", lora_fn, 5, in, &scaling, 1e-2, 1e-3, 1e-3, 64);
    /* a fresh adapter: A in the kaiming bound, B zero, output unchanged */
    nl_rng r;
    nl_rng_seed(&r, 3);
    if (h_ok(nl_lora_init(&l, &r), "init")) {
        double *av = h_values(A), *bb = h_values(B), bound = 1 / sqrt((double)IN), mx = 0, bmax = 0;
        for (int64_t i = 0; i < R * IN; i++) mx = fmax(mx, fabs(av[i]));
        for (int64_t i = 0; i < OUT * R; i++) bmax = fmax(bmax, fabs(bb[i]));
        h_check(mx <= bound && mx > 0.5 * bound && bmax == 0, "init: max |A| = %g in (bound/2, bound = %g], B = 0", mx,
                bound);
        free(av);
        free(bb);
        nl_tensor *yf = NULL;
        if (h_ok(nl_lora_linear(&yf, x, w, b, &l), "fresh")) same_as("fresh adapter adds exactly zero", yf, yl, 0, 0);
        nl_tensor_release(yf);
    }
    nl_tensor *bad = h_rand(2, (const int64_t[]){R, IN + 1}, -1, 1, false), *yb = NULL;
    nl_lora lb = {.A = bad, .B = B, .scaling = 1, .rank = (int)R};
    h_expect_error(nl_lora_linear(&yb, x, w, b, &lb), NL_ERR_SHAPE, "A [3 8] on W [6 7]");
    h_check(strstr(nl_last_error(), "[3 8]") && strstr(nl_last_error(), "[6 7]"), "message shows both shapes: %s",
            nl_last_error());
    nl_tensor_release(bad);
    nl_tensor_release(y); nl_tensor_release(y0); nl_tensor_release(yl);
    nl_tensor_release(x); nl_tensor_release(w); nl_tensor_release(b); nl_tensor_release(A); nl_tensor_release(B);
}

/* ---- the llama fixture ----------------------------------------------------------- */

/* greedy tokens by full forwards without a cache (reference for generate) */
static bool greedy_nocache(nl_llm *m, const int64_t *prompt, int64_t np, int steps, int64_t *seq)
{
    memcpy(seq, prompt, (size_t)np * sizeof *seq);
    int64_t V = m->cfg.vocab_size;
    float *row = malloc((size_t)V * sizeof *row);
    bool ok = true;
    for (int s = 0; s < steps && ok; s++) {
        int64_t n = np + s;
        nl_tensor *ids = NULL, *h = NULL, *lg = NULL, *last = NULL;
        nl_llm_input in = {0};
        ok = h_ok(nl_tensor_from_host(&ids, NL_I64, 2, (const int64_t[]){1, n}, seq, NL_I64, NL_CPU_DEVICE), "ids");
        in.ids = ids;
        ok = ok && h_ok(nl_llm_forward(&h, &lg, m, &in), "forward") && h_ok(nl_narrow(&last, lg, 1, n - 1, 1), "narrow") &&
             h_ok(nl_tensor_to_host(last, row, NL_F32), "to host");
        int64_t best = 0;
        for (int64_t j = 0; ok && j < V; j++)
            if (row[j] > row[best]) best = j;
        seq[n] = best;
        nl_tensor_release(ids); nl_tensor_release(h); nl_tensor_release(lg); nl_tensor_release(last);
    }
    free(row);
    return ok;
}

static void check_generate_and_probe(nl_llm *m, nl_tensor *ids, nl_tensor *mask)
{
    const int64_t prompt[4] = {5, 17, 42, 8};
    const int steps = 6;
    int64_t ref[10], *got = NULL, n = 0;
    nl_gen_opts o = {.max_new_tokens = steps, .repetition_penalty = 1.0, .eos_token_id = -1};
    if (greedy_nocache(m, prompt, 4, steps, ref) && h_ok(nl_llm_generate(&got, &n, m, prompt, 4, &o), "generate")) {
        h_check(n == 4 + steps && memcmp(got, ref, (size_t)n * sizeof *got) == 0,
                "generation with adapters and the KV cache equals uncached greedy decoding");
        free(got);
    }
    nl_attn_probe probe;
    nl_tensor *h1 = NULL, *h2 = NULL, *loss = NULL;
    if (!h_ok(nl_attn_probe_init(&probe, (int)m->cfg.num_layers), "probe")) return;
    nl_llm_input in = {.ids = ids, .mask = mask, .probe = &probe};
    if (h_ok(hidden_of(&h1, m, ids, mask), "forward") && h_ok(nl_llm_forward(&h2, NULL, m, &in), "forward probe")) {
        same_as("probe path with adapters equals the fused path (1e-5)", h2, h1, 1e-5, 1e-5);
        if (h_ok(nl_sum_all(&loss, h2), "loss") && h_ok(nl_backward(loss, NULL, false), "backward"))
            h_check(probe.probs[0] && probe.probs[0]->grad, "probabilities get a gradient through the adapters");
    }
    for (int i = 0; i < m->lora_params.n; i++) nl_zero_grad(m->lora_params.v[i].t);
    nl_attn_probe_free(&probe);
    nl_tensor_release(h1); nl_tensor_release(h2); nl_tensor_release(loss);
}

static void check_grads(nl_llm *m, nl_tensor *ids, nl_tensor *mask, nl_safetensors *io)
{
    nl_tensor *h = NULL, *w = io_get(io, "loss_weight"), *hw = NULL, *loss = NULL;
    if (!w) return;
    if (h_ok(hidden_of(&h, m, ids, mask), "forward") && h_ok(nl_mul(&hw, h, w), "mul") &&
        h_ok(nl_sum_all(&loss, hw), "sum") && h_ok(nl_backward(loss, NULL, false), "backward")) {
        int base = 0, adapted = 0;
        for (int i = 0; i < m->params.n; i++) base += m->params.v[i].t->grad != NULL;
        for (int i = 0; i < m->lora_params.n; i++) {
            nl_tensor *g = m->lora_params.v[i].t->grad;
            double *v = g ? h_values(g) : NULL, mx = 0;
            for (int64_t k = 0; v && k < nl_tensor_numel(g); k++) mx = fmax(mx, fabs(v[k]));
            adapted += mx > 0;
            free(v);
        }
        h_check(base == 0, "no base parameter received a gradient (%d did)", base);
        h_check(adapted == m->lora_params.n, "every adapter tensor received a nonzero gradient (%d of %d)", adapted,
                m->lora_params.n);
    }
    for (int i = 0; i < m->lora_params.n; i++) nl_zero_grad(m->lora_params.v[i].t);
    nl_tensor_release(h); nl_tensor_release(w); nl_tensor_release(hw); nl_tensor_release(loss);
}

static void check_config_json(const char *dir)
{
    char path[700];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    FILE *f = fopen(path, "r");
    char text[4096] = "";
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[n] = 0;
    cJSON *j = cJSON_Parse(text);
    if (!h_check(j != NULL, "adapter_config.json is JSON")) return;
    const cJSON *tm = cJSON_GetObjectItemCaseSensitive(j, "target_modules");
    const char *want[3] = {"q_proj", "v_proj", "down_proj"};
    bool targets = cJSON_IsArray(tm) && cJSON_GetArraySize(tm) == 3;
    for (int i = 0; targets && i < 3; i++) targets = !strcmp(cJSON_GetArrayItem(tm, i)->valuestring, want[i]);
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(j, "peft_type"), *r = cJSON_GetObjectItemCaseSensitive(j, "r"),
                *a = cJSON_GetObjectItemCaseSensitive(j, "lora_alpha"),
                *d = cJSON_GetObjectItemCaseSensitive(j, "lora_dropout"),
                *b = cJSON_GetObjectItemCaseSensitive(j, "bias"), *tt = cJSON_GetObjectItemCaseSensitive(j, "task_type");
    h_check(cJSON_IsString(pt) && !strcmp(pt->valuestring, "LORA") && cJSON_IsNumber(r) && r->valuedouble == 4 &&
                cJSON_IsNumber(a) && a->valuedouble == 8 && cJSON_IsNumber(d) && d->valuedouble == 0 &&
                cJSON_IsString(b) && !strcmp(b->valuestring, "none") && cJSON_IsString(tt) &&
                !strcmp(tt->valuestring, "FEATURE_EXTRACTION"),
            "adapter_config.json: peft_type LORA, r 4, lora_alpha 8, lora_dropout 0, bias none, task_type");
    h_check(targets, "adapter_config.json: target_modules [q_proj, v_proj, down_proj]");
    cJSON_Delete(j);
    nl_safetensors *st = NULL;
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    if (h_ok(nl_safetensors_open(&st, path), "open adapter_model.safetensors")) {
        int i = nl_safetensors_find(st, "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"), nd = 0;
        nl_dtype dt;
        int64_t sh[NL_MAX_DIMS] = {0};
        if (i >= 0) nl_safetensors_shape(st, i, &dt, &nd, sh);
        h_check(nl_safetensors_count(st) == 12 && i >= 0 && nd == 2 && sh[0] == 32 && sh[1] == 4,
                "adapter_model.safetensors: 12 tensors under PEFT names, down_proj lora_B [32 4]");
        nl_safetensors_close(st);
    }
}

static void check_save_load(nl_llm *m, nl_tensor *ids, nl_tensor *mask)
{
    char dir[] = "/tmp/nl_lora_XXXXXX";
    if (!mkdtemp(dir)) return;
    nl_llm *m2 = load_fixture();
    nl_tensor *h1 = NULL, *h2 = NULL;
    if (m2 && h_ok(nl_llm_save_lora(m, dir), "save lora")) {
        check_config_json(dir);
        if (h_ok(nl_llm_load_lora(m2, dir), "load lora") && h_ok(hidden_of(&h1, m, ids, mask), "fwd") &&
            h_ok(hidden_of(&h2, m2, ids, mask), "fwd reloaded"))
            same_as("save -> load of the adapter reproduces the outputs bit for bit", h2, h1, 0, 0);
        h_check(m2->lora_rank == 4 && m2->lora_params.n == 12 && m2->layers[1].lora[NL_PROJ_DOWN] &&
                    !m2->layers[1].lora[NL_PROJ_K] && fabs(m2->layers[0].lora[NL_PROJ_Q]->scaling - 2.0) < 1e-15,
                "reloaded: rank 4, 12 tensors, the same targets, scaling alpha/r = 2");
        h_check(base_trainable(m2, false), "loading an adapter freezes the base");
        h_expect_error(nl_llm_load_lora(m2, dir), NL_ERR_STATE, "loading over existing adapters");
    }
    nl_llm_free(m2);
    nl_tensor_release(h1);
    nl_tensor_release(h2);
    rm_rf(dir);
}

static void check_merge(nl_llm *m, nl_tensor *ids, nl_tensor *mask)
{
    nl_tensor *h1 = NULL, *h2 = NULL, *h3 = NULL;
    int n = m->params.n;
    char dir[] = "/tmp/nl_lora_merged_XXXXXX";
    if (!mkdtemp(dir)) return;
    nl_llm *m2 = NULL;
    if (h_ok(hidden_of(&h1, m, ids, mask), "unmerged") && h_ok(nl_llm_merge_lora(m), "merge") &&
        h_ok(hidden_of(&h2, m, ids, mask), "merged")) {
        h_check(max_abs_diff(h1, h2) > 0, "merging changed the rounding (a real fold, not a no-op)");
        same_as("merged output equals the unmerged adapter model (atol 1e-5, rtol 1e-5)", h2, h1, MERGE_ATOL, MERGE_RTOL);
        h_check(no_adapters(m) && m->params.n == n, "merge removed the adapters and kept the %d HF parameters", n);
        if (h_ok(nl_llm_save(m, dir), "save merged") && h_ok(nl_llm_load(&m2, dir, NL_CPU_DEVICE), "load merged") &&
            h_ok(hidden_of(&h3, m2, ids, mask), "fwd merged reload"))
            same_as("the merged model saves as a plain HF checkpoint", h3, h2, 0, 0);
    }
    h_check(nl_llm_merge_lora(m) == NL_OK, "merging without adapters is a no-op");
    nl_llm_free(m2);
    nl_tensor_release(h1); nl_tensor_release(h2); nl_tensor_release(h3);
    rm_rf(dir);
}

static void test_fixture(void)
{
    char iop[800];
    snprintf(iop, sizeof iop, "%s/llama/io.safetensors", fixdir);
    nl_llm *m = load_fixture();
    nl_safetensors *io = NULL;
    if (!m || !h_ok(nl_safetensors_open(&io, iop), iop)) {
        nl_llm_free(m);
        return;
    }
    int L = (int)m->cfg.num_layers;
    nl_tensor *ids = io_get(io, "input_ids"), *mask = io_get(io, "attention_mask");
    nl_tensor *base[8] = {0}, *fresh[8] = {0}, *h0 = NULL, *h1 = NULL, *lg0 = NULL, *lg1 = NULL;
    nl_llm_input in0 = {.ids = ids, .mask = mask, .all_hidden = base}, in1 = {.ids = ids, .mask = mask, .all_hidden = fresh};
    h_ok(nl_llm_forward(&h0, &lg0, m, &in0), "base forward");
    int64_t trainable = nl_params_numel(&m->params, true);
    nl_rng r;
    nl_rng_seed(&r, 11);
    const char *all7[7] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    if (h_ok(nl_llm_add_lora(m, 4, 8.0, all7, 7, &r), "add lora (all seven)") &&
        h_ok(nl_llm_forward(&h1, &lg1, m, &in1), "fresh forward")) {
        for (int l = 0; l <= L; l++) {
            char what[96];
            snprintf(what, sizeof what, "fresh adapters: hidden state %d bit-identical", l);
            same_as(what, fresh[l], base[l], 0, 0);
        }
        same_as("fresh adapters: logits bit-identical", lg1, lg0, 0, 0);
        nl_tensor *a = nl_params_get(&m->lora_params, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
        nl_tensor *b = nl_params_get(&m->lora_params, "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight");
        h_check(m->lora_params.n == 2 * 7 * L && a && a->shape[0] == 4 && a->shape[1] == 32 && b &&
                    b->shape[0] == 32 && b->shape[1] == 4 && a == m->layers[0].lora[NL_PROJ_Q]->A,
                "%d adapter tensors under PEFT names: q_proj A [4 32], down_proj B [32 4]", m->lora_params.n);
        h_check(base_trainable(m, false) && nl_params_numel(&m->params, true) == 0 && trainable > 0 &&
                    nl_params_numel(&m->lora_params, true) == (int64_t)L * 4 * (2 * (32 + 32) + 2 * (16 + 32) + 3 * (64 + 32)),
                "base frozen (%lld trainable before), adapters trainable: r * (in + out) per target",
                (long long)trainable);
        h_expect_error(nl_llm_add_lora(m, 4, 8.0, all7, 7, &r), NL_ERR_STATE, "adding adapters twice");
        randomize_b(m, 5);
        nl_tensor *h2 = NULL;
        if (h_ok(hidden_of(&h2, m, ids, mask), "trained forward"))
            h_check(max_abs_diff(h2, h0) > 1e-2, "random B changes the hidden states (max diff %g)", max_abs_diff(h2, h0));
        nl_tensor_release(h2);
        check_grads(m, ids, mask, io);
        check_generate_and_probe(m, ids, mask);
        check_merge(m, ids, mask);
        h_check(base_trainable(m, false), "after merge the base stays frozen");
    }
    for (int l = 0; l <= L; l++) nl_tensor_release(base[l]), nl_tensor_release(fresh[l]);
    nl_tensor_release(h0); nl_tensor_release(h1); nl_tensor_release(lg0); nl_tensor_release(lg1);
    nl_llm_free(m);

    /* adapters on three targets: save -> load */
    m = load_fixture();
    const char *three[3] = {"v_proj", "down_proj", "q_proj"};
    nl_rng_seed(&r, 12);
    if (m && h_ok(nl_llm_add_lora(m, 4, 8.0, three, 3, &r), "add lora (q v down)")) {
        randomize_b(m, 6);
        check_save_load(m, ids, mask);
    }
    nl_llm_free(m);
    nl_tensor_release(ids);
    nl_tensor_release(mask);
    nl_safetensors_close(io);
}

/* ---- bad input ------------------------------------------------------------------------ */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) fputs(text, f), fclose(f);
}

static void tiny_config(nl_llm_config *c, int64_t hidden)
{
    nl_llm_config_preset(c, "tiny");
    c->vocab_size = 11, c->hidden_size = hidden, c->intermediate_size = 12, c->num_layers = 2, c->num_heads = 2;
    c->num_kv_heads = 1, c->head_dim = hidden / 2, c->max_positions = 32;
}

static void test_bad_inputs(void)
{
    nl_llm *m = load_fixture();
    if (!m) return;
    nl_rng r;
    nl_rng_seed(&r, 1);
    const char *bad[2] = {"q_proj", "foo_proj"};
    h_expect_error(nl_llm_add_lora(m, 4, 8, bad, 2, &r), NL_ERR_ARG, "target foo_proj");
    h_check(strstr(nl_last_error(), "foo_proj") != NULL, "message names the bad target: %s", nl_last_error());
    const char *q[1] = {"q_proj"};
    h_expect_error(nl_llm_add_lora(m, 0, 8, q, 1, &r), NL_ERR_ARG, "rank 0");
    h_check(strstr(nl_last_error(), "rank") != NULL, "message names the rank: %s", nl_last_error());
    h_expect_error(nl_llm_add_lora(m, 2, NAN, q, 1, &r), NL_ERR_ARG, "alpha NaN");
    h_expect_error(nl_llm_add_lora(m, 2, 8, q, 0, &r), NL_ERR_ARG, "no targets");
    h_check(no_adapters(m) && base_trainable(m, true), "failed calls leave the model unchanged");
    char dir[] = "/tmp/nl_lora_bad_XXXXXX", path[700];
    if (!mkdtemp(dir)) return;
    h_expect_error(nl_llm_save_lora(m, dir), NL_ERR_STATE, "saving without adapters");
    h_check(nl_llm_load_lora(m, dir) != NL_OK, "loading from a directory without an adapter fails");
    /* an adapter of a model with hidden size 8 on the 32-wide fixture */
    nl_llm_config c;
    tiny_config(&c, 8);
    nl_llm *small = NULL;
    if (h_ok(nl_llm_create(&small, &c, NL_CPU_DEVICE, &r), "tiny model") &&
        h_ok(nl_llm_add_lora(small, 4, 8, q, 1, &r), "tiny adapter") && h_ok(nl_llm_save_lora(small, dir), "save tiny")) {
        h_expect_error(nl_llm_load_lora(m, dir), NL_ERR_FORMAT, "adapter with mismatched shapes");
        h_check(strstr(nl_last_error(), "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight") &&
                    strstr(nl_last_error(), "[4 8]") && strstr(nl_last_error(), "[4 32]"),
                "message names the tensor and both shapes: %s", nl_last_error());
        h_check(no_adapters(m) && base_trainable(m, true), "a failed load leaves the model unchanged");
        snprintf(path, sizeof path, "%s/adapter_config.json", dir);
        write_text(path, "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\", \"foo_proj\"]}");
        h_expect_error(nl_llm_load_lora(m, dir), NL_ERR_FORMAT, "config with target foo_proj");
        h_check(strstr(nl_last_error(), "foo_proj") != NULL, "message names the bad target: %s", nl_last_error());
        write_text(path, "{\"peft_type\": \"LORA\", \"r\": 4, \"target_modules\": [\"q_proj\"], \"use_rslora\": true}");
        h_expect_error(nl_llm_load_lora(m, dir), NL_ERR_FORMAT, "rsLoRA config");
        write_text(path, "{\"peft_type\": \"PREFIX_TUNING\", \"r\": 4, \"target_modules\": [\"q_proj\"]}");
        h_expect_error(nl_llm_load_lora(m, dir), NL_ERR_FORMAT, "peft_type PREFIX_TUNING");
        write_text(path, "{\"peft_type\": \"LORA\", \"r\": 0, \"target_modules\": [\"q_proj\"]}");
        h_expect_error(nl_llm_load_lora(m, dir), NL_ERR_FORMAT, "config with r 0");
        /* a config naming more targets than the file holds */
        write_text(path, "{\"peft_type\": \"LORA\", \"r\": 4, \"target_modules\": [\"q_proj\", \"k_proj\"]}");
        h_expect_error(nl_llm_load_lora(small, dir), NL_ERR_STATE, "tiny model already has adapters");
        nl_llm_remove_lora(small);
        h_expect_error(nl_llm_load_lora(small, dir), NL_ERR_FORMAT, "missing k_proj tensors");
        h_check(strstr(nl_last_error(), "k_proj.lora_A.weight") != NULL, "message names the missing tensor: %s",
                nl_last_error());
        h_check(no_adapters(m) && no_adapters(small), "failed loads leave the models without adapters");
    }
    nl_llm_free(small);
    nl_llm_free(m);
    rm_rf(dir);
}

/* ---- finite differences through the whole decoder ------------------------------------- */

typedef struct grad_ctx {
    nl_llm *m;
    nl_tensor *ids;
} grad_ctx;

static nl_status model_fn(nl_tensor **out, nl_tensor **in, void *ctx)
{
    grad_ctx *g = ctx;
    nl_llm_input x = {.ids = g->ids};
    return nl_llm_forward(out, NULL, g->m, &x);
}

static void test_gradcheck(void)
{
    nl_llm_config c;
    tiny_config(&c, 8);
    nl_rng r;
    nl_rng_seed(&r, 21);
    nl_llm *m = NULL;
    const char *all7[7] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    if (!h_ok(nl_llm_create(&m, &c, NL_CPU_DEVICE, &r), "tiny model") || !h_ok(nl_llm_add_lora(m, 2, 4, all7, 7, &r), "add")) {
        nl_llm_free(m);
        return;
    }
    /* larger weights than the 0.02 init so every path matters numerically */
    for (int i = 0; i < m->params.n; i++)
        if (m->params.v[i].t->ndim == 2) nl_fill_normal(m->params.v[i].t, 0.0, 0.3, &r);
    randomize_b(m, 9);
    nl_tensor *ids = h_randint(2, (const int64_t[]){1, 5}, c.vocab_size, NL_I64);
    grad_ctx g = {m, ids};
    int n = m->lora_params.n;
    nl_tensor **in = malloc((size_t)n * sizeof *in);
    for (int i = 0; i < n; i++) in[i] = m->lora_params.v[i].t;
    h_gradcheck("decoder: d hidden / d every adapter tensor (2 layers x 7 targets x A,B)", model_fn, n, in, &g, 1e-2, 2e-3,
                2e-2, 8);
    int base = 0;
    for (int i = 0; i < m->params.n; i++) base += m->params.v[i].t->grad != NULL;
    h_check(base == 0, "gradcheck: base parameters of the tiny model got no gradient (%d did)", base);
    free(in);
    nl_tensor_release(ids);
    nl_llm_free(m);
}

int main(void)
{
    h_init("lora");
    const char *fx = getenv("NL_FIXTURES");
    snprintf(fixdir, sizeof fixdir, "%s/models", fx ? fx : "tests/fixtures");
    test_lora_linear();
    test_fixture();
    test_bad_inputs();
    test_gradcheck();
    return h_finish();
}
