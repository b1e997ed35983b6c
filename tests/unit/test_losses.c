/* test_losses.c — the NoteLLM losses and embedding head (runtime/train)
 * against the PyTorch float64 fixtures of tests/ref/make_loss_fixtures.py
 * (tests/fixtures/losses: GCL through L2norm, the late-fusion head plain and
 * mICL, CSFT), finite-difference gradient checks on random inputs, and the
 * edge cases: one pair, the sign of dL/dtau, all labels ignored, bad
 * read-out positions, odd GCL batches, bad head arguments, save/load. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "head.h"
#include "io/safetensors.h"
#include "losses.h"

/* The fixtures are float64 results rounded to f32; we compute in f32. GCL
 * logits are cosines times exp(tau) ~ 12..20, so cosine rounding (~1e-7) is
 * amplified ~20x: values within a few 1e-6, gradients a little looser. */
#define ATOL 2e-5
#define RTOL 1e-4
#define GATOL 5e-5
#define GRTOL 5e-4

static char fixdir[512];

static nl_safetensors *open_fixture(const char *file)
{
    char path[640];
    nl_safetensors *io = NULL;
    snprintf(path, sizeof path, "%s/%s", fixdir, file);
    if (!h_ok(nl_safetensors_open(&io, path), path)) return NULL;
    return io;
}

/* A tensor of the fixture in its stored dtype, optionally a gradient leaf. */
static nl_tensor *fx(nl_safetensors *io, const char *name, bool leaf)
{
    nl_tensor *t = NULL;
    nl_dtype dt = NL_F32;
    int nd;
    int64_t sh[NL_MAX_DIMS];
    int i = nl_safetensors_find(io, name);
    if (i >= 0) nl_safetensors_shape(io, i, &dt, &nd, sh);
    if (!h_ok(nl_safetensors_load(&t, io, name, dt, NL_CPU_DEVICE), name)) return NULL;
    t->requires_grad = leaf;
    return t;
}

/* got (may be NULL: no gradient) against the fixture tensor `name`. */
static bool match(nl_safetensors *io, const char *what, const char *name, nl_tensor *got, double atol, double rtol)
{
    nl_tensor *want = fx(io, name, false);
    if (!want) return false;
    bool ok;
    if (!got) {
        ok = h_check(false, "%s: no gradient/value to compare with %s", what, name);
    } else if (nl_tensor_numel(got) != nl_tensor_numel(want)) {
        char a[96], b[96];
        ok = h_check(false, "%s: shape %s, expected %s", what, nl_shape_str(got, a, sizeof a),
                     nl_shape_str(want, b, sizeof b));
    } else {
        double *ref = h_values(want);
        ok = h_close(what, got, ref, atol, rtol);
        free(ref);
    }
    nl_tensor_release(want);
    return ok;
}

static double scalar(const nl_tensor *t)
{
    double v = NAN;
    if (t) nl_tensor_get(t, (const int64_t[]){0, 0, 0, 0, 0, 0, 0, 0}, &v);
    return v;
}

static double max_abs(const nl_tensor *t)
{
    if (!t) return 0;
    double *v = h_values(t), m = 0;
    for (int64_t i = 0, n = nl_tensor_numel(t); i < n; i++) m = fmax(m, fabs(v[i]));
    free(v);
    return m;
}

/* ---- fixtures --------------------------------------------------------------- */

static void fixture_gcl(void)
{
    nl_safetensors *io = open_fixture("gcl.safetensors");
    if (!io) return;
    nl_tensor *raw = fx(io, "emb_raw", true), *tau = fx(io, "tau", true), *e = NULL, *loss = NULL;
    if (raw && tau && h_ok(nl_l2_normalize(&e, raw, NL_HEAD_NORM_EPS), "l2norm") &&
        h_ok(nl_gcl_loss(&loss, e, tau), "gcl")) {
        match(io, "gcl fixture: loss (N=3, d=8, tau 2.5)", "loss", loss, ATOL, RTOL);
        if (h_ok(nl_backward(loss, NULL, false), "gcl backward")) {
            match(io, "gcl fixture: grad wrt emb before L2norm", "grad.emb_raw", raw->grad, GATOL, GRTOL);
            match(io, "gcl fixture: grad wrt tau", "grad.tau", tau->grad, GATOL, GRTOL);
        }
    }
    nl_tensor_release(e); nl_tensor_release(loss); nl_tensor_release(raw); nl_tensor_release(tau);
    nl_safetensors_close(io);
}

