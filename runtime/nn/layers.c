/* layers.c — head reshapes and probe-able multi-head attention. */
#include "layers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd.h"

nl_status nl_heads_split(nl_tensor **out, nl_tensor *x, int64_t nh)
{
    char a[96];
    if (x->ndim != 3 || nh <= 0 || x->shape[2] % nh != 0)
        return nl_error_set(NL_ERR_SHAPE, "heads split: x %s is not [B T NH*HS] with NH = %lld",
                            nl_shape_str(x, a, sizeof a), (long long)nh);
    int64_t sh[4] = {x->shape[0], x->shape[1], nh, x->shape[2] / nh};
    nl_tensor *r;
    NL_TRY(nl_reshape(&r, x, 4, sh));
    nl_status st = nl_permute(out, r, (const int[]){0, 2, 1, 3});
    nl_tensor_release(r);
    return st;
}

nl_status nl_heads_merge(nl_tensor **out, nl_tensor *x)
{
    nl_tensor *p;
    NL_TRY(nl_permute(&p, x, (const int[]){0, 2, 1, 3}));
    int64_t sh[3] = {x->shape[0], x->shape[2], x->shape[1] * x->shape[3]};
    nl_status st = nl_reshape(out, p, 3, sh);
    nl_tensor_release(p);
    return st;
}

nl_status nl_attn_probe_init(nl_attn_probe *p, int n_layers)
{
    *p = (nl_attn_probe){.enabled = true, .n_layers = n_layers};
    p->probs = calloc((size_t)(n_layers > 0 ? n_layers : 1), sizeof *p->probs);
    if (!p->probs) return nl_error_set(NL_ERR_OOM, "attention probe: out of memory");
    return NL_OK;
}

nl_status nl_attn_probe_want_scores(nl_attn_probe *p)
{
    if (!p || !p->probs) return nl_error_set(NL_ERR_STATE, "attention probe: init it before asking for scores");
    if (p->scores) return NL_OK;
    p->scores = calloc((size_t)(p->n_layers > 0 ? p->n_layers : 1), sizeof *p->scores);
    if (!p->scores) return nl_error_set(NL_ERR_OOM, "attention probe: out of memory");
    return NL_OK;
}

void nl_attn_probe_clear(nl_attn_probe *p)
{
    for (int i = 0; i < p->n_layers; i++) {
        nl_tensor_release(p->probs[i]);
        p->probs[i] = NULL;
        if (p->scores) nl_tensor_release(p->scores[i]), p->scores[i] = NULL;
    }
}

void nl_attn_probe_free(nl_attn_probe *p)
{
    if (p->probs) nl_attn_probe_clear(p);
    free(p->probs);
    free(p->scores);
    *p = (nl_attn_probe){0};
}

/* k [B,NKV,T,HS] -> [B,NKV*rep,T,HS], each kv head repeated rep times. */
static nl_status repeat_kv(nl_tensor **out, nl_tensor *k, int64_t rep)
{
    if (rep == 1) {
        *out = nl_tensor_retain(k);
        return NL_OK;
    }
    int64_t B = k->shape[0], NKV = k->shape[1], T = k->shape[2], HS = k->shape[3];
    nl_tensor *u = NULL, *e = NULL;
    nl_status st = nl_unsqueeze(&u, k, 2);
    if (st == NL_OK) st = nl_expand(&e, u, 5, (const int64_t[]){B, NKV, rep, T, HS});
    if (st == NL_OK) st = nl_reshape(out, e, 4, (const int64_t[]){B, NKV * rep, T, HS});
    nl_tensor_release(u);
    nl_tensor_release(e);
    return st;
}

/* u8 [B|1,1,Tq,Tk]: 1 where query i may not see key j (causal, padding). */
static nl_status blocked_mask(nl_tensor **out, const nl_tensor *pad, int64_t B, int64_t Tq, int64_t Tk, bool causal)
{
    int64_t b = pad ? B : 1;
    nl_tensor *m;
    NL_TRY(nl_tensor_zeros(&m, NL_U8, 4, (const int64_t[]){b, 1, Tq, Tk}, NL_CPU_DEVICE));
    uint8_t *v = nl_tensor_host_ptr(m);
    const uint8_t *keep = NULL;
    nl_tensor *pc = NULL;
    if (pad) {
        nl_status st = nl_to(&pc, (nl_tensor *)pad, NL_U8, NL_CPU_DEVICE);
        if (st != NL_OK) {
            nl_tensor_release(m);
            return st;
        }
        keep = nl_tensor_host_ptr(pc);
    }
    for (int64_t bi = 0; bi < b; bi++)
        for (int64_t i = 0; i < Tq; i++)
            for (int64_t j = 0; j < Tk; j++)
                v[(bi * Tq + i) * Tk + j] = (causal && j > i + (Tk - Tq)) || (keep && !keep[bi * Tk + j]);
    nl_tensor_release(pc);
    *out = m;
    return NL_OK;
}

