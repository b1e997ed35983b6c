/* test_qformer.c — the Q-Former against the PyTorch golden fixture
 * (tests/fixtures/models/qformer, found through $NL_FIXTURES): every hidden
 * state, the loss and every gradient (query_tokens and vision included);
 * save/load round trip; missing and unexpected weights; wrong vision width;
 * probes (self at 2i, cross at 2i+1); dropout (train vs eval, replayable);
 * random init (queries not all equal); no leaked host memory.
 * Depends on the runtime, runtime/models/qformer and the ops harness. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "io/safetensors.h"
#include "qformer.h"

/* Tolerances, relative to the largest |value| of each reference tensor:
 * |got - ref| <= TOL * max|ref| elementwise. Fixture: float64 math rounded
 * to f32; we compute in f32 (dot products of <= 64 terms, post-LN with eps
 * 1e-12, softmax over <= 17 keys). Measured worst errors are a few f32
 * epsilons (see the log); the limits keep ~4x headroom. The key biases have
 * an exactly-zero true gradient (fixture |g| < 1e-14): absolute bound on our
 * f32 cancellation noise. The loss is a 256-term f32 sum. */
#define ACT_TOL 1.5e-6
#define GRAD_TOL 3e-6
#define ZERO_GRAD_ATOL 2e-6
#define LOSS_ATOL 1e-5
#define LOSS_RTOL 2e-6

static char fixdir[4096];
static char tmpdir[64];

static nl_tensor *fixture_vision(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/io.safetensors", fixdir);
    nl_safetensors *io = NULL;
    if (!h_ok(nl_safetensors_open(&io, path), "open io")) return NULL;
    nl_tensor *v = h_load_f32(io, "vision");
    nl_safetensors_close(io);
    return v;
}

static nl_tensor *run(nl_qformer *m, nl_tensor *vision, nl_attn_probe *probe, double p, nl_rng *rng)
{
    nl_tensor *h = NULL;
    if (!h_ok(nl_qformer_forward(&h, m, vision, NULL, probe, p, rng), "forward")) return NULL;
    return h;
}

static void test_fixture(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/io.safetensors", fixdir);
    nl_safetensors *io = NULL;
    nl_qformer *m = NULL;
    nl_tensor *vis = NULL, *lw = NULL, *hs[8] = {0}, *out = NULL, *prod = NULL, *loss = NULL;
    if (!h_ok(nl_safetensors_open(&io, path), "open io.safetensors")) return;
    if (!h_ok(nl_qformer_load(&m, fixdir, NL_CPU_DEVICE), "load qformer")) goto out;
    const int L = (int)m->cfg.num_layers;
    h_check(L == 2 && m->layers[0].has_cross && !m->layers[1].has_cross && m->cfg.encoder_hidden_size == 24,
            "config: 2 layers, cross-attention on layer 0 only, encoder width 24");
    vis = h_load_f32(io, "vision");
    lw = h_load_f32(io, "loss_weight");
    if (!vis || !lw) goto out;
    vis->requires_grad = true;
    if (!h_ok(nl_qformer_forward(&out, m, vis, hs, NULL, 0.0, NULL), "forward")) goto out;
    for (int l = 0; l <= L; l++) {
        char name[32];
        snprintf(name, sizeof name, "hidden_states.%d", l);
        h_cmp_fixture(io, name, hs[l], ACT_TOL, 0);
    }
    h_check(out == hs[L], "the output is hidden_states.%d", L);
    if (!h_ok(nl_mul(&prod, out, lw), "mul") || !h_ok(nl_sum_all(&loss, prod), "sum")) goto out;
    double lv;
    nl_tensor_get(loss, NULL, &lv);
    const char *ls = nl_safetensors_metadata(io, "loss");
    if (h_check(ls != NULL, "io metadata has the loss")) {
        double want = strtod(ls, NULL);
        h_check(fabs(lv - want) <= LOSS_ATOL + LOSS_RTOL * fabs(want), "loss %.9g vs fixture %.9g", lv, want);
    }
    if (!h_ok(nl_backward(loss, NULL, false), "backward")) goto out;
    int compared = 0;
    for (int i = 0; i < m->params.n; i++) {
        const nl_param *p = &m->params.v[i];
        char name[300];
        snprintf(name, sizeof name, "grad.%s", p->name);
        bool kbias = strstr(p->name, "attention.key.bias") != NULL;
        if (!h_check(p->t->grad != NULL, "%s has a gradient", p->name)) continue;
        h_cmp_fixture(io, name, p->t->grad, kbias ? 0 : GRAD_TOL, kbias ? ZERO_GRAD_ATOL : 0);
        compared++;
    }
    h_check(compared == m->params.n && m->params.n == 45, "compared %d of %d parameter gradients", compared,
            m->params.n);
    if (h_check(vis->grad != NULL, "vision has a gradient")) h_cmp_fixture(io, "grad.vision", vis->grad, GRAD_TOL, 0);
out:
    for (int l = 0; l < 8; l++) nl_tensor_release(hs[l]);
    nl_tensor_release(out); nl_tensor_release(prod); nl_tensor_release(loss);
    nl_tensor_release(vis); nl_tensor_release(lw);
    nl_qformer_free(m);
    nl_safetensors_close(io);
}

