/* reduce.c — front-ends and backward functions of the reductions (runtime/ops.h):
 * sum, mean, max, argmax over one dim, the all-element forms, and sum_to,
 * which every broadcasting backward uses. */
#include <math.h>

#include "common.h"

/* Output shape of a reduction of x over d. */
static int reduced_shape(const nl_tensor *x, int d, bool keepdim, int64_t *shape)
{
    int k = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (i != d) shape[k++] = x->shape[i];
        else if (keepdim) shape[k++] = 1;
    }
    return k;
}

/* Gradient g of the reduced result, broadcast back to x's shape (a copy). */
static nl_status expand_back(nl_tensor **out, nl_tensor *g, const nl_tensor *x, int d, bool keepdim)
{
    nl_tensor *u = NULL, *e = NULL;
    nl_status st = keepdim ? (u = nl_tensor_retain(g), NL_OK) : nl_unsqueeze(&u, g, d);
    if (st == NL_OK) st = nl_expand(&e, u, x->ndim, x->shape);
    if (st == NL_OK) st = nl_contiguous(out, e);
    nl_tensor_release(u);
    nl_tensor_release(e);
    return st;
}

static nl_status sum_backward(nl_node *n, nl_tensor *g, nl_tensor **gin)
{
    nl_tensor *x = n->in[0];
    int d = (int)n->p.i[0];
    if (n->op == NL_OP_SUM) return expand_back(&gin[0], g, x, d, n->p.i[1]);
    nl_tensor *e = NULL;
    NL_TRY(expand_back(&e, g, x, d, n->p.i[1]));
    nl_status st = nl_scale(&gin[0], e, 1.0 / (double)x->shape[d], 0.0);
    nl_tensor_release(e);
    return st;
}

static nl_status max_backward(nl_node *n, nl_tensor *g, nl_tensor **gin)
{
    nl_tensor *x = n->in[0], *gx = NULL;
    NL_TRY(nl_tensor_empty(&gx, NL_F32, x->ndim, x->shape, nl_tensor_device(x)));
    nl_tensor *in[2] = {g, n->saved[0]};
    nl_status st = nl_run_contiguous(NL_OP_MAX_BWD, 2, in, 1, &gx, &n->p);
    if (st != NL_OK) { nl_tensor_release(gx); return st; }
    gin[0] = gx;
    return NL_OK;
}

/* Shared front-end: op is SUM, MEAN, MAX or ARGMAX. */
static nl_status reduce(nl_tensor **out, nl_op op, nl_tensor *x, int64_t dim, bool keepdim)
{
    const char *who = nl_op_get_info(op)->name;
    NL_TRY(nl_check_f32(who, "x", x));
    int d;
    nl_status st = nl_norm_dim(dim, x->ndim, &d);
    if (st != NL_OK) return nl_error_prefix(st, who);
    if ((op == NL_OP_MAX || op == NL_OP_ARGMAX) && x->shape[d] == 0)
        return nl_error_set(NL_ERR_SHAPE, "%s: cannot take the max of an empty dim %d", who, d);
    int64_t shape[NL_MAX_DIMS];
    int nd = reduced_shape(x, d, keepdim, shape);
    nl_tensor *vals = NULL, *idx = NULL, *outs[2];
    int n_out = 0;
    if (op != NL_OP_ARGMAX) st = nl_tensor_empty(&vals, NL_F32, nd, shape, nl_tensor_device(x));
    if (st == NL_OK && (op == NL_OP_MAX || op == NL_OP_ARGMAX))
        st = nl_tensor_empty(&idx, NL_I64, nd, shape, nl_tensor_device(x));
    if (vals) outs[n_out++] = vals;
    if (idx) outs[n_out++] = idx;
    nl_op_params p = {.i = {d, keepdim}};
    if (st == NL_OK) st = nl_run_contiguous(op, 1, &x, n_out, outs, &p);
    if (st == NL_OK && op == NL_OP_MAX) st = nl_autograd_record(vals, op, 1, &x, 1, &idx, &p, max_backward);
    else if (st == NL_OK && op != NL_OP_ARGMAX) st = nl_autograd_record(vals, op, 1, &x, 0, NULL, &p, sum_backward);
    if (st != NL_OK) { nl_tensor_release(vals); nl_tensor_release(idx); return st; }
    if (op == NL_OP_ARGMAX) { *out = idx; return NL_OK; }
    nl_tensor_release(idx);
    *out = vals;
    return NL_OK;
}

