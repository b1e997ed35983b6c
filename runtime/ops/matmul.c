/* matmul.c — front-ends and backward of the linear-algebra ops (runtime/ops.h):
 * nl_matmul (batched, broadcasting, transposes without copies) and nl_linear
 * (composed from matmul and add, so its gradients come from theirs).
 * Depends on the MATMUL kernel contract (kernels/cpu/matmul.c), not on BLAS. */
#include <limits.h>

#include "../../kernels/matrix.h"
#include "common.h"

typedef struct mm_dims {
    int64_t M, N, K;
    int nb;                        /* number of broadcast batch dims */
    int64_t batch[NL_MAX_DIMS];
} mm_dims;

static nl_status check_operand(const char *what, const nl_tensor *t)
{
    NL_TRY(nl_check_f32("matmul", what, t));
    if (t->ndim >= 2) return NL_OK;
    char s[96];
    return nl_error_set(NL_ERR_SHAPE, "matmul: %s must have at least 2 dims, got %s HINT: unsqueeze a vector to [1 K] or [K 1]",
                        what, nl_shape_str(t, s, sizeof s));
}

/* Validate a, b and compute the result dims. */
static nl_status mm_check(const nl_tensor *a, const nl_tensor *b, bool ta, bool tb, mm_dims *d)
{
    NL_TRY(check_operand("a", a));
    NL_TRY(check_operand("b", b));
    NL_TRY(nl_check_same_device("matmul", a, b));
    char sa[128], sb[128];
    int na = a->ndim, nb = b->ndim;
    int64_t ka = ta ? a->shape[na - 2] : a->shape[na - 1];
    int64_t kb = tb ? b->shape[nb - 1] : b->shape[nb - 2];
    if (ka != kb)
        return nl_error_set(NL_ERR_SHAPE, "matmul: inner dims differ: a is %s%s, b is %s%s (%lld vs %lld)",
                            nl_shape_str(a, sa, sizeof sa), ta ? " (transposed)" : "",
                            nl_shape_str(b, sb, sizeof sb), tb ? " (transposed)" : "", (long long)ka, (long long)kb);
    d->M = ta ? a->shape[na - 1] : a->shape[na - 2];
    d->N = tb ? b->shape[nb - 2] : b->shape[nb - 1];
    d->K = ka;
    if (d->M > INT_MAX || d->N > INT_MAX || d->K > INT_MAX)
        return nl_error_set(NL_ERR_ARG, "matmul: a is %s, b is %s: a matrix dim exceeds %d",
                            nl_shape_str(a, sa, sizeof sa), nl_shape_str(b, sb, sizeof sb), INT_MAX);
    nl_status st = nl_broadcast_shapes(na - 2, a->shape, nb - 2, b->shape, &d->nb, d->batch);
    if (st != NL_OK)
        return nl_error_set(st, "matmul: batch dims do not broadcast: a is %s, b is %s",
                            nl_shape_str(a, sa, sizeof sa), nl_shape_str(b, sb, sizeof sb));
    if (d->nb + 2 > NL_MAX_DIMS) return nl_error_set(NL_ERR_SHAPE, "matmul: result has more than %d dims", NL_MAX_DIMS);
    return NL_OK;
}

/* t as the kernel wants it: BLAS-ready last dims, batch dims expanded to d. */
static nl_status kernel_operand(nl_tensor **out, nl_tensor *t, const mm_dims *d)
{
    nl_tensor *c;
    if (nl_mat_layout(t, &(int){0}) >= 0) c = nl_tensor_retain(t);
    else NL_TRY(nl_contiguous(&c, t));
    int64_t shape[NL_MAX_DIMS];
    for (int i = 0; i < d->nb; i++) shape[i] = d->batch[i];
    shape[d->nb] = t->shape[t->ndim - 2];
    shape[d->nb + 1] = t->shape[t->ndim - 1];
    nl_status st = nl_expand(out, c, d->nb + 2, shape);
    nl_tensor_release(c);
    return st;
}

/* out [..., M, N] = op(a) @ op(b) without recording autograd. */
static nl_status mm_forward(nl_tensor **out, nl_tensor *a, nl_tensor *b, bool ta, bool tb, const mm_dims *d)
{
    int64_t shape[NL_MAX_DIMS];
    for (int i = 0; i < d->nb; i++) shape[i] = d->batch[i];
    shape[d->nb] = d->M;
    shape[d->nb + 1] = d->N;
    nl_tensor *r = NULL, *ka = NULL, *kb = NULL;
    bool was = nl_grad_set_enabled(false);
    nl_status st = nl_tensor_empty(&r, NL_F32, d->nb + 2, shape, nl_tensor_device(a));
    if (st == NL_OK) st = kernel_operand(&ka, a, d);
    if (st == NL_OK) st = kernel_operand(&kb, b, d);
    if (st == NL_OK) {
        nl_tensor *ins[2] = {ka, kb};
        nl_op_args args = {.op = NL_OP_MATMUL, .n_in = 2, .in = ins, .n_out = 1, .out = {r}};
        args.p.i[0] = ta;
        args.p.i[1] = tb;
        st = nl_dispatch(&args);
    }
    nl_grad_set_enabled(was);
    nl_tensor_release(ka);
    nl_tensor_release(kb);
    if (st != NL_OK) { nl_tensor_release(r); return st; }
    *out = r;
    return NL_OK;
}

