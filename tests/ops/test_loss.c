/* test_loss.c — conformance of nl_cross_entropy: a double reference (mean of
 * lse - logit[target] over supervised rows), i64/i32 targets, ignore_index
 * rows, no supervised row (0 and zero gradient), large logits, odd sizes,
 * strided logits, gradient checks, and bad inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static nl_tensor *targets_from(int64_t n, const int64_t *v, nl_dtype dt)
{
    nl_tensor *t = NULL;
    int64_t s[1] = {n};
    nl_tensor_from_host(&t, dt, 1, s, v, NL_I64, NL_CPU_DEVICE);
    return t;
}

static double ref_ce(const nl_tensor *logits, const int64_t *t, int64_t ignore)
{
    double *x = h_values(logits), sum = 0;
    int64_t N = logits->shape[0], V = logits->shape[1], nsup = 0;
    for (int64_t r = 0; r < N; r++) {
        if (t[r] == ignore) continue;
        double m = -INFINITY, s = 0;
        for (int64_t j = 0; j < V; j++) m = fmax(m, x[r * V + j]);
        for (int64_t j = 0; j < V; j++) s += exp(x[r * V + j] - m);
        sum += m + log(s) - x[r * V + t[r]];
        nsup++;
    }
    free(x);
    return nsup ? sum / (double)nsup : 0;
}

typedef struct { nl_tensor *targets; int64_t ignore; } ce_ctx;

static nl_status f_ce(nl_tensor **out, nl_tensor **in, void *ctx)
{
    ce_ctx *c = ctx;
    return nl_cross_entropy(out, in[0], c->targets, c->ignore);
}

/* Targets: row r gets (r * 7) % V, except every third row gets `ignore` when mask_rows. */
static void check_ce(const char *what, int64_t N, int64_t V, nl_dtype dt, int64_t ignore, bool mask_rows, bool nc,
                     double lo, double hi)
{
    int64_t ls[2] = {N, V}, *t = malloc((size_t)(N ? N : 1) * sizeof *t);
    for (int64_t r = 0; r < N; r++) t[r] = mask_rows && r % 3 == 1 ? ignore : (r * 7) % V;
    nl_tensor *x = h_rand(2, ls, lo, hi, nc), *tg = targets_from(N, t, dt), *l = NULL;
    x->requires_grad = true;
    char name[160];
    snprintf(name, sizeof name, "cross_entropy %s [%lld %lld] %s%s", what, (long long)N, (long long)V, nl_dtype_name(dt),
             nc ? " strided" : "");
    if (h_ok(nl_cross_entropy(&l, x, tg, ignore), name)) {
        double ref = ref_ce(x, t, ignore);
        h_check(l->ndim == 0, "%s: 0-d result", name);
        h_close(name, l, &ref, 1e-5, 1e-5);
    }
    nl_tensor_release(l);
    ce_ctx c = {tg, ignore};
    if (h_gradcheck(name, f_ce, 1, &x, &c, 1e-2, 1e-4, 1e-2, 60) && mask_rows) {
        double *g = h_values(x->grad);
        bool zero = true;
        for (int64_t r = 1; r < N; r += 3)
            for (int64_t j = 0; j < V; j++) zero = zero && g[r * V + j] == 0;
        h_check(zero, "%s: ignored rows get exactly zero gradient", name);
        free(g);
    }
    nl_tensor_release(x);
    nl_tensor_release(tg);
    free(t);
}

static void test_values(void)
{
    check_ce("plain", 3, 5, NL_I64, -100, false, false, -2, 2);
    check_ce("plain", 17, 65, NL_I32, -100, false, true, -2, 2);
    check_ce("one row, one class", 1, 1, NL_I64, -100, false, false, -2, 2);
    check_ce("ignore -100", 17, 5, NL_I64, -100, true, false, -2, 2);
    check_ce("ignore -100", 65, 3, NL_I32, -100, true, true, -2, 2);
    check_ce("ignore index 2 (a valid class)", 17, 5, NL_I64, 2, true, false, -2, 2);
    check_ce("large logits", 3, 17, NL_I64, -100, false, false, 5000, 5003);
    check_ce("one ignored row only", 1, 3, NL_I64, 0, false, false, -2, 2); /* target 0 == ignore */
}

