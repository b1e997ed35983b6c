/* test_vit.c — the CLIP vision encoder against the PyTorch golden fixture
 * (tests/fixtures/models/clip_vision, found through $NL_FIXTURES): every
 * hidden state, the pooled output, the loss and every gradient; save/load
 * round trip; a full "clip" checkpoint; missing weight; wrong image size;
 * probes; random init from a preset; no leaked host memory.
 * Depends on the runtime, runtime/models/vit and the ops harness. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "io/safetensors.h"
#include "vit.h"

/* Tolerances, relative to the largest |value| of each reference tensor:
 * |got - ref| <= TOL * max|ref| elementwise. The fixture is float64 math
 * rounded to f32; we compute in f32 (dot products of <= 192 terms,
 * LayerNorm, softmax over 17 keys), so errors are a few f32 epsilons
 * (1.19e-7) of the tensor's scale: measured worst 3.4e-7 (activations) and
 * 7.3e-7 (gradients, LayerNorm backward). Limits keep ~4x headroom for other
 * BLAS kernels and thread counts. k_proj.bias has an exactly-zero true
 * gradient (|fixture| < 1e-14): we see f32 cancellation noise (3.3e-7), so
 * it gets an absolute bound. The loss is a 1088-term f32 sum. */
#define ACT_TOL 1.5e-6
#define GRAD_TOL 3e-6
#define ZERO_GRAD_ATOL 2e-6
#define LOSS_ATOL 1e-5
#define LOSS_RTOL 2e-6

static char fixdir[4096];
static char tmpdir[64];

static void release_all(nl_tensor **t, int n)
{
    for (int i = 0; i < n; i++) nl_tensor_release(t[i]);
}

static void test_fixture(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/io.safetensors", fixdir);
    nl_safetensors *io = NULL;
    nl_vit *m = NULL;
    if (!h_ok(nl_safetensors_open(&io, path), "open io.safetensors")) return;
    if (!h_ok(nl_vit_load(&m, fixdir, NL_CPU_DEVICE), "load clip_vision")) goto out;
    const int L = (int)m->cfg.num_layers;
    h_check(L == 2 && m->cfg.hidden_size == 32 && m->cfg.patch_size == 8, "config: %d layers, hidden %lld, patch %lld",
            L, (long long)m->cfg.hidden_size, (long long)m->cfg.patch_size);

    nl_tensor *pix = h_load_f32(io, "pixel_values");
    nl_tensor *lw = h_load_f32(io, "loss_weight");
    if (!pix || !lw) goto out2;
    pix->requires_grad = true;
    nl_tensor *hs[8] = {0}, *hid = NULL, *pooled = NULL, *prod = NULL, *loss = NULL;
    if (!h_ok(nl_vit_forward(&hid, m, pix, hs, NULL), "forward")) goto out3;
    for (int l = 0; l <= L; l++) {
        char name[32];
        snprintf(name, sizeof name, "hidden_states.%d", l);
        h_cmp_fixture(io, name, hs[l], ACT_TOL, 0);
    }
    h_check(hid == hs[L], "the returned hidden state is hidden_states.%d (before post_layernorm)", L);
    if (h_ok(nl_vit_pooled(&pooled, m, hid), "pooled")) h_cmp_fixture(io, "pooled", pooled, ACT_TOL, 0);

    /* loss = sum(hidden_states.L * loss_weight), gradients of every parameter. */
    if (!h_ok(nl_mul(&prod, hid, lw), "mul") || !h_ok(nl_sum_all(&loss, prod), "sum")) goto out3;
    double lv;
    nl_tensor_get(loss, NULL, &lv);
    const char *ls = nl_safetensors_metadata(io, "loss");
    if (h_check(ls != NULL, "io metadata has the loss")) {
        double want = strtod(ls, NULL);
        h_check(fabs(lv - want) <= LOSS_ATOL + LOSS_RTOL * fabs(want), "loss %.9g vs fixture %.9g", lv, want);
    }
    if (!h_ok(nl_backward(loss, NULL, false), "backward")) goto out3;
    int compared = 0;
    for (int i = 0; i < m->params.n; i++) {
        const nl_param *p = &m->params.v[i];
        char name[300];
        snprintf(name, sizeof name, "grad.vision_model.%s", p->name);
        if (strncmp(p->name, "post_layernorm.", 15) == 0) {
            h_check(nl_safetensors_find(io, name) < 0 && p->t->grad == NULL,
                    "%s: not in the loss, no gradient (and none in the fixture)", p->name);
            continue;
        }
        bool kbias = strstr(p->name, "k_proj.bias") != NULL;
        if (!h_check(p->t->grad != NULL, "%s has a gradient", p->name)) continue;
        h_cmp_fixture(io, name, p->t->grad, kbias ? 0 : GRAD_TOL, kbias ? ZERO_GRAD_ATOL : 0);
        compared++;
    }
    h_check(compared == m->params.n - 2, "compared %d parameter gradients", compared);
    h_check(pix->grad != NULL, "pixel_values has a gradient");
    if (pix->grad) h_cmp_fixture(io, "grad.pixel_values", pix->grad, GRAD_TOL, 0);

out3:
    release_all(hs, L + 1);
    nl_tensor_release(hid);
    nl_tensor_release(pooled);
    nl_tensor_release(prod);
    nl_tensor_release(loss);
out2:
    nl_tensor_release(pix);
    nl_tensor_release(lw);
out:
    nl_vit_free(m);
    nl_safetensors_close(io);
}

