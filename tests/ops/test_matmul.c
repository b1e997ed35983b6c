/* test_matmul.c — conformance of nl_matmul and nl_linear: a naive triple-loop
 * double reference with transposes and broadcast batch dims, odd sizes,
 * transposed/strided views that need no copy, gradient checks of every
 * input, interrupts between batch matrices, and bad inputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static nl_tensor *leaf(nl_tensor *t)
{
    t->requires_grad = true;
    return t;
}

/* Broadcast batch dims of a and b (numpy rules; inputs assumed compatible). */
static int ref_batch(const nl_tensor *a, const nl_tensor *b, int64_t *sh)
{
    int na = a->ndim - 2, nb = b->ndim - 2, n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int64_t x = i >= n - na ? a->shape[i - (n - na)] : 1;
        int64_t y = i >= n - nb ? b->shape[i - (n - nb)] : 1;
        sh[i] = x == 1 ? y : x;
    }
    return n;
}

/* Index of the matrix of t (batch dims right-aligned to n, size-1 dims
 * broadcast) used by batch bi of the broadcast shape sh. */
static int64_t ref_matrix(const nl_tensor *t, int n, const int64_t *sh, int64_t bi)
{
    int nt = t->ndim - 2;
    int64_t idx = 0, stride = 1;
    for (int i = n - 1; i >= 0; i--) {
        int64_t k = bi % sh[i];
        bi /= sh[i];
        int it = i - (n - nt);
        if (it < 0) continue;
        idx += (t->shape[it] == 1 ? 0 : k) * stride;
        stride *= t->shape[it];
    }
    return idx;
}

/* op(a) @ op(b) in double; the result shape goes to *nd, sh. */
static double *ref_matmul(const nl_tensor *a, const nl_tensor *b, bool ta, bool tb, int *nd, int64_t *sh)
{
    double *av = h_values(a), *bv = h_values(b);
    int n = ref_batch(a, b, sh), na = a->ndim, nb = b->ndim;
    int64_t M = ta ? a->shape[na - 1] : a->shape[na - 2], K = ta ? a->shape[na - 2] : a->shape[na - 1];
    int64_t N = tb ? b->shape[nb - 2] : b->shape[nb - 1], nbatch = 1;
    for (int i = 0; i < n; i++) nbatch *= sh[i];
    sh[n] = M;
    sh[n + 1] = N;
    *nd = n + 2;
    double *r = calloc((size_t)(nbatch * M * N + 1), sizeof *r);
    for (int64_t bi = 0; bi < nbatch; bi++) {
        const double *A = av + ref_matrix(a, n, sh, bi) * M * K, *B = bv + ref_matrix(b, n, sh, bi) * K * N;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++) s += (ta ? A[k * M + i] : A[i * K + k]) * (tb ? B[j * K + k] : B[k * N + j]);
                r[(bi * M + i) * N + j] = s;
            }
    }
    free(av);
    free(bv);
    return r;
}

/* Compare nl_matmul with the reference (shape and values). */
static void check_matmul(const char *what, nl_tensor *a, nl_tensor *b, bool ta, bool tb)
{
    nl_tensor *c = NULL;
    char name[256], sa[64], sb[64];
    snprintf(name, sizeof name, "%s: %s%s @ %s%s", what, nl_shape_str(a, sa, sizeof sa), ta ? "^T" : "",
             nl_shape_str(b, sb, sizeof sb), tb ? "^T" : "");
    if (!h_ok(nl_matmul(&c, a, b, ta, tb), name)) return;
    int nd;
    int64_t sh[NL_MAX_DIMS];
    double *ref = ref_matmul(a, b, ta, tb, &nd, sh);
    bool same = c->ndim == nd;
    for (int i = 0; same && i < nd; i++) same = c->shape[i] == sh[i];
    char sc[64], sr[64];
    if (h_check(same, "%s: result shape %s (want %s)", name, nl_shape_str(c, sc, sizeof sc), nl_dims_str(nd, sh, sr, sizeof sr)))
        h_close(name, c, ref, 1e-5, 1e-4);
    free(ref);
    nl_tensor_release(c);
}

/* a operand of logical shape [..., M, K] (or [..., K, M] when t). */
static void dims2(int64_t *s, int64_t r, int64_t c, bool t)
{
    s[0] = t ? c : r;
    s[1] = t ? r : c;
}