/* No supervised row: the loss is 0 and the gradient is 0. */
static void test_all_ignored(void)
{
    int64_t ls[2] = {4, 3}, t[4] = {-1, -1, -1, -1};
    nl_tensor *x = h_rand(2, ls, -1, 1, false), *tg = targets_from(4, t, NL_I64), *l = NULL;
    x->requires_grad = true;
    if (h_ok(nl_cross_entropy(&l, x, tg, -1), "all rows ignored")) {
        double zero = 0, zeros[12] = {0};
        h_close("all rows ignored: loss 0", l, &zero, 0, 0);
        if (h_ok(nl_backward(l, NULL, false), "backward"))
            h_close("all rows ignored: zero gradient", x->grad, zeros, 0, 0);
    }
    nl_tensor_release(l);
    nl_tensor_release(x);
    nl_tensor_release(tg);
    int64_t e[2] = {0, 5};
    nl_tensor *x0 = h_rand(2, e, -1, 1, false), *t0 = targets_from(0, t, NL_I64);
    if (h_ok(nl_cross_entropy(&l, x0, t0, -100), "no rows")) {
        double zero = 0;
        h_close("no rows: loss 0", l, &zero, 0, 0);
    }
    nl_tensor_release(l);
    nl_tensor_release(x0);
    nl_tensor_release(t0);
}

/* The gradient against (softmax - onehot) / n, scaled by the output gradient. */
static void test_gradient_formula(void)
{
    int64_t N = 3, V = 4, ls[2] = {3, 4}, t[3] = {1, -100, 3};
    nl_tensor *x = h_rand(2, ls, -1, 1, false), *tg = targets_from(N, t, NL_I64), *l = NULL, *g = NULL;
    x->requires_grad = true;
    if (h_ok(nl_cross_entropy(&l, x, tg, -100), "cross_entropy") && h_ok(nl_tensor_scalar(&g, 2.5, NL_F32, NL_CPU_DEVICE), "g") &&
        h_ok(nl_backward(l, g, false), "backward")) {
        double *xv = h_values(x), ref[12] = {0};
        for (int64_t r = 0; r < N; r++) {
            if (t[r] == -100) continue;
            double s = 0;
            for (int64_t j = 0; j < V; j++) s += exp(xv[r * V + j]);
            for (int64_t j = 0; j < V; j++) ref[r * V + j] = 2.5 * (exp(xv[r * V + j]) / s - (j == t[r])) / 2;
        }
        h_close("gradient = g * (softmax - onehot) / n_supervised", x->grad, ref, 1e-6, 1e-5);
        free(xv);
    }
    nl_tensor_release(g);
    nl_tensor_release(l);
    nl_tensor_release(x);
    nl_tensor_release(tg);
}

static void test_bad_inputs(void)
{
    int64_t ls[2] = {3, 5}, l3[3] = {1, 3, 5}, t_ok[3] = {0, 4, 2}, t_hi[3] = {0, 5, 2}, t_neg[3] = {0, -2, 2};
    nl_tensor *x = h_rand(2, ls, -1, 1, false), *l = NULL;
    nl_tensor *hi = targets_from(3, t_hi, NL_I64), *neg = targets_from(3, t_neg, NL_I32), *ok = targets_from(3, t_ok, NL_I64);
    nl_tensor *short_t = targets_from(2, t_ok, NL_I64), *x3 = h_rand(3, l3, -1, 1, false);
    nl_tensor *xi = h_randint(2, ls, 5, NL_I64), *tf = h_rand(1, (int64_t[]){3}, 0, 3, false);
    h_expect_error(nl_cross_entropy(&l, x, hi, -100), NL_ERR_ARG, "target 5 with V = 5");
    h_check(strstr(nl_last_error(), "target 5") && strstr(nl_last_error(), "V = 5"), "message names the target and V: %s",
            nl_last_error());
    h_expect_error(nl_cross_entropy(&l, x, neg, -100), NL_ERR_ARG, "target -2 (not the ignore index)");
    h_ok(nl_cross_entropy(&l, x, neg, -2), "target -2 as the ignore index");
    nl_tensor_release(l);
    l = NULL;
    h_expect_error(nl_cross_entropy(&l, x, short_t, -100), NL_ERR_SHAPE, "2 targets for 3 rows");
    h_check(strstr(nl_last_error(), "[3 5]") && strstr(nl_last_error(), "[2]"), "message shows both shapes: %s",
            nl_last_error());
    h_expect_error(nl_cross_entropy(&l, x3, ok, -100), NL_ERR_SHAPE, "3-d logits");
    h_expect_error(nl_cross_entropy(&l, xi, ok, -100), NL_ERR_DTYPE, "i64 logits");
    h_expect_error(nl_cross_entropy(&l, x, tf, -100), NL_ERR_DTYPE, "f32 targets");
    nl_tensor *all[] = {x, hi, neg, ok, short_t, x3, xi, tf};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) nl_tensor_release(all[i]);
}

int main(void)
{
    h_init("loss");
    test_values();
    test_all_ignored();
    test_gradient_formula();
    test_bad_inputs();
    return h_finish();
}
