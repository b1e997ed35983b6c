/* test_tensor.c — the runtime core without op families: shapes and their
 * errors, dtype conversion, storage-sharing views, copies, the error model,
 * the RNG, guard bytes, and the autograd engine over view ops. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void test_creation(void)
{
    nl_tensor *t = NULL;
    int64_t sh[3] = {2, 3, 4};
    if (!h_ok(nl_tensor_zeros(&t, NL_F32, 3, sh, NL_CPU_DEVICE), "zeros")) return;
    h_check(nl_tensor_numel(t) == 24 && nl_tensor_is_contiguous(t), "zeros [2 3 4]: 24 contiguous elements");
    h_check(t->strides[0] == 12 && t->strides[1] == 4 && t->strides[2] == 1, "row-major strides");
    double ref[24] = {0};
    h_close("zeros are zero", t, ref, 0, 0);
    nl_tensor_release(t);

    nl_tensor *s = NULL;
    if (h_ok(nl_tensor_scalar(&s, 2.5, NL_F32, NL_CPU_DEVICE), "scalar")) {
        double v = 0;
        h_ok(nl_tensor_get(s, NULL, &v), "get scalar");
        h_check(s->ndim == 0 && nl_tensor_numel(s) == 1 && v == 2.5, "0-d tensor holds 2.5");
    }
    nl_tensor_release(s);

    int64_t z[2] = {0, 5};
    nl_tensor *e = NULL;
    h_ok(nl_tensor_empty(&e, NL_F32, 2, z, NL_CPU_DEVICE), "a tensor with a 0 dim");
    h_check(e && nl_tensor_numel(e) == 0, "[0 5] has no elements");
    nl_tensor_release(e);

    int64_t neg[2] = {3, -1};
    h_expect_error(nl_tensor_empty(&e, NL_F32, 2, neg, NL_CPU_DEVICE), NL_ERR_SHAPE, "negative dim");
    h_check(strstr(nl_last_error(), "[3 -1]") != NULL, "message names the shape: %s", nl_last_error());
    int64_t huge[3] = {1ll << 40, 1ll << 40, 1ll << 40};
    h_expect_error(nl_tensor_empty(&e, NL_F32, 3, huge, NL_CPU_DEVICE), NL_ERR_OOM, "shape overflowing 2^63");
    int64_t big[2] = {1ll << 20, 1ll << 28}; /* 2^48 floats: 1 PiB */
    h_expect_error(nl_tensor_empty(&e, NL_F32, 2, big, NL_CPU_DEVICE), NL_ERR_OOM, "1 PiB tensor");
    h_expect_error(nl_tensor_empty(&e, NL_F32, 9, sh, NL_CPU_DEVICE), NL_ERR_SHAPE, "9 dims");
    nl_device d;
    h_ok(nl_device_parse("cuda:0", &d), "parse cuda:0");
    h_check(d.type == NL_DEV_CUDA && d.index == 0, "cuda:0 parsed");
    h_expect_error(nl_device_parse("tpu", &d), NL_ERR_DEVICE, "unknown device name");
}

