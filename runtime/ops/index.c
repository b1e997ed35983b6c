/* index.c — front-ends and backward of gather / scatter / concatenation
 * (runtime/ops.h): nl_embedding, nl_index_select (backward: the INDEX_ADD
 * scatter-add kernel) and nl_concat (backward: narrowed gradient views).
 * Ids are range-checked here, before any kernel reads memory through them.
 * Gathers and concat move elements of any dtype; gradients are f32. */
#include <stdio.h>
#include <stdlib.h>

#include "common.h"

/* NL_ERR_ARG naming the first id outside [0, size); `what` names the size ("V = 5"). */
static nl_status check_ids(const char *who, const nl_tensor *ids, int64_t size, const char *what)
{
    int64_t n = nl_tensor_numel(ids);
    if (n == 0) return NL_OK;
    int64_t *v = malloc((size_t)n * sizeof *v);
    if (!v) return nl_error_set(NL_ERR_OOM, "%s: out of memory reading %lld ids", who, (long long)n);
    nl_status st = nl_tensor_to_host(ids, v, NL_I64);
    for (int64_t j = 0; st == NL_OK && j < n; j++)
        if (v[j] < 0 || v[j] >= size)
            st = nl_error_set(NL_ERR_ARG, "%s: id %lld at position %lld is out of range for %s (ids must be in [0, %lld))",
                              who, (long long)v[j], (long long)j, what, (long long)size);
    free(v);
    return st;
}

/* Gradient of a gather from x along dim d: zeros shaped like x with the rows
 * of g added at ids (INDEX_ADD; repeated ids accumulate). */
static nl_status scatter_grad(nl_tensor **out, const nl_tensor *x, nl_tensor *g, nl_tensor *ids, int d)
{
    nl_device dev = nl_tensor_device(g);
    nl_tensor *z, *g32 = NULL;
    NL_TRY(nl_tensor_zeros(&z, NL_F32, x->ndim, x->shape, dev));
    nl_status st = nl_to(&g32, g, NL_F32, dev);
    if (st == NL_OK) {
        nl_tensor *ins[2] = {g32, ids};
        nl_op_params p = {{d}};
        st = nl_run_contiguous(NL_OP_INDEX_ADD, 2, ins, 1, &z, &p);
    }
    nl_tensor_release(g32);
    if (st == NL_OK && x->dtype != NL_F32) {
        nl_tensor *zx = NULL;
        st = nl_to(&zx, z, x->dtype, dev);
        nl_tensor_release(z);
        z = zx;
    }
    if (st != NL_OK) { nl_tensor_release(z); return st; }
    *out = z;
    return NL_OK;
}

/* Allocate out (dtype of x, given shape), run `op` on contiguous inputs and record autograd. */
static nl_status gather_op(nl_tensor **out, nl_op op, nl_tensor *x, nl_tensor *ids, int ndim, const int64_t *shape,
                           int d, nl_backward_fn bw)
{
    nl_tensor *r;
    NL_TRY(nl_tensor_empty(&r, x->dtype, ndim, shape, nl_tensor_device(x)));
    nl_tensor *ins[2] = {x, ids};
    nl_op_params p = {{d}};
    nl_status st = nl_run_contiguous(op, 2, ins, 1, &r, &p);
    if (st == NL_OK) st = nl_autograd_record(r, op, 2, ins, 0, NULL, &p, bw);
    if (st != NL_OK) { nl_tensor_release(r); return st; }
    *out = r;
    return NL_OK;
}

/* ---- embedding ------------------------------------------------------------- */

static nl_status embedding_backward(nl_node *n, nl_tensor *g, nl_tensor **gin)
{
    if (!n->in[0]->requires_grad) return NL_OK;
    return scatter_grad(&gin[0], n->in[0], g, n->in[1], 0);
}

/* weight [V, C], ids [...] (i64/i32, each in [0, V)) -> [..., C] */
nl_status nl_embedding(nl_tensor **out, nl_tensor *weight, nl_tensor *ids)
{
    char s[128];
    NL_TRY(nl_check_ndim("embedding", "weight [V C]", weight, 2));
    NL_TRY(nl_check_index("embedding", "ids", ids));
    NL_TRY(nl_check_same_device("embedding", weight, ids));
    if (ids->ndim >= NL_MAX_DIMS)
        return nl_error_set(NL_ERR_SHAPE, "embedding: ids %s have too many dims (at most %d)",
                            nl_shape_str(ids, s, sizeof s), NL_MAX_DIMS - 1);
    char what[48];
    snprintf(what, sizeof what, "V = %lld", (long long)weight->shape[0]);
    NL_TRY(check_ids("embedding", ids, weight->shape[0], what));
    int64_t shape[NL_MAX_DIMS];
    for (int i = 0; i < ids->ndim; i++) shape[i] = ids->shape[i];
    shape[ids->ndim] = weight->shape[1];
    return gather_op(out, NL_OP_EMBEDDING, weight, ids, ids->ndim + 1, shape, 0, embedding_backward);
}

