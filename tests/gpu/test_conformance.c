/* test_conformance.c — the CUDA conformance suite (`make check-gpu`): every op
 * of the CUDA backend runs on cpu and on cuda:0 with the same inputs (odd
 * sizes, size-1 dims, broadcasting, non-contiguous views, special values);
 * results must agree on NaN/Inf and then |gpu - cpu| <= atol + rtol*|cpu| for
 * the op's tolerance class, and so must the gradients of a backward run on
 * each device. No device: exit 77 (skip), or fail when NOTELLM_REQUIRE_GPU=1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static nl_device gpu;

/* ---- tolerances ---------------------------------------------------------- */

typedef struct tol { double atol, rtol; } tol;

/* Same f32 inputs on both devices; GPU libm is within 2 ulp, sums may be
 * reordered (cuBLAS, reductions). EXACT is bitwise. */
static tol tol_of(nl_tol_class c)
{
    switch (c) {
    case NL_TOL_EXACT: return (tol){0, 0};
    case NL_TOL_ELEM: return (tol){1e-6, 1e-5};
    case NL_TOL_REDUCE: return (tol){1e-5, 1e-4};
    case NL_TOL_GEMM: return (tol){1e-5, 1e-4};
    }
    return (tol){0, 0};
}

static tol tol_op(nl_op op) { return tol_of(nl_op_get_info(op)->tol); }

/* ---- moving inputs --------------------------------------------------------- */

/* A cuda:0 tensor with t's values in the same layout: the whole storage is
 * copied and the view (shape, strides, offset) rebuilt on it, so a
 * non-contiguous CPU input stays non-contiguous on the GPU. */
static nl_tensor *mirror(const nl_tensor *t)
{
    int64_t n = (int64_t)(t->storage->nbytes / nl_dtype_size(t->dtype));
    nl_tensor *flat = NULL, *v = NULL;
    if (!h_ok(nl_tensor_from_host(&flat, t->dtype, 1, &n, t->storage->data, t->dtype, gpu), "storage to cuda:0"))
        return NULL;
    if (h_ok(nl_detach(&v, flat), "view on cuda:0")) {
        v->ndim = t->ndim;
        v->offset = t->offset;
        memcpy(v->shape, t->shape, sizeof v->shape);
        memcpy(v->strides, t->strides, sizeof v->strides);
        v->requires_grad = t->requires_grad;
    }
    nl_tensor_release(flat);
    return v;
}

static bool on_gpu(const nl_tensor *t) { return nl_device_equal(nl_tensor_device(t), gpu); }

/* Compare a cuda:0 result with the CPU one (shapes, device, values). */
static bool same(const char *what, const nl_tensor *c, const nl_tensor *g, tol t)
{
    char sc[96], sg[96];
    if (!h_check(g && c && nl_tensor_same_shape(c, g) && on_gpu(g), "%s: cuda:0 result %s, cpu %s", what,
                 g ? nl_shape_str(g, sg, sizeof sg) : "missing", c ? nl_shape_str(c, sc, sizeof sc) : "missing"))
        return false;
    double *ref = h_values(c);
    bool ok = h_close(what, g, ref, t.atol, t.rtol);
    free(ref);
    return ok;
}

/* ---- one case: forward on both devices, then backward on both ------------- */

typedef nl_status (*op_fn)(nl_tensor **out, nl_tensor **in, const void *ctx);

#define MAX_IN 4

/* in: CPU inputs (consumed). Float inputs get requires_grad when bwd is set;
 * the backward seed is the same random tensor on both devices. */
