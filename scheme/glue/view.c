/* view.c — %nl- primitives for copies and conversions (to, contiguous,
 * clone, detach, copy!, fill!) and views that share storage (reshape,
 * permute, transpose, narrow, expand, split, squeeze, unsqueeze).
 * Each returns a new tensor object owning one reference. */
#include "glue.h"

/* Wrap the result of a runtime call that produced *r, or raise. */
static SCM result(nl_status st, nl_tensor *r, const char *who)
{
    NL_SCM_CHECK(who, st);
    return nl_scm_take_tensor(r);
}

#define FUNC_NAME "tensor-to"
static SCM tensor_to(SCM obj, SCM dtype, SCM device)
{
    nl_tensor *t = nl_scm_to_tensor(obj, 1, FUNC_NAME), *r = NULL;
    nl_dtype dt = scm_is_false(dtype) ? t->dtype : nl_scm_to_dtype(dtype, 2, FUNC_NAME);
    nl_device dev = scm_is_false(device) ? nl_tensor_device(t) : nl_scm_to_device(device, 3, FUNC_NAME);
    nl_status st = nl_to(&r, t, dt, dev);
    scm_remember_upto_here_1(obj);
    return result(st, r, FUNC_NAME);
}
#undef FUNC_NAME

/* One-argument tensor -> tensor runtime calls. */
typedef nl_status (*unary_fn)(nl_tensor **, nl_tensor *);
static SCM apply_unary(unary_fn fn, SCM obj, const char *who)
{
    nl_tensor *r = NULL;
    nl_status st = fn(&r, nl_scm_to_tensor(obj, 1, who));
    scm_remember_upto_here_1(obj);
    return result(st, r, who);
}

static SCM tensor_contiguous(SCM obj) { return apply_unary(nl_contiguous, obj, "tensor-contiguous"); }
static SCM tensor_clone(SCM obj) { return apply_unary(nl_clone, obj, "tensor-clone"); }
static SCM tensor_detach(SCM obj) { return apply_unary(nl_detach, obj, "tensor-detach"); }

#define FUNC_NAME "tensor-reshape"
static SCM tensor_reshape(SCM obj, SCM shape_s)
{
    nl_tensor *t = nl_scm_to_tensor(obj, 1, FUNC_NAME), *r = NULL;
    int64_t shape[NL_MAX_DIMS];
    int ndim = nl_scm_to_shape(shape_s, shape, 2, FUNC_NAME);
    nl_status st = nl_reshape(&r, t, ndim, shape);
    scm_remember_upto_here_1(obj);
    return result(st, r, FUNC_NAME);
}
#undef FUNC_NAME

#define FUNC_NAME "tensor-expand"
static SCM tensor_expand(SCM obj, SCM shape_s)
{
    nl_tensor *t = nl_scm_to_tensor(obj, 1, FUNC_NAME), *r = NULL;
    int64_t shape[NL_MAX_DIMS];
    int ndim = nl_scm_to_shape(shape_s, shape, 2, FUNC_NAME);
    nl_status st = nl_expand(&r, t, ndim, shape);
    scm_remember_upto_here_1(obj);
    return result(st, r, FUNC_NAME);
}
#undef FUNC_NAME

#define FUNC_NAME "tensor-permute"
static SCM tensor_permute(SCM obj, SCM perm_s)
{
    nl_tensor *t = nl_scm_to_tensor(obj, 1, FUNC_NAME), *r = NULL;
    int64_t p64[NL_MAX_DIMS];
    int n = nl_scm_to_shape(perm_s, p64, 2, FUNC_NAME), perm[NL_MAX_DIMS];
    if (n != t->ndim) {
        char dims[96];
        nl_scm_raisef(NL_ERR_SHAPE, FUNC_NAME, "a permutation of %d dims for a tensor of shape %s", n,
                      nl_shape_str(t, dims, sizeof dims));
    }
    for (int i = 0; i < n; i++) {
        if (p64[i] < -n || p64[i] >= n) scm_out_of_range_pos(FUNC_NAME, perm_s, scm_from_int(2));
        perm[i] = (int)(p64[i] < 0 ? p64[i] + n : p64[i]);
    }
    nl_status st = nl_permute(&r, t, perm);
    scm_remember_upto_here_1(obj);
    return result(st, r, FUNC_NAME);
}
#undef FUNC_NAME

#define FUNC_NAME "tensor-transpose"
static SCM tensor_transpose(SCM obj, SCM d0, SCM d1)
{
    nl_tensor *t = nl_scm_to_tensor(obj, 1, FUNC_NAME), *r = NULL;
    nl_status st = nl_transpose(&r, t, nl_scm_to_i64(d0, 2, FUNC_NAME), nl_scm_to_i64(d1, 3, FUNC_NAME));
    scm_remember_upto_here_1(obj);
    return result(st, r, FUNC_NAME);
}
#undef FUNC_NAME

#define FUNC_NAME "tensor-narrow"
static SCM tensor_narrow(SCM obj, SCM dim, SCM start, SCM len)
{
    nl_tensor *t = nl_scm_to_tensor(obj, 1, FUNC_NAME), *r = NULL;
    nl_status st = nl_narrow(&r, t, nl_scm_to_i64(dim, 2, FUNC_NAME), nl_scm_to_i64(start, 3, FUNC_NAME),
                             nl_scm_to_i64(len, 4, FUNC_NAME));
    scm_remember_upto_here_1(obj);
    return result(st, r, FUNC_NAME);
}
#undef FUNC_NAME

