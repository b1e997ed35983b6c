/* reduce.c — CPU kernels of the reductions over one dim: SUM, MEAN, MAX
 * (values and first-argmax indices), ARGMAX, MAX_BWD (scatter to the argmax)
 * and SUM_TO (reduce a broadcast result back to a shape). Inputs are
 * contiguous, viewed as [outer, n, inner] around the reduced dim (p.i[0]);
 * sums accumulate in double. */
#include <math.h>
#include <stdlib.h>

#include "../../runtime/alloc.h"
#include "kernels.h"

static void split_dims(const nl_tensor *x, int d, int64_t *outer, int64_t *n, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int i = 0; i < d; i++) *outer *= x->shape[i];
    for (int i = d + 1; i < x->ndim; i++) *inner *= x->shape[i];
    *n = x->ndim ? x->shape[d] : 1;
}

/* x [outer, n, inner] -> out [outer, inner]: sum, or mean for MEAN */
static nl_status cpu_sum(const nl_op_args *a)
{
    int64_t outer, n, inner;
    split_dims(a->in[0], (int)a->p.i[0], &outer, &n, &inner);
    const float *x = nl_f32(a->in[0]);
    float *y = nl_f32(a->out[0]);
    int mean = a->op == NL_OP_MEAN;
#pragma omp parallel for schedule(static) if (outer * n * inner > 65536)
    for (int64_t k = 0; k < outer * inner; k++) {
        int64_t o = k / inner, i = k % inner;
        const float *p = x + o * n * inner + i;
        double s = 0;
        for (int64_t j = 0; j < n; j++) s += p[j * inner];
        y[k] = mean ? (n ? (float)(s / (double)n) : NAN) : (float)s;
    }
    return NL_OK;
}

/* x [outer, n, inner] -> values [outer, inner] (MAX only), idx i64 [outer, inner].
 * NaN wins (like torch.max); ties keep the first index. */
static nl_status cpu_max(const nl_op_args *a)
{
    int64_t outer, n, inner;
    split_dims(a->in[0], (int)a->p.i[0], &outer, &n, &inner);
    const float *x = nl_f32(a->in[0]);
    int with_values = a->op == NL_OP_MAX;
    float *y = with_values ? nl_f32(a->out[0]) : NULL;
    int64_t *idx = nl_tensor_host_ptr(a->out[with_values ? 1 : 0]);
#pragma omp parallel for schedule(static) if (outer * n * inner > 65536)
    for (int64_t k = 0; k < outer * inner; k++) {
        int64_t o = k / inner, i = k % inner, best = 0;
        const float *p = x + o * n * inner + i;
        float m = p[0];
        for (int64_t j = 1; j < n && !isnan(m); j++) {
            float v = p[j * inner];
            if (v > m || isnan(v)) { m = v; best = j; }
        }
        if (y) y[k] = m;
        idx[k] = best;
    }
    return NL_OK;
}

/* g [outer, inner], idx i64 [outer, inner] -> gx [outer, n, inner] (zero elsewhere) */
static nl_status cpu_max_bwd(const nl_op_args *a)
{
    nl_tensor *gx = a->out[0];
    int64_t outer, n, inner;
    split_dims(gx, (int)a->p.i[0], &outer, &n, &inner);
    const float *g = nl_f32(a->in[0]);
    const int64_t *idx = nl_tensor_host_ptr(a->in[1]);
    float *o = nl_f32(gx);
    for (int64_t k = 0; k < outer * n * inner; k++) o[k] = 0;
    for (int64_t k = 0; k < outer * inner; k++) o[(k / inner) * n * inner + idx[k] * inner + k % inner] = g[k];
    return NL_OK;
}

/* x [S] contiguous -> out [T] where S is a broadcast of T (same ndim after
 * left-padding T with 1s): out[t] = sum of x over the broadcast dims. */
static nl_status cpu_sum_to(const nl_op_args *a)
{
    const nl_tensor *x = a->in[0];
    nl_tensor *out = a->out[0];
    int nd = x->ndim, lead = nd - out->ndim;
    int64_t ostride[NL_MAX_DIMS], s = 1;
    for (int d = nd - 1; d >= 0; d--) {
        int64_t od = d < lead ? 1 : out->shape[d - lead];
        ostride[d] = od == 1 ? 0 : s;
        s *= od;
    }
    int64_t no = nl_tensor_numel(out), nx = nl_tensor_numel(x);
    double *acc;
    NL_TRY(nl_host_alloc((size_t)(no ? no : 1) * sizeof *acc, (void **)&acc));
    for (int64_t k = 0; k < no; k++) acc[k] = 0;
    const float *p = nl_f32(x);
    int64_t idx[NL_MAX_DIMS] = {0}, off = 0;
    for (int64_t k = 0; k < nx; k++) {
        acc[off] += p[k];
        for (int d = nd - 1; d >= 0; d--) { /* odometer increment, keeping off in step */
            off += ostride[d];
            if (++idx[d] < x->shape[d]) break;
            off -= ostride[d] * idx[d];
            idx[d] = 0;
        }
    }
    float *y = nl_f32(out);
    for (int64_t k = 0; k < no; k++) y[k] = (float)acc[k];
    nl_host_free(acc, (size_t)(no ? no : 1) * sizeof *acc);
    return NL_OK;
}

void nl_cpu_register_reduce(nl_kernel_fn *t)
{
    t[NL_OP_SUM] = t[NL_OP_MEAN] = cpu_sum;
    t[NL_OP_MAX] = t[NL_OP_ARGMAX] = cpu_max;
    t[NL_OP_MAX_BWD] = cpu_max_bwd;
    t[NL_OP_SUM_TO] = cpu_sum_to;
}
