/* test_elementwise.c — conformance of the elementwise family: binary ops
 * with broadcasting, scale, every unary activation, where, masked-fill and
 * dropout, against naive double references, with gradient checks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Row-major multi-index of flat k in shape, mapped into a broadcast operand. */
static int64_t bcast_index(int64_t k, int nd, const int64_t *shape, int nx, const int64_t *xs)
{
    int64_t off = 0, stride = 1;
    for (int d = nd - 1; d >= 0; d--) {
        int64_t i = k % shape[d];
        k /= shape[d];
        int xd = d - (nd - nx);
        if (xd >= 0) {
            if (xs[xd] != 1) off += i * stride;
            stride *= xs[xd];
        }
    }
    return off;
}

static double ref_binary(nl_op op, double x, double y)
{
    switch (op) {
    case NL_OP_ADD: return x + y;
    case NL_OP_SUB: return x - y;
    case NL_OP_MUL: return x * y;
    default: return x / y;
    }
}

static nl_status (*const binfn[])(nl_tensor **, nl_tensor *, nl_tensor *) = {nl_add, nl_sub, nl_mul, nl_div};
static const nl_op binop[] = {NL_OP_ADD, NL_OP_SUB, NL_OP_MUL, NL_OP_DIV};

typedef struct { int which; } bctx;

static nl_status bin_f(nl_tensor **out, nl_tensor **in, void *ctx)
{
    return binfn[((bctx *)ctx)->which](out, in[0], in[1]);
}

static void test_binary(void)
{
    struct { int na; int64_t a[4]; int nb; int64_t b[4]; bool nc; } cases[] = {
        {3, {3, 5, 7}, 3, {3, 5, 7}, false},
        {3, {3, 5, 7}, 3, {3, 5, 7}, true},
        {3, {4, 1, 3}, 2, {5, 1}, false},
        {2, {1, 6}, 3, {2, 3, 1}, true},
        {1, {1}, 2, {2, 9}, false},
        {0, {0}, 2, {3, 2}, false},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int w = 0; w < 4; w++) {
            nl_tensor *in[2];
            in[0] = h_rand(cases[c].na, cases[c].a, -2, 2, cases[c].nc);
            in[1] = h_rand(cases[c].nb, cases[c].b, 0.5, 2, cases[c].nc); /* away from 0 for div */
            char what[96];
            snprintf(what, sizeof what, "%s case %zu", nl_op_get_info(binop[w])->name, c);
            nl_tensor *out = NULL;
            if (!h_ok(binfn[w](&out, in[0], in[1]), what)) continue;
            int nd;
            int64_t sh[NL_MAX_DIMS];
            nl_broadcast_shapes(in[0]->ndim, in[0]->shape, in[1]->ndim, in[1]->shape, &nd, sh);
            h_check(nl_tensor_same_shape(out, &(nl_tensor){.ndim = nd, .shape = {sh[0], sh[1], sh[2], sh[3]}}),
                    "%s: broadcast shape", what);
            double *x = h_values(in[0]), *y = h_values(in[1]);
            int64_t n = nl_tensor_numel(out);
            double *ref = malloc((size_t)n * sizeof *ref);
            for (int64_t k = 0; k < n; k++)
                ref[k] = ref_binary(binop[w], x[bcast_index(k, nd, sh, in[0]->ndim, in[0]->shape)],
                                    y[bcast_index(k, nd, sh, in[1]->ndim, in[1]->shape)]);
            h_close(what, out, ref, 1e-6, 1e-6);
            in[0]->requires_grad = in[1]->requires_grad = true;
            bctx ctx = {w};
            h_gradcheck(what, bin_f, 2, in, &ctx, 1e-2, 1e-3, 1e-2, 40);
            free(x); free(y); free(ref);
            nl_tensor_release(out);
            nl_tensor_release(in[0]);
            nl_tensor_release(in[1]);
        }
    }
    nl_tensor *a = h_rand(2, (int64_t[]){2, 3}, 0, 1, false), *b = h_rand(2, (int64_t[]){4, 5}, 0, 1, false), *o = NULL;
    h_expect_error(nl_add(&o, a, b), NL_ERR_SHAPE, "add [2 3] + [4 5]");
    h_check(strstr(nl_last_error(), "[2 3]") && strstr(nl_last_error(), "[4 5]"), "message names both shapes: %s", nl_last_error());
    nl_tensor *ids = h_randint(1, (int64_t[]){3}, 5, NL_I64);
    h_expect_error(nl_mul(&o, a, ids), NL_ERR_DTYPE, "mul by an i64 tensor");
    nl_tensor_release(a); nl_tensor_release(b); nl_tensor_release(ids);
}