/* g (broadcast batch shape) summed back to the shape of x. */
static nl_status reduce_to(nl_tensor **out, nl_tensor *g, const nl_tensor *x)
{
    if (nl_tensor_same_shape(g, x)) { *out = nl_tensor_retain(g); return NL_OK; }
    return nl_sum_to(out, g, x->ndim, x->shape);
}

/* One input gradient: r = op(p) @ op(q) for the flags given, reduced to x. */
static nl_status grad_term(nl_tensor **out, nl_tensor *p, nl_tensor *q, bool tp, bool tq, const nl_tensor *x)
{
    nl_tensor *r;
    NL_TRY(nl_matmul(&r, p, q, tp, tq));
    nl_status st = reduce_to(out, r, x);
    nl_tensor_release(r);
    return st;
}

/* With C = op(A) op(B): d op(A) = G op(B)^T and d op(B) = op(A)^T G;
 * a transposed operand takes the transpose of its term. */
static nl_status matmul_backward(nl_node *n, nl_tensor *g, nl_tensor **gin)
{
    nl_tensor *a = n->in[0], *b = n->in[1];
    bool ta = n->p.i[0], tb = n->p.i[1];
    if (a->requires_grad) {
        if (!ta) NL_TRY(grad_term(&gin[0], g, b, false, !tb, a));
        else NL_TRY(grad_term(&gin[0], b, g, tb, true, a));
    }
    if (b->requires_grad) {
        if (!tb) NL_TRY(grad_term(&gin[1], a, g, !ta, false, b));
        else NL_TRY(grad_term(&gin[1], g, a, true, ta, b));
    }
    return NL_OK;
}

nl_status nl_matmul(nl_tensor **out, nl_tensor *a, nl_tensor *b, bool trans_a, bool trans_b)
{
    mm_dims d;
    NL_TRY(mm_check(a, b, trans_a, trans_b, &d));
    nl_tensor *r;
    NL_TRY(mm_forward(&r, a, b, trans_a, trans_b, &d));
    nl_tensor *ins[2] = {a, b};
    nl_op_params p = {{trans_a, trans_b}};
    nl_status st = nl_autograd_record(r, NL_OP_MATMUL, 2, ins, 0, NULL, &p, matmul_backward);
    if (st != NL_OK) { nl_tensor_release(r); return st; }
    *out = r;
    return NL_OK;
}

/* ---- linear ---------------------------------------------------------------- */

static nl_status linear_check(const nl_tensor *x, const nl_tensor *w, const nl_tensor *bias)
{
    char sx[128], sw[128], sb[128];
    NL_TRY(nl_check_f32("linear", "x", x));
    NL_TRY(nl_check_f32("linear", "w", w));
    NL_TRY(nl_check_ndim("linear", "w [Cout Cin]", w, 2));
    if (x->ndim < 1 || x->ndim > NL_MAX_DIMS - 1 || x->shape[x->ndim - 1] != w->shape[1])
        return nl_error_set(NL_ERR_SHAPE, "linear: in features differ: x is %s, w is %s (want x [... %lld])",
                            nl_shape_str(x, sx, sizeof sx), nl_shape_str(w, sw, sizeof sw), (long long)w->shape[1]);
    NL_TRY(nl_check_same_device("linear", x, w));
    if (!bias) return NL_OK;
    NL_TRY(nl_check_f32("linear", "bias", bias));
    NL_TRY(nl_check_same_device("linear", x, bias));
    if (bias->ndim != 1 || bias->shape[0] != w->shape[0])
        return nl_error_set(NL_ERR_SHAPE, "linear: bias is %s, w is %s (want bias [%lld])", nl_shape_str(bias, sb, sizeof sb),
                            nl_shape_str(w, sw, sizeof sw), (long long)w->shape[0]);
    return NL_OK;
}

/* x [..., Cin] -> [N, Cin] -> (@ w^T) [N, Cout] (+ bias) -> [..., Cout] */
nl_status nl_linear(nl_tensor **out, nl_tensor *x, nl_tensor *w, nl_tensor *bias)
{
    NL_TRY(linear_check(x, w, bias));
    int64_t flat[2] = {1, w->shape[1]}, shape[NL_MAX_DIMS];
    for (int i = 0; i < x->ndim - 1; i++) {
        shape[i] = x->shape[i];
        flat[0] *= x->shape[i];
    }
    shape[x->ndim - 1] = w->shape[0];
    nl_tensor *x2 = NULL, *y = NULL, *yb = NULL;
    nl_status st = nl_reshape(&x2, x, 2, flat);
    if (st == NL_OK) st = nl_matmul(&y, x2, w, false, true);
    if (st == NL_OK && bias) st = nl_add(&yb, y, bias);
    if (st == NL_OK) st = nl_reshape(out, bias ? yb : y, x->ndim, shape);
    nl_tensor_release(x2);
    nl_tensor_release(y);
    nl_tensor_release(yb);
    return st;
}
