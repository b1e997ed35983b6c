/* norm.c — CPU kernels of the normalisation and position family on
 * contiguous f32 tensors viewed as [N, C] rows (C = last dim): RMSNORM,
 * LAYERNORM, L2_NORMALIZE, their backward kernels, and ROPE (forward and
 * inverse rotation). Row statistics and weight/bias gradients accumulate in
 * double (row sums in SIMD lanes, then the lanes; column sums in row
 * order), so results do not depend on the thread count. Shapes were
 * validated by runtime/ops/norm.c. No BLAS here. */
#include <math.h>
#include <stdlib.h>

#include "kernels.h"

#define PAR_MIN 32768 /* elements below which a loop stays serial */
#define COL_BLOCK 64  /* columns per task of a column-sum loop */

/* Rows N and row length C of a tensor viewed as [N, C]. */
static void rows_of(const nl_tensor *t, int64_t *N, int64_t *C)
{
    *C = t->shape[t->ndim - 1];
    *N = 1;
    for (int i = 0; i < t->ndim - 1; i++) *N *= t->shape[i];
}

static const float *opt_f32(const nl_tensor *t) { return t ? nl_f32(t) : NULL; }

static float *opt_out(const nl_op_args *a, int i) { return i < a->n_out && a->out[i] ? nl_f32(a->out[i]) : NULL; }

/* x [N, C], w [C] or NULL -> out[0] y [N, C], out[1] rstd [N]; f[0] eps.
 * y = x * rsqrt(mean(x^2) + eps) * w */
static nl_status cpu_rmsnorm(const nl_op_args *a)
{
    int64_t N, C;
    rows_of(a->in[0], &N, &C);
    const float *x = nl_f32(a->in[0]), *w = opt_f32(a->in[1]);
    float *y = nl_f32(a->out[0]), *rstd = nl_f32(a->out[1]);
    double eps = a->p.f[0];
#pragma omp parallel for schedule(static) if (N * C > PAR_MIN)
    for (int64_t r = 0; r < N; r++) {
        const float *xr = x + r * C;
        float *yr = y + r * C;
        double ss = 0;
#pragma omp simd reduction(+ : ss)
        for (int64_t j = 0; j < C; j++) ss += (double)xr[j] * xr[j];
        float rs = (float)(1.0 / sqrt(ss / (double)C + eps));
        rstd[r] = rs;
        if (w)
            for (int64_t j = 0; j < C; j++) yr[j] = (xr[j] * rs) * w[j];
        else
            for (int64_t j = 0; j < C; j++) yr[j] = xr[j] * rs;
    }
    return NL_OK;
}

/* gw[j] = sum_r g[r,j] * xhat(r,j) (and gb[j] = sum_r g[r,j]), in double, in
 * row order; xhat = (x - mean[r]) * rstd[r] (mean NULL means 0). */
