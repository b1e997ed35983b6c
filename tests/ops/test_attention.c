/* test_attention.c — conformance of scaled dot-product attention: a naive
 * double reference with explicit repeat_kv for causal/non-causal self
 * attention, cross attention, grouped-query heads, key padding and additive
 * masks, fully masked rows, strided inputs; probabilities; gradient checks
 * for q, k, v; bad inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

typedef struct {
    int64_t B, NH, NKV, Tq, Tk, HS;
    bool causal, strided;
    int mask_kind; /* 0 none, 1 key padding, 2 additive with -inf */
} acase;

/* Reference: out [B,NH,Tq,HS] and P [B,NH,Tq,Tk] in double. */
static void reference(const acase *c, const double *q, const double *k, const double *v, const double *pad,
                      const double *add, double *out, double *P)
{
    double scale = 1.0 / sqrt((double)c->HS), *s = malloc((size_t)(c->Tk + 1) * sizeof *s);
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t h = 0; h < c->NH; h++) {
            int64_t kh = h / (c->NH / c->NKV);
            for (int64_t i = 0; i < c->Tq; i++) {
                double m = -INFINITY, sum = 0;
                for (int64_t j = 0; j < c->Tk; j++) {
                    double d = 0;
                    for (int64_t e = 0; e < c->HS; e++)
                        d += q[((b * c->NH + h) * c->Tq + i) * c->HS + e] * k[((b * c->NKV + kh) * c->Tk + j) * c->HS + e];
                    d *= scale;
                    bool vis = !c->causal || j <= i + (c->Tk - c->Tq);
                    if (pad && pad[b * c->Tk + j] == 0) vis = false;
                    if (add) d += add[(h * c->Tq + i) * c->Tk + j]; /* additive mask [1,NH,Tq,Tk] */
                    s[j] = vis ? d : -INFINITY;
                    if (s[j] > m) m = s[j];
                }
                for (int64_t j = 0; j < c->Tk; j++) { s[j] = m == -INFINITY ? 0 : exp(s[j] - m); sum += s[j]; }
                for (int64_t j = 0; j < c->Tk; j++) {
                    s[j] = sum > 0 ? s[j] / sum : 0;
                    P[((b * c->NH + h) * c->Tq + i) * c->Tk + j] = s[j];
                }
                for (int64_t e = 0; e < c->HS; e++) {
                    double o = 0;
                    for (int64_t j = 0; j < c->Tk; j++) o += s[j] * v[((b * c->NKV + kh) * c->Tk + j) * c->HS + e];
                    out[((b * c->NH + h) * c->Tq + i) * c->HS + e] = o;
                }
            }
        }
    free(s);
}

/* A [B,H,T,HS] tensor; strided ones are transposes of a [B,T,H,HS] buffer, as models make them. */
static nl_tensor *qkv(int64_t B, int64_t H, int64_t T, int64_t HS, bool strided)
{
    if (!strided) return h_rand(4, (int64_t[]){B, H, T, HS}, -1, 1, false);
    nl_tensor *base = h_rand(4, (int64_t[]){B, T, H, HS}, -1, 1, false), *t = NULL;
    nl_transpose(&t, base, 1, 2);
    nl_tensor_release(base);
    return t;
}

static nl_tensor *g_mask;
static acase g_case;
static nl_status att_f(nl_tensor **out, nl_tensor **in, void *ctx)
{
    (void)ctx;
    nl_attention_opts o = {.causal = g_case.causal, .mask = g_mask};
    return nl_attention(out, in[0], in[1], in[2], &o);
}

static void run_case(const char *name, acase c, bool grad)
{
    nl_tensor *in[3] = {qkv(c.B, c.NH, c.Tq, c.HS, c.strided), qkv(c.B, c.NKV, c.Tk, c.HS, c.strided),
                        qkv(c.B, c.NKV, c.Tk, c.HS, c.strided)};
    double *pad = NULL, *add = NULL;
    g_mask = NULL;
    if (c.mask_kind == 1) {
        uint8_t *m = malloc((size_t)(c.B * c.Tk));
        pad = malloc((size_t)(c.B * c.Tk) * sizeof *pad);
        for (int64_t i = 0; i < c.B * c.Tk; i++) pad[i] = m[i] = (uint8_t)((i % c.Tk) < c.Tk - 1 - (i / c.Tk)); /* pad the tail */
        nl_tensor_from_host(&g_mask, NL_U8, 2, (int64_t[]){c.B, c.Tk}, m, NL_U8, NL_CPU_DEVICE);
        free(m);
    } else if (c.mask_kind == 2) {
        int64_t n = c.NH * c.Tq * c.Tk;
        float *m = malloc((size_t)n * sizeof *m);
        add = malloc((size_t)n * sizeof *add);
        for (int64_t i = 0; i < n; i++) add[i] = m[i] = (i % 3 == 1) ? -INFINITY : (float)(0.1 * (i % 5));
        for (int64_t i = 0; i < c.Tk; i++) add[i] = m[i] = -INFINITY; /* head 0, query 0: every key masked */
        nl_tensor_from_host(&g_mask, NL_F32, 4, (int64_t[]){1, c.NH, c.Tq, c.Tk}, m, NL_F32, NL_CPU_DEVICE);
        free(m);
    }
    double *q = h_values(in[0]), *k = h_values(in[1]), *v = h_values(in[2]);
    double *ro = malloc((size_t)(c.B * c.NH * c.Tq * c.HS + 1) * sizeof *ro);
    double *rp = malloc((size_t)(c.B * c.NH * c.Tq * c.Tk + 1) * sizeof *rp);
    reference(&c, q, k, v, pad, add, ro, rp);
    nl_tensor *out = NULL, *P = NULL;
    nl_attention_opts o = {.causal = c.causal, .mask = g_mask, .probs = &P};
    if (h_ok(nl_attention(&out, in[0], in[1], in[2], &o), name)) {
        char what[128];
        snprintf(what, sizeof what, "%s: output", name);
        h_close(what, out, ro, 1e-5, 1e-4);
        snprintf(what, sizeof what, "%s: probabilities", name);
        h_close(what, P, rp, 1e-6, 1e-4);
    }
    if (grad) {
        for (int i = 0; i < 3; i++) in[i]->requires_grad = true;
        g_case = c;
        h_gradcheck(name, att_f, 3, in, NULL, 1e-2, 1e-3, 2e-2, 48);
    }
    free(q); free(k); free(v); free(ro); free(rp); free(pad); free(add);
    nl_tensor_release(out); nl_tensor_release(P); nl_tensor_release(g_mask);
    for (int i = 0; i < 3; i++) nl_tensor_release(in[i]);
}