static double ref_unary(nl_op op, double x)
{
    switch (op) {
    case NL_OP_EXP: return exp(x);
    case NL_OP_LOG: return log(x);
    case NL_OP_SQRT: return sqrt(x);
    case NL_OP_RSQRT: return 1 / sqrt(x);
    case NL_OP_TANH: return tanh(x);
    case NL_OP_SIGMOID: return 1 / (1 + exp(-x));
    case NL_OP_RELU: return x > 0 ? x : 0;
    case NL_OP_SILU: return x / (1 + exp(-x));
    case NL_OP_GELU: return 0.5 * x * (1 + erf(x / sqrt(2)));
    case NL_OP_GELU_TANH: return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case NL_OP_QUICK_GELU: return x / (1 + exp(-1.702 * x));
    default: return NAN;
    }
}

typedef struct { nl_op op; } uctx;
static nl_status un_f(nl_tensor **out, nl_tensor **in, void *ctx) { return nl_unary(out, ((uctx *)ctx)->op, in[0]); }

static void test_unary(void)
{
    int64_t sh[3] = {3, 1, 17};
    for (int op = NL_OP_EXP; op <= NL_OP_QUICK_GELU; op++) {
        int positive = op == NL_OP_LOG || op == NL_OP_SQRT || op == NL_OP_RSQRT;
        for (int nc = 0; nc < 2; nc++) {
            nl_tensor *x = h_rand(3, sh, positive ? 0.3 : -3, 3, nc);
            if (op == NL_OP_RELU) { /* keep away from the kink at 0 */
                float *p = x->storage->data;
                for (size_t i = 0; i < x->storage->nbytes / 4; i++) if (fabsf(p[i]) < 0.05f) p[i] = 0.5f;
            }
            char what[64];
            snprintf(what, sizeof what, "%s%s", nl_op_get_info((nl_op)op)->name, nc ? " (strided)" : "");
            nl_tensor *y = NULL;
            if (!h_ok(nl_unary(&y, (nl_op)op, x), what)) continue;
            double *xv = h_values(x), ref[51];
            for (int i = 0; i < 51; i++) ref[i] = ref_unary((nl_op)op, xv[i]);
            h_close(what, y, ref, 1e-6, 2e-6);
            x->requires_grad = true;
            uctx ctx = {(nl_op)op};
            h_gradcheck(what, un_f, 1, &x, &ctx, 1e-3, 1e-3, 1e-2, 51);
            free(xv);
            nl_tensor_release(y);
            nl_tensor_release(x);
        }
    }
    nl_tensor *x = h_rand(1, (int64_t[]){4}, -1, 1, false), *y = NULL;
    h_expect_error(nl_unary(&y, NL_OP_ADD, x), NL_ERR_ARG, "nl_unary with a binary op");
    nl_tensor_release(x);
}

static nl_status swiglu_f(nl_tensor **out, nl_tensor **in, void *ctx) { (void)ctx; return nl_swiglu(out, in[0], in[1]); }

/* The fused op against a double reference, its gradients numerically, and
 * bit-equality with SILU then MUL (forward and both gradients). */
