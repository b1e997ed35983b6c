/* patches.c — the patch view: read-out attention on the visual tokens,
 * carried through the Q-Former's cross-attention (recorded with its
 * nl_attn_probe hook) to the ViT patch grid. */
#include "patches.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd.h"
#include "ops.h"

/* c[NQ*P]: mean over cross layers and heads, CLS key dropped, rows renormalised. */
static nl_status cross_weights(double *c, nl_notellm *m, nl_tensor *pixels, int64_t NQ, int64_t P)
{
    nl_qformer *qf = m->qformer;
    int nl = (int)qf->cfg.num_layers;
    nl_attn_probe probe;
    NL_TRY(nl_attn_probe_init(&probe, 2 * nl));
    nl_tensor *feat = NULL, *q = NULL;
    float *buf = NULL;
    bool grad = nl_grad_set_enabled(false);
    nl_status st = nl_vit_forward(&feat, m->vit, pixels, NULL, NULL);
    if (st == NL_OK) st = nl_qformer_forward(&q, qf, feat, NULL, &probe, 0.0, NULL);
    nl_grad_set_enabled(grad);
    int n_cross = 0;
    memset(c, 0, sizeof *c * (size_t)(NQ * P));
    for (int i = 0; st == NL_OK && i < nl; i++) {
        nl_tensor *a = probe.probs[2 * i + 1];
        if (!a) continue;
        /* [1, NH, NQ, 1+P] */
        if (a->ndim != 4 || a->shape[0] != 1 || a->shape[2] != NQ || a->shape[3] != P + 1) {
            st = nl_error_set(NL_ERR_SHAPE, "patch view: Q-Former cross-attention of layer %d has an unexpected shape "
                              "(%d dims), expected [1 NH %lld %lld]", i, a->ndim, (long long)NQ, (long long)(P + 1));
            break;
        }
        int64_t NH = a->shape[1];
        free(buf);
        buf = malloc(sizeof *buf * (size_t)(NH * NQ * (P + 1)));
        if (!buf) {
            st = nl_error_set(NL_ERR_OOM, "patch view: out of memory");
            break;
        }
        st = nl_tensor_to_host(a, buf, NL_F32);
        for (int64_t h = 0; st == NL_OK && h < NH; h++)
            for (int64_t qi = 0; qi < NQ; qi++)
                for (int64_t p = 0; p < P; p++) c[qi * P + p] += buf[(h * NQ + qi) * (P + 1) + 1 + p];
        n_cross++;
    }
    if (st == NL_OK && n_cross == 0) st = nl_error_set(NL_ERR_ARG, "patch view: the Q-Former has no cross-attention layer");
    for (int64_t qi = 0; st == NL_OK && qi < NQ; qi++) {
        double s = 0;
        for (int64_t p = 0; p < P; p++) s += c[qi * P + p];
        for (int64_t p = 0; p < P; p++) c[qi * P + p] = s > 0 ? c[qi * P + p] / s : 1.0 / (double)P;
    }
    free(buf);
    nl_tensor_release(feat);
    nl_tensor_release(q);
    nl_attn_probe_free(&probe);
    return st;
}

nl_status nl_probe_patches(float *w, int64_t *grid, nl_notellm *m, const nl_notellm_batch *b,
                           const nl_probe_attn_result *att, int64_t row, int layer)
{
    if (!grid || !m || !b || !att) return nl_error_set(NL_ERR_ARG, "patch view: NULL argument");
    if (!m->vit || !m->qformer || att->n_image <= 0)
        return nl_error_set(NL_ERR_ARG, "patch view: the model has no Q-Former visual tokens to trace back to patches");
    int64_t ps = m->vit->cfg.patch_size, S = b->pixels ? b->pixels->shape[3] : 0;
    int64_t g = ps > 0 ? S / ps : 0, P = g * g;
    if (g < 1 || g * ps != S)
        return nl_error_set(NL_ERR_ARG, "patch view: image size %lld is not a multiple of the patch size %lld",
                            (long long)S, (long long)ps);
    *grid = g;
    if (!w) return NL_OK;
    if (row < 0 || row >= att->batch)
        return nl_error_set(NL_ERR_ARG, "patch view: row %lld outside the batch of %lld", (long long)row,
                            (long long)att->batch);
    if (layer < 0 || layer >= att->n_layers)
        return nl_error_set(NL_ERR_ARG, "patch view: layer %d outside [0, %d)", layer, att->n_layers);
    int64_t NQ = att->n_image, T2 = att->seq, s = att->img_start[row];
    double *a = malloc(sizeof *a * (size_t)NQ), *c = malloc(sizeof *c * (size_t)(NQ * P));
    if (!a || !c) {
        free(a), free(c);
        return nl_error_set(NL_ERR_OOM, "patch view: out of memory");
    }
    const float *r = att->row + ((size_t)row * att->n_layers + (size_t)layer) * (size_t)T2;
    double sum = 0;
    for (int64_t q = 0; q < NQ; q++) sum += a[q] = r[s + q];
    for (int64_t q = 0; q < NQ; q++) a[q] = sum > 0 ? a[q] / sum : 1.0 / (double)NQ;
    nl_tensor *px = NULL;
    nl_status st = nl_narrow(&px, b->pixels, 0, row, 1);
    if (st == NL_OK) st = cross_weights(c, m, px, NQ, P);
    for (int64_t p = 0; st == NL_OK && p < P; p++) {
        double v = 0;
        for (int64_t q = 0; q < NQ; q++) v += a[q] * c[q * P + p];
        w[p] = (float)v;
    }
    nl_tensor_release(px);
    free(a), free(c);
    return st;
}