static void run_case(const char *what, op_fn fn, const void *ctx, int n, nl_tensor **in, nl_op fwd_op,
                     const tol *bwd)
{
    nl_tensor *gin[MAX_IN] = {0}, *co = NULL, *go = NULL, *cs = NULL, *gs = NULL;
    char name[256];
    bool ok = true;
    for (int i = 0; i < n; i++) {
        if (!in[i]) { ok = false; continue; }
        in[i]->requires_grad = bwd && nl_dtype_is_float(in[i]->dtype);
        gin[i] = mirror(in[i]);
        ok = ok && gin[i];
    }
    snprintf(name, sizeof name, "%s [cpu]", what);
    ok = ok && h_ok(fn(&co, in, ctx), name);
    snprintf(name, sizeof name, "%s [cuda:0]", what);
    ok = ok && h_ok(fn(&go, gin, ctx), name);
    ok = ok && same(what, co, go, tol_op(fwd_op));
    if (ok && bwd) {
        cs = h_rand(co->ndim, co->shape, -1, 1, false);
        gs = mirror(cs);
        ok = h_ok(nl_backward(co, cs, false), "backward [cpu]") && h_ok(nl_backward(go, gs, false), "backward [cuda:0]");
        for (int i = 0; ok && i < n; i++) {
            if (!in[i]->requires_grad) continue;
            snprintf(name, sizeof name, "%s: gradient of input %d", what, i);
            if (!h_check(in[i]->grad && gin[i]->grad, "%s exists on both devices", name)) break;
            same(name, in[i]->grad, gin[i]->grad, *bwd);
        }
    }
    nl_tensor_release(cs);
    nl_tensor_release(gs);
    nl_tensor_release(co);
    nl_tensor_release(go);
    for (int i = 0; i < n; i++) {
        nl_tensor_release(in[i]);
        nl_tensor_release(gin[i]);
    }
}

/* CPU tensor of dtype dt holding v (converted through f32) as a transposed,
 * non-contiguous [2, n/2] view of an [n/2, 2] buffer (n even). */
static nl_tensor *values_view(const double *v, int n, nl_dtype dt)
{
    float *f = malloc((size_t)n * sizeof *f);
    for (int i = 0; i < n; i++) f[i] = (float)v[i];
    nl_tensor *t = NULL, *r = NULL;
    int64_t rows[2] = {n / 2, 2};
    bool ok = h_ok(nl_tensor_from_host(&t, dt, 2, rows, f, NL_F32, NL_CPU_DEVICE), "values") &&
              h_ok(nl_transpose(&r, t, 0, 1), "transpose values");
    free(f);
    nl_tensor_release(t);
    return ok ? r : NULL;
}

/* ---- COPY and FILL ----------------------------------------------------------- */

static nl_status fn_clone(nl_tensor **out, nl_tensor **in, const void *ctx)
{
    (void)ctx;
    return nl_clone(out, in[0]);
}

static nl_status fn_to_dtype(nl_tensor **out, nl_tensor **in, const void *ctx)
{
    return nl_to(out, in[0], *(const nl_dtype *)ctx, nl_tensor_device(in[0]));
}

/* Values every conversion must agree on; the integer-safe ones stay inside
 * the i32 range (C leaves larger float -> int conversions undefined). */
static const double float_vals[] = {0, -0.0, 1, -1, 0.5, -2.5, 3.7, -3.7, 255.9, 300, -129, 65504, 65520,
                                    1e-8, 6e-8, 1.00390625, 1.01171875, 3e38, INFINITY, -INFINITY, NAN,
                                    1e10, -1e10, 123456789};
static const double int_vals[] = {0, -0.0, 1, -1, 0.5, -2.5, 3.7, -3.7, 255.9, 300, -129, 65504,
                                  123456789, -2147483000, 77, -5};

static void test_copy(void)
{
    int64_t s3[3] = {3, 5, 7}, s1[2] = {1, 9};
    nl_tensor *in[1];
    in[0] = h_rand(3, s3, -2, 2, true);
    run_case("copy: non-contiguous [3 5 7] -> contiguous", fn_clone, NULL, 1, in, NL_OP_COPY,
             &(tol){0, 0});
    in[0] = h_rand(2, s1, -2, 2, true);
    run_case("copy: non-contiguous [1 9] -> contiguous", fn_clone, NULL, 1, in, NL_OP_COPY, &(tol){0, 0});

    for (int st = 0; st < NL_DTYPE_COUNT; st++) {
        for (int dt = 0; dt < NL_DTYPE_COUNT; dt++) {
            bool to_int = !nl_dtype_is_float((nl_dtype)dt) || !nl_dtype_is_float((nl_dtype)st);
            const double *v = to_int ? int_vals : float_vals;
            int n = to_int ? (int)(sizeof int_vals / sizeof *v) : (int)(sizeof float_vals / sizeof *v);
            char what[96];
            snprintf(what, sizeof what, "copy: %s -> %s (non-contiguous source)", nl_dtype_name((nl_dtype)st),
                     nl_dtype_name((nl_dtype)dt));
            in[0] = values_view(v, n, (nl_dtype)st);
            nl_dtype d = (nl_dtype)dt;
            run_case(what, fn_to_dtype, &d, 1, in, NL_OP_COPY, NULL);
        }
    }
}