/* ---- index_select ------------------------------------------------------------ */

static nl_status index_select_backward(nl_node *n, nl_tensor *g, nl_tensor **gin)
{
    if (!n->in[0]->requires_grad) return NL_OK;
    return scatter_grad(&gin[0], n->in[0], g, n->in[1], (int)n->p.i[0]);
}

/* x [..., D, ...], ids [n] (each in [0, D)) -> [..., n, ...] along dim */
nl_status nl_index_select(nl_tensor **out, nl_tensor *x, int64_t dim, nl_tensor *ids)
{
    int d;
    nl_status st = nl_norm_dim(dim, x->ndim, &d);
    if (st != NL_OK) return nl_error_prefix(st, "index-select");
    NL_TRY(nl_check_index("index-select", "ids", ids));
    NL_TRY(nl_check_ndim("index-select", "ids", ids, 1));
    NL_TRY(nl_check_same_device("index-select", x, ids));
    char what[64];
    snprintf(what, sizeof what, "dim %d of size %lld", d, (long long)x->shape[d]);
    NL_TRY(check_ids("index-select", ids, x->shape[d], what));
    int64_t shape[NL_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[d] = ids->shape[0];
    return gather_op(out, NL_OP_INDEX_SELECT, x, ids, x->ndim, shape, d, index_select_backward);
}

/* ---- concat ---------------------------------------------------------------------- */

static nl_status concat_backward(nl_node *n, nl_tensor *g, nl_tensor **gin)
{
    int d = (int)n->p.i[0];
    int64_t at = 0;
    for (int k = 0; k < n->n_in; k++) {
        int64_t len = n->in[k]->shape[d];
        if (n->in[k]->requires_grad) NL_TRY(nl_narrow(&gin[k], g, d, at, len));
        at += len;
    }
    return NL_OK;
}

/* Every xs[k] must match xs[0] in dtype, device and shape except along d;
 * *total receives the summed size along d. */
static nl_status concat_check(int n, nl_tensor *const *xs, int d, int64_t *total)
{
    const nl_tensor *x0 = xs[0];
    char s0[128], sk[128];
    *total = 0;
    for (int k = 0; k < n; k++) {
        const nl_tensor *x = xs[k];
        if (x->dtype != x0->dtype)
            return nl_error_set(NL_ERR_DTYPE, "concat: tensor %d is %s, tensor 0 is %s", k, nl_dtype_name(x->dtype),
                                nl_dtype_name(x0->dtype));
        NL_TRY(nl_check_same_device("concat", x0, x));
        bool same = x->ndim == x0->ndim;
        for (int i = 0; same && i < x->ndim; i++) same = i == d || x->shape[i] == x0->shape[i];
        if (!same)
            return nl_error_set(NL_ERR_SHAPE, "concat: tensor %d is %s, tensor 0 is %s: shapes must match except in dim %d",
                                k, nl_shape_str(x, sk, sizeof sk), nl_shape_str(x0, s0, sizeof s0), d);
        if (x->shape[d] > INT64_MAX - *total) return nl_error_set(NL_ERR_OOM, "concat: result size overflows");
        *total += x->shape[d];
    }
    return NL_OK;
}

/* xs[k] [..., D_k, ...] -> [..., sum D_k, ...] along dim */
nl_status nl_concat(nl_tensor **out, int n, nl_tensor *const *xs, int64_t dim)
{
    if (n < 1) return nl_error_set(NL_ERR_ARG, "concat: needs at least one tensor, got %d", n);
    int d;
    nl_status st = nl_norm_dim(dim, xs[0]->ndim, &d);
    if (st != NL_OK) return nl_error_prefix(st, "concat");
    int64_t total, shape[NL_MAX_DIMS];
    NL_TRY(concat_check(n, xs, d, &total));
    for (int i = 0; i < xs[0]->ndim; i++) shape[i] = xs[0]->shape[i];
    shape[d] = total;
    nl_tensor *r;
    NL_TRY(nl_tensor_empty(&r, xs[0]->dtype, xs[0]->ndim, shape, nl_tensor_device(xs[0])));
    nl_op_params p = {{d}};
    st = nl_run_contiguous(NL_OP_CONCAT, n, xs, 1, &r, &p);
    if (st == NL_OK) st = nl_autograd_record(r, NL_OP_CONCAT, n, xs, 0, NULL, &p, concat_backward);
    if (st != NL_OK) { nl_tensor_release(r); return st; }
    *out = r;
    return NL_OK;
}
