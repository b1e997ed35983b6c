/* attention.c — CPU kernels of scaled dot-product attention with grouped-query
 * heads: ATTENTION (writes the output and the probabilities P) and
 * ATTENTION_BWD (from the saved P). q, k, v, g are contiguous f32; the
 * additive mask may be a stride-0 broadcast view. The threads share out the
 * (b, h) blocks (forward) or the (b, kv-head) groups (backward: a group's
 * heads accumulate into one dK/dV block); each block's products are
 * single-threaded sgemm calls (gemm.h).
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

/* Scores of one (b, h) row block in place: mask, then a stable softmax per
 * row; rows with every key masked become all zeros. */
static void mask_softmax(float *S, const att_dims *d, int64_t b, int64_t h, const nl_tensor *mask)
{
    const uint8_t *kp = d->mask_kind == 1 ? (const uint8_t *)nl_tensor_host_ptr(mask) + b * d->Tk : NULL;
    const float *am = d->mask_kind == 2 ? nl_f32(mask) : NULL;
    for (int64_t i = 0; i < d->Tq; i++) {
        float *row = S + i * d->Tk, m = -INFINITY;
        int64_t last = d->causal ? i + (d->Tk - d->Tq) : d->Tk - 1; /* last visible key */
        for (int64_t j = 0; j < d->Tk; j++) {
            float s = row[j];
            if (j > last || (kp && !kp[j])) s = -INFINITY;
            else if (am) s += am[b * mask->strides[0] + h * mask->strides[1] + i * mask->strides[2] + j * mask->strides[3]];
            row[j] = s;
            if (s > m) m = s;
        }
        if (m == -INFINITY) {
            for (int64_t j = 0; j < d->Tk; j++) row[j] = 0;
            continue;
        }
        double sum = 0;
        for (int64_t j = 0; j < d->Tk; j++) {
            row[j] = nl_expf(row[j] - m);
            sum += row[j];
        }
        float inv = (float)(1.0 / sum);
        for (int64_t j = 0; j < d->Tk; j++) row[j] *= inv;
    }
}

/* in: q, k, v[, mask]; out: o [B,NH,Tq,HS], P [B,NH,Tq,Tk]; f[0] scale, i[0] causal, i[1] mask kind */
static nl_status cpu_attention(const nl_op_args *a)
{
    const nl_tensor *q = a->in[0], *k = a->in[1], *v = a->in[2], *mask = a->n_in > 3 ? a->in[3] : NULL;
    att_dims d = dims_of(a, q, k);
    int64_t group = d.NH / d.NKV;
    const float *Q = nl_f32(q), *K = nl_f32(k), *V = nl_f32(v);
    float *O = nl_f32(a->out[0]), *P = nl_f32(a->out[1]);
    NL_TRY(nl_interrupt_poll());
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t bh = 0; bh < d.B * d.NH; bh++) {
        if (nl_interrupt_pending()) continue;
        int64_t b = bh / d.NH, h = bh % d.NH, kv = b * d.NKV + h / group;
        const float *qb = Q + bh * d.Tq * d.HS, *kb = K + kv * d.Tk * d.HS, *vb = V + kv * d.Tk * d.HS;
        float *pb = P + bh * d.Tq * d.Tk, *ob = O + bh * d.Tq * d.HS;
        if (d.Tq == 0) continue;
        if (d.Tk == 0 || d.HS == 0) {
            for (int64_t i = 0; i < d.Tq * d.Tk; i++) pb[i] = 0;
        } else {
            nl_cpu_sgemm(0, 1, d.Tq, d.Tk, d.HS, d.scale, qb, d.HS, kb, d.HS, 0.0f, pb, d.Tk);
        }
        mask_softmax(pb, &d, b, h, mask);
        if (d.HS == 0) continue;
        if (d.Tk == 0) {
            for (int64_t i = 0; i < d.Tq * d.HS; i++) ob[i] = 0;
            continue;
        }
        nl_cpu_sgemm(0, 0, d.Tq, d.HS, d.Tk, 1.0f, pb, d.Tk, vb, d.HS, 0.0f, ob, d.HS);
    }
    return nl_interrupt_poll();
}

/* in: g [B,NH,Tq,HS], q, k, v, P; out: dq, dk, dv (dk, dv zeroed by the front-end) */
static nl_status cpu_attention_bwd(const nl_op_args *a)
{
    const nl_tensor *q = a->in[1], *k = a->in[2];
    att_dims d = dims_of(a, q, k);
    int64_t group = d.NH / d.NKV;
    const float *G = nl_f32(a->in[0]), *Q = nl_f32(q), *K = nl_f32(k), *V = nl_f32(a->in[3]), *P = nl_f32(a->in[4]);
    float *dQ = nl_f32(a->out[0]), *dK = nl_f32(a->out[1]), *dV = nl_f32(a->out[2]);
    if (d.Tq == 0 || d.Tk == 0 || d.HS == 0) {
        for (int64_t i = 0; i < nl_tensor_numel(a->out[0]); i++) dQ[i] = 0;
        return NL_OK;
    }
    int nth = 1;
#ifdef _OPENMP
    nth = omp_get_max_threads();
#endif
    size_t per = (size_t)(d.Tq * d.Tk), nb = per * (size_t)nth * sizeof(float);
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
        const float *kb = K + bkv * d.Tk * d.HS, *vb = V + bkv * d.Tk * d.HS;
        float *dkb = dK + bkv * d.Tk * d.HS, *dvb = dV + bkv * d.Tk * d.HS;
        int64_t Tq = d.Tq, Tk = d.Tk, HS = d.HS;
        for (int64_t h = kvh * group; h < (kvh + 1) * group; h++) {
            int64_t bh = b * d.NH + h;
            const float *gb = G + bh * Tq * HS, *qb = Q + bh * Tq * HS, *pb = P + bh * Tq * Tk;
            float *dqb = dQ + bh * Tq * HS;
            /* dV += P^T g ; dP = g v^T */
            nl_cpu_sgemm(1, 0, Tk, HS, Tq, 1.0f, pb, Tk, gb, HS, 1.0f, dvb, HS);
            nl_cpu_sgemm(0, 1, Tq, Tk, HS, 1.0f, gb, HS, vb, HS, 0.0f, dS, Tk);
            /* dS = P * (dP - rowsum(dP * P)) */
            for (int64_t i = 0; i < Tq; i++) {
                float *r = dS + i * Tk;
                const float *p = pb + i * Tk;
                double dot = 0;
                for (int64_t j = 0; j < Tk; j++) dot += (double)r[j] * p[j];
                for (int64_t j = 0; j < Tk; j++) r[j] = p[j] * (r[j] - (float)dot);
            }
            /* dQ = scale dS k ; dK += scale dS^T q */
            nl_cpu_sgemm(0, 0, Tq, HS, Tk, d.scale, dS, Tk, kb, HS, 0.0f, dqb, HS);
            nl_cpu_sgemm(1, 0, Tk, HS, Tq, d.scale, dS, Tk, qb, HS, 1.0f, dkb, HS);
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