static void test_sizes(void)
{
    const int64_t sizes[4] = {1, 3, 17, 65};
    for (int im = 0; im < 4; im++)
        for (int ik = 0; ik < 4; ik++)
            for (int in = 0; in < 4; in++) {
                int64_t M = sizes[im], K = sizes[ik], N = sizes[in];
                if ((im + ik + in) % 2) continue; /* half of the grid keeps the suite quick */
                for (int t = 0; t < 4; t++) {
                    bool ta = t & 1, tb = t & 2, nc = (im + in + t) % 3 == 0;
                    int64_t sa[2], sb[2];
                    dims2(sa, M, K, ta);
                    dims2(sb, K, N, tb);
                    nl_tensor *a = h_rand(2, sa, -1, 1, nc), *b = h_rand(2, sb, -1, 1, !nc);
                    check_matmul(nc ? "sizes (a strided)" : "sizes (b strided)", a, b, ta, tb);
                    nl_tensor_release(a);
                    nl_tensor_release(b);
                }
            }
}

static void test_broadcast(void)
{
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        int64_t sa[4] = {2, 1, 0, 0}, sb[3] = {5, 0, 0};
        dims2(sa + 2, 3, 4, ta);
        dims2(sb + 1, 4, 6, tb);
        nl_tensor *a = h_rand(4, sa, -1, 1, false), *b = h_rand(3, sb, -1, 1, t == 3);
        check_matmul("batch broadcast", a, b, ta, tb);
        check_matmul("batch broadcast, swapped roles", b, a, !tb, !ta);
        nl_tensor_release(a);
        nl_tensor_release(b);
    }
    int64_t s1[3] = {3, 1, 5}, s2[4] = {2, 1, 5, 7}, s3[2] = {5, 4}, s4[3] = {1, 4, 2};
    nl_tensor *a = h_rand(3, s1, -1, 1, true), *b = h_rand(4, s2, -1, 1, true);
    check_matmul("[3 1 5] x [2 1 5 7], strided batches", a, b, false, false);
    nl_tensor *c = h_rand(2, s3, -1, 1, false), *d = h_rand(3, s4, -1, 1, false);
    check_matmul("2-d times batched", c, d, false, false);
    check_matmul("batched times 2-d", d, c, true, true);
    nl_tensor_release(a);
    nl_tensor_release(b);
    nl_tensor_release(c);
    nl_tensor_release(d);
}

/* Transposed and column-narrowed views go to BLAS without a copy: the only
 * allocation is the result. */
static void test_views_without_copy(void)
{
    int64_t sa[2] = {6, 9}, sb[2] = {7, 6};
    nl_tensor *base_a = h_rand(2, sa, -1, 1, false), *base_b = h_rand(2, sb, -1, 1, false);
    nl_tensor *at = NULL, *bn = NULL, *c = NULL, *bt = NULL;
    h_ok(nl_transpose(&at, base_a, 0, 1), "transpose");       /* [9 6], column-major */
    h_ok(nl_narrow(&bn, base_b, 1, 1, 4), "narrow columns");  /* [7 4], row stride 6 */
    h_ok(nl_transpose(&bt, bn, 0, 1), "transpose narrowed");  /* [4 7], column-major, ld 6 */
    nl_mem_stats m0, m1;
    nl_host_mem_stats(&m0);
    bool was = nl_grad_set_enabled(false);
    h_ok(nl_matmul(&c, bt, base_b, false, false), "[4 7] @ [7 6]");
    nl_grad_set_enabled(was);
    nl_host_mem_stats(&m1);
    h_check(m1.n_allocs - m0.n_allocs == 1, "transposed, narrowed view: 1 allocation (got %zu)", m1.n_allocs - m0.n_allocs);
    nl_tensor_release(c);
    check_matmul("transposed view", at, base_a, false, false);
    check_matmul("transposed view, trans flags", at, base_a, true, true);
    check_matmul("narrowed view, trans flag", bn, base_b, true, false);
    nl_tensor_release(at);
    nl_tensor_release(bn);
    nl_tensor_release(bt);
    nl_tensor_release(base_a);
    nl_tensor_release(base_b);
}

