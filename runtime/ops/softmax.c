/* softmax.c — front-ends and backward of softmax and log-softmax over any dim
 * (runtime/ops.h). The kernels work on the last dim of contiguous f32; the
 * front-end swaps the wanted dim with the last one (transpose + copy) and
 * swaps the result back. Depends on the kernel contract, not on kernels. */
#include "common.h"

/* View of t with dim d swapped with the last dim (its own inverse); a new
 * reference to t when d is already last. */
static nl_status swap_last(nl_tensor **out, nl_tensor *t, int d)
{
    if (t->ndim == 0 || d == t->ndim - 1) { *out = nl_tensor_retain(t); return NL_OK; }
    return nl_transpose(out, t, d, -1);
}

/* Run `op` on the last dim of the (possibly non-contiguous) view `in0`, with
 * an optional second input of the same shape; returns the contiguous result. */
static nl_status run_last_dim(nl_tensor **out, nl_op op, nl_tensor *in0, nl_tensor *in1)
{
    nl_tensor *r;
    NL_TRY(nl_tensor_empty(&r, NL_F32, in0->ndim, in0->shape, nl_tensor_device(in0)));
    nl_tensor *ins[2] = {in0, in1};
    nl_status st = nl_run_contiguous(op, in1 ? 2 : 1, ins, 1, &r, NULL);
    if (st != NL_OK) { nl_tensor_release(r); return st; }
    *out = r;
    return NL_OK;
}

/* y = f(x) along d, contiguous; *ylast receives the result in swapped layout. */
static nl_status forward_along(nl_tensor **y, nl_tensor **ylast, nl_op op, nl_tensor *x, int d)
{
    nl_tensor *xs = NULL, *ys = NULL;
    nl_status st = swap_last(&xs, x, d);
    if (st == NL_OK) st = run_last_dim(ylast, op, xs, NULL);
    if (st == NL_OK) st = swap_last(&ys, *ylast, d);
    if (st == NL_OK) st = nl_contiguous(y, ys);
    if (st != NL_OK && *ylast) { nl_tensor_release(*ylast); *ylast = NULL; }
    nl_tensor_release(xs);
    nl_tensor_release(ys);
    return st;
}

/* Shared backward: gx = bwd_op(g, y) along the dim stored in p.i[0];
 * saved[0] is the forward result in swapped (last-dim, contiguous) layout. */
static nl_status backward_along(nl_node *n, nl_tensor *g, nl_tensor **gin, nl_op bwd_op)
{
    int d = (int)n->p.i[0];
    nl_tensor *gs = NULL, *gxs = NULL, *gx = NULL;
    nl_status st = swap_last(&gs, g, d);
    if (st == NL_OK) st = run_last_dim(&gxs, bwd_op, gs, n->saved[0]);
    if (st == NL_OK) st = swap_last(&gx, gxs, d);
    if (st == NL_OK) st = nl_contiguous(&gin[0], gx);
    nl_tensor_release(gs);
    nl_tensor_release(gxs);
    nl_tensor_release(gx);
    return st;
}

static nl_status softmax_backward(nl_node *n, nl_tensor *g, nl_tensor **gin)
{
    return backward_along(n, g, gin, NL_OP_SOFTMAX_BWD);
}

static nl_status log_softmax_backward(nl_node *n, nl_tensor *g, nl_tensor **gin)
{
    return backward_along(n, g, gin, NL_OP_LOG_SOFTMAX_BWD);
}

static nl_status softmax_family(nl_tensor **out, nl_tensor *x, int64_t dim, nl_op op, nl_backward_fn bw)
{
    const char *who = nl_op_get_info(op)->name;
    NL_TRY(nl_check_f32(who, "x", x));
    int d = 0;
    if (x->ndim > 0 || (dim != 0 && dim != -1)) {
        nl_status st = nl_norm_dim(dim, x->ndim, &d);
        if (st != NL_OK) return nl_error_prefix(st, who);
    }
    nl_tensor *y = NULL, *ylast = NULL;
    bool was = nl_grad_set_enabled(false);
    nl_status st = forward_along(&y, &ylast, op, x, d);
    nl_grad_set_enabled(was);
    if (st == NL_OK) {
        nl_op_params p = {{d}};
        st = nl_autograd_record(y, op, 1, &x, 1, &ylast, &p, bw);
    }
    nl_tensor_release(ylast);
    if (st != NL_OK) { nl_tensor_release(y); return st; }
    *out = y;
    return NL_OK;
}

/* softmax(x)_i = exp(x_i - max) / sum_j exp(x_j - max) along dim (negative
 * counts from the end). As in PyTorch, a row whose entries are all -inf (a
 * fully masked row) gives NaN, and so does a row holding NaN or +inf. */
nl_status nl_softmax(nl_tensor **out, nl_tensor *x, int64_t dim)
{
    return softmax_family(out, x, dim, NL_OP_SOFTMAX, softmax_backward);
}

/* log_softmax(x)_i = (x_i - max) - log(sum_j exp(x_j - max)) along dim; an
 * all -inf row gives NaN, as in PyTorch. */
nl_status nl_log_softmax(nl_tensor **out, nl_tensor *x, int64_t dim)
{
    return softmax_family(out, x, dim, NL_OP_LOG_SOFTMAX, log_softmax_backward);
}
