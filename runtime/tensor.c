/* tensor.c — storage, tensor lifetime, creation and host transfers.
 * Views are in view.c; copies go through the COPY kernel of the device.
 *
 * Invariants: shape[i] >= 0; strides in elements; every element the view can
 * address lies inside storage; refcounts are atomic because Guile finalizers
 * release tensors from their own thread. */
#include "tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "autograd.h"

/* ---- storage ------------------------------------------------------------- */

static nl_status storage_new(nl_storage **out, size_t nbytes, nl_device dev)
{
    const nl_backend *b;
    NL_TRY(nl_device_backend(dev, &b));
    nl_storage *s = calloc(1, sizeof *s);
    if (!s) return nl_error_set(NL_ERR_OOM, "out of memory for a storage header");
    nl_status st = b->alloc(dev.index, nbytes, &s->data);
    if (st != NL_OK) { free(s); return st; }
    s->nbytes = nbytes;
    s->refcount = 1;
    s->device = dev;
    *out = s;
    return NL_OK;
}

static void storage_release(nl_storage *s)
{
    if (!s || __atomic_sub_fetch(&s->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
    const nl_backend *b;
    if (nl_device_backend(s->device, &b) == NL_OK) b->free(s->device.index, s->data, s->nbytes);
    free(s);
}

/* ---- lifetime ------------------------------------------------------------ */

static void set_contiguous_strides(nl_tensor *t)
{
    int64_t st = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        t->strides[i] = st;
        st *= t->shape[i] ? t->shape[i] : 1;
    }
}

nl_status nl_shape_numel(int ndim, const int64_t *shape, int64_t *numel)
{
    if (ndim < 0 || ndim > NL_MAX_DIMS)
        return nl_error_set(NL_ERR_SHAPE, "a tensor has 0 to %d dims, got %d", NL_MAX_DIMS, ndim);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            char buf[128];
            return nl_error_set(NL_ERR_SHAPE, "negative dimension in shape %s", nl_dims_str(ndim, shape, buf, sizeof buf));
        }
        if (shape[i] != 0 && n > INT64_MAX / shape[i]) {
            char buf[128];
            return nl_error_set(NL_ERR_OOM, "shape %s has more than 2^63 elements", nl_dims_str(ndim, shape, buf, sizeof buf));
        }
        n *= shape[i];
    }
    *numel = n;
    return NL_OK;
}

nl_status nl_tensor_empty(nl_tensor **out, nl_dtype dt, int ndim, const int64_t *shape, nl_device dev)
{
    if ((unsigned)dt >= NL_DTYPE_COUNT) return nl_error_set(NL_ERR_DTYPE, "unknown dtype %d", (int)dt);
    int64_t n;
    NL_TRY(nl_shape_numel(ndim, shape, &n));
    size_t nbytes;
    if (nl_mul_size((size_t)n, nl_dtype_size(dt), &nbytes) != 0)
        return nl_error_set(NL_ERR_OOM, "tensor of %lld elements overflows size_t", (long long)n);
    nl_tensor *t = calloc(1, sizeof *t);
    if (!t) return nl_error_set(NL_ERR_OOM, "out of memory for a tensor header");
    nl_status st = storage_new(&t->storage, nbytes, dev);
    if (st != NL_OK) { free(t); return st; }
    t->refcount = 1;
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    set_contiguous_strides(t);
    *out = t;
    return NL_OK;
}

nl_status nl_tensor_full(nl_tensor **out, nl_dtype dt, int ndim, const int64_t *shape, double value, nl_device dev)
{
    nl_tensor *t;
    NL_TRY(nl_tensor_empty(&t, dt, ndim, shape, dev));
    nl_status st = nl_tensor_fill_(t, value);
    if (st != NL_OK) { nl_tensor_release(t); return st; }
    *out = t;
    return NL_OK;
}

nl_status nl_tensor_zeros(nl_tensor **out, nl_dtype dt, int ndim, const int64_t *shape, nl_device dev)
{
    return nl_tensor_full(out, dt, ndim, shape, 0.0, dev);
}

nl_status nl_tensor_scalar(nl_tensor **out, double value, nl_dtype dt, nl_device dev)
{
    return nl_tensor_full(out, dt, 0, NULL, value, dev);
}

nl_status nl_tensor_empty_like(nl_tensor **out, const nl_tensor *t)
{
    return nl_tensor_empty(out, t->dtype, t->ndim, t->shape, nl_tensor_device(t));
}

nl_status nl_tensor_zeros_like(nl_tensor **out, const nl_tensor *t)
{
    return nl_tensor_zeros(out, t->dtype, t->ndim, t->shape, nl_tensor_device(t));
}