static void test_dtypes(void)
{
    float in[6] = {1.0f, -2.5f, 65504.0f, 1e-8f, INFINITY, 3.14159265f};
    uint16_t h[6];
    float back[6];
    nl_convert(h, NL_F16, in, NL_F32, 6);
    nl_convert(back, NL_F32, h, NL_F16, 6);
    h_check(back[0] == 1.0f && back[1] == -2.5f && back[2] == 65504.0f && isinf(back[4]), "f16 exact values round-trip");
    h_check(h[0] == 0x3c00 && h[1] == 0xc100 && h[2] == 0x7bff, "f16 bit patterns (1, -2.5, 65504)");
    h_check(fabsf(back[5] - 3.140625f) < 1e-6f, "pi in f16 is 3.140625 (got %g)", back[5]);
    h_check(nl_f32_to_f16(1e6f) == 0x7c00, "f16 overflow gives +Inf");
    h_check(nl_f16_to_f32(0x0001) == ldexpf(1, -24), "smallest f16 subnormal");
    h_check(nl_f32_to_bf16(1.0f) == 0x3f80 && nl_bf16_to_f32(0xc0a0) == -5.0f, "bf16 1.0 and -5.0");
    h_check(nl_bf16_to_f32(nl_f32_to_bf16(3.14159265f)) == 3.140625f, "bf16 rounds pi to nearest even");
    h_check(isnan(nl_bf16_to_f32(nl_f32_to_bf16(NAN))), "bf16 keeps NaN");

    float wide[5] = {3e9f, -3e9f, NAN, 300.0f, -1.5f};
    int32_t i32[5];
    uint8_t u8[5];
    nl_convert(i32, NL_I32, wide, NL_F32, 5);
    nl_convert(u8, NL_U8, wide, NL_F32, 5);
    h_check(i32[0] == INT32_MAX && i32[1] == INT32_MIN && i32[2] == 0 && i32[3] == 300 && i32[4] == -1,
            "f32 -> i32 saturates, NaN -> 0, truncates toward zero");
    h_check(u8[0] == 255 && u8[1] == 0 && u8[2] == 0 && u8[3] == 255 && u8[4] == 0, "f32 -> u8 saturates");

    int64_t ids[3] = {(1ll << 53) + 1, -7, 42};
    nl_tensor *t = NULL, *u = NULL;
    int64_t sh[1] = {3};
    if (h_ok(nl_tensor_from_host(&t, NL_I64, 1, sh, ids, NL_I64, NL_CPU_DEVICE), "i64 from host")) {
        int64_t out[3];
        nl_tensor_to_host(t, out, NL_I64);
        h_check(out[0] == ids[0] && out[1] == -7, "i64 values exact beyond 2^53");
        h_ok(nl_to(&u, t, NL_I32, NL_CPU_DEVICE), "i64 -> i32");
        double v;
        int64_t i1[1] = {1};
        nl_tensor_get(u, i1, &v);
        h_check(u->dtype == NL_I32 && v == -7, "i32 element is -7");
    }
    nl_tensor_release(u);
    nl_tensor_release(t);
}