static void test_bad(void)
{
    nl_tensor *q = h_rand(4, (int64_t[]){1, 3, 4, 8}, -1, 1, false), *k = h_rand(4, (int64_t[]){1, 2, 4, 8}, -1, 1, false);
    nl_tensor *k5 = h_rand(4, (int64_t[]){1, 1, 4, 5}, -1, 1, false), *q3 = h_rand(3, (int64_t[]){3, 4, 8}, -1, 1, false);
    nl_tensor *o = NULL, *m = NULL;
    h_expect_error(nl_attention(&o, q, k, k, NULL), NL_ERR_SHAPE, "3 query heads over 2 kv heads");
    h_expect_error(nl_attention(&o, q, k5, k5, NULL), NL_ERR_SHAPE, "head size 8 vs 5");
    h_expect_error(nl_attention(&o, q3, q3, q3, NULL), NL_ERR_SHAPE, "3-d q");
    nl_tensor_zeros(&m, NL_U8, 2, (int64_t[]){1, 7}, NL_CPU_DEVICE);
    nl_attention_opts opt = {.mask = m};
    nl_tensor *q1 = h_rand(4, (int64_t[]){1, 2, 4, 8}, -1, 1, false);
    h_expect_error(nl_attention(&o, q1, k, k, &opt), NL_ERR_SHAPE, "key padding mask of 7 for 4 keys");
    nl_tensor *ids = h_randint(2, (int64_t[]){1, 4}, 2, NL_I64);
    opt.mask = ids;
    h_expect_error(nl_attention(&o, q1, k, k, &opt), NL_ERR_DTYPE, "an i64 mask");
    nl_tensor *tensors[] = {q, k, k5, q3, m, q1, ids};
    for (size_t i = 0; i < sizeof tensors / sizeof tensors[0]; i++) nl_tensor_release(tensors[i]);
}

int main(void)
{
    h_init("attention");
    run_case("self, not causal", (acase){2, 2, 2, 5, 5, 4, false, false, 0}, true);
    run_case("self, causal", (acase){1, 3, 3, 7, 7, 3, true, false, 0}, false);
    run_case("cross Tq 3 Tk 6", (acase){2, 2, 2, 3, 6, 4, false, true, 0}, true);
    run_case("causal with a prefix (Tq 2 < Tk 5)", (acase){1, 2, 1, 2, 5, 4, true, false, 0}, false);
    run_case("GQA 4 over 2, causal, key padding, strided", (acase){2, 4, 2, 5, 5, 3, true, true, 1}, true);
    run_case("MQA 4 over 1", (acase){1, 4, 1, 4, 4, 5, false, false, 0}, false);
    run_case("additive -inf mask, a fully masked row", (acase){1, 2, 2, 4, 4, 3, false, false, 2}, true);
    run_case("T 1", (acase){3, 2, 1, 1, 1, 7, true, false, 0}, false);
    /* more than one 32-row query block: causal blocks see only their keys */
    run_case("causal, 3 query blocks, key padding, GQA", (acase){2, 2, 1, 70, 70, 8, true, false, 1}, true);
    run_case("causal with a prefix over blocks (Tq 40 < Tk 75)", (acase){1, 2, 2, 40, 75, 4, true, true, 0}, true);
    run_case("causal, Tq 45 > Tk 20 (the first rows see no key)", (acase){1, 1, 1, 45, 20, 4, true, false, 0}, true);
    run_case("not causal over blocks, additive mask", (acase){1, 2, 2, 66, 9, 4, false, false, 2}, true);
    test_bad();
    return h_finish();
}