static void compare_head_grads(nl_safetensors *io, nl_head *hd, const char *prefix, const char *label)
{
    for (int i = 0; i < hd->params.n; i++) {
        char key[160], what[200];
        snprintf(key, sizeof key, "%s.grad.%s", prefix, hd->params.v[i].name);
        snprintf(what, sizeof what, "head %s fixture: grad %s", label, hd->params.v[i].name);
        match(io, what, key, hd->params.v[i].t->grad, GATOL, GRTOL);
    }
}

static void zero_all(nl_head *hd, nl_tensor *a, nl_tensor *b, nl_tensor *c)
{
    for (int i = 0; i < hd->params.n; i++) nl_zero_grad(hd->params.v[i].t);
    nl_zero_grad(a); nl_zero_grad(b); nl_zero_grad(c);
}

static void fixture_head(void)
{
    char path[640];
    snprintf(path, sizeof path, "%s/head.safetensors", fixdir);
    nl_safetensors *io = open_fixture("head.safetensors");
    nl_head *hd = NULL;
    if (!io || !h_ok(nl_head_create(&hd, 16, 12, 8, NL_CPU_DEVICE, NULL), "head create")) {
        nl_safetensors_close(io);
        return;
    }
    /* the file also holds inputs and expectations: not strict */
    h_ok(nl_params_load(&hd->params, path, NULL, false, NULL), "head weights from the fixture");
    nl_tensor *h = fx(io, "h", true), *hv = fx(io, "h_v", true), *v = fx(io, "v", true);
    nl_tensor *e = NULL, *ev = NULL, *loss = NULL, *lm = NULL, *lv = NULL;

    /* plain late fusion: L = GCL(head(h, v)) */
    if (h_ok(nl_head_embed(&e, hd, h, v), "head embed") && h_ok(nl_gcl_loss(&loss, e, hd->tau), "gcl")) {
        match(io, "head plain fixture: e", "plain.e", e, ATOL, RTOL);
        match(io, "head plain fixture: loss", "plain.loss", loss, ATOL, RTOL);
        if (h_ok(nl_backward(loss, NULL, false), "backward")) {
            compare_head_grads(io, hd, "plain", "plain");
            match(io, "head plain fixture: grad h", "plain.grad.h", h->grad, GATOL, GRTOL);
            match(io, "head plain fixture: grad v", "plain.grad.v", v->grad, GATOL, GRTOL);
            h_check(hv->grad == NULL, "head plain fixture: h_v is unused and gets no gradient");
        }
    }
    nl_tensor_release(e); nl_tensor_release(loss);
    e = loss = NULL;
    zero_all(hd, h, hv, v);

    /* mICL: L = (9 GCL(head(h, v)) + GCL(head(h_v, v))) / 10, same v and gate */
    if (h_ok(nl_head_embed(&e, hd, h, v), "head embed n^m") && h_ok(nl_head_embed(&ev, hd, hv, v), "head embed n^v") &&
        h_ok(nl_gcl_loss(&lm, e, hd->tau), "gcl m") && h_ok(nl_gcl_loss(&lv, ev, hd->tau), "gcl v") &&
        h_ok(nl_micl_loss(&loss, lm, lv, 9, 1), "micl")) {
        match(io, "head mICL fixture: e_v", "micl.e_v", ev, ATOL, RTOL);
        match(io, "head mICL fixture: L_m", "micl.l_m", lm, ATOL, RTOL);
        match(io, "head mICL fixture: L_v", "micl.l_v", lv, ATOL, RTOL);
        match(io, "head mICL fixture: loss (w_t 9, w_v 1)", "micl.loss", loss, ATOL, RTOL);
        if (h_ok(nl_backward(loss, NULL, false), "backward")) {
            compare_head_grads(io, hd, "micl", "mICL");
            match(io, "head mICL fixture: grad h_m", "micl.grad.h", h->grad, GATOL, GRTOL);
            match(io, "head mICL fixture: grad h_v", "micl.grad.h_v", hv->grad, GATOL, GRTOL);
            match(io, "head mICL fixture: grad v", "micl.grad.v", v->grad, GATOL, GRTOL);
        }
    }
    nl_tensor_release(e); nl_tensor_release(ev); nl_tensor_release(loss);
    nl_tensor_release(lm); nl_tensor_release(lv);
    nl_tensor_release(h); nl_tensor_release(hv); nl_tensor_release(v);
    nl_head_free(hd);
    nl_safetensors_close(io);
}