nl_status nl_sum(nl_tensor **out, nl_tensor *x, int64_t dim, bool keepdim) { return reduce(out, NL_OP_SUM, x, dim, keepdim); }
nl_status nl_mean(nl_tensor **out, nl_tensor *x, int64_t dim, bool keepdim) { return reduce(out, NL_OP_MEAN, x, dim, keepdim); }
nl_status nl_max(nl_tensor **out, nl_tensor *x, int64_t dim, bool keepdim) { return reduce(out, NL_OP_MAX, x, dim, keepdim); }
nl_status nl_argmax(nl_tensor **out, nl_tensor *x, int64_t dim, bool keepdim) { return reduce(out, NL_OP_ARGMAX, x, dim, keepdim); }

/* Reduce over all elements: flatten, then reduce dim 0 without keepdim. */
static nl_status reduce_all(nl_tensor **out, nl_op op, nl_tensor *x)
{
    int64_t flat[1] = {-1};
    nl_tensor *f = NULL;
    if (x->ndim == 0) {
        NL_TRY(nl_reshape(&f, x, 1, (int64_t[]){1}));
    } else {
        NL_TRY(nl_reshape(&f, x, 1, flat));
    }
    nl_status st = reduce(out, op, f, 0, false);
    nl_tensor_release(f);
    return st;
}

nl_status nl_sum_all(nl_tensor **out, nl_tensor *x) { return reduce_all(out, NL_OP_SUM, x); }
nl_status nl_mean_all(nl_tensor **out, nl_tensor *x) { return reduce_all(out, NL_OP_MEAN, x); }

static nl_status sum_to_backward(nl_node *n, nl_tensor *g, nl_tensor **gin)
{
    nl_tensor *x = n->in[0], *e = NULL;
    NL_TRY(nl_expand(&e, g, x->ndim, x->shape));
    nl_status st = nl_contiguous(&gin[0], e);
    nl_tensor_release(e);
    return st;
}

nl_status nl_sum_to(nl_tensor **out, nl_tensor *x, int ndim, const int64_t *shape)
{
    char a[128], b[128];
    NL_TRY(nl_check_f32("sum-to", "x", x));
    bool ok = ndim <= x->ndim;
    for (int i = 0; ok && i < ndim; i++) {
        int64_t want = shape[i], have = x->shape[x->ndim - ndim + i];
        ok = want == have || want == 1;
    }
    if (!ok)
        return nl_error_set(NL_ERR_SHAPE, "sum-to: %s is not a broadcast of %s", nl_shape_str(x, a, sizeof a),
                            nl_dims_str(ndim, shape, b, sizeof b));
    if (ndim == x->ndim) {
        bool same = true;
        for (int i = 0; i < ndim; i++) same = same && shape[i] == x->shape[i];
        if (same) { *out = nl_tensor_retain(x); return NL_OK; }
    }
    nl_tensor *r;
    NL_TRY(nl_tensor_empty(&r, NL_F32, ndim, shape, nl_tensor_device(x)));
    nl_status st = nl_run_contiguous(NL_OP_SUM_TO, 1, &x, 1, &r, NULL);
    if (st == NL_OK) st = nl_autograd_record(r, NL_OP_SUM_TO, 1, &x, 0, NULL, NULL, sum_to_backward);
    if (st != NL_OK) { nl_tensor_release(r); return st; }
    *out = r;
    return NL_OK;
}