static void test_swiglu(void)
{
    int64_t sh[3] = {3, 1, 17};
    for (int nc = 0; nc < 2; nc++) {
        const char *what = nc ? "swiglu (strided)" : "swiglu";
        nl_tensor *in[2] = {h_rand(3, sh, -4, 4, nc), h_rand(3, sh, -2, 2, nc)}, *y = NULL;
        if (!h_ok(nl_swiglu(&y, in[0], in[1]), what)) continue;
        double *g = h_values(in[0]), *u = h_values(in[1]), ref[51];
        for (int i = 0; i < 51; i++) ref[i] = g[i] / (1 + exp(-g[i])) * u[i];
        h_close(what, y, ref, 1e-6, 2e-6);
        in[0]->requires_grad = in[1]->requires_grad = true;
        h_gradcheck(what, swiglu_f, 2, in, NULL, 1e-3, 1e-3, 1e-2, 51);

        nl_tensor *y2 = NULL, *s = NULL, *y1 = NULL, *gy = h_rand(3, sh, -1, 1, false);
        nl_tensor *dg[2] = {NULL, NULL}, *du[2] = {NULL, NULL};
        for (int fused = 0; fused < 2; fused++) {
            nl_zero_grad(in[0]);
            nl_zero_grad(in[1]);
            nl_tensor **yy = fused ? &y2 : &y1;
            nl_status st = fused ? nl_swiglu(yy, in[0], in[1]) : nl_silu(&s, in[0]);
            if (!fused && st == NL_OK) st = nl_mul(yy, s, in[1]);
            if (h_ok(st, what) && h_ok(nl_backward(*yy, gy, false), "backward")) {
                dg[fused] = nl_tensor_retain(in[0]->grad);
                du[fused] = nl_tensor_retain(in[1]->grad);
            }
        }
        if (y1 && y2 && dg[0] && dg[1]) {
            double *a = h_values(y1), *da = h_values(dg[0]), *db = h_values(du[0]);
            h_close("swiglu bit-equals silu then mul", y2, a, 0, 0);
            h_close("swiglu gate gradient bit-equals silu then mul", dg[1], da, 0, 0);
            h_close("swiglu up gradient bit-equals silu then mul", du[1], db, 0, 0);
            free(a); free(da); free(db);
        }
        for (int i = 0; i < 2; i++) { nl_tensor_release(dg[i]); nl_tensor_release(du[i]); }
        free(g); free(u);
        nl_tensor_release(y); nl_tensor_release(y1); nl_tensor_release(y2); nl_tensor_release(s); nl_tensor_release(gy);
        nl_tensor_release(in[0]); nl_tensor_release(in[1]);
    }
    nl_tensor *a = h_rand(1, (int64_t[]){4}, -1, 1, false), *b = h_rand(1, (int64_t[]){5}, -1, 1, false), *y = NULL;
    h_expect_error(nl_swiglu(&y, a, b), NL_ERR_SHAPE, "swiglu of [4] and [5]");
    nl_tensor *ids = h_randint(1, (int64_t[]){4}, 5, NL_I64);
    h_expect_error(nl_swiglu(&y, a, ids), NL_ERR_DTYPE, "swiglu with an i64 up");
    nl_tensor_release(a); nl_tensor_release(b); nl_tensor_release(ids);
}

static nl_status scale_f(nl_tensor **out, nl_tensor **in, void *ctx) { (void)ctx; return nl_scale(out, in[0], -1.5, 0.25); }

static void test_scale(void)
{
    nl_tensor *x = h_rand(2, (int64_t[]){5, 3}, -1, 1, true), *y = NULL;
    h_ok(nl_scale(&y, x, -1.5, 0.25), "scale");
    double *xv = h_values(x), ref[15];
    for (int i = 0; i < 15; i++) ref[i] = -1.5 * xv[i] + 0.25;
    h_close("scale -1.5x + 0.25", y, ref, 1e-6, 1e-6);
    x->requires_grad = true;
    h_gradcheck("scale", scale_f, 1, &x, NULL, 1e-2, 1e-4, 1e-3, 15);
    free(xv);
    nl_tensor_release(x);
    nl_tensor_release(y);
}

static nl_tensor *mask_from(int nd, const int64_t *sh, const uint8_t *v)
{
    nl_tensor *m = NULL;
    nl_tensor_from_host(&m, NL_U8, nd, sh, v, NL_U8, NL_CPU_DEVICE);
    return m;
}

static nl_tensor *g_mask;
static nl_status where_f(nl_tensor **out, nl_tensor **in, void *ctx) { (void)ctx; return nl_where(out, g_mask, in[0], in[1]); }
static nl_status fill_f(nl_tensor **out, nl_tensor **in, void *ctx) { (void)ctx; return nl_masked_fill(out, in[0], g_mask, -INFINITY); }