#define FUNC_NAME "tensor-split"
static SCM tensor_split(SCM obj, SCM size_s, SCM dim_s)
{
    nl_tensor *t = nl_scm_to_tensor(obj, 1, FUNC_NAME);
    int64_t size = nl_scm_to_i64(size_s, 2, FUNC_NAME);
    int dim;
    NL_SCM_CHECK(FUNC_NAME, nl_norm_dim(nl_scm_to_i64(dim_s, 3, FUNC_NAME), t->ndim, &dim));
    if (size <= 0) nl_scm_raisef(NL_ERR_ARG, FUNC_NAME, "split size must be positive, got %lld", (long long)size);
    int64_t pieces = (t->shape[dim] + size - 1) / size;
    int max_out = pieces > 0 ? (int)pieces : 1, n = 0;
    nl_tensor **outs = scm_gc_malloc_pointerless(sizeof *outs * (size_t)max_out, "split pieces");
    NL_SCM_CHECK(FUNC_NAME, nl_split(outs, &n, max_out, t, dim, size));
    SCM l = SCM_EOL;
    for (int i = n - 1; i >= 0; i--) l = scm_cons(nl_scm_take_tensor(outs[i]), l);
    scm_remember_upto_here_1(obj);
    return l;
}
#undef FUNC_NAME

#define FUNC_NAME "tensor-squeeze"
static SCM tensor_squeeze(SCM obj, SCM dim)
{
    nl_tensor *t = nl_scm_to_tensor(obj, 1, FUNC_NAME), *r = NULL;
    nl_status st = nl_squeeze(&r, t, nl_scm_to_i64(dim, 2, FUNC_NAME));
    scm_remember_upto_here_1(obj);
    return result(st, r, FUNC_NAME);
}
#undef FUNC_NAME

#define FUNC_NAME "tensor-unsqueeze"
static SCM tensor_unsqueeze(SCM obj, SCM dim)
{
    nl_tensor *t = nl_scm_to_tensor(obj, 1, FUNC_NAME), *r = NULL;
    nl_status st = nl_unsqueeze(&r, t, nl_scm_to_i64(dim, 2, FUNC_NAME));
    scm_remember_upto_here_1(obj);
    return result(st, r, FUNC_NAME);
}
#undef FUNC_NAME

#define FUNC_NAME "tensor-copy!"
static SCM tensor_copy_x(SCM dst, SCM src)
{
    nl_tensor *d = nl_scm_to_tensor(dst, 1, FUNC_NAME), *s = nl_scm_to_tensor(src, 2, FUNC_NAME);
    NL_SCM_CHECK(FUNC_NAME, nl_tensor_copy_(d, s));
    scm_remember_upto_here_2(dst, src);
    return dst;
}
#undef FUNC_NAME

#define FUNC_NAME "tensor-fill!"
static SCM tensor_fill_x(SCM obj, SCM value)
{
    nl_tensor *t = nl_scm_to_tensor(obj, 1, FUNC_NAME);
    NL_SCM_CHECK(FUNC_NAME, nl_tensor_fill_(t, nl_scm_to_real(value, 2, FUNC_NAME)));
    scm_remember_upto_here_1(obj);
    return obj;
}
#undef FUNC_NAME

void nl_scm_init_view(void)
{
    static const nl_scm_proc procs[] = {
        {"%nl-tensor-to", 3, 0, 0, (scm_t_subr)tensor_to, "Convert to DTYPE on DEVICE (#f keeps the current one)."},
        {"%nl-tensor-contiguous", 1, 0, 0, (scm_t_subr)tensor_contiguous, "A contiguous version of the tensor."},
        {"%nl-tensor-clone", 1, 0, 0, (scm_t_subr)tensor_clone, "A fresh contiguous copy (differentiable)."},
        {"%nl-tensor-detach", 1, 0, 0, (scm_t_subr)tensor_detach, "A view of the same storage without autograd history."},
        {"%nl-tensor-reshape", 2, 0, 0, (scm_t_subr)tensor_reshape, "Reshape (a view when the layout allows)."},
        {"%nl-tensor-expand", 2, 0, 0, (scm_t_subr)tensor_expand, "Broadcast size-1 dims to SHAPE (a view)."},
        {"%nl-tensor-permute", 2, 0, 0, (scm_t_subr)tensor_permute, "Reorder the dims (a view)."},
        {"%nl-tensor-transpose", 3, 0, 0, (scm_t_subr)tensor_transpose, "Swap dims D0 and D1 (a view)."},
        {"%nl-tensor-narrow", 4, 0, 0, (scm_t_subr)tensor_narrow, "Elements [START, START+LEN) along DIM (a view)."},
        {"%nl-tensor-split", 3, 0, 0, (scm_t_subr)tensor_split, "Split along DIM into pieces of SIZE (views)."},
        {"%nl-tensor-squeeze", 2, 0, 0, (scm_t_subr)tensor_squeeze, "Remove size-1 dim DIM (a view)."},
        {"%nl-tensor-unsqueeze", 2, 0, 0, (scm_t_subr)tensor_unsqueeze, "Insert a size-1 dim at DIM (a view)."},
        {"%nl-tensor-copy!", 2, 0, 0, (scm_t_subr)tensor_copy_x, "Copy SRC's values into DST in place."},
        {"%nl-tensor-fill!", 2, 0, 0, (scm_t_subr)tensor_fill_x, "Set every element to VALUE in place."},
    };
    NL_SCM_DEFINE_ALL(procs);
}
