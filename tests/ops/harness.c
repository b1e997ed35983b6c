/* harness.c — conformance harness implementation (see harness.h). */
#include "harness.h"

#include "safetensors.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *suite_name;
static int n_pass, n_fail;
static nl_rng hrng;
static size_t guard_expected;

void h_expect_guard_violations(size_t n) { guard_expected = n; }

void h_init(const char *suite)
{
    nl_host_guard_enable(1);
    nl_runtime_init();
    suite_name = suite;
    nl_rng_seed(&hrng, 1234);
}

int h_finish(void)
{
    size_t bad = nl_host_guard_violations();
    if (bad != guard_expected) {
        printf("FAIL guard bytes: %zu corrupted buffers (expected %zu)\n", bad, guard_expected);
        n_fail++;
    }
    printf("%s: %d checks passed, %d failed\n", suite_name, n_pass, n_fail);
    return n_fail ? 1 : 0;
}

bool h_check(bool ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf(ok ? "ok   " : "FAIL ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (ok) n_pass++; else n_fail++;
    return ok;
}

bool h_ok(nl_status st, const char *what)
{
    if (st == NL_OK) return true;
    h_check(false, "%s: %s (%s)", what, nl_last_error(), nl_status_name(st));
    return false;
}

bool h_expect_error(nl_status st, nl_status want, const char *what)
{
    return h_check(st == want, "%s rejected with %s: %s", what, nl_status_name(st),
                   st == NL_OK ? "(accepted)" : nl_last_error());
}

nl_tensor *h_rand(int ndim, const int64_t *shape, double lo, double hi, bool noncontig)
{
    nl_tensor *t = NULL;
    if (!noncontig || ndim == 0) {
        if (nl_tensor_empty(&t, NL_F32, ndim, shape, NL_CPU_DEVICE) != NL_OK) return NULL;
        nl_fill_uniform(t, lo, hi, &hrng);
        return t;
    }
    /* Allocate with the dims reversed and the innermost padded by 1, then
     * narrow and permute back: same logical shape, strided layout. */
    int64_t rs[NL_MAX_DIMS];
    int perm[NL_MAX_DIMS];
    for (int i = 0; i < ndim; i++) { rs[i] = shape[ndim - 1 - i]; perm[i] = ndim - 1 - i; }
    rs[ndim - 1] += 1;
    nl_tensor *base = NULL, *nar = NULL;
    if (nl_tensor_empty(&base, NL_F32, ndim, rs, NL_CPU_DEVICE) != NL_OK) return NULL;
    nl_fill_uniform(base, lo, hi, &hrng);
    nl_narrow(&nar, base, ndim - 1, 1, rs[ndim - 1] - 1);
    nl_permute(&t, nar, perm);
    nl_tensor_release(nar);
    nl_tensor_release(base);
    return t;
}

nl_tensor *h_randint(int ndim, const int64_t *shape, int64_t hi, nl_dtype dt)
{
    int64_t n;
    if (nl_shape_numel(ndim, shape, &n) != NL_OK) return NULL;
    int64_t *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = (int64_t)(nl_rng_next(&hrng) % (uint64_t)hi);
    nl_tensor *t = NULL;
    nl_tensor_from_host(&t, dt, ndim, shape, v, NL_I64, NL_CPU_DEVICE);
    free(v);
    return t;
}

nl_tensor *h_from(int ndim, const int64_t *shape, const float *v)
{
    nl_tensor *t = NULL;
    nl_tensor_from_host(&t, NL_F32, ndim, shape, v, NL_F32, NL_CPU_DEVICE);
    return t;
}

double *h_values(const nl_tensor *t)
{
    int64_t n = nl_tensor_numel(t);
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    float *f = malloc((size_t)(n ? n : 1) * sizeof *f);
    if (t->dtype == NL_I64 || t->dtype == NL_I32) {
        int64_t *iv = malloc((size_t)(n ? n : 1) * sizeof *iv);
        nl_tensor_to_host(t, iv, NL_I64);
        for (int64_t i = 0; i < n; i++) v[i] = (double)iv[i];
        free(iv);
    } else {
        nl_tensor_to_host(t, f, NL_F32);
        for (int64_t i = 0; i < n; i++) v[i] = f[i];
    }
    free(f);
    return v;
}

bool h_close(const char *what, const nl_tensor *t, const double *ref, double atol, double rtol)
{
    double *got = h_values(t);
    int64_t n = nl_tensor_numel(t), bad = 0, first = -1;
    double maxerr = 0;
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], r = ref[i];
        bool ok;
        if (isnan(r) || isnan(g)) ok = isnan(r) && isnan(g);
        else if (isinf(r) || isinf(g)) ok = g == r;
        else {
            double e = fabs(g - r);
            if (e > maxerr) maxerr = e;
            ok = e <= atol + rtol * fabs(r);
        }
        if (!ok && bad++ == 0) first = i;
    }
    bool ok = h_check(bad == 0, "%s: %lld elements, max abs err %.3g%s", what, (long long)n, maxerr,
                      bad ? "" : "");
    if (!ok) {
        for (int64_t i = first, k = 0; i < n && k < 5; i++) {
            if (fabs(got[i] - ref[i]) > atol + rtol * fabs(ref[i]) || isnan(got[i]) != isnan(ref[i])) {
                printf("     [%lld] got %.9g want %.9g\n", (long long)i, got[i], ref[i]);
                k++;
            }
        }
        printf("     %lld of %lld elements differ\n", (long long)bad, (long long)n);
    }
    free(got);
    return ok;
}

