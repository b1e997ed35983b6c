/* elementwise.c — front-ends and backward functions of the elementwise,
 * scale, unary and selection ops (runtime/ops.h). Inputs are expanded to
 * the broadcast shape as stride-0 views, so kernels never see copies of
 * broadcast operands; gradients of broadcast inputs are reduced back with
 * nl_sum_to. */
#include <math.h>

#include "common.h"

/* Expand each of n tensors to the common broadcast shape (views, no grad). */
static nl_status broadcast_all(const char *who, int n, nl_tensor *const *in, nl_tensor **ex, int *nd, int64_t *shape)
{
    *nd = 0;
    nl_status st = NL_OK;
    for (int i = 0; i < n && st == NL_OK; i++) st = nl_broadcast_shapes(*nd, shape, in[i]->ndim, in[i]->shape, nd, shape);
    if (st != NL_OK) return nl_error_prefix(st, who);
    bool was = nl_grad_set_enabled(false);
    for (int i = 0; i < n && st == NL_OK; i++) st = nl_expand(&ex[i], in[i], *nd, shape);
    nl_grad_set_enabled(was);
    if (st != NL_OK)
        for (int i = 0; i < n; i++) { nl_tensor_release(ex[i]); ex[i] = NULL; }
    return st;
}

/* Run a broadcasting kernel over n inputs into a fresh f32 tensor. */
static nl_status run_broadcast(nl_tensor **out, nl_op op, int n, nl_tensor *const *in, const nl_op_params *p)
{
    const char *who = nl_op_get_info(op)->name;
    nl_tensor *ex[3] = {0}, *r = NULL;
    int nd;
    int64_t shape[NL_MAX_DIMS];
    NL_TRY(broadcast_all(who, n, in, ex, &nd, shape));
    nl_status st = nl_tensor_empty(&r, NL_F32, nd, shape, nl_tensor_device(in[n - 1]));
    if (st == NL_OK) {
        nl_op_args a = {.op = op, .n_in = n, .in = ex, .n_out = 1, .out = {r}};
        if (p) a.p = *p;
        st = nl_dispatch(&a);
    }
    for (int i = 0; i < n; i++) nl_tensor_release(ex[i]);
    if (st != NL_OK) { nl_tensor_release(r); return st; }
    *out = r;
    return NL_OK;
}

/* Reduce a gradient to input i's shape; g is consumed. */
static nl_status reduce_to(nl_tensor **gin, nl_tensor *g, const nl_tensor *x)
{
    nl_status st = nl_sum_to(gin, g, x->ndim, x->shape);
    nl_tensor_release(g);
    return st;
}

/* ---- binary -------------------------------------------------------------- */

static nl_status binary_backward(nl_node *n, nl_tensor *g, nl_tensor **gin)
{
    nl_tensor *a = n->in[0], *b = n->in[1], *t = NULL, *u = NULL;
    nl_status st = NL_OK;
    switch (n->op) {
    case NL_OP_ADD:
    case NL_OP_SUB:
        if (a->requires_grad) st = nl_sum_to(&gin[0], g, a->ndim, a->shape);
        if (st == NL_OK && b->requires_grad) {
            if (n->op == NL_OP_ADD) return nl_sum_to(&gin[1], g, b->ndim, b->shape);
            st = nl_scale(&t, g, -1.0, 0.0);
            if (st == NL_OK) st = reduce_to(&gin[1], t, b);
        }
        return st;
    case NL_OP_MUL:
        if (a->requires_grad && (st = nl_mul(&t, g, b)) == NL_OK) st = reduce_to(&gin[0], t, a);
        if (st == NL_OK && b->requires_grad && (st = nl_mul(&u, g, a)) == NL_OK) st = reduce_to(&gin[1], u, b);
        return st;
    default: /* DIV: ga = g / b, gb = -g * a / b^2 */
        if (a->requires_grad && (st = nl_div(&t, g, b)) == NL_OK) st = reduce_to(&gin[0], t, a);
        if (st == NL_OK && b->requires_grad) {
            nl_tensor *q = NULL, *q2 = NULL;
            st = nl_div(&q, a, b);            /* a / b */
            if (st == NL_OK) st = nl_div(&q2, q, b); /* a / b^2 */
            if (st == NL_OK) st = nl_mul(&u, g, q2);
            nl_tensor_release(q);
            nl_tensor_release(q2);
            if (st == NL_OK) {
                nl_tensor *neg = NULL;
                st = nl_scale(&neg, u, -1.0, 0.0);
                nl_tensor_release(u);
                if (st == NL_OK) st = reduce_to(&gin[1], neg, b);
            }
        }
        return st;
    }
}

