/* view.c — views that share storage: reshape, permute/transpose, narrow/split,
 * expand, squeeze/unsqueeze, with their backward functions. No kernels here
 * except the copy that reshape falls back to for non-contiguous inputs. */
#include <stdlib.h>
#include <string.h>

#include "autograd.h"
#include "ops.h"
#include "tensor.h"

static nl_status make_view(nl_tensor **out, nl_tensor *t, int ndim, const int64_t *shape,
                           const int64_t *strides, int64_t offset)
{
    nl_tensor *r = calloc(1, sizeof *r);
    if (!r) return nl_error_set(NL_ERR_OOM, "out of memory for a tensor header");
    r->refcount = 1;
    r->dtype = t->dtype;
    r->ndim = ndim;
    memcpy(r->shape, shape, sizeof(int64_t) * (size_t)ndim);
    memcpy(r->strides, strides, sizeof(int64_t) * (size_t)ndim);
    r->offset = offset;
    r->storage = t->storage;
    __atomic_add_fetch(&t->storage->refcount, 1, __ATOMIC_RELAXED);
    *out = r;
    return NL_OK;
}

static nl_status finish(nl_tensor **out, nl_tensor *r, nl_tensor *t, nl_op op, const nl_op_params *p,
                        nl_backward_fn bw)
{
    nl_status st = nl_autograd_record(r, op, 1, &t, 0, NULL, p, bw);
    if (st != NL_OK) { nl_tensor_release(r); return st; }
    *out = r;
    return NL_OK;
}

/* ---- reshape ------------------------------------------------------------- */

static nl_status reshape_backward(nl_node *n, nl_tensor *gout, nl_tensor **gin)
{
    return nl_reshape(&gin[0], gout, n->in[0]->ndim, n->in[0]->shape);
}

nl_status nl_reshape(nl_tensor **out, nl_tensor *t, int ndim, const int64_t *shape)
{
    char a[128], b[128];
    if (ndim < 0 || ndim > NL_MAX_DIMS)
        return nl_error_set(NL_ERR_SHAPE, "reshape: %d dims (at most %d)", ndim, NL_MAX_DIMS);
    int64_t sh[NL_MAX_DIMS], known = 1, total = nl_tensor_numel(t);
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        sh[i] = shape[i];
        if (shape[i] == -1) {
            if (infer >= 0) return nl_error_set(NL_ERR_SHAPE, "reshape: more than one -1 in %s", nl_dims_str(ndim, shape, a, sizeof a));
            infer = i;
        } else if (shape[i] < 0) {
            return nl_error_set(NL_ERR_SHAPE, "reshape: negative dimension in %s", nl_dims_str(ndim, shape, a, sizeof a));
        } else {
            if (shape[i] != 0 && known > INT64_MAX / shape[i])
                return nl_error_set(NL_ERR_SHAPE, "reshape: %s overflows", nl_dims_str(ndim, shape, a, sizeof a));
            known *= shape[i];
        }
    }
    if (infer >= 0) {
        if (known == 0 || total % known != 0)
            return nl_error_set(NL_ERR_SHAPE, "reshape: cannot infer -1 in %s for %s",
                                nl_dims_str(ndim, shape, a, sizeof a), nl_shape_str(t, b, sizeof b));
        sh[infer] = total / known;
        known = total;
    }
    if (known != total)
        return nl_error_set(NL_ERR_SHAPE, "reshape: %s has %lld elements, %s has %lld", nl_shape_str(t, b, sizeof b),
                            (long long)total, nl_dims_str(ndim, sh, a, sizeof a), (long long)known);
    nl_tensor *c;
    NL_TRY(nl_contiguous(&c, t)); /* a new reference to t when already contiguous */
    int64_t strides[NL_MAX_DIMS], s = 1;
    for (int i = ndim - 1; i >= 0; i--) { strides[i] = s; s *= sh[i] ? sh[i] : 1; }
    nl_tensor *r;
    nl_status st = make_view(&r, c, ndim, sh, strides, c->offset);
    if (st == NL_OK) {
        nl_op_params p = {{0}};
        st = finish(out, r, c, NL_OP_RESHAPE, &p, reshape_backward);
    }
    nl_tensor_release(c);
    return st;
}

/* ---- permute ------------------------------------------------------------- */

