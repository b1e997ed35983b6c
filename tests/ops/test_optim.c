/* test_optim.c — AdamW and SGD steps against double-precision references of
 * the torch.optim formulas, gradient clipping, convergence on a small
 * least-squares problem, and the parameter/config checks. */
#include <math.h>
#include <stdlib.h>

#include "harness.h"

#define N 7

static void set_grad(nl_tensor *p, const double *g)
{
    float f[N];
    for (int i = 0; i < N; i++) f[i] = (float)g[i];
    nl_zero_grad(p);
    nl_tensor_from_host(&p->grad, NL_F32, 1, p->shape, f, NL_F32, NL_CPU_DEVICE);
}

static void test_adamw(void)
{
    double p[N], m[N] = {0}, v[N] = {0}, g[N];
    nl_tensor *t = h_rand(1, (int64_t[]){N}, -1, 1, false);
    double *init = h_values(t);
    for (int i = 0; i < N; i++) p[i] = init[i];
    t->requires_grad = true;
    nl_optim_config c = {NL_OPTIM_ADAMW, .lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1};
    nl_optim *o = NULL;
    if (!h_ok(nl_optim_new(&o, &c, 1, &t), "adamw")) return;
    for (int step = 1; step <= 5; step++) {
        for (int i = 0; i < N; i++) g[i] = sin(step * 1.3 + i) * (i + 1);
        set_grad(t, g);
        h_ok(nl_optim_step(o), "adamw step");
        for (int i = 0; i < N; i++) {
            p[i] *= 1 - c.lr * c.weight_decay;
            m[i] = c.beta1 * m[i] + (1 - c.beta1) * g[i];
            v[i] = c.beta2 * v[i] + (1 - c.beta2) * g[i] * g[i];
            double mh = m[i] / (1 - pow(c.beta1, step)), vh = v[i] / (1 - pow(c.beta2, step));
            p[i] -= c.lr * mh / (sqrt(vh) + c.eps);
        }
    }
    h_close("adamw: 5 steps match the torch.optim.AdamW formulas", t, p, 1e-6, 1e-5);
    h_check(nl_optim_steps(o) == 5, "step counter");
    nl_optim_zero_grad(o);
    h_check(t->grad == NULL, "zero-grad drops the gradients");
    h_ok(nl_optim_step(o), "a step without gradients skips the parameter");
    h_close("parameters without grad are unchanged", t, p, 1e-6, 1e-5);
    nl_optim_free(o);
    free(init);
    nl_tensor_release(t);
}

static void test_sgd(void)
{
    double p[N], buf[N], g[N];
    nl_tensor *t = h_rand(1, (int64_t[]){N}, -1, 1, false);
    double *init = h_values(t);
    for (int i = 0; i < N; i++) p[i] = init[i];
    t->requires_grad = true;
    nl_optim_config c = {NL_OPTIM_SGD, .lr = 0.1, .momentum = 0.9, .weight_decay = 0.01};
    nl_optim *o = NULL;
    if (!h_ok(nl_optim_new(&o, &c, 1, &t), "sgd")) return;
    for (int step = 1; step <= 4; step++) {
        for (int i = 0; i < N; i++) g[i] = cos(step + 0.7 * i);
        set_grad(t, g);
        h_ok(nl_optim_step(o), "sgd step");
        for (int i = 0; i < N; i++) {
            double d = g[i] + c.weight_decay * p[i];
            buf[i] = step == 1 ? d : c.momentum * buf[i] + d;
            p[i] -= c.lr * buf[i];
        }
    }
    h_close("sgd with momentum: 4 steps match torch.optim.SGD", t, p, 1e-6, 1e-5);
    nl_optim_free(o);
    free(init);
    nl_tensor_release(t);
}

