/* test_norm.c — conformance of nl_rmsnorm, nl_layernorm, nl_l2_normalize and
 * nl_rope: naive double references on odd row lengths (C = 1, 3, 65, 130),
 * several leading dims and strided inputs; gradient checks of x, w, b; RoPE
 * with per-batch positions, partial rotary dims and its relative-position
 * property; bad inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

/* ---- double references (row-major values, rows of length C) ------------- */

static double *dalloc(int64_t n) { return malloc((size_t)(n > 0 ? n : 1) * sizeof(double)); }

static double *ref_rmsnorm(const double *x, int64_t N, int64_t C, const double *w, double eps)
{
    double *y = dalloc(N * C);
    for (int64_t r = 0; r < N; r++) {
        double ss = 0;
        for (int64_t j = 0; j < C; j++) ss += x[r * C + j] * x[r * C + j];
        double rs = 1 / sqrt(ss / C + eps);
        for (int64_t j = 0; j < C; j++) y[r * C + j] = x[r * C + j] * rs * (w ? w[j] : 1);
    }
    return y;
}

static double *ref_layernorm(const double *x, int64_t N, int64_t C, const double *w, const double *b, double eps)
{
    double *y = dalloc(N * C);
    for (int64_t r = 0; r < N; r++) {
        double m = 0, v = 0;
        for (int64_t j = 0; j < C; j++) m += x[r * C + j] / C;
        for (int64_t j = 0; j < C; j++) v += (x[r * C + j] - m) * (x[r * C + j] - m) / C;
        for (int64_t j = 0; j < C; j++)
            y[r * C + j] = (x[r * C + j] - m) / sqrt(v + eps) * (w ? w[j] : 1) + (b ? b[j] : 0);
    }
    return y;
}

static double *ref_l2(const double *x, int64_t N, int64_t C, double eps)
{
    double *y = dalloc(N * C);
    for (int64_t r = 0; r < N; r++) {
        double ss = 0;
        for (int64_t j = 0; j < C; j++) ss += x[r * C + j] * x[r * C + j];
        double d = fmax(sqrt(ss), eps);
        for (int64_t j = 0; j < C; j++) y[r * C + j] = x[r * C + j] / d;
    }
    return y;
}

/* x [B, NH, T, HS]; pos [T] (pos_b = 0) or [B, T] (pos_b = 1). */
static double *ref_rope(const double *x, const int64_t *s, const double *pos, int pos_b, double theta, int64_t rd)
{
    int64_t B = s[0], NH = s[1], T = s[2], HS = s[3], h = rd / 2;
    double *y = dalloc(B * NH * T * HS);
    for (int64_t b = 0; b < B; b++)
        for (int64_t n = 0; n < NH; n++)
            for (int64_t t = 0; t < T; t++) {
                const double *xr = x + ((b * NH + n) * T + t) * HS;
                double *yr = y + ((b * NH + n) * T + t) * HS, p = pos[pos_b ? b * T + t : t];
                for (int64_t j = 0; j < HS; j++) yr[j] = xr[j];
                for (int64_t j = 0; j < h; j++) {
                    double inv_freq = 1 / pow(theta, (double)(2 * j) / (double)rd);
                    double c = cos(p * inv_freq), sn = sin(p * inv_freq);
                    yr[j] = xr[j] * c - xr[j + h] * sn;
                    yr[j + h] = xr[j + h] * c + xr[j] * sn;
                }
            }
    return y;
}

/* ---- helpers ------------------------------------------------------------ */

static void rows_of(const nl_tensor *x, int64_t *N, int64_t *C)
{
    *C = x->shape[x->ndim - 1];
    *N = nl_tensor_numel(x) / (*C ? *C : 1);
}

static nl_tensor *param(int64_t C, double lo, double hi, bool noncontig)
{
    return h_rand(1, &C, lo, hi, noncontig);
}

static void name_of(char *buf, size_t n, const char *op, const nl_tensor *x, const char *extra)
{
    char s[96];
    snprintf(buf, n, "%s x %s%s %s", op, nl_shape_str(x, s, sizeof s), nl_tensor_is_contiguous(x) ? "" : " strided",
             extra);
}

