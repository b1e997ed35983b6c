/* test_projector.c — linear / mlp2x_gelu / identity projectors against a
 * naive double-precision reference, finite-difference gradients of the
 * input and every parameter, LLaVA parameter names, save/load round trip
 * under "model.mm_projector.", and bad inputs. No fixture needed.
 * Depends on the runtime, runtime/models/projector and the ops harness. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "projector.h"

static char tmpdir[64];

/* Naive double reference: y = x W^T + b on rows of x. */
static void ref_linear(double *y, const double *x, const double *w, const double *b, int64_t n, int64_t in,
                       int64_t out)
{
    for (int64_t r = 0; r < n; r++)
        for (int64_t o = 0; o < out; o++) {
            double s = b[o];
            for (int64_t i = 0; i < in; i++) s += x[r * in + i] * w[o * in + i];
            y[r * out + o] = s;
        }
}

static nl_status fwd(nl_tensor **out, nl_tensor **in, void *ctx)
{
    return nl_projector_forward(out, ctx, in[0]);
}

/* Non-zero biases so the reference checks them too. */
static void randomize_biases(nl_projector *m)
{
    nl_rng r;
    nl_rng_seed(&r, 99);
    bool g = nl_grad_set_enabled(false);
    if (m->b0) nl_fill_normal(m->b0, 0, 0.5, &r);
    if (m->b2) nl_fill_normal(m->b2, 0, 0.5, &r);
    if (m->w0) nl_fill_normal(m->w0, 0, 0.3, &r); /* larger weights: GELU away from linear */
    nl_grad_set_enabled(g);
}

static void test_kind(nl_projector_kind kind, int64_t IN, int64_t OUT)
{
    const char *kn = nl_projector_kind_name(kind);
    nl_rng rng;
    nl_rng_seed(&rng, 5);
    nl_projector *m = NULL, *m2 = NULL;
    if (!h_ok(nl_projector_create(&m, kind, IN, OUT, NL_CPU_DEVICE, &rng), kn)) return;
    randomize_biases(m);
    /* x [2,3,IN], non-contiguous */
    nl_tensor *x = h_rand(3, (const int64_t[]){2, 3, IN}, -2, 2, true), *y = NULL, *y2 = NULL;
    int64_t n = 6;
    if (h_ok(nl_projector_forward(&y, m, x), kn)) {
        h_check(y->ndim == 3 && y->shape[0] == 2 && y->shape[1] == 3 && y->shape[2] == OUT, "%s: output [2 3 %lld]",
                kn, (long long)OUT);
        double *xv = h_values(x), *ref = calloc((size_t)(n * OUT), sizeof *ref);
        if (kind == NL_PROJ_IDENTITY) {
            memcpy(ref, xv, (size_t)(n * OUT) * sizeof *ref);
        } else {
            double *w0 = h_values(m->w0), *b0 = h_values(m->b0);
            ref_linear(ref, xv, w0, b0, n, IN, OUT);
            if (kind == NL_PROJ_MLP2X_GELU) {
                double *w2 = h_values(m->w2), *b2 = h_values(m->b2), *g = calloc((size_t)(n * OUT), sizeof *g);
                for (int64_t i = 0; i < n * OUT; i++) g[i] = 0.5 * ref[i] * (1 + erf(ref[i] / sqrt(2.0)));
                ref_linear(ref, g, w2, b2, n, OUT, OUT);
                free(w2); free(b2); free(g);
            }
            free(w0); free(b0);
        }
        /* f32 dot products of <= 24 terms of magnitude <= ~1 */
        char what[64];
        snprintf(what, sizeof what, "%s: forward vs double reference", kn);
        h_close(what, y, ref, 1e-6, 1e-5);
        free(xv);
        free(ref);
    }
    if (kind != NL_PROJ_IDENTITY) {
        x->requires_grad = true;
        nl_tensor *in[5] = {x, m->w0, m->b0, m->w2, m->b2};
        char what[64];
        snprintf(what, sizeof what, "%s: gradcheck", kn);
        h_gradcheck(what, fwd, kind == NL_PROJ_MLP2X_GELU ? 5 : 3, in, m, 1e-2, 2e-3, 2e-3, 40);
        x->requires_grad = false;
        /* round trip under the LLaVA prefix */
        char path[128];
        snprintf(path, sizeof path, "%s/%s.safetensors", tmpdir, kn);
        if (h_ok(nl_projector_save(m, path, "model.mm_projector."), "save") &&
            h_ok(nl_projector_create(&m2, kind, IN, OUT, NL_CPU_DEVICE, NULL), "create empty") &&
            h_ok(nl_projector_load(m2, path, "model.mm_projector."), "load") &&
            h_ok(nl_projector_forward(&y2, m2, x), "forward loaded")) {
            double *r = h_values(y);
            snprintf(what, sizeof what, "%s: save -> load gives identical outputs", kn);
            h_close(what, y2, r, 0, 0);
            free(r);
        }
        /* a file without the prefix is missing every weight */
        nl_projector_free(m2);
        m2 = NULL;
        if (h_ok(nl_projector_create(&m2, kind, IN, OUT, NL_CPU_DEVICE, NULL), "create empty")) {
            nl_status st = nl_projector_load(m2, path, "model.other.");
            h_check(st == NL_ERR_FORMAT && strstr(nl_last_error(), "model.other.") != NULL,
                    "%s: missing weights named: %s", kn, nl_last_error());
        }
    }
    nl_tensor *bad = h_rand(2, (const int64_t[]){3, IN + 1}, -1, 1, false), *yb = NULL;
    h_expect_error(nl_projector_forward(&yb, m, bad), NL_ERR_SHAPE, "input width IN+1");
    nl_tensor_release(bad);
    nl_tensor_release(x); nl_tensor_release(y); nl_tensor_release(y2);
    nl_projector_free(m); nl_projector_free(m2);
}