nl_status nl_tensor_from_host(nl_tensor **out, nl_dtype dt, int ndim, const int64_t *shape,
                              const void *src, nl_dtype src_dt, nl_device dev)
{
    nl_tensor *t;
    NL_TRY(nl_tensor_empty(&t, dt, ndim, shape, dev));
    size_t n = (size_t)nl_tensor_numel(t), nbytes = nl_tensor_nbytes(t);
    if (dev.type == NL_DEV_CPU) {
        nl_convert(nl_tensor_host_ptr(t), dt, src, src_dt, n);
        *out = t;
        return NL_OK;
    }
    void *stage;
    nl_status st = nl_host_alloc(nbytes, &stage);
    if (st == NL_OK) {
        const nl_backend *b;
        nl_convert(stage, dt, src, src_dt, n);
        st = nl_device_backend(dev, &b);
        if (st == NL_OK) st = b->copy_h2d(dev.index, nl_tensor_raw_ptr(t), stage, nbytes);
        nl_host_free(stage, nbytes);
    }
    if (st != NL_OK) { nl_tensor_release(t); return st; }
    *out = t;
    return NL_OK;
}

nl_tensor *nl_tensor_retain(nl_tensor *t)
{
    if (t) __atomic_add_fetch(&t->refcount, 1, __ATOMIC_RELAXED);
    return t;
}

void nl_tensor_release(nl_tensor *t)
{
    if (!t || __atomic_sub_fetch(&t->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
    nl_tensor_release(t->grad);
    if (t->node) nl_node_free(t->node);
    storage_release(t->storage);
    free(t);
}

/* ---- properties ---------------------------------------------------------- */

int64_t nl_tensor_numel(const nl_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

size_t nl_tensor_nbytes(const nl_tensor *t) { return (size_t)nl_tensor_numel(t) * nl_dtype_size(t->dtype); }

bool nl_tensor_is_contiguous(const nl_tensor *t)
{
    int64_t st = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] == 1) continue;
        if (t->shape[i] == 0) return true;
        if (t->strides[i] != st) return false;
        st *= t->shape[i];
    }
    return true;
}

nl_device nl_tensor_device(const nl_tensor *t) { return t->storage->device; }