static void column_sums(const float *g, const float *x, const float *mean, const float *rstd, int64_t N,
                        int64_t C, float *gw, float *gb)
{
    int64_t nblk = (C + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for schedule(static) if (N * C > PAR_MIN)
    for (int64_t blk = 0; blk < nblk; blk++) {
        int64_t j0 = blk * COL_BLOCK, j1 = j0 + COL_BLOCK < C ? j0 + COL_BLOCK : C;
        double sw[COL_BLOCK] = {0}, sb[COL_BLOCK] = {0};
        for (int64_t r = 0; r < N; r++) {
            const float *gr = g + r * C, *xr = x + r * C;
            double m = mean ? mean[r] : 0, rs = rstd[r];
            for (int64_t j = j0; j < j1; j++) {
                sw[j - j0] += (double)gr[j] * ((xr[j] - m) * rs);
                sb[j - j0] += gr[j];
            }
        }
        for (int64_t j = j0; j < j1; j++) {
            if (gw) gw[j] = (float)sw[j - j0];
            if (gb) gb[j] = (float)sb[j - j0];
        }
    }
}

/* g [N, C], x [N, C], w [C] or NULL, rstd [N] -> out[0] gx [N, C],
 * out[1] gw [C] (optional).
 * gx = rstd * (g*w - x * rstd^2 * mean(g*w*x)) */
static nl_status cpu_rmsnorm_bwd(const nl_op_args *a)
{
    int64_t N, C;
    rows_of(a->in[1], &N, &C);
    const float *g = nl_f32(a->in[0]), *x = nl_f32(a->in[1]), *w = opt_f32(a->in[2]), *rstd = nl_f32(a->in[3]);
    float *gx = nl_f32(a->out[0]), *gw = opt_out(a, 1);
#pragma omp parallel for schedule(static) if (N * C > PAR_MIN)
    for (int64_t r = 0; r < N; r++) {
        const float *gr = g + r * C, *xr = x + r * C;
        double rs = rstd[r], dot = 0;
        float *gxr = gx + r * C;
        if (w) {
#pragma omp simd reduction(+ : dot)
            for (int64_t j = 0; j < C; j++) dot += (double)gr[j] * w[j] * xr[j];
        } else {
#pragma omp simd reduction(+ : dot)
            for (int64_t j = 0; j < C; j++) dot += (double)gr[j] * xr[j];
        }
        double k = rs * rs * rs * dot / (double)C;
        if (w)
            for (int64_t j = 0; j < C; j++) gxr[j] = (float)(rs * gr[j] * w[j] - k * xr[j]);
        else
            for (int64_t j = 0; j < C; j++) gxr[j] = (float)(rs * gr[j] - k * xr[j]);
    }
    if (gw) column_sums(g, x, NULL, rstd, N, C, gw, NULL);
    return NL_OK;
}

/* x [N, C], w [C] or NULL, b [C] or NULL -> out[0] y [N, C], out[1] mean [N],
 * out[2] rstd [N]; f[0] eps. Biased variance, as torch.nn.LayerNorm. */
static nl_status cpu_layernorm(const nl_op_args *a)
{
    int64_t N, C;
    rows_of(a->in[0], &N, &C);
    const float *x = nl_f32(a->in[0]), *w = opt_f32(a->in[1]), *b = opt_f32(a->in[2]);
    float *y = nl_f32(a->out[0]), *mean = nl_f32(a->out[1]), *rstd = nl_f32(a->out[2]);
    double eps = a->p.f[0];
#pragma omp parallel for schedule(static) if (N * C > PAR_MIN)
    for (int64_t r = 0; r < N; r++) {
        const float *xr = x + r * C;
        float *yr = y + r * C;
        double s = 0, v = 0;
        for (int64_t j = 0; j < C; j++) s += xr[j];
        double m = s / (double)C;
        for (int64_t j = 0; j < C; j++) v += (xr[j] - m) * (xr[j] - m);
        double rs = 1.0 / sqrt(v / (double)C + eps);
        mean[r] = (float)m;
        rstd[r] = (float)rs;
        for (int64_t j = 0; j < C; j++) {
            float h = (float)((xr[j] - m) * rs);
            yr[j] = (w ? h * w[j] : h) + (b ? b[j] : 0.0f);
        }
    }
    return NL_OK;
}

/* g [N, C], x [N, C], w [C] or NULL, mean [N], rstd [N] -> out[0] gx [N, C],
 * out[1] gw [C], out[2] gb [C] (both optional).
 * xhat = (x - mean) * rstd, d = g * w:
 * gx = rstd * (d - mean(d) - xhat * mean(d * xhat)) */
static nl_status cpu_layernorm_bwd(const nl_op_args *a)
{
    int64_t N, C;
    rows_of(a->in[1], &N, &C);
    const float *g = nl_f32(a->in[0]), *x = nl_f32(a->in[1]), *w = opt_f32(a->in[2]);
    const float *mean = nl_f32(a->in[3]), *rstd = nl_f32(a->in[4]);
    float *gx = nl_f32(a->out[0]), *gw = opt_out(a, 1), *gb = opt_out(a, 2);
#pragma omp parallel for schedule(static) if (N * C > PAR_MIN)
    for (int64_t r = 0; r < N; r++) {
        const float *gr = g + r * C, *xr = x + r * C;
        double m = mean[r], rs = rstd[r], sd = 0, sdx = 0;
        for (int64_t j = 0; j < C; j++) {
            double d = (double)gr[j] * (w ? w[j] : 1.0f);
            sd += d;
            sdx += d * ((xr[j] - m) * rs);
        }
        sd /= (double)C;
        sdx /= (double)C;
        for (int64_t j = 0; j < C; j++) {
            double d = (double)gr[j] * (w ? w[j] : 1.0f), xh = (xr[j] - m) * rs;
            gx[r * C + j] = (float)(rs * (d - sd - xh * sdx));
        }
    }
    if (gw || gb) column_sums(g, x, mean, rstd, N, C, gw, gb);
    return NL_OK;
}

/* x [N, C] -> out[0] y [N, C], out[1] norm [N]; f[0] eps.
 * y = x / max(||x||_2, eps), as torch.nn.functional.normalize */
static nl_status cpu_l2_normalize(const nl_op_args *a)
{
    int64_t N, C;
    rows_of(a->in[0], &N, &C);
    const float *x = nl_f32(a->in[0]);
    float *y = nl_f32(a->out[0]), *norm = nl_f32(a->out[1]);
    double eps = a->p.f[0];
#pragma omp parallel for schedule(static) if (N * C > PAR_MIN)
    for (int64_t r = 0; r < N; r++) {
        const float *xr = x + r * C;
        double ss = 0;
        for (int64_t j = 0; j < C; j++) ss += (double)xr[j] * xr[j];
        double nr = sqrt(ss), den = nr > eps ? nr : eps;
        norm[r] = (float)nr;
        for (int64_t j = 0; j < C; j++) y[r * C + j] = (float)(xr[j] / den);
    }
    return NL_OK;
}

/* g [N, C], x [N, C], norm [N] -> gx [N, C]; f[0] eps.
 * Unclamped rows (norm >= eps): gx = g/n - x * sum(g*x) / n^3;
 * clamped rows (norm < eps): gx = g / eps. */
static nl_status cpu_l2_normalize_bwd(const nl_op_args *a)
{
    int64_t N, C;
    rows_of(a->in[1], &N, &C);
    const float *g = nl_f32(a->in[0]), *x = nl_f32(a->in[1]), *norm = nl_f32(a->in[2]);
    float *gx = nl_f32(a->out[0]);
    double eps = a->p.f[0];
#pragma omp parallel for schedule(static) if (N * C > PAR_MIN)
    for (int64_t r = 0; r < N; r++) {
        const float *gr = g + r * C, *xr = x + r * C;
        double nr = norm[r];
        if (nr < eps) {
            for (int64_t j = 0; j < C; j++) gx[r * C + j] = (float)(gr[j] / eps);
            continue;
        }
        double dot = 0;
        for (int64_t j = 0; j < C; j++) dot += (double)gr[j] * xr[j];
        double k = dot / (nr * nr * nr);
        for (int64_t j = 0; j < C; j++) gx[r * C + j] = (float)(gr[j] / nr - k * xr[j]);
    }
    return NL_OK;
}

static double pos_at(const nl_tensor *pos, int64_t i)
{
    const void *p = nl_tensor_host_ptr(pos);
    return pos->dtype == NL_I64 ? (double)((const int64_t *)p)[i] : (double)((const int32_t *)p)[i];
}

/* cos/sin table [P, half] of angle pos[p] * theta^(-2j/rd), computed in double. */
static nl_status rope_table(const nl_tensor *pos, double theta, int64_t rd, double **cs_out, double **sn_out)
{
    int64_t P = nl_tensor_numel(pos), half = rd / 2, n = P * half;
    double *cs = malloc((size_t)(n ? n : 1) * sizeof *cs), *sn = malloc((size_t)(n ? n : 1) * sizeof *sn);
    if (!cs || !sn) {
        free(cs);
        free(sn);
        return nl_error_set(NL_ERR_OOM, "out of memory for a %lld x %lld rotation table", (long long)P,
                            (long long)half);
    }
#pragma omp parallel for schedule(static) if (n > PAR_MIN / 8)
    for (int64_t p = 0; p < P; p++) {
        double t = pos_at(pos, p);
        for (int64_t j = 0; j < half; j++) {
            double ang = t * pow(theta, -2.0 * (double)j / (double)rd);
            cs[p * half + j] = cos(ang);
            sn[p * half + j] = sin(ang);
        }
    }
    *cs_out = cs;
    *sn_out = sn;
    return NL_OK;
}

/* x [B, NH, T, HS], pos [T], [1, T] or [B, T] (i64/i32) -> y [B, NH, T, HS];
 * f[0] theta, i[0] rotary dim rd (even, <= HS), i[1] 1 for the inverse
 * rotation (the backward). HF rotate-half: for j < rd/2, with c, s of the
 * angle, y[j] = x[j] c - x[j+rd/2] s, y[j+rd/2] = x[j+rd/2] c + x[j] s;
 * dims >= rd pass through. */
static nl_status cpu_rope(const nl_op_args *a)
{
    const nl_tensor *xt = a->in[0], *pos = a->in[1];
    int64_t B = xt->shape[0], NH = xt->shape[1], T = xt->shape[2], HS = xt->shape[3];
    int64_t rd = a->p.i[0], half = rd / 2, per_batch = pos->ndim == 2 && pos->shape[0] == B && B > 1;
    double sign = a->p.i[1] ? -1.0 : 1.0, *cs, *sn;
    NL_TRY(rope_table(pos, a->p.f[0], rd, &cs, &sn));
    const float *x = nl_f32(xt);
    float *y = nl_f32(a->out[0]);
    int64_t rows = B * NH * T;
#pragma omp parallel for schedule(static) if (rows * HS > PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        int64_t t = r % T, b = r / (NH * T), p = per_batch ? b * T + t : t;
        const float *xr = x + r * HS;
        float *yr = y + r * HS;
        const double *c = cs + p * half, *s = sn + p * half;
        for (int64_t j = 0; j < half; j++) {
            double x1 = xr[j], x2 = xr[j + half], sj = sign * s[j];
            yr[j] = (float)(x1 * c[j] - x2 * sj);
            yr[j + half] = (float)(x2 * c[j] + x1 * sj);
        }
        for (int64_t j = rd; j < HS; j++) yr[j] = xr[j];
    }
    free(cs);
    free(sn);
    return NL_OK;
}

void nl_cpu_register_norm(nl_kernel_fn *t)
{
    t[NL_OP_RMSNORM] = cpu_rmsnorm;
    t[NL_OP_RMSNORM_BWD] = cpu_rmsnorm_bwd;
    t[NL_OP_LAYERNORM] = cpu_layernorm;
    t[NL_OP_LAYERNORM_BWD] = cpu_layernorm_bwd;
    t[NL_OP_ROPE] = cpu_rope;
    t[NL_OP_L2_NORMALIZE] = cpu_l2_normalize;
    t[NL_OP_L2_NORMALIZE_BWD] = cpu_l2_normalize_bwd;
}
