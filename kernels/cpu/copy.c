/* copy.c — COPY (any strides and dtype -> any strides and dtype, same shape)
 * and FILL (in place, any strides). The strided walk keeps the innermost
 * dimension as a tight loop; both-contiguous copies convert in bulk. */
#include <string.h>

#include "kernels.h"

/* Walk the multi-index of `shape` (ndim >= 1) over all but the last dim,
 * calling fn for each row with the element offsets of dst and src. */
typedef void (*row_fn)(char *d, const char *s, int64_t n, int64_t dstride, int64_t sstride, const nl_op_args *a);

static void walk(const nl_tensor *dst, const nl_tensor *src, row_fn fn, const nl_op_args *a)
{
    int nd = dst->ndim;
    size_t des = nl_dtype_size(dst->dtype), ses = src ? nl_dtype_size(src->dtype) : 0;
    char *dbase = nl_tensor_host_ptr(dst);
    const char *sbase = src ? nl_tensor_host_ptr(src) : NULL;
    if (nd == 0) { fn(dbase, sbase, 1, 0, 0, a); return; }
    int64_t idx[NL_MAX_DIMS] = {0};
    int64_t n = dst->shape[nd - 1];
    for (;;) {
        int64_t doff = 0, soff = 0;
        for (int i = 0; i < nd - 1; i++) {
            doff += idx[i] * dst->strides[i];
            if (src) soff += idx[i] * src->strides[i];
        }
        fn(dbase + doff * (int64_t)des, src ? sbase + soff * (int64_t)ses : NULL, n,
           dst->strides[nd - 1], src ? src->strides[nd - 1] : 0, a);
        int i = nd - 2;
        while (i >= 0 && ++idx[i] == dst->shape[i]) idx[i--] = 0;
        if (i < 0) break;
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
    if (nl_tensor_numel(dst) == 0) return NL_OK;
    if (nl_tensor_is_contiguous(dst) && nl_tensor_is_contiguous(src)) {
        nl_convert(nl_tensor_host_ptr(dst), dst->dtype, nl_tensor_host_ptr(src), src->dtype, (size_t)nl_tensor_numel(dst));
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