/* The leading-dim shapes every row length is tried with. */
#define N_LEAD 4
static const int lead_nd[N_LEAD] = {0, 1, 2, 3};
static const int64_t lead_shape[N_LEAD][3] = {{0}, {1}, {5}, {2, 3, 1}};
static const int64_t row_lens[4] = {1, 3, 65, 130};

static nl_tensor *input_for(int l, int64_t C, bool noncontig)
{
    int64_t s[4];
    int nd = lead_nd[l];
    for (int i = 0; i < nd; i++) s[i] = lead_shape[l][i];
    s[nd] = C;
    return h_rand(nd + 1, s, -2, 2, noncontig);
}

/* ---- forward values ----------------------------------------------------- */

static void check_rmsnorm(nl_tensor *x, nl_tensor *w, double eps)
{
    char name[192];
    name_of(name, sizeof name, "rmsnorm", x, w ? "with w" : "no w");
    nl_tensor *y = NULL;
    if (!h_ok(nl_rmsnorm(&y, x, w, eps), name)) return;
    int64_t N, C;
    rows_of(x, &N, &C);
    double *xv = h_values(x), *wv = w ? h_values(w) : NULL, *ref = ref_rmsnorm(xv, N, C, wv, eps);
    h_check(nl_tensor_same_shape(x, y), "%s: result has x's shape", name);
    h_close(name, y, ref, 1e-6, 1e-5);
    free(xv);
    free(wv);
    free(ref);
    nl_tensor_release(y);
}

static void check_layernorm(nl_tensor *x, nl_tensor *w, nl_tensor *b, double eps)
{
    char name[192];
    name_of(name, sizeof name, "layernorm", x, w ? (b ? "with w, b" : "with w") : (b ? "with b" : "no w, b"));
    nl_tensor *y = NULL;
    if (!h_ok(nl_layernorm(&y, x, w, b, eps), name)) return;
    int64_t N, C;
    rows_of(x, &N, &C);
    double *xv = h_values(x), *wv = w ? h_values(w) : NULL, *bv = b ? h_values(b) : NULL;
    double *ref = ref_layernorm(xv, N, C, wv, bv, eps);
    h_check(nl_tensor_same_shape(x, y), "%s: result has x's shape", name);
    h_close(name, y, ref, 1e-5, 1e-5);
    free(xv);
    free(wv);
    free(bv);
    free(ref);
    nl_tensor_release(y);
}

static void check_l2(nl_tensor *x, double eps)
{
    char name[192], e[32];
    snprintf(e, sizeof e, "eps %g", eps);
    name_of(name, sizeof name, "l2-normalize", x, e);
    nl_tensor *y = NULL;
    if (!h_ok(nl_l2_normalize(&y, x, eps), name)) return;
    int64_t N, C;
    rows_of(x, &N, &C);
    double *xv = h_values(x), *ref = ref_l2(xv, N, C, eps);
    h_check(nl_tensor_same_shape(x, y), "%s: result has x's shape", name);
    h_close(name, y, ref, 1e-6, 1e-5);
    free(xv);
    free(ref);
    nl_tensor_release(y);
}

static void test_norm_values(void)
{
    for (int l = 0; l < N_LEAD; l++)
        for (int k = 0; k < 4; k++)
            for (int nc = 0; nc < 2; nc++) {
                int64_t C = row_lens[k];
                nl_tensor *x = input_for(l, C, nc), *w = param(C, 0.5, 1.5, nc), *b = param(C, -1, 1, false);
                check_rmsnorm(x, w, 1e-6);
                check_rmsnorm(x, NULL, 1e-5);
                check_layernorm(x, w, b, 1e-5);
                check_layernorm(x, NULL, NULL, 1e-5);
                check_layernorm(x, w, NULL, 1e-6);
                check_l2(x, 1e-12);
                nl_tensor_release(x);
                nl_tensor_release(w);
                nl_tensor_release(b);
            }
}

/* Rows that hit eps: zero rows, rows with norm below eps, a constant
 * layernorm row (variance 0), large offsets for layernorm's two-pass variance. */