static void test_names(void)
{
    nl_projector *m = NULL;
    if (h_ok(nl_projector_create(&m, NL_PROJ_MLP2X_GELU, 24, 32, NL_CPU_DEVICE, NULL), "mlp2x_gelu")) {
        h_check(m->params.n == 4 && strcmp(m->params.v[0].name, "0.weight") == 0 &&
                    strcmp(m->params.v[1].name, "0.bias") == 0 && strcmp(m->params.v[2].name, "2.weight") == 0 &&
                    strcmp(m->params.v[3].name, "2.bias") == 0 && m->w0->shape[0] == 32 && m->w0->shape[1] == 24 &&
                    m->w2->shape[0] == 32 && m->w2->shape[1] == 32,
                "mlp2x_gelu: 0.weight [32 24], 0.bias, 2.weight [32 32], 2.bias");
        nl_projector_free(m);
    }
    if (h_ok(nl_projector_create(&m, NL_PROJ_LINEAR, 24, 32, NL_CPU_DEVICE, NULL), "linear")) {
        h_check(m->params.n == 2 && strcmp(m->params.v[0].name, "weight") == 0 &&
                    strcmp(m->params.v[1].name, "bias") == 0,
                "linear: weight, bias");
        nl_projector_free(m);
    }
    nl_projector_kind k;
    h_check(nl_projector_kind_parse(&k, "mlp2x_gelu") == NL_OK && k == NL_PROJ_MLP2X_GELU, "parse mlp2x_gelu");
    h_check(nl_projector_kind_parse(&k, "linear") == NL_OK && k == NL_PROJ_LINEAR, "parse linear");
    h_check(nl_projector_kind_parse(&k, "identity") == NL_OK && k == NL_PROJ_IDENTITY, "parse identity");
    h_expect_error(nl_projector_kind_parse(&k, "mlp3x_gelu"), NL_ERR_ARG, "unknown projector type");
    h_check(strstr(nl_last_error(), "mlp3x_gelu") != NULL, "message names it: %s", nl_last_error());
    m = NULL;
    h_expect_error(nl_projector_create(&m, NL_PROJ_IDENTITY, 24, 32, NL_CPU_DEVICE, NULL), NL_ERR_ARG,
                   "identity 24 -> 32");
    h_check(m == NULL, "no projector on error");
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/nl-test-projector-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    h_init("model/projector");
    nl_mem_stats m0, m1;
    nl_host_mem_stats(&m0);
    test_kind(NL_PROJ_LINEAR, 7, 5);
    test_kind(NL_PROJ_MLP2X_GELU, 7, 5);
    test_kind(NL_PROJ_IDENTITY, 6, 6);
    test_names();
    nl_host_mem_stats(&m1);
    h_check(m1.live_bytes == m0.live_bytes, "no leaked host memory (%zu bytes live before, %zu after)",
            m0.live_bytes, m1.live_bytes);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return h_finish();
}
