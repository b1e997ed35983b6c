/* test_index.c — conformance of nl_embedding, nl_index_select and nl_concat:
 * double references, i64 and i32 ids with repeats, odd sizes, size-0 and
 * size-1 dims, strided inputs, gradient checks (repeated ids accumulate in
 * the INDEX_ADD backward), and bad inputs (ids out of range, dtypes, shapes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static nl_tensor *leaf(nl_tensor *t)
{
    t->requires_grad = true;
    return t;
}

static nl_tensor *ids_from(int ndim, const int64_t *shape, const int64_t *v, nl_dtype dt)
{
    nl_tensor *t = NULL;
    nl_tensor_from_host(&t, dt, ndim, shape, v, NL_I64, NL_CPU_DEVICE);
    return t;
}

/* x gathered at ids along dim d, in double (row-major values). */
static double *ref_select(const nl_tensor *x, int d, const nl_tensor *ids)
{
    double *xv = h_values(x), *iv = h_values(ids);
    int64_t outer = 1, D = x->shape[d], inner = 1, n = nl_tensor_numel(ids);
    for (int i = 0; i < d; i++) outer *= x->shape[i];
    for (int i = d + 1; i < x->ndim; i++) inner *= x->shape[i];
    double *r = malloc((size_t)(outer * n * inner + 1) * sizeof *r);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < n; j++)
            for (int64_t c = 0; c < inner; c++) r[(o * n + j) * inner + c] = xv[(o * D + (int64_t)iv[j]) * inner + c];
    free(xv);
    free(iv);
    return r;
}

/* ---- embedding ------------------------------------------------------------------- */

static nl_status f_embedding(nl_tensor **out, nl_tensor **in, void *ctx)
{
    return nl_embedding(out, in[0], ctx);
}

static void check_embedding(const char *what, int64_t V, int64_t C, int nd, const int64_t *ishape, const int64_t *ids_v,
                            nl_dtype dt, bool nc)
{
    int64_t ws[2] = {V, C};
    nl_tensor *w = leaf(h_rand(2, ws, -1, 1, nc)), *ids = ids_from(nd, ishape, ids_v, dt), *y = NULL;
    if (h_ok(nl_embedding(&y, w, ids), what)) {
        bool shape_ok = y->ndim == nd + 1 && y->shape[nd] == C;
        for (int i = 0; shape_ok && i < nd; i++) shape_ok = y->shape[i] == ishape[i];
        char s[64];
        h_check(shape_ok, "%s: result shape %s", what, nl_shape_str(y, s, sizeof s));
        double *ref = ref_select(w, 0, ids);
        h_close(what, y, ref, 0, 0);
        free(ref);
    }
    nl_tensor_release(y);
    h_gradcheck(what, f_embedding, 1, &w, ids, 1e-2, 1e-3, 1e-2, 60);
    nl_tensor_release(w);
    nl_tensor_release(ids);
}

static void test_embedding(void)
{
    int64_t s23[2] = {2, 3}, v23[6] = {4, 0, 4, 6, 4, 1};
    check_embedding("embedding [7 5] ids [2 3] i64, repeats", 7, 5, 2, s23, v23, NL_I64, false);
    check_embedding("embedding [7 5] strided ids [2 3] i32, repeats", 7, 5, 2, s23, v23, NL_I32, true);
    int64_t s17[1] = {17}, v17[17];
    for (int i = 0; i < 17; i++) v17[i] = (i * 7) % 3;
    check_embedding("embedding [3 65] ids [17]", 3, 65, 1, s17, v17, NL_I64, false);
    int64_t s1[1] = {1}, v1[1] = {0};
    check_embedding("embedding [1 1] ids [1]", 1, 1, 1, s1, v1, NL_I64, false);
    int64_t s0[1] = {0};
    check_embedding("embedding ids [0]", 4, 3, 1, s0, v1, NL_I64, false);
    int64_t v2[1] = {2};
    check_embedding("embedding of a 0-d id", 4, 3, 0, NULL, v2, NL_I32, false);

    /* repeated ids accumulate: with an all-ones output gradient, row i of
     * the weight gradient counts the occurrences of id i */
    int64_t ws[2] = {7, 2};
    nl_tensor *w = leaf(h_rand(2, ws, -1, 1, false)), *ids = ids_from(2, s23, v23, NL_I64), *y = NULL, *g = NULL;
    if (h_ok(nl_embedding(&y, w, ids), "embedding") &&
        h_ok(nl_tensor_full(&g, NL_F32, y->ndim, y->shape, 1.0, NL_CPU_DEVICE), "ones") &&
        h_ok(nl_backward(y, g, false), "backward")) {
        double ref[14] = {1, 1, 1, 1, 0, 0, 0, 0, 3, 3, 0, 0, 1, 1};
        h_close("embedding gradient counts repeated ids", w->grad, ref, 0, 0);
    }
    nl_tensor_release(g);
    nl_tensor_release(y);
    nl_tensor_release(w);
    nl_tensor_release(ids);
}