static void test_norm_edges(void)
{
    int64_t s[2] = {4, 3};
    float v[12] = {0, 0, 0, 1e-4f, -2e-4f, 1e-4f, 3, -4, 0, 1000.5f, 1000.25f, 999.75f};
    nl_tensor *x = h_from(2, s, v), *y = NULL;
    check_l2(x, 1e-12);
    check_l2(x, 0.5);
    check_rmsnorm(x, NULL, 1e-6);
    check_layernorm(x, NULL, NULL, 1e-5);
    if (h_ok(nl_l2_normalize(&y, x, 1e-12), "l2-normalize of a zero row")) {
        double *g = h_values(y);
        h_check(g[0] == 0 && g[1] == 0 && g[2] == 0, "l2-normalize maps a zero row to zeros (got %g)", g[0]);
        h_check(fabs(g[6] - 0.6) < 1e-7 && fabs(g[7] + 0.8) < 1e-7, "l2-normalize [3 -4 0] is [0.6 -0.8 0]");
        free(g);
    }
    nl_tensor_release(y);
    nl_tensor_release(x);
}

/* ---- gradients ---------------------------------------------------------- */

typedef struct { double eps; } eps_ctx;

static nl_status f_rmsnorm(nl_tensor **out, nl_tensor **in, void *ctx)
{
    return nl_rmsnorm(out, in[0], in[1], ((eps_ctx *)ctx)->eps);
}

static nl_status f_layernorm(nl_tensor **out, nl_tensor **in, void *ctx)
{
    return nl_layernorm(out, in[0], in[1], in[2], ((eps_ctx *)ctx)->eps);
}

static nl_status f_l2(nl_tensor **out, nl_tensor **in, void *ctx)
{
    return nl_l2_normalize(out, in[0], ((eps_ctx *)ctx)->eps);
}

static void set_grad(nl_tensor **in, int n, unsigned mask)
{
    for (int i = 0; i < n; i++)
        if (in[i]) in[i]->requires_grad = (mask >> i) & 1;
}

static void test_norm_grads(void)
{
    eps_ctx c = {1e-5};
    char what[128];
    for (int l = 0; l < N_LEAD; l++)
        for (int k = 0; k < 3; k++) {
            int64_t C = row_lens[k];
            bool nc = (l + k) % 2;
            nl_tensor *in[3] = {input_for(l, C, nc), param(C, 0.5, 1.5, nc), param(C, -1, 1, false)};
            set_grad(in, 3, 7);
            snprintf(what, sizeof what, "rmsnorm grad x, w: lead %d C %lld%s", l, (long long)C, nc ? " strided" : "");
            h_gradcheck(what, f_rmsnorm, 2, in, &c, 1e-3, 1e-3, 1e-2, 40);
            snprintf(what, sizeof what, "layernorm grad x, w, b: lead %d C %lld%s", l, (long long)C,
                     nc ? " strided" : "");
            h_gradcheck(what, f_layernorm, 3, in, &c, 1e-3, 1e-3, 1e-2, 40);
            snprintf(what, sizeof what, "l2-normalize grad x: lead %d C %lld%s", l, (long long)C, nc ? " strided" : "");
            h_gradcheck(what, f_l2, 1, in, &c, 1e-3, 1e-3, 1e-2, 40);
            for (int i = 0; i < 3; i++) nl_tensor_release(in[i]);
        }
    /* optional parameters absent, and parameters alone requiring grad */
    int64_t s[3] = {2, 3, 7};
    nl_tensor *in[3] = {h_rand(3, s, -2, 2, true), NULL, NULL};
    in[0]->requires_grad = true;
    h_gradcheck("rmsnorm grad x without w", f_rmsnorm, 2, in, &c, 1e-3, 1e-3, 1e-2, 42);
    h_gradcheck("layernorm grad x without w, b", f_layernorm, 3, in, &c, 1e-3, 1e-3, 1e-2, 42);
    in[1] = param(7, 0.5, 1.5, false);
    in[2] = param(7, -1, 1, false);
    set_grad(in, 3, 6);
    nl_zero_grad(in[0]);
    h_gradcheck("rmsnorm grad of w alone", f_rmsnorm, 2, in, &c, 1e-3, 1e-3, 1e-2, 7);
    h_gradcheck("layernorm grad of w, b alone", f_layernorm, 3, in, &c, 1e-3, 1e-3, 1e-2, 7);
    h_check(in[0]->grad == NULL, "x that does not require grad gets no gradient");
    set_grad(in, 3, 5);
    nl_zero_grad(in[1]);
    h_gradcheck("layernorm grad of x, b (w frozen)", f_layernorm, 3, in, &c, 1e-3, 1e-3, 1e-2, 42);
    h_check(in[1]->grad == NULL, "a frozen w gets no gradient");
    for (int i = 0; i < 3; i++) nl_tensor_release(in[i]);
    /* l2-normalize with rows on both sides of eps (clamped rows: y = x / eps) */
    int64_t s2[2] = {3, 4};
    float v[12] = {0.9f, -1.2f, 0.4f, 2.0f, 0.01f, -0.02f, 0.03f, 0.015f, 0, 0, 0, 0};
    nl_tensor *x = h_from(2, s2, v);
    x->requires_grad = true;
    eps_ctx ce = {0.5};
    if (h_gradcheck("l2-normalize grad with clamped rows (eps 0.5)", f_l2, 1, &x, &ce, 1e-3, 1e-3, 1e-2, 12)) {
        double *g = h_values(x->grad);
        h_check(g[8] != 0 || g[9] != 0, "a zero row passes gradient g / eps (as torch)");
        free(g);
    }
    nl_tensor_release(x);
}