static void test_round_trip(void)
{
    nl_qformer *m = NULL, *m2 = NULL;
    nl_tensor *vis = fixture_vision(), *a = NULL, *b = NULL;
    char dir[128];
    snprintf(dir, sizeof dir, "%s/saved", tmpdir);
    mkdir(dir, 0700);
    if (vis && h_ok(nl_qformer_load(&m, fixdir, NL_CPU_DEVICE), "load") && h_ok(nl_qformer_save(m, dir), "save") &&
        h_ok(nl_qformer_load(&m2, dir, NL_CPU_DEVICE), "load saved")) {
        h_check(m2->params.n == m->params.n, "round trip keeps %d parameters", m->params.n);
        bool g = nl_grad_set_enabled(false);
        a = run(m, vis, NULL, 0, NULL);
        b = run(m2, vis, NULL, 0, NULL);
        nl_grad_set_enabled(g);
        if (a && b) h_same("save -> load gives identical outputs", b, a, 0);
    }
    nl_tensor_release(a); nl_tensor_release(b); nl_tensor_release(vis);
    nl_qformer_free(m); nl_qformer_free(m2);
}

/* Copy the fixture into DIR without `skip` and with an extra tensor `extra`. */
static bool write_variant(const char *dir, const char *skip, const char *extra)
{
    char path[4200], cmd[8600];
    snprintf(cmd, sizeof cmd, "cp '%s/config.json' '%s/config.json'", fixdir, dir);
    if (!h_check(system(cmd) == 0, "copy config.json")) return false;
    snprintf(path, sizeof path, "%s/model.safetensors", fixdir);
    nl_safetensors *f = NULL;
    if (!h_ok(nl_safetensors_open(&f, path), "open model")) return false;
    int n = nl_safetensors_count(f), k = 0;
    const char **names = calloc((size_t)n + 1, sizeof *names);
    nl_tensor **ts = calloc((size_t)n + 1, sizeof *ts);
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        const char *name = nl_safetensors_name(f, i);
        if (skip && strcmp(name, skip) == 0) continue;
        ok = h_ok(nl_safetensors_load(&ts[k], f, name, NL_F32, NL_CPU_DEVICE), name);
        names[k++] = name;
    }
    if (ok && extra) {
        ok = h_ok(nl_tensor_zeros(&ts[k], NL_F32, 1, (const int64_t[]){32}, NL_CPU_DEVICE), "extra");
        names[k++] = extra;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (ok) ok = h_ok(nl_safetensors_save(path, k, names, ts, 0, NULL), "save variant");
    for (int i = 0; i < k; i++) nl_tensor_release(ts[i]);
    free(names);
    free(ts);
    nl_safetensors_close(f);
    return ok;
}

static void test_bad_weights(void)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/missing", tmpdir);
    mkdir(dir, 0700);
    const char *gone = "encoder.layer.0.crossattention.attention.value.bias";
    nl_qformer *m = NULL;
    if (write_variant(dir, gone, NULL)) {
        h_expect_error(nl_qformer_load(&m, dir, NL_CPU_DEVICE), NL_ERR_FORMAT, "load without one weight");
        h_check(m == NULL && strstr(nl_last_error(), gone) != NULL, "the message names %s: %s", gone, nl_last_error());
    }
    /* Layer 1 has no cross-attention (frequency 2): its weights are unexpected. */
    const char *extra = "encoder.layer.1.crossattention.attention.query.bias";
    if (write_variant(dir, NULL, extra)) {
        h_expect_error(nl_qformer_load(&m, dir, NL_CPU_DEVICE), NL_ERR_FORMAT, "load with an unexpected weight");
        h_check(m == NULL && strstr(nl_last_error(), extra) != NULL, "the message names %s: %s", extra,
                nl_last_error());
    }
    nl_qformer_free(m);
}

