/* tensor.h — refcounted storage and strided tensors (views share storage),
 * creation, views, copies and host data access. Autograd state (grad, node)
 * lives here too; the engine is in autograd.c.
 *
 * Ownership: every function that returns a tensor through `nl_tensor **out`
 * hands the caller one reference; drop it with nl_tensor_release. Views hold a
 * reference to the storage, never to the viewed tensor. */
#ifndef NL_TENSOR_H
#define NL_TENSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"
#include "dtype.h"
#include "error.h"

#define NL_MAX_DIMS 8

typedef struct nl_storage {
    void *data;        /* host or device pointer */
    size_t nbytes;
    int refcount;      /* atomic */
    unsigned version;  /* bumped by in-place writes */
    nl_device device;
} nl_storage;

struct nl_node;

typedef struct nl_tensor {
    int refcount;                  /* atomic */
    nl_dtype dtype;
    int ndim;
    int64_t shape[NL_MAX_DIMS];
    int64_t strides[NL_MAX_DIMS];  /* in elements */
    int64_t offset;                /* in elements, into storage */
    nl_storage *storage;
    bool requires_grad;
    bool retain_grad;              /* keep .grad on a non-leaf after backward */
    struct nl_tensor *grad;        /* same shape, dtype f32 (or dtype), contiguous */
    struct nl_node *node;          /* producer; NULL for leaves */
} nl_tensor;

/* ---- creation ---------------------------------------------------------- */
/* Uninitialised contiguous tensor. ndim 0 is a scalar (numel 1). */
nl_status nl_tensor_empty(nl_tensor **out, nl_dtype dt, int ndim, const int64_t *shape, nl_device dev);
nl_status nl_tensor_zeros(nl_tensor **out, nl_dtype dt, int ndim, const int64_t *shape, nl_device dev);
nl_status nl_tensor_full(nl_tensor **out, nl_dtype dt, int ndim, const int64_t *shape, double value, nl_device dev);
/* Contiguous tensor initialised from host data of dtype `src_dt` (converted). */
nl_status nl_tensor_from_host(nl_tensor **out, nl_dtype dt, int ndim, const int64_t *shape,
                              const void *src, nl_dtype src_dt, nl_device dev);
nl_status nl_tensor_scalar(nl_tensor **out, double value, nl_dtype dt, nl_device dev);
/* Same shape/dtype/device as t, uninitialised or zeroed. */
nl_status nl_tensor_empty_like(nl_tensor **out, const nl_tensor *t);
nl_status nl_tensor_zeros_like(nl_tensor **out, const nl_tensor *t);

nl_tensor *nl_tensor_retain(nl_tensor *t);
void nl_tensor_release(nl_tensor *t); /* NULL allowed */

/* ---- properties -------------------------------------------------------- */
int64_t nl_tensor_numel(const nl_tensor *t);
size_t nl_tensor_nbytes(const nl_tensor *t); /* numel * element size */
bool nl_tensor_is_contiguous(const nl_tensor *t);
nl_device nl_tensor_device(const nl_tensor *t);
bool nl_tensor_same_shape(const nl_tensor *a, const nl_tensor *b);
/* "[2 3 4]" into buf, for messages. Returns buf. */
char *nl_shape_str(const nl_tensor *t, char *buf, size_t n);
char *nl_dims_str(int ndim, const int64_t *shape, char *buf, size_t n);
/* Validate dims (>= 0) and compute numel with overflow checks. */
nl_status nl_shape_numel(int ndim, const int64_t *shape, int64_t *numel);
/* Normalise a possibly negative dim for a tensor of ndim dims. */
nl_status nl_norm_dim(int64_t dim, int ndim, int *out);

/* Host pointer to element [0...] of a CPU tensor (offset applied). */
void *nl_tensor_host_ptr(const nl_tensor *t);
/* Device-agnostic raw pointer to the first element (offset applied). */
void *nl_tensor_raw_ptr(const nl_tensor *t);

/* ---- copies and conversion --------------------------------------------- */
/* A contiguous tensor of dtype dt on device dev with the values of t (a new
 * tensor, or a new reference to t when nothing changes). Differentiable. */
nl_status nl_to(nl_tensor **out, nl_tensor *t, nl_dtype dt, nl_device dev);
/* Contiguous version of t (new reference to t when already contiguous). */
nl_status nl_contiguous(nl_tensor **out, nl_tensor *t);
/* Always a fresh contiguous copy (differentiable). */
nl_status nl_clone(nl_tensor **out, nl_tensor *t);
/* Copy the values of t (any layout/dtype) to a host buffer of dtype dt. */
nl_status nl_tensor_to_host(const nl_tensor *t, void *dst, nl_dtype dt);
/* Overwrite dst's elements with src's (same shape; converts dtype; any layout). In place, no autograd. */
nl_status nl_tensor_copy_(nl_tensor *dst, nl_tensor *src);
nl_status nl_tensor_fill_(nl_tensor *t, double value);
/* Element at a multi-index, as double (host read; slow; for printing/tests). */
nl_status nl_tensor_get(const nl_tensor *t, const int64_t *idx, double *out);
/* A new tensor sharing storage and layout, without grad or history. */
nl_status nl_detach(nl_tensor **out, nl_tensor *t);

/* ---- views (differentiable, share storage) ------------------------------ */
/* Reshape: a view when strides allow, otherwise a contiguous copy. One dim may be -1. */
nl_status nl_reshape(nl_tensor **out, nl_tensor *t, int ndim, const int64_t *shape);
nl_status nl_permute(nl_tensor **out, nl_tensor *t, const int *perm);
nl_status nl_transpose(nl_tensor **out, nl_tensor *t, int64_t d0, int64_t d1);
/* Elements [start, start+len) along dim. */
nl_status nl_narrow(nl_tensor **out, nl_tensor *t, int64_t dim, int64_t start, int64_t len);
/* Broadcast size-1 dims (and new leading dims) to shape; -1 keeps a dim. */
nl_status nl_expand(nl_tensor **out, nl_tensor *t, int ndim, const int64_t *shape);
/* Split along dim into pieces of `size` (last may be shorter); outs must hold ceil(n/size). */
nl_status nl_split(nl_tensor **outs, int *n_out, int max_out, nl_tensor *t, int64_t dim, int64_t size);
nl_status nl_squeeze(nl_tensor **out, nl_tensor *t, int64_t dim);
nl_status nl_unsqueeze(nl_tensor **out, nl_tensor *t, int64_t dim);

/* Broadcast two shapes (numpy rules) into out_shape; NL_ERR_SHAPE naming both. */
nl_status nl_broadcast_shapes(int na, const int64_t *a, int nb, const int64_t *b,
                              int *nout, int64_t *out);

#endif