static void test_views(void)
{
    float v[12];
    for (int i = 0; i < 12; i++) v[i] = (float)i;
    int64_t sh[2] = {3, 4};
    nl_tensor *x = h_from(2, sh, v), *tr = NULL, *nar = NULL, *c = NULL, *r = NULL, *ex = NULL;
    h_ok(nl_transpose(&tr, x, 0, 1), "transpose");
    h_check(tr->shape[0] == 4 && tr->shape[1] == 3 && !nl_tensor_is_contiguous(tr) && tr->storage == x->storage,
            "transpose is a non-contiguous view of the same storage");
    double ref_t[12];
    for (int i = 0; i < 4; i++) for (int j = 0; j < 3; j++) ref_t[i * 3 + j] = v[j * 4 + i];
    h_close("transposed values", tr, ref_t, 0, 0);
    h_ok(nl_contiguous(&c, tr), "contiguous of a transpose");
    h_check(c->storage != x->storage && nl_tensor_is_contiguous(c), "contiguous copies");
    h_close("contiguous values", c, ref_t, 0, 0);

    h_ok(nl_narrow(&nar, x, 1, 1, 2), "narrow columns 1..2");
    h_ok(nl_tensor_fill_(nar, -1.0), "fill the narrowed view");
    double ref_x[12];
    for (int i = 0; i < 12; i++) ref_x[i] = (i % 4 == 1 || i % 4 == 2) ? -1 : v[i];
    h_close("writes through a view reach the base", x, ref_x, 0, 0);

    int64_t flat[1] = {-1};
    h_ok(nl_reshape(&r, tr, 1, flat), "reshape a transpose to [-1]");
    h_check(r->shape[0] == 12 && r->storage != x->storage, "reshape of a non-contiguous view copies");
    nl_tensor_release(r);
    r = NULL;
    h_ok(nl_reshape(&r, x, 1, flat), "reshape contiguous");
    h_check(r->storage == x->storage, "reshape of a contiguous tensor is a view");
    int64_t bad[2] = {5, 3};
    nl_tensor *bad_r = NULL;
    h_expect_error(nl_reshape(&bad_r, x, 2, bad), NL_ERR_SHAPE, "reshape [3 4] to [5 3]");

    int64_t row[2] = {1, 4}, big[3] = {2, 3, 4};
    nl_tensor *rw = NULL;
    h_ok(nl_narrow(&rw, x, 0, 0, 1), "first row");
    h_ok(nl_expand(&ex, rw, 3, big), "expand [1 4] to [2 3 4]");
    h_check(ex->strides[0] == 0 && ex->strides[1] == 0 && ex->strides[2] == 1, "expand uses stride 0");
    int64_t bad_ex[2] = {2, 5};
    nl_tensor *e2 = NULL;
    h_expect_error(nl_expand(&e2, rw, 2, bad_ex), NL_ERR_SHAPE, "expand [1 4] to [2 5]");
    (void)row;

    nl_tensor *parts[3];
    int np = 0;
    h_ok(nl_split(parts, &np, 3, x, 1, 3), "split 4 columns by 3");
    h_check(np == 2 && parts[0]->shape[1] == 3 && parts[1]->shape[1] == 1, "pieces of 3 and 1 columns");
    for (int i = 0; i < np; i++) nl_tensor_release(parts[i]);

    nl_tensor *u = NULL, *sq = NULL;
    h_ok(nl_unsqueeze(&u, x, -1), "unsqueeze -1");
    h_check(u->ndim == 3 && u->shape[2] == 1, "[3 4 1]");
    h_ok(nl_squeeze(&sq, u, 2), "squeeze 2");
    h_check(nl_tensor_same_shape(sq, x), "back to [3 4]");
    h_expect_error(nl_squeeze(&e2, x, 0), NL_ERR_SHAPE, "squeeze a dim of size 3");
    int perm[2] = {0, 0};
    h_expect_error(nl_permute(&e2, x, perm), NL_ERR_ARG, "permute with a repeated dim");
    h_expect_error(nl_narrow(&e2, x, 0, 2, 5), NL_ERR_ARG, "narrow past the end");
    h_expect_error(nl_narrow(&e2, x, 3, 0, 1), NL_ERR_ARG, "narrow a dim that does not exist");

    /* copy_ across dtypes into a strided destination */
    nl_tensor *bf = NULL, *dst = NULL;
    h_ok(nl_to(&bf, c, NL_BF16, NL_CPU_DEVICE), "to bf16");
    h_ok(nl_tensor_zeros(&dst, NL_F32, 2, (int64_t[]){3, 4}, NL_CPU_DEVICE), "zeros [3 4]");
    nl_tensor *dtr = NULL;
    h_ok(nl_transpose(&dtr, dst, 0, 1), "transpose dst");
    h_ok(nl_tensor_copy_(dtr, bf), "copy bf16 into a transposed f32 view");
    double ref_d[12];
    for (int i = 0; i < 12; i++) ref_d[i] = v[i]; /* bf was copied before the fill */
    h_close("copy_ lands in the right places", dst, ref_d, 0, 0);

    nl_tensor *det = NULL;
    h_ok(nl_detach(&det, x), "detach");
    h_check(det->storage == x->storage && !det->requires_grad && !det->node, "detach shares storage, no history");

    nl_tensor *ts[] = {x, tr, nar, c, r, ex, rw, u, sq, bf, dst, dtr, det};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) nl_tensor_release(ts[i]);
}

static void test_rng(void)
{
    nl_rng a, b;
    nl_rng_seed(&a, 42);
    nl_rng_seed(&b, 42);
    int same = 1;
    double mean = 0, var = 0;
    for (int i = 0; i < 10000; i++) {
        float x = nl_rng_normal(&a), y = nl_rng_normal(&b);
        same &= x == y;
        mean += x;
        var += (double)x * x;
    }
    mean /= 10000;
    var = var / 10000 - mean * mean;
    h_check(same, "same seed, same stream");
    h_check(fabs(mean) < 0.05 && fabs(var - 1) < 0.05, "normal draws: mean %.3f var %.3f", mean, var);
    nl_rng_seed(&b, 43);
    h_check(nl_rng_next(&a) != nl_rng_next(&b), "different seeds differ");
    nl_rng c = a;
    h_check(nl_rng_next(&c) == nl_rng_next(&a), "a copied state replays the stream");
}