static void test_clip(void)
{
    nl_tensor *a = h_rand(1, (int64_t[]){N}, -1, 1, false), *b = h_rand(1, (int64_t[]){N}, -1, 1, false);
    a->requires_grad = b->requires_grad = true;
    double ga[N], gb[N];
    for (int i = 0; i < N; i++) { ga[i] = 3; gb[i] = 4; }
    set_grad(a, ga);
    set_grad(b, gb);
    nl_tensor *ps[2] = {a, b};
    double norm = 0;
    h_ok(nl_clip_grad_norm(2, ps, 1.0, &norm), "clip to 1");
    h_check(fabs(norm - 5 * sqrt(N)) < 1e-5, "norm before clipping is 5*sqrt(7) (got %g)", norm);
    double ra[N], rb[N], coef = 1.0 / (5 * sqrt(N) + 1e-6);
    for (int i = 0; i < N; i++) { ra[i] = 3 * coef; rb[i] = 4 * coef; }
    h_close("clipped grad a", a->grad, ra, 1e-7, 1e-6);
    h_close("clipped grad b", b->grad, rb, 1e-7, 1e-6);
    h_ok(nl_clip_grad_norm(2, ps, 10.0, &norm), "clip above the norm");
    h_close("no change below max_norm", a->grad, ra, 1e-7, 1e-6);
    nl_tensor_release(a);
    nl_tensor_release(b);
}

/* minimise |A w - y|^2 with AdamW: loss must fall below 1e-4 */
static void test_converges(void)
{
    nl_tensor *A = h_rand(2, (int64_t[]){16, 4}, -1, 1, false), *wt = h_rand(2, (int64_t[]){4, 1}, -1, 1, false);
    nl_tensor *y = NULL, *w = NULL;
    nl_matmul(&y, A, wt, false, false);
    nl_tensor_zeros(&w, NL_F32, 2, (int64_t[]){4, 1}, NL_CPU_DEVICE);
    w->requires_grad = true;
    nl_optim_config c = {NL_OPTIM_ADAMW, .lr = 0.05, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0};
    nl_optim *o = NULL;
    h_ok(nl_optim_new(&o, &c, 1, &w), "adamw");
    double loss = 1e9, first = 0;
    for (int it = 0; it < 600 && o; it++) {
        nl_tensor *p = NULL, *d = NULL, *sq = NULL, *l = NULL;
        nl_status st = nl_matmul(&p, A, w, false, false);
        if (st == NL_OK) st = nl_sub(&d, p, y);
        if (st == NL_OK) st = nl_mul(&sq, d, d);
        if (st == NL_OK) st = nl_mean_all(&l, sq);
        if (st == NL_OK) { double v; nl_tensor_get(l, NULL, &v); loss = v; if (!it) first = v; }
        nl_optim_zero_grad(o);
        if (st == NL_OK) st = nl_backward(l, NULL, false);
        if (st == NL_OK) st = nl_optim_step(o);
        nl_tensor_release(p); nl_tensor_release(d); nl_tensor_release(sq); nl_tensor_release(l);
        if (!h_ok(st, "training step")) break;
    }
    h_check(loss < 1e-4, "least squares with AdamW: loss %.3g -> %.3g", first, loss);
    nl_optim_free(o);
    nl_tensor_release(A); nl_tensor_release(wt); nl_tensor_release(y); nl_tensor_release(w);
}

static void test_bad(void)
{
    nl_tensor *p = h_rand(1, (int64_t[]){3}, 0, 1, false), *q = NULL;
    nl_optim *o = NULL;
    nl_optim_config c = {NL_OPTIM_ADAMW, .lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    h_expect_error(nl_optim_new(&o, &c, 1, &p), NL_ERR_ARG, "a parameter without requires_grad");
    p->requires_grad = true;
    nl_scale(&q, p, 2, 0);
    h_expect_error(nl_optim_new(&o, &c, 1, &q), NL_ERR_ARG, "a non-leaf parameter");
    nl_optim_config bad = c;
    bad.lr = -1;
    h_expect_error(nl_optim_new(&o, &bad, 1, &p), NL_ERR_ARG, "negative lr");
    bad = c;
    bad.beta2 = 1.0;
    h_expect_error(nl_optim_new(&o, &bad, 1, &p), NL_ERR_ARG, "beta2 = 1");
    bad = c;
    bad.eps = 0;
    h_expect_error(nl_optim_new(&o, &bad, 1, &p), NL_ERR_ARG, "eps = 0");
    nl_tensor *ids = h_randint(1, (int64_t[]){3}, 4, NL_I64);
    ids->requires_grad = true;
    h_expect_error(nl_optim_new(&o, &c, 1, &ids), NL_ERR_DTYPE, "an i64 parameter");
    nl_tensor_release(ids); nl_tensor_release(q); nl_tensor_release(p);
}

int main(void)
{
    h_init("optim");
    test_adamw();
    test_sgd();
    test_clip();
    test_converges();
    test_bad();
    return h_finish();
}