/* dst: a [5 7] view, transposed and narrowed out of a zeroed [7 6] base;
 * copy_ from a non-contiguous source must write the view and nothing else. */
static void test_copy_strided_dst(void)
{
    int64_t bs[2] = {7, 6}, s[2] = {5, 7};
    nl_tensor *cb = NULL, *gb = NULL, *cn = NULL, *gn = NULL, *cv = NULL, *gv = NULL;
    nl_tensor *src = h_rand(2, s, -1, 1, true), *gsrc = mirror(src);
    bool ok = h_ok(nl_tensor_zeros(&cb, NL_F32, 2, bs, NL_CPU_DEVICE), "zeros [cpu]") &&
              h_ok(nl_tensor_zeros(&gb, NL_F32, 2, bs, gpu), "zeros [cuda:0]") &&
              h_ok(nl_narrow(&cn, cb, 1, 1, 5), "narrow") && h_ok(nl_narrow(&gn, gb, 1, 1, 5), "narrow") &&
              h_ok(nl_transpose(&cv, cn, 0, 1), "transpose") && h_ok(nl_transpose(&gv, gn, 0, 1), "transpose") &&
              h_ok(nl_tensor_copy_(cv, src), "copy_ [cpu]") && h_ok(nl_tensor_copy_(gv, gsrc), "copy_ [cuda:0]");
    if (ok) same("copy_ into a strided view leaves the rest of the buffer alone", cb, gb, tol_op(NL_OP_COPY));
    nl_tensor *all[8] = {cb, gb, cn, gn, cv, gv, src, gsrc};
    for (int i = 0; i < 8; i++) nl_tensor_release(all[i]);
}

/* Gradients cross devices: x (cpu) -> cuda:0 -> x*x -> cpu. */
static void test_copy_across_devices(void)
{
    int64_t s[2] = {4, 3};
    nl_tensor *x = h_rand(2, s, -1, 1, true), *g = NULL, *sq = NULL, *back = NULL;
    nl_tensor *seed = h_rand(2, s, -1, 1, false);
    x->requires_grad = true;
    bool ok = h_ok(nl_to(&g, x, NL_F32, gpu), "to cuda:0") && h_ok(nl_mul(&sq, g, g), "mul [cuda:0]") &&
              h_ok(nl_to(&back, sq, NL_F32, NL_CPU_DEVICE), "to cpu") &&
              h_ok(nl_backward(back, seed, false), "backward across devices");
    if (ok && h_check(x->grad && nl_tensor_device(x->grad).type == NL_DEV_CPU, "cpu leaf gets a cpu gradient")) {
        double *xv = h_values(x), *sv = h_values(seed);
        for (int i = 0; i < 12; i++) xv[i] = 2 * xv[i] * sv[i];
        h_close("d/dx sum(seed * x^2) through cuda:0", x->grad, xv, 1e-6, 1e-6);
        free(xv);
        free(sv);
    }
    nl_tensor *all[5] = {x, g, sq, back, seed};
    for (int i = 0; i < 5; i++) nl_tensor_release(all[i]);
}

