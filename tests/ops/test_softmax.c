/* test_softmax.c — conformance of nl_softmax and nl_log_softmax: a double
 * reference over any dim (negative too), odd sizes, size-1 dims, strided
 * inputs, -inf masks (partial rows and fully masked rows giving NaN), large
 * logits, gradient checks of both ops, and bad inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

/* softmax / log-softmax of x along dim d, in double on row-major values. */
static double *ref_softmax(const nl_tensor *x, int d, bool logp)
{
    double *v = h_values(x);
    int64_t outer = 1, D = x->ndim ? x->shape[d] : 1, inner = 1, n = nl_tensor_numel(x);
    for (int i = 0; i < d; i++) outer *= x->shape[i];
    for (int i = d + 1; i < x->ndim; i++) inner *= x->shape[i];
    double *r = malloc((size_t)(n ? n : 1) * sizeof *r);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            const double *xr = v + o * D * inner + in;
            double *yr = r + o * D * inner + in, m = -INFINITY, s = 0;
            for (int64_t j = 0; j < D; j++) m = fmax(m, xr[j * inner]);
            for (int64_t j = 0; j < D; j++) s += exp(xr[j * inner] - m);
            for (int64_t j = 0; j < D; j++)
                yr[j * inner] = logp ? xr[j * inner] - m - log(s) : exp(xr[j * inner] - m) / s;
        }
    free(v);
    return r;
}

typedef nl_status (*sm_fn)(nl_tensor **out, nl_tensor *x, int64_t dim);

static void check_one(const char *what, nl_tensor *x, int64_t dim, bool logp)
{
    nl_tensor *y = NULL;
    char name[160], s[64];
    snprintf(name, sizeof name, "%s %s %s dim %lld", logp ? "log_softmax" : "softmax", what, nl_shape_str(x, s, sizeof s),
             (long long)dim);
    sm_fn f = logp ? nl_log_softmax : nl_softmax;
    if (!h_ok(f(&y, x, dim), name)) return;
    int d = dim < 0 ? (int)dim + x->ndim : (int)dim;
    double *ref = ref_softmax(x, d, logp);
    h_check(nl_tensor_same_shape(x, y) && nl_tensor_is_contiguous(y), "%s: contiguous result of the input's shape", name);
    h_close(name, y, ref, 1e-6, 1e-5);
    free(ref);
    nl_tensor_release(y);
}

static void check_all_dims(const char *what, nl_tensor *x)
{
    for (int d = -x->ndim; d < x->ndim; d++) {
        check_one(what, x, d, false);
        check_one(what, x, d, true);
    }
}

static void test_values(void)
{
    int64_t s1[2] = {3, 17}, s2[3] = {2, 3, 5}, s3[1] = {65}, s4[2] = {1, 1}, s5[4] = {3, 1, 4, 2};
    const int64_t *shapes[5] = {s1, s2, s3, s4, s5};
    int nds[5] = {2, 3, 1, 2, 4};
    for (int k = 0; k < 5; k++) {
        nl_tensor *x = h_rand(nds[k], shapes[k], -3, 3, false), *xs = h_rand(nds[k], shapes[k], -3, 3, true);
        check_all_dims("contiguous", x);
        check_all_dims("strided", xs);
        nl_tensor_release(x);
        nl_tensor_release(xs);
    }
    nl_tensor *big = h_rand(2, s1, 1000, 1010, false);
    check_one("large logits", big, 1, false);
    check_one("large logits", big, 1, true);
    nl_tensor_release(big);
    nl_tensor *sc = NULL, *y = NULL;
    h_ok(nl_tensor_scalar(&sc, 0.7, NL_F32, NL_CPU_DEVICE), "scalar");
    double one = 1, zero = 0;
    if (h_ok(nl_softmax(&y, sc, -1), "softmax of a 0-d tensor")) h_close("softmax of a 0-d tensor is 1", y, &one, 0, 0);
    nl_tensor_release(y);
    if (h_ok(nl_log_softmax(&y, sc, 0), "log_softmax of a 0-d tensor")) h_close("log_softmax of a 0-d tensor is 0", y, &zero, 0, 0);
    nl_tensor_release(y);
    nl_tensor_release(sc);
}

