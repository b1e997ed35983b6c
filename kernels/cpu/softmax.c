/* softmax.c — CPU kernels of the softmax family over the LAST dim of
 * contiguous f32 tensors (the front-end moves other dims there): SOFTMAX,
 * LOG_SOFTMAX and their backward kernels. Rows are independent (OpenMP);
 * each row's sum accumulates in double. No BLAS here. */
#include <math.h>

#include "../formulas.h"
#include "kernels.h"

/* Rows and row length of a tensor viewed as [rows, D] (a 0-d tensor is one row of 1). */
static void rows_of(const nl_tensor *t, int64_t *rows, int64_t *D)
{
    *D = t->ndim ? t->shape[t->ndim - 1] : 1;
    *rows = *D ? nl_tensor_numel(t) / *D : 0;
}

/* Max of a row; -inf for an all -inf row, so x - max is NaN there (PyTorch's
 * result). NaN entries are skipped here and make the row sum NaN below. */
static float row_max(const float *x, int64_t D)
{
    float m = -INFINITY;
    for (int64_t j = 0; j < D; j++)
        if (x[j] > m) m = x[j];
    return m;
}

/* x [N, D] -> y [N, D]: softmax, or log-softmax for NL_OP_LOG_SOFTMAX */
static nl_status cpu_softmax_fwd(const nl_op_args *a)
{
    int64_t rows, D;
    rows_of(a->in[0], &rows, &D);
    const float *x = nl_f32(a->in[0]);
    float *y = nl_f32(a->out[0]);
    int logp = a->op == NL_OP_LOG_SOFTMAX;
#pragma omp parallel for schedule(static) if (rows * D > 32768)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * D;
        float *yr = y + r * D, m = row_max(xr, D);
        double s = 0;
        for (int64_t j = 0; j < D; j++) {
            float e = nl_expf(xr[j] - m);
            if (!logp) yr[j] = e;
            s += e;
        }
        if (logp) {
            float ls = (float)log(s);
            for (int64_t j = 0; j < D; j++) yr[j] = (xr[j] - m) - ls;
        } else {
            float inv = (float)(1.0 / s);
            for (int64_t j = 0; j < D; j++) yr[j] *= inv;
        }
    }
    return NL_OK;
}

/* g [N, D], y [N, D] (softmax output) -> gx = y * (g - sum(g * y)) */
static nl_status cpu_softmax_bwd(const nl_op_args *a)
{
    int64_t rows, D;
    rows_of(a->in[0], &rows, &D);
    const float *g = nl_f32(a->in[0]), *y = nl_f32(a->in[1]);
    float *gx = nl_f32(a->out[0]);
#pragma omp parallel for schedule(static) if (rows * D > 32768)
    for (int64_t r = 0; r < rows; r++) {
        const float *gr = g + r * D, *yr = y + r * D;
        double s = 0;
        for (int64_t j = 0; j < D; j++) s += (double)gr[j] * yr[j];
        for (int64_t j = 0; j < D; j++) gx[r * D + j] = (float)(yr[j] * (gr[j] - s));
    }
    return NL_OK;
}

/* g [N, D], y [N, D] (log-softmax output) -> gx = g - exp(y) * sum(g) */
static nl_status cpu_log_softmax_bwd(const nl_op_args *a)
{
    int64_t rows, D;
    rows_of(a->in[0], &rows, &D);
    const float *g = nl_f32(a->in[0]), *y = nl_f32(a->in[1]);
    float *gx = nl_f32(a->out[0]);
#pragma omp parallel for schedule(static) if (rows * D > 32768)
    for (int64_t r = 0; r < rows; r++) {
        const float *gr = g + r * D, *yr = y + r * D;
        double s = 0;
        for (int64_t j = 0; j < D; j++) s += gr[j];
        for (int64_t j = 0; j < D; j++) gx[r * D + j] = (float)(gr[j] - exp((double)yr[j]) * s);
    }
    return NL_OK;
}

void nl_cpu_register_softmax(nl_kernel_fn *t)
{
    t[NL_OP_SOFTMAX] = cpu_softmax_fwd;
    t[NL_OP_LOG_SOFTMAX] = cpu_softmax_fwd;
    t[NL_OP_SOFTMAX_BWD] = cpu_softmax_bwd;
    t[NL_OP_LOG_SOFTMAX_BWD] = cpu_log_softmax_bwd;
}