static void test_fill(void)
{
    const double vals[] = {0, 1.5, -3, 7, -INFINITY, 300.75};
    int64_t s[3] = {2, 3, 5};
    for (int dt = 0; dt < NL_DTYPE_COUNT; dt++) {
        for (size_t k = 0; k < sizeof vals / sizeof *vals; k++) {
            if (!nl_dtype_is_float((nl_dtype)dt) && !isfinite(vals[k])) continue;
            nl_tensor *c = NULL, *g = NULL;
            char what[96];
            snprintf(what, sizeof what, "fill %s [2 3 5] with %g", nl_dtype_name((nl_dtype)dt), vals[k]);
            if (h_ok(nl_tensor_full(&c, (nl_dtype)dt, 3, s, vals[k], NL_CPU_DEVICE), what) &&
                h_ok(nl_tensor_full(&g, (nl_dtype)dt, 3, s, vals[k], gpu), what))
                same(what, c, g, tol_op(NL_OP_FILL));
            nl_tensor_release(c);
            nl_tensor_release(g);
        }
    }
    /* fill_ on a strided view writes the view only */
    int64_t bs[2] = {6, 4};
    nl_tensor *cb = h_rand(2, bs, -1, 1, false), *gb = mirror(cb), *cv = NULL, *gv = NULL;
    bool ok = h_ok(nl_narrow(&cv, cb, 1, 1, 2), "narrow") && h_ok(nl_narrow(&gv, gb, 1, 1, 2), "narrow") &&
              h_ok(nl_tensor_fill_(cv, -2.25), "fill_ [cpu]") && h_ok(nl_tensor_fill_(gv, -2.25), "fill_ [cuda:0]");
    if (ok) same("fill_ of a narrowed view", cb, gb, tol_op(NL_OP_FILL));
    nl_tensor *all[4] = {cb, gb, cv, gv};
    for (int i = 0; i < 4; i++) nl_tensor_release(all[i]);
}

/* ---- elementwise ------------------------------------------------------------ */

static nl_status fn_binary(nl_tensor **out, nl_tensor **in, const void *ctx)
{
    switch (*(const nl_op *)ctx) {
    case NL_OP_ADD: return nl_add(out, in[0], in[1]);
    case NL_OP_SUB: return nl_sub(out, in[0], in[1]);
    case NL_OP_MUL: return nl_mul(out, in[0], in[1]);
    default: return nl_div(out, in[0], in[1]);
    }
}

static nl_status fn_scale(nl_tensor **out, nl_tensor **in, const void *ctx)
{
    const double *sb = ctx;
    return nl_scale(out, in[0], sb[0], sb[1]);
}

static nl_status fn_unary(nl_tensor **out, nl_tensor **in, const void *ctx)
{
    return nl_unary(out, *(const nl_op *)ctx, in[0]);
}

typedef struct shape_pair { int na, nb; int64_t a[4], b[4]; } shape_pair;

static void test_binary(void)
{
    static const shape_pair pairs[] = {
        {3, 3, {3, 5, 7}, {3, 5, 7}}, {3, 2, {4, 1, 3}, {5, 1}}, {1, 2, {1}, {2, 3}},
        {0, 2, {0}, {3, 4}},          {3, 3, {2, 1, 4}, {1, 3, 1}}, {2, 2, {1, 1}, {1, 1}},
    };
    const nl_op ops[] = {NL_OP_ADD, NL_OP_SUB, NL_OP_MUL, NL_OP_DIV};
    tol bwd = tol_of(NL_TOL_REDUCE); /* broadcast gradients are summed back */
    for (size_t o = 0; o < sizeof ops / sizeof *ops; o++) {
        for (size_t k = 0; k < sizeof pairs / sizeof *pairs; k++) {
            for (int nc = 0; nc < 2; nc++) {
                const shape_pair *p = &pairs[k];
                char what[160], sa[64], sb[64];
                snprintf(what, sizeof what, "%s %s %s%s", nl_op_get_info(ops[o])->name, nl_dims_str(p->na, p->a, sa, 64),
                         nl_dims_str(p->nb, p->b, sb, 64), nc ? " (non-contiguous)" : "");
                nl_tensor *in[2] = {h_rand(p->na, p->a, -2, 2, nc), h_rand(p->nb, p->b, 0.5, 2, nc)};
                run_case(what, fn_binary, &ops[o], 2, in, ops[o], &bwd);
            }
        }
        /* NaN/Inf agreement: inf-inf, 0/0, x/0, inf*0 ... */
        const double a[] = {INFINITY, -INFINITY, NAN, 0, 1, -1, INFINITY, 0, 2.5, -0.0};
        const double b[] = {INFINITY, 0, 1, 0, 0, -0.0, -INFINITY, INFINITY, NAN, 3};
        nl_tensor *in[2] = {values_view(a, 10, NL_F32), values_view(b, 10, NL_F32)};
        char what[96];
        snprintf(what, sizeof what, "%s with Inf, NaN, 0 and -0", nl_op_get_info(ops[o])->name);
        run_case(what, fn_binary, &ops[o], 2, in, ops[o], NULL);
    }
    double sb[2] = {2.5, -0.75};
    int64_t s[3] = {3, 5, 7};
    tol ts = tol_op(NL_OP_SCALE);
    for (int nc = 0; nc < 2; nc++) {
        nl_tensor *in[1] = {h_rand(3, s, -2, 2, nc)};
        run_case(nc ? "scale [3 5 7] (non-contiguous)" : "scale [3 5 7]", fn_scale, sb, 1, in, NL_OP_SCALE, &ts);
    }
}