static nl_status binary(nl_tensor **out, nl_op op, nl_tensor *a, nl_tensor *b)
{
    const char *who = nl_op_get_info(op)->name;
    NL_TRY(nl_check_f32(who, "a", a));
    NL_TRY(nl_check_f32(who, "b", b));
    NL_TRY(nl_check_same_device(who, a, b));
    nl_tensor *in[2] = {a, b}, *r;
    NL_TRY(run_broadcast(&r, op, 2, in, NULL));
    nl_status st = nl_autograd_record(r, op, 2, in, 0, NULL, NULL, binary_backward);
    if (st != NL_OK) { nl_tensor_release(r); return st; }
    *out = r;
    return NL_OK;
}

nl_status nl_add(nl_tensor **out, nl_tensor *a, nl_tensor *b) { return binary(out, NL_OP_ADD, a, b); }
nl_status nl_sub(nl_tensor **out, nl_tensor *a, nl_tensor *b) { return binary(out, NL_OP_SUB, a, b); }
nl_status nl_mul(nl_tensor **out, nl_tensor *a, nl_tensor *b) { return binary(out, NL_OP_MUL, a, b); }
nl_status nl_div(nl_tensor **out, nl_tensor *a, nl_tensor *b) { return binary(out, NL_OP_DIV, a, b); }

/* ---- scale and unary ------------------------------------------------------ */

static nl_status scale_backward(nl_node *n, nl_tensor *g, nl_tensor **gin)
{
    return nl_scale(&gin[0], g, n->p.f[0], 0.0);
}

/* One kernel over a contiguous copy of x into a fresh f32 tensor. */
static nl_status run_map(nl_tensor **out, nl_op op, int n, nl_tensor *const *in, const nl_op_params *p)
{
    nl_tensor *r;
    NL_TRY(nl_tensor_empty(&r, NL_F32, in[0]->ndim, in[0]->shape, nl_tensor_device(in[0])));
    nl_status st = nl_run_contiguous(op, n, in, 1, &r, p);
    if (st != NL_OK) { nl_tensor_release(r); return st; }
    *out = r;
    return NL_OK;
}

nl_status nl_scale(nl_tensor **out, nl_tensor *x, double s, double b)
{
    NL_TRY(nl_check_f32("scale", "x", x));
    nl_op_params p = {.f = {s, b}};
    nl_tensor *r;
    NL_TRY(run_map(&r, NL_OP_SCALE, 1, &x, &p));
    nl_status st = nl_autograd_record(r, NL_OP_SCALE, 1, &x, 0, NULL, &p, scale_backward);
    if (st != NL_OK) { nl_tensor_release(r); return st; }
    *out = r;
    return NL_OK;
}

static nl_status unary_backward(nl_node *n, nl_tensor *g, nl_tensor **gin)
{
    nl_tensor *in[2] = {g, n->in[0]};
    nl_op_params p = {.i = {n->op}};
    return run_map(&gin[0], NL_OP_UNARY_BWD, 2, in, &p);
}

nl_status nl_unary(nl_tensor **out, nl_op op, nl_tensor *x)
{
    if (op < NL_OP_EXP || op > NL_OP_QUICK_GELU)
        return nl_error_set(NL_ERR_ARG, "unary: %s is not a unary op", nl_op_get_info(op) ? nl_op_get_info(op)->name : "?");
    const char *who = nl_op_get_info(op)->name;
    NL_TRY(nl_check_f32(who, "x", x));
    nl_tensor *r;
    NL_TRY(run_map(&r, op, 1, &x, NULL));
    nl_status st = nl_autograd_record(r, op, 1, &x, 0, NULL, NULL, unary_backward);
    if (st != NL_OK) { nl_tensor_release(r); return st; }
    *out = r;
    return NL_OK;
}

static nl_status swiglu_backward(nl_node *n, nl_tensor *g, nl_tensor **gin)
{
    nl_tensor *in[3] = {g, n->in[0], n->in[1]}, *d[2] = {NULL, NULL};
    nl_status st = nl_tensor_empty(&d[0], NL_F32, g->ndim, g->shape, nl_tensor_device(g));
    if (st == NL_OK) st = nl_tensor_empty(&d[1], NL_F32, g->ndim, g->shape, nl_tensor_device(g));
    if (st == NL_OK) st = nl_run_contiguous(NL_OP_SWIGLU_BWD, 3, in, 2, d, NULL);
    if (st != NL_OK) {
        nl_tensor_release(d[0]);
        nl_tensor_release(d[1]);
        return st;
    }
    gin[0] = d[0], gin[1] = d[1];
    return NL_OK;
}