static void fixture_csft(void)
{
    nl_safetensors *io = open_fixture("csft.safetensors");
    if (!io) return;
    nl_tensor *logits = fx(io, "logits", true), *labels = fx(io, "labels", false), *lcl = fx(io, "l_cl", true);
    nl_tensor *lg = NULL, *total = NULL, *wo = NULL;
    if (logits && labels && lcl && h_ok(nl_gen_loss(&lg, logits, NULL, labels), "gen loss") &&
        h_ok(nl_csft_loss(&total, lcl, lg, 0.01, true), "notellm loss")) {
        match(io, "csft fixture: L_gen (shifted, token mean)", "gen_loss", lg, ATOL, RTOL);
        match(io, "csft fixture: (L_cl + 0.01 L_gen)/1.01", "total", total, ATOL, RTOL);
        if (h_ok(nl_csft_loss(&wo, lcl, lg, 0.01, false), "w/o GCL"))
            match(io, "csft fixture: w/o GCL = 0.01 L_gen", "wo_gcl", wo, ATOL, RTOL);
        if (h_ok(nl_backward(total, NULL, false), "backward")) {
            match(io, "csft fixture: grad wrt logits", "grad.logits", logits->grad, 1e-7, GRTOL);
            match(io, "csft fixture: grad wrt L_cl", "grad.l_cl", lcl->grad, 1e-7, 1e-6);
        }
    }
    nl_tensor_release(lg); nl_tensor_release(total); nl_tensor_release(wo);
    nl_tensor_release(logits); nl_tensor_release(labels); nl_tensor_release(lcl);
    nl_safetensors_close(io);
}

/* ---- finite-difference checks ---------------------------------------------- */

static nl_status fn_gcl(nl_tensor **out, nl_tensor **in, void *ctx)
{
    nl_tensor *e = NULL;
    nl_status st = nl_l2_normalize(&e, in[0], NL_HEAD_NORM_EPS);
    if (st == NL_OK) st = nl_gcl_loss(out, e, in[1]);
    nl_tensor_release(e);
    return st;
}

static nl_status fn_readout(nl_tensor **out, nl_tensor **in, void *ctx)
{
    return nl_readout(out, in[0], ctx);
}

/* in: h, v (or NULL), then the head parameters in registration order. */
static nl_status fn_head(nl_tensor **out, nl_tensor **in, void *ctx)
{
    return nl_head_embed(out, ctx, in[0], in[1]);
}

static nl_status fn_head_gcl(nl_tensor **out, nl_tensor **in, void *ctx)
{
    nl_head *hd = ctx;
    nl_tensor *e = NULL;
    nl_status st = nl_head_embed(&e, hd, in[0], in[1]);
    if (st == NL_OK) st = nl_gcl_loss(out, e, hd->tau);
    nl_tensor_release(e);
    return st;
}

static nl_status fn_gen(nl_tensor **out, nl_tensor **in, void *ctx)
{
    return nl_gen_loss(out, in[0], NULL, ctx);
}

static nl_status fn_gen_head(nl_tensor **out, nl_tensor **in, void *ctx)
{
    return nl_gen_loss(out, in[0], in[1], ctx);
}