/* Explicit attention whose probabilities stay in the graph. */
static nl_status mha_explicit(nl_tensor **out, nl_tensor *q, nl_tensor *k, nl_tensor *v, const nl_attention_opts *o,
                              nl_tensor **probs, nl_tensor **scores)
{
    int64_t B = q->shape[0], NH = q->shape[1], Tq = q->shape[2], HS = q->shape[3], Tk = k->shape[2];
    if (k->ndim != 4 || k->shape[1] == 0 || NH % k->shape[1] != 0) return nl_attention(out, q, k, v, o); /* reports */
    double scale = o->scale > 0 ? o->scale : 1.0 / sqrt((double)HS);
    nl_tensor *kr = NULL, *vr = NULL, *s = NULL, *s2 = NULL, *s3 = NULL, *m = NULL, *p = NULL;
    nl_status st = repeat_kv(&kr, k, NH / k->shape[1]);
    if (st == NL_OK) st = repeat_kv(&vr, v, NH / k->shape[1]);
    if (st == NL_OK) st = nl_matmul(&s, q, kr, false, true);
    if (st == NL_OK) st = nl_scale(&s2, s, scale, 0.0);
    nl_tensor *cur = s2;
    const nl_tensor *pad = o->mask && o->mask->dtype == NL_U8 ? o->mask : NULL;
    if (st == NL_OK && o->mask && !pad) st = nl_add(&s3, s2, o->mask), cur = s3;
    if (st == NL_OK && (o->causal || pad)) {
        nl_tensor *f = NULL;
        st = blocked_mask(&m, pad, B, Tq, Tk, o->causal);
        if (st == NL_OK) st = nl_masked_fill(&f, cur, m, -INFINITY);
        if (st == NL_OK) {
            nl_tensor_release(s3);
            s3 = f;
            cur = f;
        }
    }
    if (st == NL_OK) st = nl_softmax(&p, cur, -1);
    if (st == NL_OK) st = nl_matmul(out, p, vr, false, false);
    if (st == NL_OK) {
        p->retain_grad = true;
        *probs = p;
        p = NULL;
        if (scores) {
            cur->retain_grad = true;
            *scores = nl_tensor_retain(cur);
        }
    }
    nl_tensor_release(kr); nl_tensor_release(vr); nl_tensor_release(s); nl_tensor_release(s2);
    nl_tensor_release(s3); nl_tensor_release(m); nl_tensor_release(p);
    return st;
}

nl_status nl_mha(nl_tensor **out, nl_tensor *q, nl_tensor *k, nl_tensor *v, const nl_attention_opts *o,
                 nl_attn_probe *probe, int layer)
{
    nl_attention_opts none = {0};
    if (!o) o = &none;
    if (!probe || !probe->enabled) return nl_attention(out, q, k, v, o);
    if (layer < 0 || layer >= probe->n_layers)
        return nl_error_set(NL_ERR_ARG, "attention probe: layer %d outside [0, %d)", layer, probe->n_layers);
    nl_tensor_release(probe->probs[layer]);
    probe->probs[layer] = NULL;
    if (!probe->scores && !nl_grad_enabled()) {
        /* nothing will differentiate the probabilities: record the fused
         * kernel's own P, so the probed forward is the plain one bit for bit */
        nl_attention_opts po = *o;
        po.probs = &probe->probs[layer];
        return nl_attention(out, q, k, v, &po);
    }
    if (probe->scores) nl_tensor_release(probe->scores[layer]), probe->scores[layer] = NULL;
    return mha_explicit(out, q, k, v, o, &probe->probs[layer], probe->scores ? &probe->scores[layer] : NULL);
}