/* ---- index_select ---------------------------------------------------------------- */

typedef struct { int64_t dim; nl_tensor *ids; } sel_ctx;

static nl_status f_select(nl_tensor **out, nl_tensor **in, void *ctx)
{
    sel_ctx *c = ctx;
    return nl_index_select(out, in[0], c->dim, c->ids);
}

static void test_index_select(void)
{
    int64_t xs[3] = {4, 5, 3}, is[1] = {6}, iv[6] = {2, 0, 2, 1, 0, 2};
    for (int d = -1; d < 3; d++) {
        for (int k = 0; k < 2; k++) {
            nl_dtype dt = k ? NL_I32 : NL_I64;
            nl_tensor *x = leaf(h_rand(3, xs, -1, 1, k == 1)), *ids = ids_from(1, is, iv, dt), *y = NULL;
            char what[96];
            snprintf(what, sizeof what, "index_select [4 5 3]%s dim %d, ids [6] %s", k ? " strided" : "", d,
                     nl_dtype_name(dt));
            if (h_ok(nl_index_select(&y, x, d, ids), what)) {
                int dd = d < 0 ? d + 3 : d;
                double *ref = ref_select(x, dd, ids);
                h_check(y->shape[dd] == 6, "%s: selected dim has 6 entries", what);
                h_close(what, y, ref, 0, 0);
                free(ref);
            }
            sel_ctx c = {d, ids};
            h_gradcheck(what, f_select, 1, &x, &c, 1e-2, 1e-3, 1e-2, 60);
            nl_tensor_release(y);
            nl_tensor_release(x);
            nl_tensor_release(ids);
        }
    }
    /* integer data moves unchanged; empty ids give an empty dim */
    int64_t s[2] = {3, 17}, e[1] = {0}, one[1] = {1}, v1[1] = {16};
    nl_tensor *xi = h_randint(2, s, 1000, NL_I64), *ids = ids_from(1, one, v1, NL_I64), *none = ids_from(1, e, v1, NL_I64);
    nl_tensor *y = NULL;
    if (h_ok(nl_index_select(&y, xi, 1, ids), "index_select of i64 data")) {
        double *ref = ref_select(xi, 1, ids);
        h_check(y->dtype == NL_I64, "i64 in, i64 out");
        h_close("index_select of i64 data", y, ref, 0, 0);
        free(ref);
    }
    nl_tensor_release(y);
    if (h_ok(nl_index_select(&y, xi, 0, none), "index_select with no ids"))
        h_check(y->ndim == 2 && y->shape[0] == 0 && y->shape[1] == 17, "no ids: [0 17]");
    nl_tensor_release(y);
    nl_tensor_release(xi);
    nl_tensor_release(ids);
    nl_tensor_release(none);
}

/* ---- concat ------------------------------------------------------------------------ */

/* xs concatenated along d, in double. */
static double *ref_concat(int n, nl_tensor *const *xs, int d)
{
    int64_t outer = 1, inner = 1, total = 0, at = 0;
    for (int i = 0; i < d; i++) outer *= xs[0]->shape[i];
    for (int i = d + 1; i < xs[0]->ndim; i++) inner *= xs[0]->shape[i];
    for (int k = 0; k < n; k++) total += xs[k]->shape[d];
    double *r = malloc((size_t)(outer * total * inner + 1) * sizeof *r);
    for (int k = 0; k < n; k++) {
        double *v = h_values(xs[k]);
        int64_t len = xs[k]->shape[d] * inner;
        for (int64_t o = 0; o < outer; o++) memcpy(r + o * total * inner + at, v + o * len, (size_t)len * sizeof *r);
        at += len;
        free(v);
    }
    return r;
}

typedef struct { int n; int64_t dim; } cat_ctx;

static nl_status f_concat(nl_tensor **out, nl_tensor **in, void *ctx)
{
    cat_ctx *c = ctx;
    return nl_concat(out, c->n, in, c->dim);
}