static void test_bad_vision(void)
{
    nl_qformer *m = NULL;
    if (!h_ok(nl_qformer_load(&m, fixdir, NL_CPU_DEVICE), "load")) return;
    nl_tensor *h = NULL;
    nl_tensor *v32 = h_rand(3, (const int64_t[]){2, 17, 32}, -1, 1, false);
    h_expect_error(nl_qformer_forward(&h, m, v32, NULL, NULL, 0, NULL), NL_ERR_SHAPE, "vision width 32 for CE 24");
    h_check(h == NULL && strstr(nl_last_error(), "[2 17 32]") != NULL, "message names the shape: %s", nl_last_error());
    nl_tensor *v2 = h_rand(2, (const int64_t[]){17, 24}, -1, 1, false);
    h_expect_error(nl_qformer_forward(&h, m, v2, NULL, NULL, 0, NULL), NL_ERR_SHAPE, "vision without batch dim");
    nl_tensor *v3 = h_rand(3, (const int64_t[]){2, 17, 24}, -1, 1, false);
    h_expect_error(nl_qformer_forward(&h, m, v3, NULL, NULL, 1.0, NULL), NL_ERR_ARG, "dropout_p 1");
    nl_attn_probe pr;
    if (h_ok(nl_attn_probe_init(&pr, 2), "probe init")) {
        h_expect_error(nl_qformer_forward(&h, m, v3, NULL, &pr, 0, NULL), NL_ERR_ARG, "probe with 2 < 4 slots");
        nl_attn_probe_free(&pr);
    }
    nl_tensor_release(v32); nl_tensor_release(v2); nl_tensor_release(v3);
    nl_qformer_free(m);
}

static bool probs_shape(const nl_tensor *p, int64_t tk)
{
    return p && p->ndim == 4 && p->shape[0] == 2 && p->shape[1] == 4 && p->shape[2] == 4 && p->shape[3] == tk;
}

static void test_probe(void)
{
    nl_qformer *m = NULL;
    nl_tensor *vis = fixture_vision(), *a = NULL, *b = NULL, *s = NULL;
    nl_attn_probe pr = {0};
    if (!vis || !h_ok(nl_qformer_load(&m, fixdir, NL_CPU_DEVICE), "load")) goto out;
    if (!h_ok(nl_attn_probe_init(&pr, 4), "probe init")) goto out;
    a = run(m, vis, NULL, 0, NULL);
    b = run(m, vis, &pr, 0, NULL);
    /* Explicit softmax vs the fused kernel: agreement to f32 rounding. */
    if (a && b) h_same("probe enabled gives the same outputs", b, a, 1e-5);
    h_check(probs_shape(pr.probs[0], 4), "probe 0 (layer 0 self): [2 4 4 4]");
    h_check(probs_shape(pr.probs[1], 17), "probe 1 (layer 0 cross): [2 4 4 17]");
    h_check(probs_shape(pr.probs[2], 4), "probe 2 (layer 1 self): [2 4 4 4]");
    h_check(pr.probs[3] == NULL, "probe 3: layer 1 has no cross-attention");
    if (b && h_ok(nl_sum_all(&s, b), "sum") && h_ok(nl_backward(s, NULL, false), "backward"))
        for (int i = 0; i < 3; i++)
            h_check(pr.probs[i] && pr.probs[i]->grad != NULL, "probe %d: probs have a gradient", i);
out:
    nl_attn_probe_free(&pr);
    nl_tensor_release(a); nl_tensor_release(b); nl_tensor_release(s); nl_tensor_release(vis);
    nl_qformer_free(m);
}