/* Parameter gradients after a backward of y = norm(x) * w (+ b) from gy,
 * against the double reference gw = sum_rows gy * xhat, gb = sum_rows gy. */
static void check_param_grads(const char *what, nl_tensor **in, nl_tensor *gy, bool rms, double eps)
{
    int64_t N, C;
    rows_of(in[0], &N, &C);
    double *xv = h_values(in[0]), *g = h_values(gy), *gw = dalloc(C), *gb = dalloc(C);
    double *xh = rms ? ref_rmsnorm(xv, N, C, NULL, eps) : ref_layernorm(xv, N, C, NULL, NULL, eps);
    for (int64_t j = 0; j < C; j++) gw[j] = gb[j] = 0;
    for (int64_t r = 0; r < N; r++)
        for (int64_t j = 0; j < C; j++) {
            gw[j] += g[r * C + j] * xh[r * C + j];
            gb[j] += g[r * C + j];
        }
    char name[160];
    snprintf(name, sizeof name, "%s: gw against the double reference", what);
    if (h_check(in[1]->grad != NULL, "%s: w received a gradient", what)) h_close(name, in[1]->grad, gw, 1e-5, 1e-5);
    snprintf(name, sizeof name, "%s: gb against the double reference", what);
    if (!rms && h_check(in[2]->grad != NULL, "%s: b received a gradient", what))
        h_close(name, in[2]->grad, gb, 1e-5, 1e-5);
    free(xv);
    free(g);
    free(gw);
    free(gb);
    free(xh);
}

/* Forward and backward of rmsnorm (rms) or layernorm on in[] from gy with
 * 1 and 2 threads: parameter gradients match the reference and are
 * bit-identical across thread counts. */
static void check_param_grads_threads(const char *what, nl_tensor **in, nl_tensor *gy, bool rms, double eps)
{
    int threads = nl_get_threads();
    double *gw[2] = {NULL, NULL}, *gb[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        nl_tensor *y = NULL;
        nl_set_threads(k + 1);
        for (int i = 0; i < 3; i++) nl_zero_grad(in[i]);
        nl_status st = rms ? nl_rmsnorm(&y, in[0], in[1], eps) : nl_layernorm(&y, in[0], in[1], in[2], eps);
        if (h_ok(st, what) && h_ok(nl_backward(y, gy, false), what)) {
            if (k == 0) check_param_grads(what, in, gy, rms, eps);
            gw[k] = h_values(in[1]->grad);
            gb[k] = rms ? NULL : h_values(in[2]->grad);
        }
        nl_tensor_release(y);
    }
    nl_set_threads(threads);
    bool same = gw[0] && gw[1];
    for (int64_t j = 0; same && j < in[1]->shape[0]; j++)
        same = gw[0][j] == gw[1][j] && (rms || gb[0][j] == gb[1][j]);
    h_check(same, "%s: parameter gradients are bit-identical with 1 and 2 threads", what);
    for (int k = 0; k < 2; k++) { free(gw[k]); free(gb[k]); }
}