static void test_unary(void)
{
    const double special[] = {0, -0.0, INFINITY, -INFINITY, NAN, 1e-30, -1e-30, 88.8, -100, 20, -20, 1, -1, 0.25};
    int64_t s[3] = {3, 5, 7}, s1[2] = {1, 1};
    for (int op = NL_OP_EXP; op <= NL_OP_QUICK_GELU; op++) {
        nl_op o = (nl_op)op;
        bool pos = o == NL_OP_LOG || o == NL_OP_SQRT || o == NL_OP_RSQRT;
        tol bwd = tol_op(NL_OP_UNARY_BWD);
        char what[128];
        const char *name = nl_op_get_info(o)->name;
        for (int nc = 0; nc < 2; nc++) {
            snprintf(what, sizeof what, "%s [3 5 7]%s", name, nc ? " (non-contiguous)" : "");
            nl_tensor *in[1] = {h_rand(3, s, pos ? 0.05 : -3, 3, nc)};
            run_case(what, fn_unary, &o, 1, in, o, &bwd);
        }
        snprintf(what, sizeof what, "%s [1 1]", name);
        nl_tensor *in1[1] = {h_rand(2, s1, pos ? 0.05 : -3, 3, false)};
        run_case(what, fn_unary, &o, 1, in1, o, &bwd);
        snprintf(what, sizeof what, "%s of 0, -0, Inf, NaN, tiny and large values", name);
        nl_tensor *in2[1] = {values_view(special, 14, NL_F32)};
        run_case(what, fn_unary, &o, 1, in2, o, NULL);
    }
}

static nl_status fn_swiglu(nl_tensor **out, nl_tensor **in, const void *ctx)
{
    (void)ctx;
    return nl_swiglu(out, in[0], in[1]);
}

static void test_swiglu(void)
{
    const double g[] = {0, -0.0, INFINITY, -INFINITY, NAN, 1e-30, 88.8, -100, 20, -20, 1, -1};
    const double u[] = {1, 2, 0.5, 3, 1, -1, 0.25, 2, -0.5, 1, INFINITY, 0};
    int64_t s[3] = {3, 5, 7};
    tol bwd = tol_op(NL_OP_SWIGLU_BWD);
    for (int nc = 0; nc < 2; nc++) {
        nl_tensor *in[2] = {h_rand(3, s, -3, 3, nc), h_rand(3, s, -2, 2, nc)};
        run_case(nc ? "swiglu [3 5 7] (non-contiguous)" : "swiglu [3 5 7]", fn_swiglu, NULL, 2, in, NL_OP_SWIGLU, &bwd);
    }
    nl_tensor *in[2] = {values_view(g, 12, NL_F32), values_view(u, 12, NL_F32)};
    run_case("swiglu of 0, -0, Inf, NaN, tiny and large values", fn_swiglu, NULL, 2, in, NL_OP_SWIGLU, NULL);
}

typedef struct sum_to_case { int nx, ns; int64_t x[4], s[4]; } sum_to_case;

static nl_status fn_sum_to(nl_tensor **out, nl_tensor **in, const void *ctx)
{
    const sum_to_case *c = ctx;
    return nl_sum_to(out, in[0], c->ns, c->s);
}