static void test_concat(void)
{
    for (int d = -3; d < 3; d++) {
        int dd = d < 0 ? d + 3 : d;
        int64_t base[3] = {2, 3, 4}, sizes[3] = {1, 0, 3};
        nl_tensor *xs[3];
        for (int k = 0; k < 3; k++) {
            int64_t s[3] = {base[0], base[1], base[2]};
            s[dd] = sizes[k];
            xs[k] = leaf(h_rand(3, s, -1, 1, k == 2));
        }
        nl_tensor *y = NULL;
        char what[64];
        snprintf(what, sizeof what, "concat of 3 (sizes 1, 0, 3) along dim %d", d);
        if (h_ok(nl_concat(&y, 3, xs, d), what)) {
            double *ref = ref_concat(3, xs, dd);
            h_check(y->shape[dd] == 4, "%s: 4 entries along the dim", what);
            h_close(what, y, ref, 0, 0);
            free(ref);
        }
        nl_tensor_release(y);
        cat_ctx c = {3, d};
        h_gradcheck(what, f_concat, 3, xs, &c, 1e-2, 1e-3, 1e-2, 40);
        for (int k = 0; k < 3; k++) nl_tensor_release(xs[k]);
    }
    int64_t s[2] = {17, 1};
    nl_tensor *one[1] = {leaf(h_rand(2, s, -1, 1, true))}, *y = NULL;
    if (h_ok(nl_concat(&y, 1, one, 1), "concat of one tensor")) {
        double *ref = h_values(one[0]);
        h_close("concat of one tensor copies it", y, ref, 0, 0);
        free(ref);
    }
    nl_tensor_release(y);
    cat_ctx c = {1, 0};
    h_gradcheck("concat of one tensor", f_concat, 1, one, &c, 1e-2, 1e-3, 1e-2, 17);
    nl_tensor_release(one[0]);
}

/* ---- bad inputs ------------------------------------------------------------------ */

static void test_bad_inputs(void)
{
    int64_t ws[2] = {5, 3}, is[2] = {2, 2}, bad_v[4] = {0, 4, 5, 1}, neg_v[4] = {0, -1, 2, 3}, s1[1] = {5};
    nl_tensor *w = h_rand(2, ws, -1, 1, false), *y = NULL;
    nl_tensor *bad = ids_from(2, is, bad_v, NL_I64), *neg = ids_from(2, is, neg_v, NL_I32);
    nl_tensor *fid = h_rand(2, is, 0, 3, false), *v1 = h_rand(1, s1, -1, 1, false);
    h_expect_error(nl_embedding(&y, w, bad), NL_ERR_ARG, "embedding id 5 with V = 5");
    h_check(strstr(nl_last_error(), "id 5") && strstr(nl_last_error(), "V = 5"), "message names the id and V: %s",
            nl_last_error());
    h_expect_error(nl_embedding(&y, w, neg), NL_ERR_ARG, "embedding id -1");
    h_check(strstr(nl_last_error(), "id -1") != NULL, "message names the id: %s", nl_last_error());
    h_expect_error(nl_embedding(&y, w, fid), NL_ERR_DTYPE, "embedding with f32 ids");
    h_expect_error(nl_embedding(&y, v1, neg), NL_ERR_SHAPE, "embedding with a 1-d weight");

    int64_t one[1] = {2}, sel_v[2] = {1, 3};
    nl_tensor *sel = ids_from(1, one, sel_v, NL_I64);
    h_expect_error(nl_index_select(&y, w, 1, sel), NL_ERR_ARG, "index_select id 3 for a dim of size 3");
    h_check(strstr(nl_last_error(), "id 3") != NULL, "message names the id: %s", nl_last_error());
    h_expect_error(nl_index_select(&y, w, 2, sel), NL_ERR_ARG, "index_select along dim 2 of a 2-d tensor");
    h_expect_error(nl_index_select(&y, w, 0, bad), NL_ERR_SHAPE, "index_select with 2-d ids");
    h_expect_error(nl_index_select(&y, w, 0, v1), NL_ERR_DTYPE, "index_select with f32 ids");

    int64_t s2[2] = {5, 4}, s3[3] = {5, 3, 1};
    nl_tensor *w2 = h_rand(2, s2, -1, 1, false), *w3 = h_rand(3, s3, -1, 1, false), *wi = h_randint(2, ws, 9, NL_I64);
    nl_tensor *pair[2] = {w, w2}, *pair3[2] = {w, w3}, *pairi[2] = {w, wi};
    h_ok(nl_concat(&y, 2, pair, 1), "concat [5 3] and [5 4] along dim 1");
    nl_tensor_release(y);
    y = NULL;
    h_expect_error(nl_concat(&y, 2, pair, 0), NL_ERR_SHAPE, "concat [5 3] and [5 4] along dim 0");
    h_check(strstr(nl_last_error(), "[5 3]") && strstr(nl_last_error(), "[5 4]"), "message shows both shapes: %s",
            nl_last_error());
    h_expect_error(nl_concat(&y, 2, pair3, 1), NL_ERR_SHAPE, "concat of a 2-d and a 3-d tensor");
    h_expect_error(nl_concat(&y, 2, pairi, 0), NL_ERR_DTYPE, "concat of f32 and i64");
    h_expect_error(nl_concat(&y, 0, pair, 0), NL_ERR_ARG, "concat of no tensors");
    h_expect_error(nl_concat(&y, 2, pair, 2), NL_ERR_ARG, "concat along dim 2 of 2-d tensors");
    nl_tensor *all[] = {w, bad, neg, fid, v1, sel, w2, w3, wi};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) nl_tensor_release(all[i]);
}

int main(void)
{
    h_init("index");
    test_embedding();
    test_index_select();
    test_concat();
    test_bad_inputs();
    return h_finish();
}