static void test_guard(void)
{
    void *p;
    size_t before = nl_host_guard_violations();
    if (!h_ok(nl_host_alloc(100, &p), "alloc 100 bytes")) return;
    ((unsigned char *)p)[100] = 0; /* one byte past the end: caught at free */
    nl_host_free(p, 100);
    h_check(nl_host_guard_violations() == before + 1, "a write past the end is detected");
    h_expect_guard_violations(before + 1);
    nl_mem_stats ms;
    nl_host_mem_stats(&ms);
    h_check(ms.peak_bytes >= ms.live_bytes && ms.n_allocs >= ms.n_frees, "memory accounting is consistent");
}

/* f(x) = permute(narrow(reshape(x))) — the engine over view ops only. */
static nl_status view_chain(nl_tensor **out, nl_tensor **in, void *ctx)
{
    (void)ctx;
    nl_tensor *r = NULL, *n = NULL;
    int64_t sh[3] = {2, 3, 5};
    int perm[3] = {2, 0, 1};
    nl_status st = nl_reshape(&r, in[0], 3, sh);
    if (st == NL_OK) st = nl_narrow(&n, r, 2, 1, 3);
    if (st == NL_OK) st = nl_permute(out, n, perm);
    nl_tensor_release(r);
    nl_tensor_release(n);
    return st;
}

static void test_autograd(void)
{
    int64_t sh[2] = {6, 5};
    nl_tensor *x = h_rand(2, sh, -1, 1, true);
    x->requires_grad = true;
    h_gradcheck("reshape/narrow/permute chain", view_chain, 1, &x, NULL, 1e-2, 1e-4, 1e-3, 64);

    nl_tensor *y = NULL;
    h_ok(view_chain(&y, &x, NULL), "forward again");
    int64_t shy[3] = {3, 2, 3};
    nl_tensor *g = NULL;
    nl_tensor_full(&g, NL_F32, 3, shy, 1.0, NL_CPU_DEVICE);
    h_ok(nl_backward(y, g, false), "first backward");
    h_expect_error(nl_backward(y, g, false), NL_ERR_STATE, "second backward through a freed graph");
    nl_tensor_release(y);
    y = NULL;

    bool was = nl_grad_set_enabled(false);
    h_ok(view_chain(&y, &x, NULL), "forward without grad");
    nl_grad_set_enabled(was);
    h_check(y && !y->requires_grad && !y->node, "no graph is recorded with grad mode off");
    h_expect_error(nl_backward(y, g, false), NL_ERR_STATE, "backward of a tensor without grad");
    nl_tensor_release(y);
    y = NULL;

    h_ok(view_chain(&y, &x, NULL), "forward");
    h_expect_error(nl_backward(y, NULL, false), NL_ERR_SHAPE, "implicit gradient of a non-scalar");
    nl_tensor *wrong = NULL;
    nl_tensor_zeros(&wrong, NL_F32, 2, sh, NL_CPU_DEVICE);
    h_expect_error(nl_backward(y, wrong, false), NL_ERR_SHAPE, "gradient of the wrong shape");

    /* accumulation over two backward calls doubles the gradient */
    nl_zero_grad(x);
    h_ok(nl_backward(y, g, true), "backward with retain_graph");
    double *g1 = h_values(x->grad);
    h_ok(nl_backward(y, g, false), "second backward through a retained graph");
    double *g2 = h_values(x->grad);
    int doubled = 1;
    for (int i = 0; i < 30; i++) doubled &= g2[i] == 2 * g1[i];
    h_check(doubled, "gradients accumulate across backward calls");
    free(g1);
    free(g2);
    nl_tensor_release(wrong);
    nl_tensor_release(y);
    nl_tensor_release(g);
    nl_tensor_release(x);
}

int main(void)
{
    h_init("tensor");
    test_creation();
    test_dtypes();
    test_views();
    test_rng();
    test_guard();
    test_autograd();
    return h_finish();
}