static void test_dropout(void)
{
    nl_qformer *m = NULL;
    nl_tensor *vis = fixture_vision(), *e = NULL, *t1 = NULL, *t2 = NULL, *t3 = NULL;
    nl_attn_probe pr = {0};
    if (!vis || !h_ok(nl_qformer_load(&m, fixdir, NL_CPU_DEVICE), "load")) goto out;
    nl_rng r1, r2;
    nl_rng_seed(&r1, 42);
    r2 = r1;
    e = run(m, vis, NULL, 0, NULL);
    t1 = run(m, vis, NULL, 0.1, &r1);
    t2 = run(m, vis, NULL, 0.1, &r2);
    if (!e || !t1 || !t2) goto out;
    double *ve = h_values(e), *v1 = h_values(t1), diff = 0;
    for (int64_t i = 0; i < nl_tensor_numel(e); i++) diff = fmax(diff, fabs(ve[i] - v1[i]));
    h_check(diff > 1e-3, "dropout 0.1 changes the output (max diff %.3g)", diff);
    free(ve);
    free(v1);
    h_same("the same rng state replays the same dropout masks", t2, t1, 0);
    /* Training mode with a probe: probabilities recorded (before dropout). */
    nl_rng_seed(&r1, 43);
    if (h_ok(nl_attn_probe_init(&pr, 4), "probe init") &&
        (t3 = run(m, vis, &pr, 0.1, &r1)) != NULL) {
        double *p = h_values(pr.probs[1]), s = 0;
        for (int j = 0; j < 17; j++) s += p[j];
        h_check(probs_shape(pr.probs[1], 17) && fabs(s - 1) < 1e-5, "train-mode probe rows sum to 1 (%.7f)", s);
        free(p);
    }
out:
    nl_attn_probe_free(&pr);
    nl_tensor_release(e); nl_tensor_release(t1); nl_tensor_release(t2); nl_tensor_release(t3);
    nl_tensor_release(vis);
    nl_qformer_free(m);
}

static void test_random_init(void)
{
    nl_qformer_config c;
    nl_qformer *m = NULL;
    nl_rng rng;
    nl_rng_seed(&rng, 7);
    if (!h_ok(nl_qformer_config_preset(&c, "tiny"), "tiny preset") ||
        !h_ok(nl_qformer_create(&m, &c, NL_CPU_DEVICE, &rng), "create"))
        return;
    nl_tensor *vis = h_rand(3, (const int64_t[]){2, 9, c.encoder_hidden_size}, -1, 1, false), *h = NULL;
    if (h_ok(nl_qformer_forward(&h, m, vis, NULL, NULL, 0, NULL), "forward tiny")) {
        h_check(h->ndim == 3 && h->shape[0] == 2 && h->shape[1] == c.num_query_tokens && h->shape[2] == c.hidden_size,
                "tiny: out [2 %lld %lld]", (long long)c.num_query_tokens, (long long)c.hidden_size);
        /* Random queries break the symmetry: query 0 and 1 differ. */
        double *v = h_values(h), d = 0;
        for (int64_t j = 0; j < c.hidden_size; j++) d = fmax(d, fabs(v[j] - v[c.hidden_size + j]));
        h_check(d > 1e-3, "tiny: queries 0 and 1 differ at init (max diff %.3g)", d);
        free(v);
    }
    double *q = h_values(m->query_tokens), s2 = 0;
    int64_t n = nl_tensor_numel(m->query_tokens);
    for (int64_t i = 0; i < n; i++) s2 += q[i] * q[i];
    h_check(fabs(sqrt(s2 / (double)n) - 0.02) < 0.003, "query_tokens std %.4f ~ 0.02", sqrt(s2 / (double)n));
    free(q);
    h_check(m->params.n == 3 + 16 * 2 + 10 * 1 && nl_params_get(&m->params, "encoder.layer.1.crossattention.attention.key.weight") == NULL,
            "tiny: %d parameters, cross-attention on layer 0 only", m->params.n);
    nl_tensor_release(vis); nl_tensor_release(h);
    nl_qformer_free(m);
}

int main(void)
{
    const char *fx = getenv("NL_FIXTURES");
    if (!fx) {
        printf("SKIP: NL_FIXTURES is not set\n");
        return 77;
    }
    snprintf(fixdir, sizeof fixdir, "%s/models/qformer", fx);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/nl-test-qformer-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    h_init("model/qformer");
    nl_mem_stats m0, m1;
    nl_host_mem_stats(&m0);
    test_fixture();
    test_round_trip();
    test_bad_weights();
    test_bad_vision();
    test_probe();
    test_dropout();
    test_random_init();
    nl_host_mem_stats(&m1);
    h_check(m1.live_bytes == m0.live_bytes, "no leaked host memory (%zu bytes live before, %zu after)",
            m0.live_bytes, m1.live_bytes);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return h_finish();
}