nl_status nl_swiglu(nl_tensor **out, nl_tensor *gate, nl_tensor *up)
{
    char a[96], b[96];
    NL_TRY(nl_check_f32("swiglu", "gate", gate));
    NL_TRY(nl_check_f32("swiglu", "up", up));
    NL_TRY(nl_check_same_device("swiglu", gate, up));
    if (!nl_tensor_same_shape(gate, up))
        return nl_error_set(NL_ERR_SHAPE, "swiglu: gate is %s, up is %s (want the same shape)",
                            nl_shape_str(gate, a, sizeof a), nl_shape_str(up, b, sizeof b));
    nl_tensor *in[2] = {gate, up}, *r;
    NL_TRY(run_map(&r, NL_OP_SWIGLU, 2, in, NULL));
    nl_status st = nl_autograd_record(r, NL_OP_SWIGLU, 2, in, 0, NULL, NULL, swiglu_backward);
    if (st != NL_OK) { nl_tensor_release(r); return st; }
    *out = r;
    return NL_OK;
}

nl_status nl_exp(nl_tensor **out, nl_tensor *x) { return nl_unary(out, NL_OP_EXP, x); }
nl_status nl_log(nl_tensor **out, nl_tensor *x) { return nl_unary(out, NL_OP_LOG, x); }
nl_status nl_sqrt(nl_tensor **out, nl_tensor *x) { return nl_unary(out, NL_OP_SQRT, x); }
nl_status nl_rsqrt(nl_tensor **out, nl_tensor *x) { return nl_unary(out, NL_OP_RSQRT, x); }
nl_status nl_tanh(nl_tensor **out, nl_tensor *x) { return nl_unary(out, NL_OP_TANH, x); }
nl_status nl_sigmoid(nl_tensor **out, nl_tensor *x) { return nl_unary(out, NL_OP_SIGMOID, x); }
nl_status nl_relu(nl_tensor **out, nl_tensor *x) { return nl_unary(out, NL_OP_RELU, x); }
nl_status nl_silu(nl_tensor **out, nl_tensor *x) { return nl_unary(out, NL_OP_SILU, x); }
nl_status nl_gelu(nl_tensor **out, nl_tensor *x) { return nl_unary(out, NL_OP_GELU, x); }
nl_status nl_gelu_tanh(nl_tensor **out, nl_tensor *x) { return nl_unary(out, NL_OP_GELU_TANH, x); }
nl_status nl_quick_gelu(nl_tensor **out, nl_tensor *x) { return nl_unary(out, NL_OP_QUICK_GELU, x); }

/* ---- selection ----------------------------------------------------------- */

static nl_status check_mask(const char *who, const char *what, const nl_tensor *m)
{
    if (m->dtype == NL_U8) return NL_OK;
    return nl_error_set(NL_ERR_DTYPE, "%s: %s must be u8 (1 = true), got %s", who, what, nl_dtype_name(m->dtype));
}

/* ga = sum_to(where(cond, g, 0)), gb = sum_to(where(cond, 0, g)) */
static nl_status where_backward(nl_node *n, nl_tensor *g, nl_tensor **gin)
{
    nl_tensor *zero = NULL;
    NL_TRY(nl_tensor_scalar(&zero, 0.0, NL_F32, nl_tensor_device(g)));
    nl_status st = NL_OK;
    for (int i = 1; i <= 2 && st == NL_OK; i++) {
        if (!n->in[i]->requires_grad) continue;
        nl_tensor *t = NULL;
        st = i == 1 ? nl_where(&t, n->in[0], g, zero) : nl_where(&t, n->in[0], zero, g);
        if (st == NL_OK) st = reduce_to(&gin[i], t, n->in[i]);
    }
    nl_tensor_release(zero);
    return st;
}

nl_status nl_where(nl_tensor **out, nl_tensor *cond, nl_tensor *a, nl_tensor *b)
{
    NL_TRY(check_mask("where", "cond", cond));
    NL_TRY(nl_check_f32("where", "a", a));
    NL_TRY(nl_check_f32("where", "b", b));
    NL_TRY(nl_check_same_device("where", cond, a));
    NL_TRY(nl_check_same_device("where", a, b));
    nl_tensor *in[3] = {cond, a, b}, *r;
    NL_TRY(run_broadcast(&r, NL_OP_WHERE, 3, in, NULL));
    nl_status st = nl_autograd_record(r, NL_OP_WHERE, 3, in, 0, NULL, NULL, where_backward);
    if (st != NL_OK) { nl_tensor_release(r); return st; }
    *out = r;
    return NL_OK;
}

static nl_status masked_fill_backward(nl_node *n, nl_tensor *g, nl_tensor **gin)
{
    return nl_masked_fill(&gin[0], g, n->in[1], 0.0);
}

