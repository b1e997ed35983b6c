/* attention.c — CPU kernels of scaled dot-product attention with grouped-query
 * heads: ATTENTION (writes the output and the probabilities P) and
 * ATTENTION_BWD (from the saved P). q, k, v, g are contiguous f32; the
 * additive mask may be a stride-0 broadcast view. The threads share out the
 * (b, h) blocks (forward) or the (b, kv-head) groups (backward: a group's
 * heads accumulate into one dK/dV block); each block's products are
 * single-threaded sgemm calls (gemm.h), 32 query rows at a time.
 * Shapes: q [B,NH,Tq,HS], k/v [B,NKV,Tk,HS], P [B,NH,Tq,Tk]. */
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../../runtime/alloc.h"
#include "../../runtime/runtime.h"
#include "../formulas.h"
#include "gemm.h"
#include "kernels.h"

typedef struct {
    int64_t B, NH, NKV, Tq, Tk, HS;
    float scale;
    int causal, mask_kind; /* 0 none, 1 u8 key padding [B,Tk], 2 additive f32 (strided [B,NH,Tq,Tk]) */
} att_dims;

static att_dims dims_of(const nl_op_args *a, const nl_tensor *q, const nl_tensor *k)
{
    att_dims d = {q->shape[0], q->shape[1], k->shape[1], q->shape[2], k->shape[2], q->shape[3],
                  (float)a->p.f[0], (int)a->p.i[0], (int)a->p.i[1]};
    return d;
}

/* Query rows per block. Under the causal mask a block computes scores only
 * for the keys its last row can see (about half the square at T = 128). */
#define QBLOCK 32

/* Keys visible to some row of a query block ending at row i1 (exclusive). */
static int64_t keys_seen(const att_dims *d, int64_t i1)
{
    if (!d->causal) return d->Tk;
    int64_t n = i1 + (d->Tk - d->Tq);
    return n < 0 ? 0 : (n > d->Tk ? d->Tk : n);
}

/* Rows [i0, i1) of one (b, h) score block P (row stride Tk) in place: mask,
 * then a stable softmax over the visible keys; the other entries (and rows
 * with every key masked) become zeros. Only the visible prefix of a row is
 * read. */
static void softmax_rows(float *P, const att_dims *d, int64_t b, int64_t h, int64_t i0, int64_t i1,
                         const nl_tensor *mask)
{
    const uint8_t *kp = d->mask_kind == 1 ? (const uint8_t *)nl_tensor_host_ptr(mask) + b * d->Tk : NULL;
    const float *am = d->mask_kind == 2 ? nl_f32(mask) : NULL;
    for (int64_t i = i0; i < i1; i++) {
        float *row = P + (i - i0) * d->Tk, m = -INFINITY;
        int64_t n = d->causal ? i + (d->Tk - d->Tq) + 1 : d->Tk; /* visible keys [0, n) */
        n = n < 0 ? 0 : (n > d->Tk ? d->Tk : n);
        if (kp)
            for (int64_t j = 0; j < n; j++) row[j] = kp[j] ? row[j] : -INFINITY;
        if (am) {
            const float *ar = am + b * mask->strides[0] + h * mask->strides[1] + i * mask->strides[2];
            for (int64_t j = 0; j < n; j++) row[j] += ar[j * mask->strides[3]];
        }
        for (int64_t j = 0; j < n; j++)
            if (row[j] > m) m = row[j];
        if (m == -INFINITY) n = 0;
        for (int64_t j = 0; j < n; j++) row[j] = nl_expf(row[j] - m);
        double sum = 0;
        for (int64_t j = 0; j < n; j++) sum += row[j];
        float inv = (float)(1.0 / sum);
        for (int64_t j = 0; j < n; j++) row[j] *= inv;
        for (int64_t j = n; j < d->Tk; j++) row[j] = 0;
    }
}

/* in: q, k, v[, mask]; out: o [B,NH,Tq,HS], P [B,NH,Tq,Tk]; f[0] scale, i[0] causal, i[1] mask kind */
static nl_status cpu_attention(const nl_op_args *a)
{
    const nl_tensor *q = a->in[0], *k = a->in[1], *v = a->in[2], *mask = a->n_in > 3 ? a->in[3] : NULL;
    att_dims d = dims_of(a, q, k);
    int64_t group = d.NH / d.NKV, Tk = d.Tk, HS = d.HS;
    const float *Q = nl_f32(q), *K = nl_f32(k), *V = nl_f32(v);
    float *O = nl_f32(a->out[0]), *P = nl_f32(a->out[1]);
    NL_TRY(nl_interrupt_poll());
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t bh = 0; bh < d.B * d.NH; bh++) {
        if (nl_interrupt_pending()) continue;
        int64_t b = bh / d.NH, h = bh % d.NH, kv = b * d.NKV + h / group;
        const float *kb = K + kv * Tk * HS, *vb = V + kv * Tk * HS;
        for (int64_t i0 = 0; i0 < d.Tq; i0 += QBLOCK) {
            int64_t i1 = i0 + QBLOCK < d.Tq ? i0 + QBLOCK : d.Tq, rows = i1 - i0, nk = keys_seen(&d, i1);
            float *pr = P + (bh * d.Tq + i0) * Tk, *orow = O + (bh * d.Tq + i0) * HS;
            if (HS == 0)
                for (int64_t t = 0; t < rows * Tk; t++) pr[t] = 0; /* empty dot products: scores 0 */
            else if (nk > 0)
                nl_cpu_sgemm(0, 1, rows, nk, HS, d.scale, Q + (bh * d.Tq + i0) * HS, HS, kb, HS, 0.0f, pr, Tk);
            softmax_rows(pr, &d, b, h, i0, i1, mask);
            if (HS == 0) continue;
            if (nk == 0)
                for (int64_t t = 0; t < rows * HS; t++) orow[t] = 0;
            else
                nl_cpu_sgemm(0, 0, rows, HS, nk, 1.0f, pr, Tk, vb, HS, 0.0f, orow, HS);
        }
    }
    return nl_interrupt_poll();
}