static nl_status permute_backward(nl_node *n, nl_tensor *gout, nl_tensor **gin)
{
    int inv[NL_MAX_DIMS];
    for (int i = 0; i < n->in[0]->ndim; i++) inv[n->p.i[i]] = i;
    return nl_permute(&gin[0], gout, inv);
}

nl_status nl_permute(nl_tensor **out, nl_tensor *t, const int *perm)
{
    int seen[NL_MAX_DIMS] = {0};
    int64_t sh[NL_MAX_DIMS], st[NL_MAX_DIMS];
    nl_op_params p = {{0}};
    for (int i = 0; i < t->ndim; i++) {
        if (perm[i] < 0 || perm[i] >= t->ndim || seen[perm[i]]++)
            return nl_error_set(NL_ERR_ARG, "permute: not a permutation of %d dims (entry %d is %d)", t->ndim, i, perm[i]);
        sh[i] = t->shape[perm[i]];
        st[i] = t->strides[perm[i]];
        p.i[i] = perm[i];
    }
    nl_tensor *r;
    NL_TRY(make_view(&r, t, t->ndim, sh, st, t->offset));
    return finish(out, r, t, NL_OP_PERMUTE, &p, permute_backward);
}

nl_status nl_transpose(nl_tensor **out, nl_tensor *t, int64_t d0, int64_t d1)
{
    int a, b, perm[NL_MAX_DIMS];
    NL_TRY(nl_norm_dim(d0, t->ndim, &a));
    NL_TRY(nl_norm_dim(d1, t->ndim, &b));
    for (int i = 0; i < t->ndim; i++) perm[i] = i;
    perm[a] = b;
    perm[b] = a;
    return nl_permute(out, t, perm);
}

/* ---- narrow / split ------------------------------------------------------ */

static nl_status narrow_backward(nl_node *n, nl_tensor *gout, nl_tensor **gin)
{
    nl_tensor *x = n->in[0], *z, *slice = NULL;
    NL_TRY(nl_tensor_zeros(&z, gout->dtype, x->ndim, x->shape, nl_tensor_device(gout)));
    nl_status st = nl_narrow(&slice, z, n->p.i[0], n->p.i[1], gout->shape[n->p.i[0]]);
    if (st == NL_OK) st = nl_tensor_copy_(slice, gout);
    nl_tensor_release(slice);
    if (st != NL_OK) { nl_tensor_release(z); return st; }
    gin[0] = z;
    return NL_OK;
}

nl_status nl_narrow(nl_tensor **out, nl_tensor *t, int64_t dim, int64_t start, int64_t len)
{
    int d;
    NL_TRY(nl_norm_dim(dim, t->ndim, &d));
    if (start < 0 || len < 0 || start > t->shape[d] || len > t->shape[d] - start)
        return nl_error_set(NL_ERR_ARG, "narrow: range [%lld, %lld) outside dim %d of size %lld",
                            (long long)start, (long long)(start + len), d, (long long)t->shape[d]);
    int64_t sh[NL_MAX_DIMS];
    memcpy(sh, t->shape, sizeof sh);
    sh[d] = len;
    nl_tensor *r;
    NL_TRY(make_view(&r, t, t->ndim, sh, t->strides, t->offset + start * t->strides[d]));
    nl_op_params p = {{d, start}};
    return finish(out, r, t, NL_OP_NARROW, &p, narrow_backward);
}

nl_status nl_split(nl_tensor **outs, int *n_out, int max_out, nl_tensor *t, int64_t dim, int64_t size)
{
    int d;
    NL_TRY(nl_norm_dim(dim, t->ndim, &d));
    if (size <= 0) return nl_error_set(NL_ERR_ARG, "split: piece size must be positive, got %lld", (long long)size);
    int64_t n = (t->shape[d] + size - 1) / size;
    if (n > max_out) return nl_error_set(NL_ERR_ARG, "split: %lld pieces, room for %d", (long long)n, max_out);
    for (int64_t i = 0; i < n; i++) {
        int64_t len = t->shape[d] - i * size < size ? t->shape[d] - i * size : size;
        nl_status st = nl_narrow(&outs[i], t, d, i * size, len);
        if (st != NL_OK) {
            while (i-- > 0) nl_tensor_release(outs[i]);
            return st;
        }
    }
    *n_out = (int)n;
    return NL_OK;
}

/* ---- expand -------------------------------------------------------------- */