/* Sizes above the kernels' OpenMP threshold. */
static void test_norm_large(void)
{
    int64_t s[3] = {3, 101, 130}, C = 130;
    nl_tensor *in[3] = {h_rand(3, s, -2, 2, true), param(C, 0.5, 1.5, false), param(C, -1, 1, false)};
    check_rmsnorm(in[0], in[1], 1e-6);
    check_layernorm(in[0], in[1], in[2], 1e-5);
    check_l2(in[0], 1e-12);
    set_grad(in, 3, 7);
    eps_ctx c = {1e-5};
    h_gradcheck("rmsnorm grad x, w [3 101 130]", f_rmsnorm, 2, in, &c, 1e-3, 1e-3, 1e-2, 24);
    h_gradcheck("layernorm grad x, w, b [3 101 130]", f_layernorm, 3, in, &c, 1e-3, 1e-3, 1e-2, 24);
    h_gradcheck("l2-normalize grad x [3 101 130]", f_l2, 1, in, &c, 1e-3, 1e-3, 1e-2, 24);
    nl_tensor *gy = h_rand(3, s, -1, 1, false);
    check_param_grads_threads("rmsnorm backward [3 101 130]", in, gy, true, 1e-6);
    check_param_grads_threads("layernorm backward [3 101 130]", in, gy, false, 1e-5);
    nl_tensor_release(gy);
    for (int i = 0; i < 3; i++) nl_tensor_release(in[i]);
}

/* ---- rope --------------------------------------------------------------- */

static nl_tensor *positions(int ndim, const int64_t *shape, const int64_t *v, nl_dtype dt)
{
    nl_tensor *t = NULL;
    nl_tensor_from_host(&t, dt, ndim, shape, v, NL_I64, NL_CPU_DEVICE);
    return t;
}

static void check_rope(const char *what, nl_tensor *x, nl_tensor *pos, double theta, int64_t rotary_dim)
{
    char name[192], s[64], sp[64];
    snprintf(name, sizeof name, "rope %s x %s%s pos %s %s rd %lld", what, nl_shape_str(x, s, sizeof s),
             nl_tensor_is_contiguous(x) ? "" : " strided", nl_shape_str(pos, sp, sizeof sp),
             nl_dtype_name(pos->dtype), (long long)rotary_dim);
    nl_tensor *y = NULL;
    if (!h_ok(nl_rope(&y, x, pos, theta, rotary_dim), name)) return;
    double *xv = h_values(x), *pv = h_values(pos);
    int pos_b = pos->ndim == 2 && pos->shape[0] > 1;
    double *ref = ref_rope(xv, x->shape, pv, pos_b, theta, rotary_dim ? rotary_dim : x->shape[3]);
    h_check(nl_tensor_same_shape(x, y), "%s: result has x's shape", name);
    h_close(name, y, ref, 1e-6, 1e-5);
    free(xv);
    free(pv);
    free(ref);
    nl_tensor_release(y);
}