static void test_sum_to(void)
{
    static const sum_to_case cases[] = {
        {3, 2, {4, 5, 3}, {5, 1}}, {3, 3, {4, 5, 3}, {1, 5, 3}}, {3, 1, {4, 5, 3}, {3}},
        {3, 0, {4, 5, 3}, {0}},    {2, 2, {1, 9}, {1, 9}},       {2, 2, {33, 65}, {1, 65}},
    };
    tol t = tol_op(NL_OP_SUM_TO);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        for (int nc = 0; nc < 2; nc++) {
            const sum_to_case *c = &cases[k];
            char what[160], sx[64], ss[64];
            snprintf(what, sizeof what, "sum-to %s -> %s%s", nl_dims_str(c->nx, c->x, sx, 64),
                     nl_dims_str(c->ns, c->s, ss, 64), nc ? " (non-contiguous)" : "");
            nl_tensor *in[1] = {h_rand(c->nx, c->x, -1, 1, nc)};
            run_case(what, fn_sum_to, c, 1, in, NL_OP_SUM_TO, &t);
        }
    }
}

/* ---- matmul ------------------------------------------------------------------- */

typedef struct mm_case {
    int na, nb;
    int64_t a[4], b[4];
    bool ta, tb, nca, ncb;
} mm_case;

static nl_status fn_matmul(nl_tensor **out, nl_tensor **in, const void *ctx)
{
    const mm_case *c = ctx;
    return nl_matmul(out, in[0], in[1], c->ta, c->tb);
}

static nl_status fn_linear(nl_tensor **out, nl_tensor **in, const void *ctx)
{
    (void)ctx;
    return nl_linear(out, in[0], in[1], in[2]);
}

static void test_matmul(void)
{
    static const mm_case cases[] = {
        {2, 2, {5, 7}, {7, 3}, false, false, false, false},
        {2, 2, {7, 5}, {7, 3}, true, false, false, false},
        {2, 2, {5, 7}, {3, 7}, false, true, false, false},
        {2, 2, {7, 5}, {3, 7}, true, true, false, false},
        {2, 2, {5, 7}, {7, 3}, false, false, true, true},   /* column-major views */
        {2, 2, {7, 5}, {3, 7}, true, true, true, false},
        {4, 2, {2, 3, 5, 7}, {7, 4}, false, false, false, false}, /* b broadcast over batches */
        {4, 3, {3, 1, 5, 6}, {4, 6, 2}, false, false, false, false}, /* both broadcast: per-batch calls */
        {3, 3, {2, 5, 7}, {2, 7, 3}, false, false, true, true}, /* non-contiguous batches */
        {2, 2, {1, 7}, {7, 1}, false, false, false, false},
        {2, 2, {4, 1}, {1, 6}, false, false, false, false},   /* K = 1 */
        {2, 2, {3, 0}, {0, 4}, false, false, false, false},   /* K = 0: zeros */
        {2, 2, {67, 129}, {129, 33}, false, false, false, false},
    };
    tol bwd = tol_of(NL_TOL_GEMM);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const mm_case *c = &cases[k];
        char what[160], sa[64], sb[64];
        snprintf(what, sizeof what, "matmul %s%s%s x %s%s%s", nl_dims_str(c->na, c->a, sa, 64), c->ta ? "^T" : "",
                 c->nca ? " (nc)" : "", nl_dims_str(c->nb, c->b, sb, 64), c->tb ? "^T" : "", c->ncb ? " (nc)" : "");
        nl_tensor *in[2] = {h_rand(c->na, c->a, -1, 1, c->nca), h_rand(c->nb, c->b, -1, 1, c->ncb)};
        run_case(what, fn_matmul, c, 2, in, NL_OP_MATMUL, &bwd);
    }
    int64_t sx[3] = {2, 3, 5}, sw[2] = {4, 5}, sbias[1] = {4};
    nl_tensor *in[3] = {h_rand(3, sx, -1, 1, true), h_rand(2, sw, -1, 1, false), h_rand(1, sbias, -1, 1, false)};
    run_case("linear x [2 3 5] (nc), w [4 5], bias [4]", fn_linear, NULL, 3, in, NL_OP_MATMUL, &bwd);
}

/* ---- a small network: linear -> gelu -> linear -> * -------------------------- */

