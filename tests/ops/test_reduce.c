/* test_reduce.c — conformance of sum, mean, max, argmax (one dim, keepdim,
 * all elements) and sum_to against naive double references, with gradient
 * checks and bad inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

typedef struct { nl_op op; int64_t dim; bool keep; } rctx;

static nl_status red_f(nl_tensor **out, nl_tensor **in, void *ctx)
{
    rctx *c = ctx;
    switch (c->op) {
    case NL_OP_SUM: return nl_sum(out, in[0], c->dim, c->keep);
    case NL_OP_MEAN: return nl_mean(out, in[0], c->dim, c->keep);
    default: return nl_max(out, in[0], c->dim, c->keep);
    }
}

static void test_dims(void)
{
    int64_t sh[3] = {3, 5, 7};
    nl_op ops[3] = {NL_OP_SUM, NL_OP_MEAN, NL_OP_MAX};
    for (int o = 0; o < 3; o++)
        for (int d = -1; d < 3; d++)
            for (int nc = 0; nc < 2; nc++) {
                nl_tensor *x = h_rand(3, sh, -1, 1, nc), *y = NULL, *ix = NULL;
                int dd = d < 0 ? 2 : d;
                rctx c = {ops[o], d, (d + nc) % 2 == 0};
                char what[64];
                snprintf(what, sizeof what, "%s dim %d%s%s", nl_op_get_info(ops[o])->name, d, c.keep ? " keepdim" : "",
                         nc ? " strided" : "");
                if (!h_ok(red_f(&y, &x, &c), what)) continue;
                h_check(y->ndim == (c.keep ? 3 : 2), "%s: rank %d", what, y->ndim);
                double *xv = h_values(x), ref[35], iref[35];
                int64_t outer = 1, inner = 1, n = sh[dd];
                for (int i = 0; i < dd; i++) outer *= sh[i];
                for (int i = dd + 1; i < 3; i++) inner *= sh[i];
                for (int64_t k = 0; k < outer * inner; k++) {
                    int64_t oo = k / inner, ii = k % inner;
                    double s = 0, m = -INFINITY;
                    int64_t arg = 0;
                    for (int64_t j = 0; j < n; j++) {
                        double v = xv[(oo * n + j) * inner + ii];
                        s += v;
                        if (v > m) { m = v; arg = j; }
                    }
                    ref[k] = ops[o] == NL_OP_SUM ? s : ops[o] == NL_OP_MEAN ? s / n : m;
                    iref[k] = (double)arg;
                }
                h_close(what, y, ref, 1e-6, 1e-6);
                if (ops[o] == NL_OP_MAX && h_ok(nl_argmax(&ix, x, d, c.keep), "argmax")) {
                    h_check(ix->dtype == NL_I64, "argmax gives i64");
                    h_close("argmax indices", ix, iref, 0, 0);
                }
                x->requires_grad = true;
                h_gradcheck(what, red_f, 1, &x, &c, 1e-3, 1e-3, 1e-2, 35);
                free(xv);
                nl_tensor_release(ix);
                nl_tensor_release(y);
                nl_tensor_release(x);
            }
}

static void test_special(void)
{
    float v[6] = {1, 3, 3, -INFINITY, NAN, 2};
    nl_tensor *x = h_from(2, (int64_t[]){2, 3}, v), *y = NULL, *i = NULL;
    h_ok(nl_max(&y, x, 1, false), "max with ties and NaN");
    h_ok(nl_argmax(&i, x, 1, false), "argmax with ties and NaN");
    double want[2] = {3, NAN}, wi[2] = {1, 1};
    h_close("max: NaN propagates", y, want, 0, 0);
    h_close("argmax: first of ties, NaN wins", i, wi, 0, 0);
    nl_tensor_release(y);
    y = NULL;
    h_ok(nl_sum_all(&y, x), "sum_all");
    h_check(y->ndim == 0, "sum_all is 0-d");
    nl_tensor_release(y);
    y = NULL;

    int64_t big = 1 << 20;
    nl_tensor *ones = NULL;
    nl_tensor_full(&ones, NL_F32, 1, &big, 0.1, NL_CPU_DEVICE);
    h_ok(nl_sum_all(&y, ones), "sum of 2^20 x 0.1");
    double ref = (double)big * (double)0.1f;
    h_close("long sums accumulate in double", y, &ref, 0, 1e-7);
    nl_tensor_release(y);
    y = NULL;

    nl_tensor *e = NULL, *o = NULL;
    nl_tensor_zeros(&e, NL_F32, 2, (int64_t[]){2, 0}, NL_CPU_DEVICE);
    h_ok(nl_sum(&y, e, 1, false), "sum over an empty dim");
    double zeros[2] = {0, 0}, nans[2] = {NAN, NAN};
    h_close("empty sum is 0", y, zeros, 0, 0);
    nl_tensor_release(y);
    y = NULL;
    h_ok(nl_mean(&y, e, 1, false), "mean over an empty dim");
    h_close("empty mean is NaN", y, nans, 0, 0);
    h_expect_error(nl_max(&o, e, 1, false), NL_ERR_SHAPE, "max over an empty dim");
    h_expect_error(nl_sum(&o, x, 2, false), NL_ERR_ARG, "sum over dim 2 of a 2-d tensor");
    nl_tensor *ids = h_randint(1, (int64_t[]){4}, 3, NL_I64);
    h_expect_error(nl_sum(&o, ids, 0, false), NL_ERR_DTYPE, "sum of i64");
    nl_tensor_release(ids); nl_tensor_release(e); nl_tensor_release(y); nl_tensor_release(i);
    nl_tensor_release(x); nl_tensor_release(ones);
}

static const int64_t to_shape[2] = {3, 1};
static nl_status sum_to_f(nl_tensor **out, nl_tensor **in, void *ctx) { (void)ctx; return nl_sum_to(out, in[0], 2, to_shape); }

static void test_sum_to(void)
{
    nl_tensor *x = h_rand(3, (int64_t[]){2, 3, 4}, -1, 1, true), *y = NULL, *o = NULL;
    h_ok(nl_sum_to(&y, x, 2, to_shape), "sum_to [2 3 4] -> [3 1]");
    double *xv = h_values(x), ref[3] = {0};
    for (int i = 0; i < 24; i++) ref[(i / 4) % 3] += xv[i];
    h_close("sum_to values", y, ref, 1e-6, 1e-6);
    x->requires_grad = true;
    h_gradcheck("sum_to", sum_to_f, 1, &x, NULL, 1e-2, 1e-4, 1e-3, 24);
    h_expect_error(nl_sum_to(&o, x, 2, (int64_t[]){2, 4}), NL_ERR_SHAPE, "sum_to a non-broadcast shape");
    free(xv);
    nl_tensor_release(x); nl_tensor_release(y);
}

int main(void)
{
    h_init("reduce");
    test_dims();
    test_special();
    test_sum_to();
    return h_finish();
}