static void test_rope_values(void)
{
    int64_t s[4] = {2, 3, 5, 8}, st[4] = {2, 5, 3, 8}, s1[4] = {1, 1, 1, 2}, s6[4] = {3, 2, 4, 6};
    int64_t p5[5] = {0, 1, 2, 3, 4}, pb[10] = {3, 4, 5, 6, 7, 0, 0, 1, 2, 3}, pbig[5] = {4095, 30000, 7, 0, 131071};
    int64_t ps5 = 5, ps25[2] = {2, 5}, ps15[2] = {1, 5};
    nl_tensor *x = h_rand(4, s, -2, 2, false), *xs = h_rand(4, s, -2, 2, true);
    nl_tensor *pos = positions(1, &ps5, p5, NL_I64), *posb = positions(2, ps25, pb, NL_I32);
    nl_tensor *big = positions(1, &ps5, pbig, NL_I64), *pos1 = positions(2, ps15, pb, NL_I64);
    check_rope("positions 0..T-1", x, pos, 10000, 0);
    check_rope("positions 0..T-1", xs, pos, 10000, 0);
    check_rope("per-batch positions", x, posb, 10000, 0);
    check_rope("per-batch positions", xs, posb, 500000, 8);
    check_rope("partial rotary dim", x, posb, 10000, 4);
    check_rope("partial rotary dim", xs, pos, 10000, 2);
    check_rope("large positions", x, big, 1000000, 0);
    check_rope("positions [1 T] shared by the batch", x, pos1, 10000, 6);
    check_rope("rotary dim 0 of 8 given as 8", x, pos, 10000, 8);
    /* the usual layout: [B T NH HS] transposed to [B NH T HS] */
    nl_tensor *xt = h_rand(4, st, -1, 1, false), *v = NULL;
    if (h_ok(nl_transpose(&v, xt, 1, 2), "transpose")) check_rope("transposed view", v, posb, 10000, 0);
    nl_tensor_release(v);
    nl_tensor *x1 = h_rand(4, s1, -1, 1, false), *x6 = h_rand(4, s6, -1, 1, true);
    int64_t one = 1, p1[1] = {17}, ps34[2] = {3, 4}, p34[12] = {0, 5, 9, 2, 1, 1, 1, 1, 100, 50, 25, 0};
    nl_tensor *pos_1 = positions(1, &one, p1, NL_I64), *pos34 = positions(2, ps34, p34, NL_I64);
    check_rope("size-1 dims", x1, pos_1, 10000, 0);
    check_rope("HS 6", x6, pos34, 10000, 0);
    check_rope("HS 6", x6, pos34, 10000, 4);
    /* above the OpenMP threshold */
    int64_t sl[4] = {2, 4, 80, 64}, psl[2] = {2, 80}, pl[160];
    for (int i = 0; i < 160; i++) pl[i] = (i * 37) % 1000;
    nl_tensor *xl = h_rand(4, sl, -1, 1, true), *posl = positions(2, psl, pl, NL_I64);
    check_rope("large", xl, posl, 10000, 48);
    nl_tensor *tab[13] = {x, xs, pos, posb, big, pos1, xt, x1, x6, pos_1, pos34, xl, posl};
    for (int i = 0; i < 13; i++) nl_tensor_release(tab[i]);
}

/* <rope(q, m), rope(k, n)> depends only on m - n (per rotated pair). */
static void test_rope_relative(void)
{
    int64_t HS = 10, s1[4] = {1, 1, 1, 10}, s4[4] = {4, 1, 1, 10}, ps[2] = {4, 1};
    int64_t pm[4] = {3, 10, 102, 5000}, pn[4] = {1, 8, 100, 4998};
    nl_tensor *q = h_rand(4, s1, -1, 1, false), *k = h_rand(4, s1, -1, 1, false);
    nl_tensor *qe = NULL, *ke = NULL, *qr = NULL, *kr = NULL;
    nl_tensor *posm = positions(2, ps, pm, NL_I64), *posn = positions(2, ps, pn, NL_I64);
    for (int rd = 10; rd >= 6; rd -= 4) {
        bool ok = h_ok(nl_expand(&qe, q, 4, s4), "expand q") && h_ok(nl_expand(&ke, k, 4, s4), "expand k") &&
                  h_ok(nl_rope(&qr, qe, posm, 10000, rd), "rope q") && h_ok(nl_rope(&kr, ke, posn, 10000, rd), "rope k");
        if (ok) {
            double *a = h_values(qr), *b = h_values(kr), dot[4] = {0};
            for (int i = 0; i < 4; i++)
                for (int64_t j = 0; j < HS; j++) dot[i] += a[i * HS + j] * b[i * HS + j];
            double worst = 0;
            for (int i = 1; i < 4; i++) worst = fmax(worst, fabs(dot[i] - dot[0]));
            h_check(worst < 1e-5, "rope rd %d: <q_m, k_n> at m - n = 2 is the same for m = 3, 10, 102, 5000"
                    " (%.7f, spread %.2g)", rd, dot[0], worst);
            free(a);
            free(b);
        }
        nl_tensor *t[4] = {qe, ke, qr, kr};
        for (int i = 0; i < 4; i++) nl_tensor_release(t[i]);
        qe = ke = qr = kr = NULL;
    }
    nl_tensor *t[4] = {q, k, posm, posn};
    for (int i = 0; i < 4; i++) nl_tensor_release(t[i]);
}