/* The LM head applied at the supervised positions only gives the loss and
 * gradients of the LM head over every position followed by the loss. */
static void gen_head_equals_full_logits(nl_tensor *labels)
{
    nl_tensor *hid = h_rand(3, (const int64_t[]){2, 4, 5}, -1, 1, false), *w = h_rand(2, (const int64_t[]){7, 5}, -1, 1, false);
    nl_tensor *full = NULL, *la = NULL, *lb = NULL, *gh = NULL, *gw = NULL;
    hid->requires_grad = w->requires_grad = true;
    h_gradcheck("gradcheck gen loss through the LM head", fn_gen_head, 2, (nl_tensor *[]){hid, w}, labels, 1e-2, 1e-4,
                1e-2, 56);
    nl_tensor_release(hid->grad);
    nl_tensor_release(w->grad);
    hid->grad = w->grad = NULL;
    if (h_ok(nl_linear(&full, hid, w, NULL), "full logits") && h_ok(nl_gen_loss(&la, full, NULL, labels), "loss, full logits") &&
        h_ok(nl_gen_loss(&lb, hid, w, labels), "loss, head at supervised rows") &&
        h_ok(nl_backward(la, NULL, false), "backward, full logits")) {
        h_check(fabs(scalar(la) - scalar(lb)) <= 1e-6 * fabs(scalar(la)), "gen loss: head at supervised rows %.9g, full logits %.9g",
                scalar(lb), scalar(la));
        gh = hid->grad, gw = w->grad;
        hid->grad = w->grad = NULL;
        if (h_ok(nl_backward(lb, NULL, false), "backward, head at supervised rows")) {
            double *rh = h_values(gh), *rw = h_values(gw);
            h_close("gen loss: grad wrt hidden, head at supervised rows vs full logits", hid->grad, rh, 1e-7, 1e-5);
            h_close("gen loss: grad wrt LM head, head at supervised rows vs full logits", w->grad, rw, 1e-7, 1e-5);
            free(rh);
            free(rw);
        }
    }
    nl_tensor_release(gh); nl_tensor_release(gw); nl_tensor_release(full);
    nl_tensor_release(la); nl_tensor_release(lb); nl_tensor_release(hid); nl_tensor_release(w);
}