/* Row 0 partly masked, row 1 fully masked (NaN, as in PyTorch), row 2 with one live entry. */
static void test_masks(void)
{
    const float NI = -INFINITY;
    float v[12] = {0.5f, NI, -1.0f, NI, NI, NI, NI, NI, NI, NI, 2.0f, NI};
    int64_t s[2] = {3, 4};
    nl_tensor *x = h_from(2, s, v), *xt = NULL;
    check_one("-inf masks", x, 1, false);
    check_one("-inf masks", x, 1, true);
    nl_tensor *y = NULL;
    if (h_ok(nl_softmax(&y, x, 1), "masked softmax")) {
        double *got = h_values(y);
        h_check(isnan(got[4]) && isnan(got[7]), "a fully masked row is NaN (got %g)", got[4]);
        h_check(got[1] == 0 && got[3] == 0 && got[10] == 1, "masked entries are 0, a lone live entry is 1");
        free(got);
    }
    nl_tensor_release(y);
    float vn[3] = {0.5f, NAN, 1.0f};
    int64_t sn[1] = {3};
    nl_tensor *xn = h_from(1, sn, vn);
    check_one("a NaN entry", xn, 0, false);
    check_one("a NaN entry", xn, 0, true);
    nl_tensor_release(xn);
    h_ok(nl_transpose(&xt, x, 0, 1), "transpose");
    check_one("-inf masks, transposed", xt, 0, false);
    check_one("-inf masks, transposed", xt, 0, true);
    nl_tensor_release(xt);
    nl_tensor_release(x);
}

typedef struct { int64_t dim; bool logp; } sm_ctx;

static nl_status f_softmax(nl_tensor **out, nl_tensor **in, void *ctx)
{
    sm_ctx *c = ctx;
    return (c->logp ? nl_log_softmax : nl_softmax)(out, in[0], c->dim);
}

static void test_grad(void)
{
    int64_t s[3] = {3, 5, 4}, s1[2] = {17, 1};
    for (int logp = 0; logp < 2; logp++) {
        for (int d = -1; d < 3; d++) {
            sm_ctx c = {d, logp};
            nl_tensor *x = h_rand(3, s, -2, 2, d % 2 == 0);
            x->requires_grad = true;
            char what[96];
            snprintf(what, sizeof what, "%s grad [3 5 4] dim %d%s", logp ? "log_softmax" : "softmax", d,
                     d % 2 == 0 ? " strided" : "");
            h_gradcheck(what, f_softmax, 1, &x, &c, 1e-3, 1e-3, 1e-2, 60);
            nl_tensor_release(x);
        }
        sm_ctx c = {1, logp};
        nl_tensor *x = h_rand(2, s1, -2, 2, false);
        x->requires_grad = true;
        h_gradcheck(logp ? "log_softmax grad over a size-1 dim" : "softmax grad over a size-1 dim", f_softmax, 1, &x, &c,
                    1e-3, 1e-3, 1e-2, 20);
        nl_tensor_release(x);
    }
    /* partly masked rows (softmax only: log_softmax is -inf there, so the
     * finite-difference loss is not finite); masked entries get zero gradient */
    const float NI = -INFINITY;
    float v[8] = {0.3f, NI, -0.4f, 1.1f, NI, 0.2f, NI, -0.9f};
    int64_t sm[2] = {2, 4};
    nl_tensor *x = h_from(2, sm, v);
    x->requires_grad = true;
    sm_ctx c = {-1, false};
    if (h_gradcheck("softmax grad with -inf masks", f_softmax, 1, &x, &c, 1e-3, 1e-3, 1e-2, 8)) {
        double *g = h_values(x->grad);
        h_check(g[1] == 0 && g[4] == 0 && g[6] == 0, "masked entries get exactly zero gradient");
        free(g);
    }
    nl_tensor_release(x);
}

static void test_bad_inputs(void)
{
    int64_t s[2] = {2, 3};
    nl_tensor *xi = h_randint(2, s, 4, NL_I64), *x = h_rand(2, s, -1, 1, false), *y = NULL;
    h_expect_error(nl_softmax(&y, xi, 1), NL_ERR_DTYPE, "softmax of an i64 tensor");
    h_expect_error(nl_log_softmax(&y, xi, 1), NL_ERR_DTYPE, "log_softmax of an i64 tensor");
    h_expect_error(nl_softmax(&y, x, 2), NL_ERR_ARG, "softmax over dim 2 of a 2-d tensor");
    h_expect_error(nl_log_softmax(&y, x, -3), NL_ERR_ARG, "log_softmax over dim -3 of a 2-d tensor");
    nl_tensor_release(xi);
    nl_tensor_release(x);
}

int main(void)
{
    h_init("softmax");
    test_values();
    test_masks();
    test_grad();
    test_bad_inputs();
    return h_finish();
}