static nl_status fn_mlp(nl_tensor **out, nl_tensor **in, const void *ctx)
{
    (void)ctx;
    nl_tensor *h = NULL, *a = NULL, *y = NULL;
    nl_status st = nl_linear(&h, in[0], in[1], in[2]);
    if (st == NL_OK) st = nl_gelu(&a, h);
    if (st == NL_OK) st = nl_linear(&y, a, in[3], NULL);
    if (st == NL_OK) st = nl_mul(out, y, y);
    nl_tensor_release(h);
    nl_tensor_release(a);
    nl_tensor_release(y);
    return st;
}

static void test_mlp(void)
{
    int64_t sx[2] = {6, 5}, s1[2] = {8, 5}, sb[1] = {8}, s2[2] = {3, 8};
    nl_tensor *in[4] = {h_rand(2, sx, -1, 1, false), h_rand(2, s1, -1, 1, false), h_rand(1, sb, -1, 1, false),
                        h_rand(2, s2, -1, 1, true)};
    tol t = tol_of(NL_TOL_GEMM);
    run_case("mlp: linear, gelu, linear, square", fn_mlp, NULL, 4, in, NL_OP_MATMUL, &t);
}

/* ---- coverage ------------------------------------------------------------------- */

/* Every kernel of the CUDA table must be tested above; an op without a CUDA
 * kernel must fail cleanly with a device error. */
static void test_coverage(void)
{
    static const nl_op covered[] = {NL_OP_COPY, NL_OP_FILL, NL_OP_ADD, NL_OP_SUB, NL_OP_MUL, NL_OP_DIV,
                                    NL_OP_SCALE, NL_OP_EXP, NL_OP_LOG, NL_OP_SQRT, NL_OP_RSQRT, NL_OP_TANH,
                                    NL_OP_SIGMOID, NL_OP_RELU, NL_OP_SILU, NL_OP_GELU, NL_OP_GELU_TANH,
                                    NL_OP_QUICK_GELU, NL_OP_UNARY_BWD, NL_OP_SWIGLU, NL_OP_SWIGLU_BWD,
                                    NL_OP_SUM_TO, NL_OP_MATMUL};
    const nl_backend *b;
    if (!h_ok(nl_device_backend(gpu, &b), "cuda backend")) return;
    int n_kernels = 0;
    for (int op = 0; op < NL_OP_COUNT; op++) {
        if (!b->kernels[op]) continue;
        n_kernels++;
        bool found = false;
        for (size_t k = 0; k < sizeof covered / sizeof *covered; k++) found = found || (int)covered[k] == op;
        h_check(found, "CUDA kernel %s is covered by this suite", nl_op_get_info((nl_op)op)->name);
    }
    printf("     the CUDA backend has %d kernels\n", n_kernels);
    if (b->kernels[NL_OP_SOFTMAX]) return;
    int64_t s[2] = {3, 4};
    nl_tensor *c = h_rand(2, s, -1, 1, false), *g = mirror(c), *r = NULL;
    h_expect_error(nl_softmax(&r, g, -1), NL_ERR_DEVICE, "softmax without a CUDA kernel");
    h_check(strstr(nl_last_error(), "cuda:0") != NULL, "the message names the device");
    nl_tensor_release(r);
    nl_tensor_release(c);
    nl_tensor_release(g);
}

int main(void)
{
    h_init("gpu-conformance");
    h_ok(nl_device_parse("cuda:0", &gpu), "parse cuda:0");
    if (nl_cuda_device_count() < 1) {
        const nl_backend *b;
        nl_device_backend(gpu, &b);
        const char *req = getenv("NOTELLM_REQUIRE_GPU");
        bool required = req && *req && strcmp(req, "0") != 0;
        printf("%s: no usable CUDA device: %s\n", required ? "FAIL" : "SKIP", nl_last_error());
        return required ? 1 : 77;
    }
    test_copy();
    test_copy_strided_dst();
    test_copy_across_devices();
    test_fill();
    test_binary();
    test_unary();
    test_swiglu();
    test_sum_to();
    test_matmul();
    test_mlp();
    test_coverage();
    return h_finish();
}