/* Forward without grad; returns the last hidden state or NULL. */
static nl_tensor *run(nl_vit *m, nl_tensor *pix, nl_attn_probe *probe)
{
    nl_tensor *h = NULL;
    if (!h_ok(nl_vit_forward(&h, m, pix, NULL, probe), "forward")) return NULL;
    return h;
}

static nl_tensor *fixture_pixels(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/io.safetensors", fixdir);
    nl_safetensors *io = NULL;
    if (!h_ok(nl_safetensors_open(&io, path), "open io")) return NULL;
    nl_tensor *pix = h_load_f32(io, "pixel_values");
    nl_safetensors_close(io);
    return pix;
}

static void test_round_trip(void)
{
    nl_vit *m = NULL, *m2 = NULL;
    nl_tensor *pix = fixture_pixels(), *a = NULL, *b = NULL;
    char dir[128];
    snprintf(dir, sizeof dir, "%s/saved", tmpdir);
    mkdir(dir, 0700);
    if (pix && h_ok(nl_vit_load(&m, fixdir, NL_CPU_DEVICE), "load") && h_ok(nl_vit_save(m, dir), "save") &&
        h_ok(nl_vit_load(&m2, dir, NL_CPU_DEVICE), "load saved")) {
        h_check(m2->params.n == m->params.n, "round trip keeps %d parameters", m->params.n);
        bool g = nl_grad_set_enabled(false);
        a = run(m, pix, NULL);
        b = run(m2, pix, NULL);
        nl_grad_set_enabled(g);
        if (a && b) h_same("save -> load gives identical outputs", b, a, 0);
    }
    nl_tensor_release(a); nl_tensor_release(b); nl_tensor_release(pix);
    nl_vit_free(m); nl_vit_free(m2);
}

/* Write the fixture's weights into DIR/model.safetensors under name prefix
 * `prefix` (replacing "vision_model."), skipping `skip`, plus `extra` zero
 * tensors named extra_name; and config.json with the given text. */
static bool write_variant(const char *dir, const char *skip, const char *extra_name, const char *config)
{
    char path[4200];
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
    if (ok && extra_name) {
        ok = h_ok(nl_tensor_zeros(&ts[k], NL_F32, 2, (const int64_t[]){3, 5}, NL_CPU_DEVICE), "extra");
        names[k++] = extra_name;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (ok) ok = h_ok(nl_safetensors_save(path, k, names, ts, 0, NULL), "save variant");
    for (int i = 0; i < k; i++) nl_tensor_release(ts[i]);
    free(names);
    free(ts);
    nl_safetensors_close(f);
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *fp = fopen(path, "w");
    if (!fp) return h_check(false, "write %s", path);
    fputs(config, fp);
    fclose(fp);
    return ok;
}

static char *fixture_config(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", fixdir);
    FILE *fp = fopen(path, "r");
    if (!fp) return NULL;
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, fp);
    buf[n] = 0;
    fclose(fp);
    return buf;
}