static nl_status expand_backward(nl_node *n, nl_tensor *gout, nl_tensor **gin)
{
    return nl_sum_to(&gin[0], gout, n->in[0]->ndim, n->in[0]->shape);
}

nl_status nl_expand(nl_tensor **out, nl_tensor *t, int ndim, const int64_t *shape)
{
    char a[128], b[128];
    if (ndim < t->ndim || ndim > NL_MAX_DIMS)
        return nl_error_set(NL_ERR_SHAPE, "expand: cannot expand %s to %s", nl_shape_str(t, a, sizeof a),
                            nl_dims_str(ndim, shape, b, sizeof b));
    int64_t sh[NL_MAX_DIMS], st[NL_MAX_DIMS];
    int lead = ndim - t->ndim;
    for (int i = 0; i < ndim; i++) {
        int64_t want = shape[i];
        if (i < lead) {
            if (want < 0) return nl_error_set(NL_ERR_SHAPE, "expand: -1 for a new leading dim in %s", nl_dims_str(ndim, shape, b, sizeof b));
            sh[i] = want;
            st[i] = 0;
            continue;
        }
        int64_t have = t->shape[i - lead];
        if (want == -1 || want == have) { sh[i] = have; st[i] = t->strides[i - lead]; }
        else if (have == 1 && want >= 0) { sh[i] = want; st[i] = 0; }
        else return nl_error_set(NL_ERR_SHAPE, "expand: cannot expand %s to %s (dim %d is %lld)", nl_shape_str(t, a, sizeof a),
                                 nl_dims_str(ndim, shape, b, sizeof b), i, (long long)have);
    }
    nl_tensor *r;
    NL_TRY(make_view(&r, t, ndim, sh, st, t->offset));
    nl_op_params p = {{0}};
    return finish(out, r, t, NL_OP_EXPAND, &p, expand_backward);
}

/* ---- squeeze / unsqueeze (reshapes) -------------------------------------- */

nl_status nl_squeeze(nl_tensor **out, nl_tensor *t, int64_t dim)
{
    int d;
    NL_TRY(nl_norm_dim(dim, t->ndim, &d));
    if (t->shape[d] != 1)
        return nl_error_set(NL_ERR_SHAPE, "squeeze: dim %d has size %lld, not 1", d, (long long)t->shape[d]);
    int64_t sh[NL_MAX_DIMS];
    for (int i = 0, k = 0; i < t->ndim; i++)
        if (i != d) sh[k++] = t->shape[i];
    return nl_reshape(out, t, t->ndim - 1, sh);
}

nl_status nl_unsqueeze(nl_tensor **out, nl_tensor *t, int64_t dim)
{
    int d;
    if (t->ndim >= NL_MAX_DIMS) return nl_error_set(NL_ERR_SHAPE, "unsqueeze: already %d dims", t->ndim);
    NL_TRY(nl_norm_dim(dim, t->ndim + 1, &d));
    int64_t sh[NL_MAX_DIMS];
    for (int i = 0, k = 0; i <= t->ndim; i++) sh[i] = i == d ? 1 : t->shape[k++];
    return nl_reshape(out, t, t->ndim + 1, sh);
}

nl_status nl_broadcast_shapes(int na, const int64_t *a, int nb, const int64_t *b, int *nout, int64_t *out)
{
    int n = na > nb ? na : nb;
    int64_t r[NL_MAX_DIMS]; /* out may alias a or b */
    if (n > NL_MAX_DIMS) return nl_error_set(NL_ERR_SHAPE, "broadcast: more than %d dims", NL_MAX_DIMS);
    for (int i = 0; i < n; i++) {
        int64_t x = i < n - na ? 1 : a[i - (n - na)];
        int64_t y = i < n - nb ? 1 : b[i - (n - nb)];
        if (x != y && x != 1 && y != 1) {
            char s1[128], s2[128];
            return nl_error_set(NL_ERR_SHAPE, "shapes %s and %s do not broadcast (dim %d: %lld vs %lld)",
                                nl_dims_str(na, a, s1, sizeof s1), nl_dims_str(nb, b, s2, sizeof s2), i,
                                (long long)x, (long long)y);
        }
        r[i] = x == 1 ? y : x;
    }
    for (int i = 0; i < n; i++) out[i] = r[i];
    *nout = n;
    return NL_OK;
}