static void gradchecks(void)
{
    nl_tensor *raw = h_rand(2, (const int64_t[]){8, 5}, -1, 1, false);
    nl_tensor *tau = h_rand(1, (const int64_t[]){1}, 0.5, 1.5, false);
    raw->requires_grad = tau->requires_grad = true;
    h_gradcheck("gradcheck gcl(L2norm(x), tau), N=4 d=5", fn_gcl, 2, (nl_tensor *[]){raw, tau}, NULL, 1e-3, 2e-3, 2e-2, 40);
    nl_tensor *tau0 = NULL;
    h_ok(nl_tensor_scalar(&tau0, 1.2, NL_F32, NL_CPU_DEVICE), "0-d tau");
    tau0->requires_grad = true;
    h_gradcheck("gradcheck gcl with a 0-d tau", fn_gcl, 2, (nl_tensor *[]){raw, tau0}, NULL, 1e-3, 2e-3, 2e-2, 40);
    nl_tensor_release(raw); nl_tensor_release(tau); nl_tensor_release(tau0);

    /* non-contiguous hidden: reshape copies, the gradient still lands right */
    int64_t pos[3] = {4, 0, 2};
    nl_tensor *hid = h_rand(3, (const int64_t[]){3, 5, 4}, -1, 1, true);
    hid->requires_grad = true;
    h_gradcheck("gradcheck readout (non-contiguous hidden)", fn_readout, 1, &hid, pos, 1e-2, 1e-4, 1e-3, 60);
    nl_tensor_release(hid);

    nl_rng rng;
    nl_rng_seed(&rng, 7);
    nl_head *hd = NULL;
    if (h_ok(nl_head_create(&hd, 6, 5, 4, NL_CPU_DEVICE, &rng), "head C=6 Cv=5 d=4")) {
        nl_tensor *h = h_rand(2, (const int64_t[]){4, 6}, -1, 1, false), *v = h_rand(2, (const int64_t[]){4, 5}, -1, 1, false);
        h->requires_grad = v->requires_grad = true;
        nl_tensor *in[6] = {h, v, hd->proj_w, hd->gate_w, hd->red_w, hd->tau};
        h_gradcheck("gradcheck head late fusion: e wrt h, v, P, W, R", fn_head, 5, in, hd, 1e-3, 1e-3, 2e-2, 30);
        nl_tensor_fill_(hd->tau, 1.0); /* a milder scale keeps finite differences accurate */
        h_gradcheck("gradcheck GCL(head) wrt h, v, P, W, R, tau", fn_head_gcl, 6, in, hd, 1e-3, 2e-3, 2e-2, 30);
        nl_tensor_release(h); nl_tensor_release(v);
        nl_head_free(hd);
    }
    hd = NULL;
    if (h_ok(nl_head_create(&hd, 6, 0, 3, NL_CPU_DEVICE, &rng), "head C=6 no late fusion d=3")) {
        nl_tensor *h = h_rand(2, (const int64_t[]){4, 6}, -1, 1, false);
        h->requires_grad = true;
        nl_tensor_fill_(hd->tau, 1.0);
        nl_tensor *in[4] = {h, NULL, hd->red_w, hd->tau};
        h_gradcheck("gradcheck GCL(head) without late fusion", fn_head_gcl, 4, in, hd, 1e-3, 2e-3, 2e-2, 30);
        nl_tensor_release(h);
        nl_head_free(hd);
    }

    nl_tensor *logits = h_rand(3, (const int64_t[]){2, 4, 7}, -2, 2, false), *labels = NULL;
    int64_t lab[8] = {3, -100, 6, 0, -100, 2, -100, 1};
    h_ok(nl_tensor_from_host(&labels, NL_I64, 2, (const int64_t[]){2, 4}, lab, NL_I64, NL_CPU_DEVICE), "labels");
    logits->requires_grad = true;
    h_gradcheck("gradcheck gen loss", fn_gen, 1, &logits, labels, 1e-2, 1e-4, 1e-2, 56);
    gen_head_equals_full_logits(labels);
    nl_tensor_release(logits); nl_tensor_release(labels);
}

/* ---- edge cases ---------------------------------------------------------------- */

static void edge_one_pair(void)
{
    /* N=1: each row's only candidate is its partner -> loss exactly 0 */
    nl_tensor *raw = h_rand(2, (const int64_t[]){2, 4}, -1, 1, false), *tau = NULL, *loss = NULL;
    h_ok(nl_tensor_full(&tau, NL_F32, 1, (const int64_t[]){1}, 3.0, NL_CPU_DEVICE), "tau");
    raw->requires_grad = tau->requires_grad = true;
    if (h_ok(fn_gcl(&loss, (nl_tensor *[]){raw, tau}, NULL), "gcl N=1")) {
        h_check(fabs(scalar(loss)) < 1e-6, "gcl N=1 (2 rows): loss %.3g is 0", scalar(loss));
        if (h_ok(nl_backward(loss, NULL, false), "backward"))
            h_check(max_abs(raw->grad) < 1e-6 && max_abs(tau->grad) < 1e-6 && isfinite(scalar(tau->grad)),
                    "gcl N=1: gradients are 0 and finite (max %.3g, tau %.3g)", max_abs(raw->grad), scalar(tau->grad));
    }
    nl_tensor_release(raw); nl_tensor_release(tau); nl_tensor_release(loss);
}

/* Pairs whose partners are aligned (sign +1) or opposed (-1); different
 * pairs are orthogonal: dL/dtau < 0 for +1 (sharpening helps), > 0 for -1. */
