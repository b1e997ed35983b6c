/* loss.c — CPU kernels of the cross-entropy loss on contiguous inputs:
 * CROSS_ENTROPY (mean over supervised rows, log-sum-exp per row with the
 * exponentials vectorised and summed in double in index order, row losses
 * summed in double in row order: deterministic for any thread count) and
 * CROSS_ENTROPY_BWD. Targets were range-checked by runtime/ops/loss.c. */
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../../runtime/alloc.h"
#include "../formulas.h"
#include "kernels.h"

static int64_t target_at(const nl_tensor *t, int64_t r)
{
    const void *p = nl_tensor_host_ptr(t);
    return t->dtype == NL_I64 ? ((const int64_t *)p)[r] : ((const int32_t *)p)[r];
}

/* log(sum_j exp(x_j)) of one row, stable (max subtracted); the exponentials
 * go through tmp [V] (a vectorised loop), then are summed in double in
 * index order. */
static double row_lse(const float *x, int64_t V, float *tmp)
{
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < V; j++) m = x[j] > m ? x[j] : m; /* a NaN entry makes the sum below NaN */
    if (isinf(m)) return m; /* all -inf (or a +inf): no finite normaliser */
#pragma omp simd
    for (int64_t j = 0; j < V; j++) tmp[j] = nl_expf(x[j] - m);
    double s = 0;
    for (int64_t j = 0; j < V; j++) s += tmp[j];
    return m + log(s);
}

/* logits [N, V], targets [N] -> out[0] loss (0-d), out[1] lse [N] (0 for
 * ignored rows); i[0] ignore index, i[1] number of supervised rows. */
static nl_status cpu_cross_entropy(const nl_op_args *a)
{
    const nl_tensor *logits = a->in[0], *tg = a->in[1];
    int64_t N = logits->shape[0], V = logits->shape[1], ignore = a->p.i[0], nsup = a->p.i[1];
    const float *x = nl_f32(logits);
    float *lse = nl_f32(a->out[1]);
    int nth = 1;
#ifdef _OPENMP
    nth = omp_get_max_threads();
#endif
    size_t b_row = (size_t)(N ? N : 1) * sizeof(double), b_tmp = (size_t)nth * (size_t)(V ? V : 1) * sizeof(float);
    double *row = NULL;
    float *tmp = NULL;
    NL_TRY(nl_host_alloc(b_row, (void **)&row));
    nl_status st = nl_host_alloc(b_tmp, (void **)&tmp);
    if (st != NL_OK) {
        nl_host_free(row, b_row);
        return st;
    }
#pragma omp parallel for schedule(static) if (N * V > 32768)
    for (int64_t r = 0; r < N; r++) {
        int w = 0;
#ifdef _OPENMP
        w = omp_get_thread_num();
#endif
        int64_t t = target_at(tg, r);
        if (t == ignore) { lse[r] = 0; row[r] = 0; continue; }
        double l = row_lse(x + r * V, V, tmp + (size_t)w * (size_t)V);
        lse[r] = (float)l;
        row[r] = l - x[r * V + t];
    }
    double sum = 0;
    for (int64_t r = 0; r < N; r++) sum += row[r];
    nl_host_free(row, b_row);
    nl_host_free(tmp, b_tmp);
    nl_f32(a->out[0])[0] = nsup ? (float)(sum / (double)nsup) : 0.0f;
    return NL_OK;
}

/* logits [N, V], targets [N], lse [N], g (0-d) -> gx [N, V] =
 * (softmax - onehot) * g / n_supervised on supervised rows, 0 elsewhere. */
static nl_status cpu_cross_entropy_bwd(const nl_op_args *a)
{
    const nl_tensor *logits = a->in[0], *tg = a->in[1];
    int64_t N = logits->shape[0], V = logits->shape[1], ignore = a->p.i[0], nsup = a->p.i[1];
    const float *x = nl_f32(logits), *lse = nl_f32(a->in[2]);
    float *gx = nl_f32(a->out[0]);
    float scale = nsup ? (float)(nl_f32(a->in[3])[0] / (double)nsup) : 0.0f;
#pragma omp parallel for schedule(static) if (N * V > 32768)
    for (int64_t r = 0; r < N; r++) {
        int64_t t = target_at(tg, r);
        float *gr = gx + r * V;
        const float *xr = x + r * V;
        if (t == ignore) {
            for (int64_t j = 0; j < V; j++) gr[j] = 0;
            continue;
        }
        float l = lse[r];
#pragma omp simd
        for (int64_t j = 0; j < V; j++) gr[j] = nl_expf(xr[j] - l) * scale;
        gr[t] -= scale;
    }
    return NL_OK;
}

void nl_cpu_register_loss(nl_kernel_fn *t)
{
    t[NL_OP_CROSS_ENTROPY] = cpu_cross_entropy;
    t[NL_OP_CROSS_ENTROPY_BWD] = cpu_cross_entropy_bwd;
}