static void test_degenerate(void)
{
    int64_t s0[2] = {3, 0}, s1[2] = {0, 4}, s2[3] = {0, 3, 2}, s3[2] = {2, 5};
    nl_tensor *a = h_rand(2, s0, -1, 1, false), *b = h_rand(2, s1, -1, 1, false);
    check_matmul("K = 0 gives zeros", a, b, false, false);
    check_matmul("M = N = 0", a, a, true, false);
    nl_tensor *e = h_rand(3, s2, -1, 1, false), *f = h_rand(2, s3, -1, 1, false);
    check_matmul("empty batch", e, f, false, false);
    nl_tensor_release(a);
    nl_tensor_release(b);
    nl_tensor_release(e);
    nl_tensor_release(f);
}

typedef struct { bool ta, tb; } mm_flags;

static nl_status f_matmul(nl_tensor **out, nl_tensor **in, void *ctx)
{
    mm_flags *f = ctx;
    return nl_matmul(out, in[0], in[1], f->ta, f->tb);
}

static void test_grad(void)
{
    for (int t = 0; t < 4; t++) {
        mm_flags f = {t & 1, t & 2};
        int64_t sa[4] = {2, 1, 0, 0}, sb[3] = {3, 0, 0};
        dims2(sa + 2, 3, 5, f.ta);
        dims2(sb + 1, 5, 4, f.tb);
        nl_tensor *in[2] = {leaf(h_rand(4, sa, -1, 1, t % 2 == 0)), leaf(h_rand(3, sb, -1, 1, t >= 2))};
        char what[96];
        snprintf(what, sizeof what, "matmul grad [2 1 . .] x [3 . .], trans %d %d", f.ta, f.tb);
        h_gradcheck(what, f_matmul, 2, in, &f, 1e-2, 1e-3, 1e-2, 60);
        nl_tensor_release(in[0]);
        nl_tensor_release(in[1]);
    }
    mm_flags f = {false, false};
    int64_t sa[2] = {17, 1}, sb[2] = {1, 3};
    nl_tensor *in[2] = {leaf(h_rand(2, sa, -1, 1, true)), h_rand(2, sb, -1, 1, false)};
    h_gradcheck("matmul grad, outer product, only a requires grad", f_matmul, 2, in, &f, 1e-2, 1e-3, 1e-2, 40);
    h_check(in[1]->grad == NULL, "no gradient for an input without requires_grad");
    nl_tensor_release(in[0]);
    nl_tensor_release(in[1]);
}

/* ---- linear ------------------------------------------------------------------ */

static double *ref_linear(const nl_tensor *x, const nl_tensor *w, const nl_tensor *bias)
{
    double *xv = h_values(x), *wv = h_values(w), *bv = bias ? h_values(bias) : NULL;
    int64_t cin = w->shape[1], cout = w->shape[0], n = nl_tensor_numel(x) / cin;
    double *r = calloc((size_t)(n * cout + 1), sizeof *r);
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < cout; o++) {
            double s = bv ? bv[o] : 0;
            for (int64_t k = 0; k < cin; k++) s += xv[i * cin + k] * wv[o * cin + k];
            r[i * cout + o] = s;
        }
    free(xv);
    free(wv);
    free(bv);
    return r;
}

static nl_status f_linear(nl_tensor **out, nl_tensor **in, void *ctx)
{
    return nl_linear(out, in[0], in[1], in[2]);
}

static void check_linear(const char *what, int nd, const int64_t *xs, int64_t cout, bool with_bias, bool nc)
{
    int64_t cin = xs[nd - 1], ws[2] = {cout, cin}, bs[1] = {cout};
    nl_tensor *in[3] = {leaf(h_rand(nd, xs, -1, 1, nc)), leaf(h_rand(2, ws, -1, 1, nc)),
                        with_bias ? leaf(h_rand(1, bs, -1, 1, false)) : NULL};
    nl_tensor *y = NULL;
    if (h_ok(nl_linear(&y, in[0], in[1], in[2]), what)) {
        char s[64];
        bool shape_ok = y->ndim == nd && y->shape[nd - 1] == cout;
        for (int i = 0; shape_ok && i < nd - 1; i++) shape_ok = y->shape[i] == xs[i];
        h_check(shape_ok, "%s: result shape %s", what, nl_shape_str(y, s, sizeof s));
        double *ref = ref_linear(in[0], in[1], in[2]);
        h_close(what, y, ref, 1e-5, 1e-4);
        free(ref);
    }
    nl_tensor_release(y);
    h_gradcheck(what, f_linear, 3, in, NULL, 1e-2, 1e-3, 1e-2, 40);
    for (int i = 0; i < 3; i++) nl_tensor_release(in[i]);
}