static void edge_tau_sign(double sign)
{
    float v[4 * 4] = {0};
    for (int k = 0; k < 2; k++) {
        v[k * 4 + k] = 1.0f;
        v[(k + 2) * 4 + k] = (float)sign;
    }
    v[2 * 4 + 3] = 0.3f; /* not exactly (anti)parallel */
    nl_tensor *raw = h_from(2, (const int64_t[]){4, 4}, v), *tau = NULL, *loss = NULL;
    h_ok(nl_tensor_full(&tau, NL_F32, 1, (const int64_t[]){1}, 0.5, NL_CPU_DEVICE), "tau");
    tau->requires_grad = true;
    if (h_ok(fn_gcl(&loss, (nl_tensor *[]){raw, tau}, NULL), "gcl") && h_ok(nl_backward(loss, NULL, false), "backward")) {
        double g = scalar(tau->grad);
        h_check(sign > 0 ? g < 0 : g > 0, "tau gradient sign: partners %s -> dL/dtau = %.4g (%s)",
                sign > 0 ? "aligned" : "opposed", g, sign > 0 ? "< 0" : "> 0");
    }
    nl_tensor_release(raw); nl_tensor_release(tau); nl_tensor_release(loss);
}

static void edge_ignored_labels(void)
{
    nl_tensor *logits = h_rand(3, (const int64_t[]){2, 3, 5}, -1, 1, false), *labels = NULL, *lg = NULL;
    int64_t lab[6] = {4, -100, -100, 2, -100, -100}; /* only position 0 supervised: nothing predicts it */
    h_ok(nl_tensor_from_host(&labels, NL_I64, 2, (const int64_t[]){2, 3}, lab, NL_I64, NL_CPU_DEVICE), "labels");
    logits->requires_grad = true;
    if (h_ok(nl_gen_loss(&lg, logits, NULL, labels), "gen loss, nothing supervised after the shift")) {
        h_check(scalar(lg) == 0.0, "all labels ignored after the shift: L_gen = %g", scalar(lg));
        if (h_ok(nl_backward(lg, NULL, false), "backward"))
            h_check(max_abs(logits->grad) == 0.0, "all labels ignored: zero gradient (max %g)", max_abs(logits->grad));
    }
    nl_tensor_release(lg);
    lg = NULL;
    lab[4] = 11; /* out of range for V = 5 */
    nl_tensor *bad = NULL;
    h_ok(nl_tensor_from_host(&bad, NL_I64, 2, (const int64_t[]){2, 3}, lab, NL_I64, NL_CPU_DEVICE), "labels");
    h_expect_error(nl_gen_loss(&lg, logits, NULL, bad), NL_ERR_ARG, "gen loss: label 11 with V = 5");
    nl_tensor *l3 = h_randint(1, (const int64_t[]){6}, 5, NL_I64);
    h_expect_error(nl_gen_loss(&lg, logits, NULL, l3), NL_ERR_SHAPE, "gen loss: labels [6] for logits [2 3 5]");
    nl_tensor_release(l3); nl_tensor_release(bad);
    nl_tensor_release(logits); nl_tensor_release(labels);
}

static void edge_readout(void)
{
    nl_tensor *hid = h_rand(3, (const int64_t[]){2, 3, 4}, -1, 1, false), *out = NULL;
    int64_t good[2] = {2, 0}, hi[2] = {1, 3}, lo[2] = {-1, 0};
    hid->requires_grad = true;
    if (h_ok(nl_readout(&out, hid, good), "readout")) {
        double *hv = h_values(hid), ref[8];
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 4; c++) ref[b * 4 + c] = hv[(b * 3 + good[b]) * 4 + c];
        h_close("readout picks hidden[b, pos[b]]", out, ref, 0, 0);
        free(hv);
    }
    nl_tensor_release(out);
    out = NULL;
    nl_status st = nl_readout(&out, hid, hi);
    h_expect_error(st, NL_ERR_ARG, "readout position 3 with T = 3");
    h_check(st != NL_OK && strstr(nl_last_error(), "row 1") && strstr(nl_last_error(), "position 3"),
            "the message names the row and the position");
    h_expect_error(nl_readout(&out, hid, lo), NL_ERR_ARG, "readout position -1");
    nl_tensor *flat = h_rand(2, (const int64_t[]){2, 4}, -1, 1, false);
    h_expect_error(nl_readout(&out, flat, good), NL_ERR_SHAPE, "readout of a 2-d hidden");
    nl_tensor_release(flat);
    nl_tensor_release(hid);
}