typedef struct { nl_tensor *pos; double theta; int64_t rd; } rope_ctx;

static nl_status f_rope(nl_tensor **out, nl_tensor **in, void *ctx)
{
    rope_ctx *c = ctx;
    return nl_rope(out, in[0], c->pos, c->theta, c->rd);
}

static void test_rope_grad(void)
{
    int64_t s[4] = {2, 3, 5, 8}, ps[2] = {2, 5}, pb[10] = {3, 4, 5, 6, 7, 9, 0, 1, 2, 40};
    nl_tensor *pos = positions(2, ps, pb, NL_I64);
    for (int k = 0; k < 3; k++) {
        int64_t rd = k == 0 ? 0 : k == 1 ? 4 : 2;
        rope_ctx c = {pos, 10000, rd};
        nl_tensor *x = h_rand(4, s, -2, 2, k != 1);
        x->requires_grad = true;
        char what[96];
        snprintf(what, sizeof what, "rope grad x rd %lld%s", (long long)rd, k != 1 ? " strided" : "");
        h_gradcheck(what, f_rope, 1, &x, &c, 1e-3, 1e-3, 1e-2, 80);
        nl_tensor_release(x);
    }
    nl_tensor_release(pos);
}

/* ---- bad inputs --------------------------------------------------------- */