bool nl_tensor_same_shape(const nl_tensor *a, const nl_tensor *b)
{
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

char *nl_dims_str(int ndim, const int64_t *shape, char *buf, size_t n)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? " %lld" : "%lld", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

char *nl_shape_str(const nl_tensor *t, char *buf, size_t n) { return nl_dims_str(t->ndim, t->shape, buf, n); }

nl_status nl_norm_dim(int64_t dim, int ndim, int *out)
{
    int64_t d = dim < 0 ? dim + ndim : dim;
    if (d < 0 || d >= ndim)
        return nl_error_set(NL_ERR_ARG, "dim %lld out of range for a %d-d tensor", (long long)dim, ndim);
    *out = (int)d;
    return NL_OK;
}

void *nl_tensor_raw_ptr(const nl_tensor *t)
{
    return (char *)t->storage->data + (size_t)t->offset * nl_dtype_size(t->dtype);
}

void *nl_tensor_host_ptr(const nl_tensor *t)
{
    return t->storage->device.type == NL_DEV_CPU ? nl_tensor_raw_ptr(t) : NULL;
}

/* ---- copies -------------------------------------------------------------- */

static nl_status copy_backward(nl_node *n, nl_tensor *gout, nl_tensor **gin)
{
    nl_tensor *x = n->in[0];
    return nl_to(&gin[0], gout, x->dtype, nl_tensor_device(x));
}

/* New contiguous tensor of dtype dt on t's device holding t's values. */
static nl_status copy_same_device(nl_tensor **out, nl_tensor *t, nl_dtype dt)
{
    nl_tensor *r;
    NL_TRY(nl_tensor_empty(&r, dt, t->ndim, t->shape, nl_tensor_device(t)));
    nl_tensor *ins[1] = {t};
    nl_op_args a = {.op = NL_OP_COPY, .n_in = 1, .in = ins, .n_out = 1, .out = {r}};
    nl_status st = nl_dispatch(&a);
    if (st == NL_OK && nl_dtype_is_float(dt))
        st = nl_autograd_record(r, NL_OP_COPY, 1, ins, 0, NULL, &a.p, copy_backward);
    if (st != NL_OK) { nl_tensor_release(r); return st; }
    *out = r;
    return NL_OK;
}

nl_status nl_to(nl_tensor **out, nl_tensor *t, nl_dtype dt, nl_device dev)
{
    nl_device src = nl_tensor_device(t);
    if (nl_device_equal(src, dev)) {
        if (dt == t->dtype && nl_tensor_is_contiguous(t)) { *out = nl_tensor_retain(t); return NL_OK; }
        return copy_same_device(out, t, dt);
    }
    /* Across devices: make contiguous in the target dtype on the source, then move bytes. */
    nl_tensor *c, *r = NULL;
    NL_TRY(nl_to(&c, t, dt, src));
    nl_status st = nl_tensor_empty(&r, dt, c->ndim, c->shape, dev);
    const nl_backend *b;
    size_t nbytes = nl_tensor_nbytes(c);
    if (st == NL_OK && dev.type == NL_DEV_CPU) {
        st = nl_device_backend(src, &b);
        if (st == NL_OK) st = b->copy_d2h(src.index, nl_tensor_raw_ptr(r), nl_tensor_raw_ptr(c), nbytes);
    } else if (st == NL_OK && src.type == NL_DEV_CPU) {
        st = nl_device_backend(dev, &b);
        if (st == NL_OK) st = b->copy_h2d(dev.index, nl_tensor_raw_ptr(r), nl_tensor_raw_ptr(c), nbytes);
    } else if (st == NL_OK) {
        nl_tensor *h = NULL;
        st = nl_to(&h, c, dt, NL_CPU_DEVICE);
        nl_tensor_release(r);
        r = NULL;
        if (st == NL_OK) st = nl_to(&r, h, dt, dev);
        nl_tensor_release(h);
    }
    if (st == NL_OK && nl_dtype_is_float(dt)) {
        nl_tensor *ins[1] = {t};
        nl_op_params p = {{0}};
        st = nl_autograd_record(r, NL_OP_COPY, 1, ins, 0, NULL, &p, copy_backward);
    }
    nl_tensor_release(c);
    if (st != NL_OK) { nl_tensor_release(r); return st; }
    *out = r;
    return NL_OK;
}

nl_status nl_contiguous(nl_tensor **out, nl_tensor *t) { return nl_to(out, t, t->dtype, nl_tensor_device(t)); }

nl_status nl_clone(nl_tensor **out, nl_tensor *t) { return copy_same_device(out, t, t->dtype); }

nl_status nl_tensor_to_host(const nl_tensor *t, void *dst, nl_dtype dt)
{
    nl_tensor *h;
    bool was = nl_grad_set_enabled(false);
    nl_status st = nl_to(&h, (nl_tensor *)t, t->dtype, NL_CPU_DEVICE);
    nl_grad_set_enabled(was);
    NL_TRY(st);
    nl_convert(dst, dt, nl_tensor_host_ptr(h), h->dtype, (size_t)nl_tensor_numel(h));
    nl_tensor_release(h);
    return NL_OK;
}

nl_status nl_tensor_copy_(nl_tensor *dst, nl_tensor *src)
{
    if (!nl_tensor_same_shape(dst, src)) {
        char a[96], b[96];
        return nl_error_set(NL_ERR_SHAPE, "copy: destination is %s, source is %s",
                            nl_shape_str(dst, a, sizeof a), nl_shape_str(src, b, sizeof b));
    }
    bool was = nl_grad_set_enabled(false);
    nl_tensor *c = NULL;
    nl_status st = nl_to(&c, src, dst->dtype, nl_tensor_device(dst));
    nl_grad_set_enabled(was);
    NL_TRY(st);
    /* c is contiguous with dst's dtype and device; scatter it into dst's layout. */
    nl_tensor *ins[1] = {c};
    nl_op_args a = {.op = NL_OP_COPY, .n_in = 1, .in = ins, .n_out = 1, .out = {dst}};
    st = nl_dispatch(&a);
    nl_tensor_release(c);
    if (st == NL_OK) dst->storage->version++;
    return st;
}

nl_status nl_tensor_fill_(nl_tensor *t, double value)
{
    nl_op_args a = {.op = NL_OP_FILL, .n_in = 0, .in = NULL, .n_out = 1, .out = {t}};
    a.p.f[0] = value;
    NL_TRY(nl_dispatch(&a));
    t->storage->version++;
    return NL_OK;
}

nl_status nl_tensor_get(const nl_tensor *t, const int64_t *idx, double *out)
{
    int64_t off = t->offset;
    for (int i = 0; i < t->ndim; i++) {
        if (idx[i] < 0 || idx[i] >= t->shape[i])
            return nl_error_set(NL_ERR_ARG, "index %lld out of range for dim %d of size %lld",
                                (long long)idx[i], i, (long long)t->shape[i]);
        off += idx[i] * t->strides[i];
    }
    char elem[8];
    size_t es = nl_dtype_size(t->dtype);
    const char *base = (const char *)t->storage->data + (size_t)off * es;
    if (t->storage->device.type == NL_DEV_CPU) {
        memcpy(elem, base, es);
    } else {
        const nl_backend *b;
        NL_TRY(nl_device_backend(t->storage->device, &b));
        NL_TRY(b->copy_d2h(t->storage->device.index, elem, base, es));
    }
    float f;
    nl_convert(&f, NL_F32, elem, t->dtype, 1);
    if (t->dtype == NL_I64) *out = (double)*(int64_t *)elem;
    else if (t->dtype == NL_I32) *out = *(int32_t *)elem;
    else *out = f;
    return NL_OK;
}

nl_status nl_detach(nl_tensor **out, nl_tensor *t)
{
    nl_tensor *r = calloc(1, sizeof *r);
    if (!r) return nl_error_set(NL_ERR_OOM, "out of memory for a tensor header");
    *r = *t;
    r->refcount = 1;
    r->requires_grad = false;
    r->retain_grad = false;
    r->grad = NULL;
    r->node = NULL;
    __atomic_add_fetch(&r->storage->refcount, 1, __ATOMIC_RELAXED);
    *out = r;
    return NL_OK;
}