static void test_missing_weight(void)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/missing", tmpdir);
    mkdir(dir, 0700);
    char *cfg = fixture_config();
    const char *gone = "vision_model.encoder.layers.1.mlp.fc1.bias";
    nl_vit *m = NULL;
    if (cfg && write_variant(dir, gone, NULL, cfg)) {
        nl_status st = nl_vit_load(&m, dir, NL_CPU_DEVICE);
        h_expect_error(st, NL_ERR_FORMAT, "load without one weight");
        h_check(m == NULL && strstr(nl_last_error(), gone) != NULL, "the message names %s: %s", gone,
                nl_last_error());
    }
    nl_vit_free(m);
    free(cfg);
}

/* A full "clip" config (vision_config inside) and a checkpoint that also
 * holds text_model.* weights loads and gives the fixture's outputs. */
static void test_full_clip(void)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/fullclip", tmpdir);
    mkdir(dir, 0700);
    const char *cfg = "{\"model_type\": \"clip\", \"text_config\": {\"hidden_size\": 5},\n"
                      " \"vision_config\": {\"model_type\": \"clip_vision_model\", \"hidden_size\": 32,\n"
                      "  \"intermediate_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4,\n"
                      "  \"image_size\": 32, \"patch_size\": 8, \"layer_norm_eps\": 1e-05,\n"
                      "  \"hidden_act\": \"quick_gelu\"}}\n";
    nl_vit *m = NULL, *ref = NULL;
    nl_tensor *pix = fixture_pixels(), *a = NULL, *b = NULL;
    if (pix && write_variant(dir, NULL, "text_model.embeddings.token_embedding.weight", cfg) &&
        h_ok(nl_vit_load(&m, dir, NL_CPU_DEVICE), "load a full CLIP checkpoint") &&
        h_ok(nl_vit_load(&ref, fixdir, NL_CPU_DEVICE), "load fixture")) {
        bool g = nl_grad_set_enabled(false);
        a = run(m, pix, NULL);
        b = run(ref, pix, NULL);
        nl_grad_set_enabled(g);
        if (a && b) h_same("full CLIP checkpoint gives the vision model's outputs", a, b, 0);
    }
    nl_tensor_release(a); nl_tensor_release(b); nl_tensor_release(pix);
    nl_vit_free(m); nl_vit_free(ref);
}

static void test_bad_pixels(void)
{
    nl_vit *m = NULL;
    if (!h_ok(nl_vit_load(&m, fixdir, NL_CPU_DEVICE), "load")) return;
    nl_tensor *h = NULL;
    nl_tensor *p16 = h_rand(4, (const int64_t[]){2, 3, 16, 16}, -1, 1, false);
    h_expect_error(nl_vit_forward(&h, m, p16, NULL, NULL), NL_ERR_SHAPE, "16x16 image for a 32x32 model");
    h_check(h == NULL && strstr(nl_last_error(), "[2 3 16 16]") != NULL, "message names the shape: %s",
            nl_last_error());
    nl_tensor *p1 = h_rand(4, (const int64_t[]){2, 1, 32, 32}, -1, 1, false);
    h_expect_error(nl_vit_forward(&h, m, p1, NULL, NULL), NL_ERR_SHAPE, "1-channel image");
    nl_tensor *p3 = h_rand(3, (const int64_t[]){3, 32, 32}, -1, 1, false);
    h_expect_error(nl_vit_forward(&h, m, p3, NULL, NULL), NL_ERR_SHAPE, "image without batch dim");
    nl_tensor_release(p16); nl_tensor_release(p1); nl_tensor_release(p3);
    nl_vit_free(m);
}