static void test_bad_inputs(void)
{
    int64_t s[2] = {4, 6}, c5 = 5, c6 = 6, s22[2] = {6, 1}, sx[4] = {2, 3, 5, 8}, sx3[3] = {3, 5, 8};
    nl_tensor *x = h_rand(2, s, -1, 1, false), *w5 = h_rand(1, &c5, 0, 1, false), *w6 = h_rand(1, &c6, 0, 1, false);
    nl_tensor *w2d = h_rand(2, s22, 0, 1, false), *xi = h_randint(2, s, 4, NL_I64), *wi = h_randint(1, &c6, 4, NL_I32);
    nl_tensor *sc = NULL, *y = NULL;
    h_ok(nl_tensor_scalar(&sc, 1, NL_F32, NL_CPU_DEVICE), "scalar");
    h_expect_error(nl_rmsnorm(&y, x, w5, 1e-6), NL_ERR_SHAPE, "rmsnorm with w [5] for x [4 6]");
    h_expect_error(nl_rmsnorm(&y, x, w2d, 1e-6), NL_ERR_SHAPE, "rmsnorm with w [6 1]");
    h_expect_error(nl_rmsnorm(&y, x, wi, 1e-6), NL_ERR_DTYPE, "rmsnorm with an i32 w");
    h_expect_error(nl_rmsnorm(&y, xi, NULL, 1e-6), NL_ERR_DTYPE, "rmsnorm of an i64 x");
    h_expect_error(nl_rmsnorm(&y, sc, NULL, 1e-6), NL_ERR_SHAPE, "rmsnorm of a 0-d x");
    h_expect_error(nl_rmsnorm(&y, x, w6, -1), NL_ERR_ARG, "rmsnorm with eps -1");
    h_expect_error(nl_layernorm(&y, x, w5, w6, 1e-5), NL_ERR_SHAPE, "layernorm with w [5] for x [4 6]");
    h_expect_error(nl_layernorm(&y, x, w6, w5, 1e-5), NL_ERR_SHAPE, "layernorm with b [5] for x [4 6]");
    h_expect_error(nl_layernorm(&y, x, NULL, wi, 1e-5), NL_ERR_DTYPE, "layernorm with an i32 b");
    h_expect_error(nl_layernorm(&y, xi, NULL, NULL, 1e-5), NL_ERR_DTYPE, "layernorm of an i64 x");
    h_expect_error(nl_layernorm(&y, x, NULL, NULL, NAN), NL_ERR_ARG, "layernorm with eps NaN");
    h_expect_error(nl_l2_normalize(&y, xi, 1e-12), NL_ERR_DTYPE, "l2-normalize of an i64 x");
    h_expect_error(nl_l2_normalize(&y, sc, 1e-12), NL_ERR_SHAPE, "l2-normalize of a 0-d x");
    h_expect_error(nl_l2_normalize(&y, x, -1e-12), NL_ERR_ARG, "l2-normalize with a negative eps");

    int64_t p5[5] = {0, 1, 2, 3, 4}, p15[15] = {0}, ps4 = 4, ps5 = 5, ps35[2] = {3, 5}, ps25[2] = {2, 5}; /* p15 holds the 15 positions of [3 5] */
    nl_tensor *xr = h_rand(4, sx, -1, 1, false), *x3 = h_rand(3, sx3, -1, 1, false);
    nl_tensor *xri = h_randint(4, sx, 4, NL_I64), *pos = positions(1, &ps5, p5, NL_I64);
    nl_tensor *pos4 = positions(1, &ps4, p5, NL_I64), *pos35 = positions(2, ps35, p15, NL_I64);
    nl_tensor *posf = h_rand(1, &ps5, 0, 4, false), *posu8 = positions(2, ps25, p15, NL_U8);
    h_expect_error(nl_rope(&y, xr, pos, 10000, 3), NL_ERR_ARG, "rope with odd rotary_dim 3");
    h_expect_error(nl_rope(&y, xr, pos, 10000, 10), NL_ERR_ARG, "rope with rotary_dim 10 > HS 8");
    h_expect_error(nl_rope(&y, xr, pos, 10000, -2), NL_ERR_ARG, "rope with rotary_dim -2");
    h_expect_error(nl_rope(&y, xr, pos4, 10000, 0), NL_ERR_SHAPE, "rope with pos [4] for T 5");
    h_expect_error(nl_rope(&y, xr, pos35, 10000, 0), NL_ERR_SHAPE, "rope with pos [3 5] for B 2");
    h_expect_error(nl_rope(&y, xr, posf, 10000, 0), NL_ERR_DTYPE, "rope with f32 pos");
    h_expect_error(nl_rope(&y, xr, posu8, 10000, 0), NL_ERR_DTYPE, "rope with u8 pos");
    h_expect_error(nl_rope(&y, xri, pos, 10000, 0), NL_ERR_DTYPE, "rope of an i64 x");
    h_expect_error(nl_rope(&y, x3, pos, 10000, 0), NL_ERR_SHAPE, "rope of a 3-d x");
    h_expect_error(nl_rope(&y, xr, pos, 0, 0), NL_ERR_ARG, "rope with theta 0");
    int64_t s7[4] = {1, 1, 5, 7};
    nl_tensor *x7 = h_rand(4, s7, -1, 1, false);
    h_expect_error(nl_rope(&y, x7, pos, 10000, 0), NL_ERR_ARG, "rope with rotary_dim 0 of an odd head size 7");
    check_rope("rotary dim 6 of head size 7", x7, pos, 10000, 6);
    nl_tensor *tab[16] = {x, w5, w6, w2d, xi, wi, sc, xr, x3, xri, pos, pos4, pos35, posf, posu8, x7};
    for (int i = 0; i < 16; i++) nl_tensor_release(tab[i]);
}

int main(void)
{
    h_init("norm");
    test_norm_values();
    test_norm_edges();
    test_norm_grads();
    test_norm_large();
    test_rope_values();
    test_rope_relative();
    test_rope_grad();
    test_bad_inputs();
    return h_finish();
}
