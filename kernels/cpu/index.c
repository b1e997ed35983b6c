/* index.c — CPU kernels of gather / scatter / concatenation: EMBEDDING,
 * INDEX_SELECT, INDEX_ADD and CONCAT on contiguous tensors viewed as
 * [outer, D, inner] around the indexed dim. Ids (i32/i64) were range-checked
 * by the front-end (runtime/ops/index.c). Gathers copy bytes of any dtype;
 * INDEX_ADD accumulates f32. No BLAS here. */
#include <string.h>

#include "kernels.h"

static int64_t id_at(const nl_tensor *ids, int64_t j)
{
    const void *p = nl_tensor_host_ptr(ids);
    return ids->dtype == NL_I64 ? ((const int64_t *)p)[j] : ((const int32_t *)p)[j];
}

/* Product of shape[from, to). */
static int64_t span(const nl_tensor *t, int from, int to)
{
    int64_t n = 1;
    for (int i = from; i < to; i++) n *= t->shape[i];
    return n;
}

/* out [outer, n, inner] = x [outer, D, inner] at ids [n] along the middle dim. */
static void gather(const nl_tensor *x, const nl_tensor *ids, nl_tensor *out, int64_t outer, int64_t D, int64_t inner)
{
    int64_t n = nl_tensor_numel(ids);
    size_t row = (size_t)inner * nl_dtype_size(x->dtype);
    const char *src = nl_tensor_host_ptr(x);
    char *dst = nl_tensor_host_ptr(out);
    if (row == 0) return;
#pragma omp parallel for schedule(static) if (outer * n * (int64_t)row > (1 << 18))
    for (int64_t k = 0; k < outer * n; k++) {
        int64_t o = k / n, j = k % n;
        memcpy(dst + (size_t)k * row, src + (size_t)(o * D + id_at(ids, j)) * row, row);
    }
}

/* weight [V, C], ids [...] -> out [..., C] */
static nl_status cpu_embedding(const nl_op_args *a)
{
    const nl_tensor *w = a->in[0];
    gather(w, a->in[1], a->out[0], 1, w->shape[0], w->shape[1]);
    return NL_OK;
}

/* x [..., D, ...] (dim i[0]), ids [n] -> out [..., n, ...] */
static nl_status cpu_index_select(const nl_op_args *a)
{
    const nl_tensor *x = a->in[0];
    int d = (int)a->p.i[0];
    gather(x, a->in[1], a->out[0], span(x, 0, d), x->shape[d], span(x, d + 1, x->ndim));
    return NL_OK;
}

/* out [..., D, ...] += src [..., n, ...] scattered at ids [n] along dim i[0]
 * (f32; repeated ids accumulate in id order, so the result is deterministic). */
static nl_status cpu_index_add(const nl_op_args *a)
{
    const nl_tensor *src = a->in[0], *ids = a->in[1];
    nl_tensor *out = a->out[0];
    int d = (int)a->p.i[0];
    int64_t outer = span(out, 0, d), D = out->shape[d], inner = span(out, d + 1, out->ndim);
    int64_t n = nl_tensor_numel(ids);
    const float *s = nl_f32(src);
    float *o = nl_f32(out);
#pragma omp parallel for schedule(static) if (outer > 1 && outer * n * inner > 32768)
    for (int64_t b = 0; b < outer; b++)
        for (int64_t j = 0; j < n; j++) {
            float *dst = o + (b * D + id_at(ids, j)) * inner;
            const float *row = s + (b * n + j) * inner;
            for (int64_t c = 0; c < inner; c++) dst[c] += row[c];
        }
    return NL_OK;
}

/* xs[k] [..., D_k, ...] -> out [..., sum D_k, ...] along dim i[0] */
static nl_status cpu_concat(const nl_op_args *a)
{
    nl_tensor *out = a->out[0];
    int d = (int)a->p.i[0];
    int64_t outer = span(out, 0, d), inner = span(out, d + 1, out->ndim);
    size_t es = nl_dtype_size(out->dtype), orow = (size_t)(out->shape[d] * inner) * es;
    char *dst = nl_tensor_host_ptr(out);
    size_t at = 0;
    for (int k = 0; k < a->n_in; k++) {
        size_t krow = (size_t)(a->in[k]->shape[d] * inner) * es;
        const char *src = nl_tensor_host_ptr(a->in[k]);
        for (int64_t b = 0; b < outer && krow; b++) memcpy(dst + (size_t)b * orow + at, src + (size_t)b * krow, krow);
        at += krow;
    }
    return NL_OK;
}

void nl_cpu_register_index(nl_kernel_fn *t)
{
    t[NL_OP_EMBEDDING] = cpu_embedding;
    t[NL_OP_INDEX_SELECT] = cpu_index_select;
    t[NL_OP_INDEX_ADD] = cpu_index_add;
    t[NL_OP_CONCAT] = cpu_concat;
}