static void test_probe(void)
{
    nl_vit *m = NULL;
    nl_tensor *pix = fixture_pixels(), *a = NULL, *b = NULL, *s = NULL;
    nl_attn_probe pr = {0};
    if (!pix || !h_ok(nl_vit_load(&m, fixdir, NL_CPU_DEVICE), "load")) goto out;
    const int L = (int)m->cfg.num_layers;
    if (!h_ok(nl_attn_probe_init(&pr, L), "probe init")) goto out;
    a = run(m, pix, NULL);
    b = run(m, pix, &pr);
    /* Explicit softmax(QK^T)V vs the fused kernel: same math, different
     * summation order, so agreement to f32 rounding, not bit for bit. */
    if (a && b) h_same("probe enabled gives the same outputs", b, a, 1e-5);
    for (int l = 0; l < L; l++) {
        nl_tensor *p = pr.probs[l];
        h_check(p && p->ndim == 4 && p->shape[0] == 2 && p->shape[1] == 4 && p->shape[2] == 17 && p->shape[3] == 17,
                "probe layer %d: probs [2 4 17 17]", l);
    }
    if (b && h_ok(nl_sum_all(&s, b), "sum") && h_ok(nl_backward(s, NULL, false), "backward"))
        for (int l = 0; l < L; l++)
            h_check(pr.probs[l] && pr.probs[l]->grad != NULL, "probe layer %d: probs have a gradient", l);
out:
    nl_attn_probe_free(&pr);
    nl_tensor_release(a); nl_tensor_release(b); nl_tensor_release(s); nl_tensor_release(pix);
    nl_vit_free(m);
}

static void test_random_init(void)
{
    nl_vit_config c;
    nl_vit *m = NULL;
    nl_rng rng;
    nl_rng_seed(&rng, 7);
    if (!h_ok(nl_vit_config_preset(&c, "tiny"), "tiny preset") || !h_ok(nl_vit_create(&m, &c, NL_CPU_DEVICE, &rng), "create"))
        return;
    int64_t P = (c.image_size / c.patch_size) * (c.image_size / c.patch_size);
    nl_tensor *pix = h_rand(4, (const int64_t[]){1, 3, c.image_size, c.image_size}, -1, 1, false), *h = NULL;
    if (h_ok(nl_vit_forward(&h, m, pix, NULL, NULL), "forward tiny")) {
        h_check(h->ndim == 3 && h->shape[0] == 1 && h->shape[1] == 1 + P && h->shape[2] == c.hidden_size,
                "tiny: hidden [1 %lld %lld]", (long long)(1 + P), (long long)c.hidden_size);
        double *v = h_values(h), s = 0;
        bool fin = true;
        for (int64_t i = 0; i < nl_tensor_numel(h); i++) fin &= isfinite(v[i]), s += v[i] * v[i];
        h_check(fin && s > 0, "tiny: finite, non-zero output");
        free(v);
    }
    double *w = h_values(nl_params_get(&m->params, "encoder.layers.0.mlp.fc1.weight")), s2 = 0;
    int64_t n = c.hidden_size * c.intermediate_size;
    for (int64_t i = 0; i < n; i++) s2 += w[i] * w[i];
    double sd = sqrt(s2 / (double)n);
    h_check(fabs(sd - 0.02) < 0.002, "fc1 weight std %.4f ~ 0.02", sd);
    free(w);
    double lnw;
    nl_tensor_get(nl_params_get(&m->params, "encoder.layers.1.layer_norm2.weight"), (const int64_t[]){3}, &lnw);
    h_check(lnw == 1.0, "LayerNorm weights start at 1");
    nl_tensor_release(pix); nl_tensor_release(h);
    nl_vit_free(m);
}

static void rm_tree(const char *d)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", d);
}

int main(void)
{
    const char *fx = getenv("NL_FIXTURES");
    if (!fx) {
        printf("SKIP: NL_FIXTURES is not set\n");
        return 77;
    }
    snprintf(fixdir, sizeof fixdir, "%s/models/clip_vision", fx);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/nl-test-vit-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    h_init("model/vit");
    nl_mem_stats m0, m1;
    nl_host_mem_stats(&m0);
    test_fixture();
    test_round_trip();
    test_full_clip();
    test_missing_weight();
    test_bad_pixels();
    test_probe();
    test_random_init();
    nl_host_mem_stats(&m1);
    h_check(m1.live_bytes == m0.live_bytes, "no leaked host memory (%zu bytes live before, %zu after)",
            m0.live_bytes, m1.live_bytes);
    rm_tree(tmpdir);
    return h_finish();
}
