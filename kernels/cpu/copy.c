/* copy.c — COPY (any strides and dtype -> any strides and dtype, same shape)
 * and FILL (in place, any strides). The strided walk keeps the innermost
 * dimension as a tight loop; both-contiguous copies convert in bulk. Large
 * tensors are shared out over the threads by rows (or 64k-element chunks). */
#include <string.h>

#include "kernels.h"

/* Call fn for each row (all but the last dim) of `dst` (ndim >= 1) with the
 * element offsets of dst and src; rows are shared out over the threads when
 * there are enough elements (rows are disjoint in dst). */
typedef void (*row_fn)(char *d, const char *s, int64_t n, int64_t dstride, int64_t sstride, const nl_op_args *a);

static void walk(const nl_tensor *dst, const nl_tensor *src, row_fn fn, const nl_op_args *a)
{
    int nd = dst->ndim;
    size_t des = nl_dtype_size(dst->dtype), ses = src ? nl_dtype_size(src->dtype) : 0;
    char *dbase = nl_tensor_host_ptr(dst);
    const char *sbase = src ? nl_tensor_host_ptr(src) : NULL;
    if (nd == 0) { fn(dbase, sbase, 1, 0, 0, a); return; }
    int64_t n = dst->shape[nd - 1], rows = n ? nl_tensor_numel(dst) / n : 0;
#pragma omp parallel for schedule(static) if (rows > 1 && rows * n > 65536)
    for (int64_t r = 0; r < rows; r++) {
        int64_t doff = 0, soff = 0, rest = r;
        for (int i = nd - 2; i >= 0; i--) {
            int64_t k = rest % dst->shape[i];
            rest /= dst->shape[i];
            doff += k * dst->strides[i];
            if (src) soff += k * src->strides[i];
        }
        fn(dbase + doff * (int64_t)des, src ? sbase + soff * (int64_t)ses : NULL, n,
           dst->strides[nd - 1], src ? src->strides[nd - 1] : 0, a);
    }
}

static void copy_row(char *d, const char *s, int64_t n, int64_t ds, int64_t ss, const nl_op_args *a)
{
    nl_dtype dt = a->out[0]->dtype, st = a->in[0]->dtype;
    size_t des = nl_dtype_size(dt), ses = nl_dtype_size(st);
    if (ds == 1 && ss == 1) { nl_convert(d, dt, s, st, (size_t)n); return; }
    if (dt == st) {
        for (int64_t j = 0; j < n; j++) memcpy(d + j * ds * (int64_t)des, s + j * ss * (int64_t)ses, des);
        return;
    }
    for (int64_t j = 0; j < n; j++) nl_convert(d + j * ds * (int64_t)des, dt, s + j * ss * (int64_t)ses, st, 1);
}

static nl_status cpu_copy(const nl_op_args *a)
{
    nl_tensor *dst = a->out[0], *src = a->in[0];
    int64_t n = nl_tensor_numel(dst);
    if (n == 0) return NL_OK;
    if (nl_tensor_is_contiguous(dst) && nl_tensor_is_contiguous(src)) {
        char *d = nl_tensor_host_ptr(dst);
        const char *s = nl_tensor_host_ptr(src);
        size_t des = nl_dtype_size(dst->dtype), ses = nl_dtype_size(src->dtype);
        int64_t chunk = 1 << 16, nchunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (nchunks > 1)
        for (int64_t c = 0; c < nchunks; c++) {
            int64_t k = c * chunk, m = n - k < chunk ? n - k : chunk;
            nl_convert(d + k * (int64_t)des, dst->dtype, s + k * (int64_t)ses, src->dtype, (size_t)m);
        }
        return NL_OK;
    }
    walk(dst, src, copy_row, a);
    return NL_OK;
}

static void fill_row(char *d, const char *s, int64_t n, int64_t ds, int64_t ss, const nl_op_args *a)
{
    (void)s; (void)ss;
    nl_dtype dt = a->out[0]->dtype;
    size_t es = nl_dtype_size(dt);
    char v[8];
    if (dt == NL_I64) { int64_t x = (int64_t)a->p.f[0]; memcpy(v, &x, 8); }
    else { float f = (float)a->p.f[0]; nl_convert(v, dt, &f, NL_F32, 1); }
    if (dt == NL_F32 && ds == 1) {
        float f;
        memcpy(&f, v, sizeof f);
        for (int64_t j = 0; j < n; j++) ((float *)(void *)d)[j] = f;
        return;
    }
    for (int64_t j = 0; j < n; j++) memcpy(d + j * ds * (int64_t)es, v, es);
}

static nl_status cpu_fill(const nl_op_args *a)
{
    if (nl_tensor_numel(a->out[0]) == 0) return NL_OK;
    walk(a->out[0], NULL, fill_row, a);
    return NL_OK;
}

void nl_cpu_register_copy(nl_kernel_fn *t)
{
    t[NL_OP_COPY] = cpu_copy;
    t[NL_OP_FILL] = cpu_fill;
}