static void edge_shapes_and_args(void)
{
    nl_tensor *odd = h_rand(2, (const int64_t[]){5, 4}, -1, 1, false), *tau = NULL, *tau2 = NULL, *out = NULL;
    nl_tensor *even = h_rand(2, (const int64_t[]){4, 4}, -1, 1, false);
    h_ok(nl_tensor_full(&tau, NL_F32, 1, (const int64_t[]){1}, 3.0, NL_CPU_DEVICE), "tau");
    h_ok(nl_tensor_full(&tau2, NL_F32, 1, (const int64_t[]){2}, 3.0, NL_CPU_DEVICE), "tau [2]");
    h_expect_error(nl_gcl_loss(&out, odd, tau), NL_ERR_SHAPE, "gcl with 5 rows");
    h_expect_error(nl_gcl_loss(&out, even, tau2), NL_ERR_SHAPE, "gcl with tau [2]");
    nl_tensor *l1 = NULL, *l2 = NULL;
    h_ok(nl_tensor_scalar(&l1, 2.0, NL_F32, NL_CPU_DEVICE), "l1");
    h_ok(nl_tensor_scalar(&l2, 5.0, NL_F32, NL_CPU_DEVICE), "l2");
    h_expect_error(nl_csft_loss(&out, l1, l2, -0.5, true), NL_ERR_ARG, "notellm loss alpha -0.5");
    h_expect_error(nl_micl_loss(&out, l1, l2, 0, 0), NL_ERR_ARG, "micl weights 0, 0");
    if (h_ok(nl_csft_loss(&out, l1, NULL, 0, true), "alpha 0 without L_gen")) {
        h_check(scalar(out) == 2.0, "alpha 0 gives L_cl (%g)", scalar(out));
        nl_tensor_release(out);
    }
    if (h_ok(nl_micl_loss(&out, l1, l2, 9, 1), "micl")) {
        h_check(fabs(scalar(out) - 2.3) < 1e-6, "micl (9*2 + 1*5)/10 = %g", scalar(out));
        nl_tensor_release(out);
    }
    nl_tensor_release(l1); nl_tensor_release(l2);
    nl_tensor_release(odd); nl_tensor_release(even); nl_tensor_release(tau); nl_tensor_release(tau2);

    nl_head *hd = NULL;
    h_expect_error(nl_head_create(&hd, 0, 4, 8, NL_CPU_DEVICE, NULL), NL_ERR_ARG, "head C = 0");
    h_expect_error(nl_head_create(&hd, 8, -1, 8, NL_CPU_DEVICE, NULL), NL_ERR_ARG, "head Cv = -1");
    nl_rng rng;
    nl_rng_seed(&rng, 11);
    if (h_ok(nl_head_create(&hd, 64, 32, 0, NL_CPU_DEVICE, &rng), "head C=64 Cv=32 d default")) {
        h_check(hd->d == NL_HEAD_DEFAULT_DIM && hd->red_w->shape[0] == 64, "d 0 means %d", NL_HEAD_DEFAULT_DIM);
        h_check(scalar(hd->tau) == 3.0, "tau starts at 3.0");
        double *w = h_values(hd->gate_w), s2 = 0;
        int64_t n = nl_tensor_numel(hd->gate_w);
        for (int64_t i = 0; i < n; i++) s2 += w[i] * w[i];
        free(w);
        double sd = sqrt(s2 / (double)n), want = sqrt(2.0 / (3 * 64));
        h_check(fabs(sd / want - 1) < 0.05, "gate Xavier-normal std %.4f (want %.4f)", sd, want);
        h_check(max_abs(hd->red_w) <= 1 / sqrt(64.0) && max_abs(hd->proj_w) <= 1 / sqrt(32.0),
                "reduction/projector within nn.Linear's default bound");
        const char *names[4] = {"mm_projector_latefusion.weight", "gate.weight", "dim_reduction.weight", "tau"};
        bool named = hd->params.n == 4;
        for (int i = 0; named && i < 4; i++) named = strcmp(hd->params.v[i].name, names[i]) == 0;
        h_check(named, "head parameter names and order");

        nl_tensor *h = h_rand(2, (const int64_t[]){2, 64}, -1, 1, false), *e = NULL;
        h_expect_error(nl_head_embed(&e, hd, h, NULL), NL_ERR_ARG, "late-fusion head without vis_cls");
        nl_tensor *vbad = h_rand(2, (const int64_t[]){2, 31}, -1, 1, false);
        h_expect_error(nl_head_embed(&e, hd, h, vbad), NL_ERR_SHAPE, "vis_cls [2 31] for Cv = 32");
        nl_tensor *hbad = h_rand(2, (const int64_t[]){2, 63}, -1, 1, false);
        h_expect_error(nl_head_embed(&e, hd, hbad, vbad), NL_ERR_SHAPE, "readout [2 63] for C = 64");

        /* save, load into a zero head, same embedding */
        char path[] = "/tmp/nl-head-XXXXXX";
        int fd = mkstemp(path);
        nl_head *h2 = NULL;
        nl_tensor *v = h_rand(2, (const int64_t[]){2, 32}, -1, 1, false), *e2 = NULL;
        if (fd >= 0) close(fd);
        if (fd >= 0 && h_ok(nl_head_save(hd, path, "head."), "head save") &&
            h_ok(nl_head_create(&h2, 64, 32, 0, NL_CPU_DEVICE, NULL), "head for loading") &&
            h_ok(nl_head_load(h2, path, "head."), "head load") && h_ok(nl_head_embed(&e, hd, h, v), "embed") &&
            h_ok(nl_head_embed(&e2, h2, h, v), "embed loaded")) {
            double *ref = h_values(e);
            h_close("save/load round trip gives the same embedding", e2, ref, 0, 0);
            free(ref);
            double *n2 = h_values(e), mx = 0;
            for (int b = 0; b < 2; b++) {
                double s = 0;
                for (int j = 0; j < 64; j++) s += n2[b * 64 + j] * n2[b * 64 + j];
                mx = fmax(mx, fabs(sqrt(s) - 1));
            }
            free(n2);
            h_check(mx < 1e-6, "embeddings have unit norm (max |norm-1| %.2g)", mx);
        }
        if (fd >= 0) unlink(path);
        nl_tensor_release(e); nl_tensor_release(e2); nl_tensor_release(v);
        nl_tensor_release(h); nl_tensor_release(vbad); nl_tensor_release(hbad);
        nl_head_free(h2);
        nl_head_free(hd);
    }
    hd = NULL;
    if (h_ok(nl_head_create(&hd, 8, 0, 4, NL_CPU_DEVICE, NULL), "head without late fusion")) {
        nl_tensor *h = h_rand(2, (const int64_t[]){2, 8}, -1, 1, false), *v = h_rand(2, (const int64_t[]){2, 4}, -1, 1, false);
        nl_tensor *e = NULL;
        h_check(hd->params.n == 2 && !hd->proj_w && !hd->gate_w, "no late fusion: only dim_reduction.weight and tau");
        h_expect_error(nl_head_embed(&e, hd, h, v), NL_ERR_ARG, "vis_cls given to a head without late fusion");
        nl_tensor_release(h); nl_tensor_release(v);
        nl_head_free(hd);
    }
}

int main(void)
{
    h_init("losses");
    const char *fxd = getenv("NL_FIXTURES");
    snprintf(fixdir, sizeof fixdir, "%s/losses", fxd ? fxd : "tests/fixtures");
    fixture_gcl();
    fixture_head();
    fixture_csft();
    gradchecks();
    edge_one_pair();
    edge_tau_sign(+1);
    edge_tau_sign(-1);
    edge_ignored_labels();
    edge_readout();
    edge_shapes_and_args();
    return h_finish();
}