static void test_linear(void)
{
    int64_t x3[3] = {2, 3, 5}, x2[2] = {17, 4}, x1[1] = {3};
    check_linear("linear [2 3 5] -> 4 with bias", 3, x3, 4, true, false);
    check_linear("linear [2 3 5] -> 4 strided, no bias", 3, x3, 4, false, true);
    check_linear("linear [17 4] -> 1 with bias", 2, x2, 1, true, true);
    check_linear("linear of a vector [3] -> 65", 1, x1, 65, true, false);
}

/* ---- interrupts and bad inputs -------------------------------------------------- */

static void test_interrupt(void)
{
    int64_t sa[3] = {4, 3, 3};
    nl_tensor *a = h_rand(3, sa, -1, 1, false), *c = NULL;
    nl_interrupt_request();
    h_expect_error(nl_matmul(&c, a, a, false, false), NL_ERR_INTERRUPTED, "matmul with an interrupt pending");
    nl_interrupt_clear();
    h_ok(nl_matmul(&c, a, a, false, false), "matmul after the interrupt is cleared");
    nl_tensor_release(c);
    nl_tensor_release(a);
}

static void test_bad_inputs(void)
{
    int64_t s23[2] = {2, 3}, s45[2] = {4, 5}, s3[1] = {3}, s234[3] = {2, 3, 4}, s345[3] = {3, 4, 5};
    nl_tensor *a = h_rand(2, s23, -1, 1, false), *b = h_rand(2, s45, -1, 1, false), *c = NULL;
    nl_tensor *v = h_rand(1, s3, -1, 1, false), *ia = h_randint(2, s23, 5, NL_I64);
    nl_tensor *p = h_rand(3, s234, -1, 1, false), *q = h_rand(3, s345, -1, 1, false);
    h_expect_error(nl_matmul(&c, a, b, false, false), NL_ERR_SHAPE, "[2 3] @ [4 5]");
    h_check(strstr(nl_last_error(), "matmul: inner dims differ: a is [2 3], b is [4 5]") != NULL,
            "message shows both shapes: %s", nl_last_error());
    h_expect_error(nl_matmul(&c, a, b, true, true), NL_ERR_SHAPE, "[2 3]^T @ [4 5]^T");
    h_expect_error(nl_matmul(&c, a, v, false, false), NL_ERR_SHAPE, "a 1-d operand");
    h_expect_error(nl_matmul(&c, ia, b, false, true), NL_ERR_DTYPE, "i64 operand");
    h_expect_error(nl_matmul(&c, p, q, false, false), NL_ERR_SHAPE, "batch dims 2 and 3 do not broadcast");
    h_check(strstr(nl_last_error(), "[2 3 4]") && strstr(nl_last_error(), "[3 4 5]"), "message shows both shapes: %s",
            nl_last_error());
    h_expect_error(nl_linear(&c, p, a, NULL), NL_ERR_SHAPE, "linear: in features differ");
    h_expect_error(nl_linear(&c, a, v, NULL), NL_ERR_SHAPE, "linear: 1-d weight");
    nl_tensor *w = h_rand(2, s45, -1, 1, false);
    h_expect_error(nl_linear(&c, b, w, v), NL_ERR_SHAPE, "linear: bias [3] for 4 outputs");
    h_expect_error(nl_linear(&c, ia, w, NULL), NL_ERR_DTYPE, "linear: i64 input");
    nl_tensor *all[] = {a, b, v, ia, p, q, w};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) nl_tensor_release(all[i]);
}

int main(void)
{
    h_init("matmul");
    test_sizes();
    test_broadcast();
    test_views_without_copy();
    test_degenerate();
    test_grad();
    test_linear();
    test_interrupt();
    test_bad_inputs();
    return h_finish();
}
