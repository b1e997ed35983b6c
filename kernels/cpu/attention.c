/* attention.c — CPU kernels of scaled dot-product attention with grouped-query
 * heads: ATTENTION (writes the output and the probabilities P) and
 * ATTENTION_BWD (from the saved P). q, k, v, g are contiguous f32; the
 * additive mask may be a stride-0 broadcast view. Per (b, h) the products go
 * to cblas_sgemm (OpenBLAS threads itself; no OpenMP around it).
 * Shapes: q [B,NH,Tq,HS], k/v [B,NKV,Tk,HS], P [B,NH,Tq,Tk]. */
#include <cblas.h>
#include <math.h>

#include "../../runtime/alloc.h"
#include "../../runtime/runtime.h"
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
            row[j] = expf(row[j] - m);
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
    for (int64_t b = 0; b < d.B; b++)
        for (int64_t h = 0; h < d.NH; h++) {
            NL_TRY(nl_interrupt_poll());
            int64_t kv = b * d.NKV + h / group;
            const float *qb = Q + (b * d.NH + h) * d.Tq * d.HS, *kb = K + kv * d.Tk * d.HS, *vb = V + kv * d.Tk * d.HS;
            float *pb = P + (b * d.NH + h) * d.Tq * d.Tk, *ob = O + (b * d.NH + h) * d.Tq * d.HS;
            if (d.Tq == 0) continue;
            if (d.Tk == 0 || d.HS == 0) {
                for (int64_t i = 0; i < d.Tq * d.Tk; i++) pb[i] = 0;
            } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d.Tq, (int)d.Tk, (int)d.HS, d.scale, qb,
                            (int)d.HS, kb, (int)d.HS, 0.0f, pb, (int)d.Tk);
            }
            mask_softmax(pb, &d, b, h, mask);
            if (d.HS == 0) continue;
            if (d.Tk == 0) {
                for (int64_t i = 0; i < d.Tq * d.HS; i++) ob[i] = 0;
                continue;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d.Tq, (int)d.HS, (int)d.Tk, 1.0f, pb, (int)d.Tk,
                        vb, (int)d.HS, 0.0f, ob, (int)d.HS);
        }
    return NL_OK;
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
    size_t nb = (size_t)(d.Tq * d.Tk) * sizeof(float);
    float *dS;
    NL_TRY(nl_host_alloc(nb, (void **)&dS));
    nl_status st = NL_OK;
    for (int64_t b = 0; b < d.B && st == NL_OK; b++)
        for (int64_t h = 0; h < d.NH && st == NL_OK; h++) {
            if ((st = nl_interrupt_poll()) != NL_OK) break;
            int64_t kv = b * d.NKV + h / group, bh = b * d.NH + h;
            const float *gb = G + bh * d.Tq * d.HS, *qb = Q + bh * d.Tq * d.HS, *pb = P + bh * d.Tq * d.Tk;
            const float *kb = K + kv * d.Tk * d.HS, *vb = V + kv * d.Tk * d.HS;
            float *dqb = dQ + bh * d.Tq * d.HS, *dkb = dK + kv * d.Tk * d.HS, *dvb = dV + kv * d.Tk * d.HS;
            int Tq = (int)d.Tq, Tk = (int)d.Tk, HS = (int)d.HS;
            /* dV += P^T g ; dP = g v^T */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, HS, Tq, 1.0f, pb, Tk, gb, HS, 1.0f, dvb, HS);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, HS, 1.0f, gb, HS, vb, HS, 0.0f, dS, Tk);
            /* dS = P * (dP - rowsum(dP * P)) */
            for (int64_t i = 0; i < d.Tq; i++) {
                float *r = dS + i * d.Tk;
                const float *p = pb + i * d.Tk;
                double dot = 0;
                for (int64_t j = 0; j < d.Tk; j++) dot += (double)r[j] * p[j];
                for (int64_t j = 0; j < d.Tk; j++) r[j] = p[j] * (r[j] - (float)dot);
            }
            /* dQ = scale dS k ; dK += scale dS^T q */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, HS, Tk, d.scale, dS, Tk, kb, HS, 0.0f, dqb, HS);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, HS, Tq, d.scale, dS, Tk, qb, HS, 1.0f, dkb, HS);
        }
    nl_host_free(dS, nb);
    return st;
}

void nl_cpu_register_attention(nl_kernel_fn *t)
{
    t[NL_OP_ATTENTION] = cpu_attention;
    t[NL_OP_ATTENTION_BWD] = cpu_attention_bwd;
}