/* in: g [B,NH,Tq,HS], q, k, v, P; out: dq, dk, dv (dk, dv zeroed by the front-end).
 * Per query block, only the keys it sees (P is zero elsewhere). */
static nl_status cpu_attention_bwd(const nl_op_args *a)
{
    const nl_tensor *q = a->in[1], *k = a->in[2];
    att_dims d = dims_of(a, q, k);
    int64_t group = d.NH / d.NKV, Tq = d.Tq, Tk = d.Tk, HS = d.HS;
    const float *G = nl_f32(a->in[0]), *Q = nl_f32(q), *K = nl_f32(k), *V = nl_f32(a->in[3]), *P = nl_f32(a->in[4]);
    float *dQ = nl_f32(a->out[0]), *dK = nl_f32(a->out[1]), *dV = nl_f32(a->out[2]);
    if (Tq == 0 || Tk == 0 || HS == 0) {
        for (int64_t i = 0; i < nl_tensor_numel(a->out[0]); i++) dQ[i] = 0;
        return NL_OK;
    }
    int nth = 1;
#ifdef _OPENMP
    nth = omp_get_max_threads();
#endif
    size_t per = (size_t)(QBLOCK * Tk), nb = per * (size_t)nth * sizeof(float);
    float *scratch;
    NL_TRY(nl_host_alloc(nb, (void **)&scratch));
    nl_status st = nl_interrupt_poll();
    if (st != NL_OK) {
        nl_host_free(scratch, nb);
        return st;
    }
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t bkv = 0; bkv < d.B * d.NKV; bkv++) {
        if (nl_interrupt_pending()) continue;
        int w = 0;
#ifdef _OPENMP
        w = omp_get_thread_num();
#endif
        float *dS = scratch + (size_t)w * per;
        int64_t b = bkv / d.NKV, kvh = bkv % d.NKV;
        const float *kb = K + bkv * Tk * HS, *vb = V + bkv * Tk * HS;
        float *dkb = dK + bkv * Tk * HS, *dvb = dV + bkv * Tk * HS;
        for (int64_t h = kvh * group; h < (kvh + 1) * group; h++)
            for (int64_t i0 = 0; i0 < Tq; i0 += QBLOCK) {
                int64_t bh = b * d.NH + h, i1 = i0 + QBLOCK < Tq ? i0 + QBLOCK : Tq, rows = i1 - i0;
                int64_t nk = keys_seen(&d, i1);
                const float *gr = G + (bh * Tq + i0) * HS, *qr = Q + (bh * Tq + i0) * HS, *pr = P + (bh * Tq + i0) * Tk;
                float *dqr = dQ + (bh * Tq + i0) * HS;
                if (nk == 0) {
                    for (int64_t t = 0; t < rows * HS; t++) dqr[t] = 0;
                    continue;
                }
                /* dV += P^T g ; dP = g v^T */
                nl_cpu_sgemm(1, 0, nk, HS, rows, 1.0f, pr, Tk, gr, HS, 1.0f, dvb, HS);
                nl_cpu_sgemm(0, 1, rows, nk, HS, 1.0f, gr, HS, vb, HS, 0.0f, dS, nk);
                /* dS = P * (dP - rowsum(dP * P)) */
                for (int64_t i = 0; i < rows; i++) {
                    float *r = dS + i * nk;
                    const float *p = pr + i * Tk;
                    double dot = 0;
                    for (int64_t j = 0; j < nk; j++) dot += (double)r[j] * p[j];
                    for (int64_t j = 0; j < nk; j++) r[j] = p[j] * (r[j] - (float)dot);
                }
                /* dQ = scale dS k ; dK += scale dS^T q */
                nl_cpu_sgemm(0, 0, rows, HS, nk, d.scale, dS, nk, kb, HS, 0.0f, dqr, HS);
                nl_cpu_sgemm(1, 0, nk, HS, rows, d.scale, dS, nk, qr, HS, 1.0f, dkb, HS);
            }
    }
    nl_host_free(scratch, nb);
    return nl_interrupt_poll();
}

void nl_cpu_register_attention(nl_kernel_fn *t)
{
    t[NL_OP_ATTENTION] = cpu_attention;
    t[NL_OP_ATTENTION_BWD] = cpu_attention_bwd;
}