nl_status nl_masked_fill(nl_tensor **out, nl_tensor *x, nl_tensor *mask, double value)
{
    NL_TRY(nl_check_f32("masked-fill", "x", x));
    NL_TRY(check_mask("masked-fill", "mask", mask));
    NL_TRY(nl_check_same_device("masked-fill", x, mask));
    nl_tensor *m = NULL, *xc = NULL, *r = NULL;
    bool was = nl_grad_set_enabled(false);
    nl_status st = nl_expand(&m, mask, x->ndim, x->shape);
    if (st != NL_OK) {
        char a[96], b[96];
        st = nl_error_set(NL_ERR_SHAPE, "masked-fill: mask %s does not broadcast to x %s",
                          nl_shape_str(mask, a, sizeof a), nl_shape_str(x, b, sizeof b));
    }
    if (st == NL_OK) st = nl_contiguous(&xc, x);
    nl_grad_set_enabled(was);
    if (st == NL_OK) st = nl_tensor_empty(&r, NL_F32, x->ndim, x->shape, nl_tensor_device(x));
    if (st == NL_OK) {
        nl_tensor *in[2] = {xc, m};
        nl_op_args a = {.op = NL_OP_MASKED_FILL, .n_in = 2, .in = in, .n_out = 1, .out = {r}, .p = {.f = {value}}};
        st = nl_dispatch(&a);
    }
    nl_tensor_release(m);
    nl_tensor_release(xc);
    if (st == NL_OK) {
        nl_tensor *in[2] = {x, mask};
        nl_op_params p = {.f = {value}};
        st = nl_autograd_record(r, NL_OP_MASKED_FILL, 2, in, 0, NULL, &p, masked_fill_backward);
    }
    if (st != NL_OK) { nl_tensor_release(r); return st; }
    *out = r;
    return NL_OK;
}

/* ---- dropout ------------------------------------------------------------- */

static nl_status dropout_backward(nl_node *n, nl_tensor *g, nl_tensor **gin)
{
    nl_tensor *in[2] = {g, n->saved[0]};
    return run_map(&gin[0], NL_OP_DROPOUT, 2, in, &n->p);
}

/* Dropout with masks from rng (row_keyed: from the streams of seed, one per
 * row of the first dim, starting at row0). */
static nl_status dropout(nl_tensor **out, nl_tensor *x, double p, nl_rng *rng, bool row_keyed, uint64_t seed,
                         int64_t row0)
{
    NL_TRY(nl_check_f32("dropout", "x", x));
    if (!(p >= 0 && p < 1)) return nl_error_set(NL_ERR_ARG, "dropout: p must be in [0, 1), got %g", p);
    if (row_keyed && x->ndim < 1) return nl_error_set(NL_ERR_SHAPE, "dropout rows: x needs a row dim, got a scalar");
    if (p == 0) return nl_clone(out, x);
    if (!rng) rng = nl_rng_global();
    int64_t n = nl_tensor_numel(x), rows = row_keyed ? x->shape[0] : 1, per = rows ? n / rows : 0;
    nl_tensor *keep_host = NULL, *keep = NULL, *r = NULL;
    nl_status st = nl_tensor_empty(&keep_host, NL_U8, x->ndim, x->shape, NL_CPU_DEVICE);
    if (st == NL_OK) {
        uint8_t *k = nl_tensor_host_ptr(keep_host);
        for (int64_t b = 0; b < rows; b++) {
            nl_rng rr;
            if (row_keyed) nl_rng_seed(&rr, nl_rng_mix(seed, (uint64_t)(row0 + b))), rng = &rr;
            for (int64_t i = b * per; i < (b + 1) * per; i++) k[i] = nl_rng_uniform(rng) >= p; /* element order: replayable */
        }
        st = nl_to(&keep, keep_host, NL_U8, nl_tensor_device(x));
    }
    nl_op_params prm = {.f = {1.0 / (1.0 - p)}};
    if (st == NL_OK) {
        nl_tensor *in[2] = {x, keep};
        st = run_map(&r, NL_OP_DROPOUT, 2, in, &prm);
    }
    if (st == NL_OK) st = nl_autograd_record(r, NL_OP_DROPOUT, 1, &x, 1, &keep, &prm, dropout_backward);
    nl_tensor_release(keep_host);
    nl_tensor_release(keep);
    if (st != NL_OK) { nl_tensor_release(r); return st; }
    *out = r;
    return NL_OK;
}

nl_status nl_dropout(nl_tensor **out, nl_tensor *x, double p, nl_rng *rng)
{
    return dropout(out, x, p, rng, false, 0, 0);
}

nl_status nl_dropout_rows(nl_tensor **out, nl_tensor *x, double p, uint64_t seed, int64_t row0)
{
    return dropout(out, x, p, NULL, true, seed, row0);
}