/* L = sum(out * W), accumulated in double. */
static double weighted(const nl_tensor *out, const double *w)
{
    double *v = h_values(out), s = 0;
    int64_t n = nl_tensor_numel(out);
    for (int64_t i = 0; i < n; i++) s += v[i] * w[i];
    free(v);
    return s;
}

static nl_status eval_loss(h_fn fn, nl_tensor **in, void *ctx, const double *w, double *loss)
{
    nl_tensor *out = NULL;
    bool was = nl_grad_set_enabled(false);
    nl_status st = fn(&out, in, ctx);
    nl_grad_set_enabled(was);
    if (st == NL_OK) *loss = weighted(out, w);
    nl_tensor_release(out);
    return st;
}

bool h_gradcheck(const char *what, h_fn fn, int n_in, nl_tensor **in, void *ctx,
                 double eps, double atol, double rtol, int max_points)
{
    for (int i = 0; i < n_in; i++)
        if (in[i] && in[i]->requires_grad) nl_zero_grad(in[i]);
    nl_tensor *out = NULL;
    if (!h_ok(fn(&out, in, ctx), what)) return false;
    int64_t no = nl_tensor_numel(out);
    double *w = malloc((size_t)(no ? no : 1) * sizeof *w);
    float *wf = malloc((size_t)(no ? no : 1) * sizeof *wf);
    for (int64_t i = 0; i < no; i++) { w[i] = nl_rng_uniform(&hrng) * 2 - 1; wf[i] = (float)w[i]; }
    nl_tensor *gw = NULL;
    bool ok = h_ok(nl_tensor_from_host(&gw, NL_F32, out->ndim, out->shape, wf, NL_F32, NL_CPU_DEVICE), what);
    if (ok) ok = h_ok(nl_backward(out, gw, false), what);
    nl_tensor_release(gw);
    nl_tensor_release(out);
    free(wf);
    for (int i = 0; ok && i < n_in; i++) {
        nl_tensor *x = in[i];
        if (!x || !x->requires_grad) continue;
        if (!h_check(x->grad != NULL, "%s: input %d received a gradient", what, i)) { ok = false; break; }
        double *ga = h_values(x->grad);
        int64_t n = nl_tensor_numel(x), step = n > max_points ? n / max_points : 1;
        int64_t bad = 0, checked = 0;
        double worst = 0;
        for (int64_t k = 0; k < n; k += step) {
            /* address of element k of x (row-major index -> strided offset) */
            int64_t rem = k, off = x->offset;
            for (int d = x->ndim - 1; d >= 0; d--) { off += (rem % x->shape[d]) * x->strides[d]; rem /= x->shape[d]; }
            float *p = (float *)x->storage->data + off, orig = *p;
            double lp = 0, lm = 0;
            *p = (float)(orig + eps);
            nl_status s1 = eval_loss(fn, in, ctx, w, &lp);
            *p = (float)(orig - eps);
            nl_status s2 = eval_loss(fn, in, ctx, w, &lm);
            *p = orig;
            if (s1 != NL_OK || s2 != NL_OK) { h_ok(s1 ? s1 : s2, what); ok = false; break; }
            /* the perturbation actually applied, in f32 */
            double num = (lp - lm) / ((double)(float)(orig + eps) - (double)(float)(orig - eps));
            double err = fabs(num - ga[k]), lim = atol + rtol * fmax(fabs(num), fabs(ga[k]));
            if (err / (lim > 0 ? lim : 1) > worst) worst = err / (lim > 0 ? lim : 1);
            if (err > lim) {
                if (bad < 3) printf("     input %d [%lld]: analytic %.7g numeric %.7g\n", i, (long long)k, ga[k], num);
                bad++;
            }
            checked++;
        }
        free(ga);
        if (!h_check(bad == 0, "%s: gradient of input %d (%lld points, worst err/limit %.2f)", what, i,
                     (long long)checked, worst))
            ok = false;
    }
    free(w);
    return ok;
}

nl_tensor *h_load_f32(struct nl_safetensors *f, const char *name)
{
    nl_tensor *t = NULL;
    if (!h_ok(nl_safetensors_load(&t, f, name, NL_F32, NL_CPU_DEVICE), name)) return NULL;
    return t;
}

bool h_cmp_fixture(struct nl_safetensors *f, const char *name, const nl_tensor *got, double tol, double atol)
{
    nl_tensor *ref = h_load_f32(f, name);
    if (!ref) return false;
    char a[96], b[96];
    bool ok = h_check(got && nl_tensor_same_shape(got, ref), "%s: shape %s matches %s", name,
                      got ? nl_shape_str(got, a, sizeof a) : "(null)", nl_shape_str(ref, b, sizeof b));
    if (ok) {
        double *r = h_values(ref), mx = 0;
        for (int64_t i = 0, n = nl_tensor_numel(ref); i < n; i++) mx = fmax(mx, fabs(r[i]));
        ok = h_close(name, got, r, atol + tol * mx, 0);
        free(r);
    }
    nl_tensor_release(ref);
    return ok;
}

bool h_same(const char *what, const nl_tensor *a, const nl_tensor *b, double atol)
{
    if (!h_check(nl_tensor_same_shape(a, b), "%s: same shape", what)) return false;
    double *r = h_values(b);
    bool ok = h_close(what, a, r, atol, 0);
    free(r);
    return ok;
}