static void test_selection(void)
{
    uint8_t mv[4] = {1, 0, 0, 1};
    g_mask = mask_from(2, (int64_t[]){4, 1}, mv); /* broadcast over columns */
    nl_tensor *in[2] = {h_rand(2, (int64_t[]){4, 3}, -1, 1, true), h_rand(1, (int64_t[]){3}, -1, 1, false)};
    nl_tensor *y = NULL;
    h_ok(nl_where(&y, g_mask, in[0], in[1]), "where");
    double *a = h_values(in[0]), *b = h_values(in[1]), ref[12];
    for (int i = 0; i < 12; i++) ref[i] = mv[i / 3] ? a[i] : b[i % 3];
    h_close("where with broadcast cond and b", y, ref, 0, 0);
    in[0]->requires_grad = in[1]->requires_grad = true;
    h_gradcheck("where", where_f, 2, in, NULL, 1e-2, 1e-4, 1e-3, 12);
    nl_tensor_release(y);
    y = NULL;

    h_ok(nl_masked_fill(&y, in[0], g_mask, -INFINITY), "masked-fill -inf");
    for (int i = 0; i < 12; i++) ref[i] = mv[i / 3] ? -INFINITY : a[i];
    h_close("masked-fill", y, ref, 0, 0);
    h_gradcheck("masked-fill (finite entries only see gradient)", fill_f, 1, in, NULL, 1e-2, 1e-4, 1e-3, 12);
    nl_tensor *bad = h_rand(2, (int64_t[]){4, 3}, 0, 1, false), *o = NULL;
    h_expect_error(nl_masked_fill(&o, in[0], bad, 0), NL_ERR_DTYPE, "an f32 mask");
    nl_tensor *m5 = mask_from(1, (int64_t[]){5}, (uint8_t[]){1, 1, 1, 1, 1});
    h_expect_error(nl_masked_fill(&o, in[0], m5, 0), NL_ERR_SHAPE, "a mask of 5 for 3 columns");
    free(a); free(b);
    nl_tensor_release(y); nl_tensor_release(bad); nl_tensor_release(m5);
    nl_tensor_release(in[0]); nl_tensor_release(in[1]); nl_tensor_release(g_mask);
}

static nl_rng drop_rng;
static nl_status drop_f(nl_tensor **out, nl_tensor **in, void *ctx)
{
    nl_rng r = drop_rng; /* same mask every evaluation */
    (void)ctx;
    return nl_dropout(out, in[0], 0.3, &r);
}

static void test_dropout(void)
{
    nl_tensor *x = h_rand(2, (int64_t[]){64, 65}, 1, 2, false), *y = NULL, *y2 = NULL;
    nl_rng_seed(&drop_rng, 7);
    nl_rng r1 = drop_rng, r2 = drop_rng;
    h_ok(nl_dropout(&y, x, 0.3, &r1), "dropout p=0.3");
    h_ok(nl_dropout(&y2, x, 0.3, &r2), "dropout replayed");
    double *a = h_values(y), *b = h_values(y2), *xv = h_values(x);
    int64_t n = 64 * 65, zeros = 0, same = 1, scaled = 1;
    for (int64_t i = 0; i < n; i++) {
        zeros += a[i] == 0;
        same &= a[i] == b[i];
        if (a[i] != 0) scaled &= fabs(a[i] - xv[i] / 0.7) < 1e-5;
    }
    h_check(same, "a copied rng state replays the same mask");
    h_check(scaled, "kept elements are scaled by 1/(1-p)");
    h_check(fabs((double)zeros / n - 0.3) < 0.03, "dropped share %.3f near 0.3", (double)zeros / n);
    nl_tensor *s = h_rand(2, (int64_t[]){3, 4}, -1, 1, false);
    s->requires_grad = true;
    h_gradcheck("dropout", drop_f, 1, &s, NULL, 1e-2, 1e-4, 1e-3, 12);
    nl_tensor *o = NULL;
    h_expect_error(nl_dropout(&o, x, 1.0, &r1), NL_ERR_ARG, "dropout p = 1");
    h_expect_error(nl_dropout(&o, x, -0.1, &r1), NL_ERR_ARG, "dropout p < 0");
    free(a); free(b); free(xv);
    nl_tensor_release(x); nl_tensor_release(y); nl_tensor_release(y2); nl_tensor_release(s);
}

int main(void)
{
    h_init("elementwise");
    test_binary();
    test_unary();
    test_swiglu();
    test_scale();
    test_selection();
    test_dropout();
    return h_finish();
}
