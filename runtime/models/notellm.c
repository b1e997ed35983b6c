/* notellm.c — the NoteLLM / NoteLLM-2 composite: assembly, visual-token
 * splicing, read-outs, embeddings and the training loss. */
#include "notellm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd.h"
#include "losses.h"

#define REL(...)                                                                                    \
    do {                                                                                            \
        nl_tensor *rel_[] = {__VA_ARGS__};                                                          \
        for (size_t i_ = 0; i_ < sizeof rel_ / sizeof *rel_; i_++) nl_tensor_release(rel_[i_]);     \
    } while (0)

void nl_notellm_config_defaults(nl_notellm_config *c, bool notellm2)
{
    *c = (nl_notellm_config){.vision = notellm2, .visual_tokens = notellm2, .late_fusion = notellm2,
                             .micl = notellm2, .w_t = 9.0, .w_v = 1.0, .csft = !notellm2, .gcl = true, .alpha = 0.01,
                             .dim = NL_HEAD_DEFAULT_DIM, .freeze_vision = true, .qformer_dropout = 0.1};
}

static nl_status check_config(const nl_notellm_config *c, nl_llm *llm, nl_vit *vit, nl_qformer *qf,
                              nl_projector *pj)
{
    if (!llm) return nl_error_set(NL_ERR_ARG, "notellm: a decoder LLM is required");
    bool needs_vit = c->vision && (c->visual_tokens || c->late_fusion);
    if (!c->vision && (c->visual_tokens || c->late_fusion || c->micl))
        return nl_error_set(NL_ERR_ARG, "notellm: visual tokens, late fusion and mICL need vision on");
    if (!c->gcl && (!c->csft || c->micl))
        return nl_error_set(NL_ERR_ARG, "notellm: without the contrastive loss, CSFT must be on and mICL off");
    if (needs_vit != (vit != NULL))
        return nl_error_set(NL_ERR_ARG, "notellm: a vision encoder is %s by this configuration",
                            needs_vit ? "required" : "not used");
    if (c->visual_tokens != (qf != NULL && pj != NULL) || (!c->visual_tokens && (qf || pj)))
        return nl_error_set(NL_ERR_ARG, "notellm: the Q-Former and projector are %s by this configuration",
                            c->visual_tokens ? "both required" : "not used");
    if (c->csft && c->vision)
        return nl_error_set(NL_ERR_ARG, "notellm: CSFT (generation loss) is NoteLLM's, not NoteLLM-2's (method §4.1)");
    if (c->micl && !(c->w_t > 0 && c->w_v > 0))
        return nl_error_set(NL_ERR_ARG, "notellm: mICL weights must be positive (w_t %g, w_v %g)", c->w_t, c->w_v);
    if (!(c->qformer_dropout >= 0 && c->qformer_dropout < 1))
        return nl_error_set(NL_ERR_ARG, "notellm: qformer_dropout %g must be in [0, 1)", c->qformer_dropout);
    if (c->csft && !(c->alpha >= 0)) return nl_error_set(NL_ERR_ARG, "notellm: alpha %g must be >= 0", c->alpha);
    int64_t C = llm->cfg.hidden_size;
    if (qf && vit && qf->cfg.encoder_hidden_size != vit->cfg.hidden_size)
        return nl_error_set(NL_ERR_SHAPE, "notellm: Q-Former encoder width %lld != vision width %lld",
                            (long long)qf->cfg.encoder_hidden_size, (long long)vit->cfg.hidden_size);
    if (pj && (pj->in_dim != qf->cfg.hidden_size || pj->out_dim != C))
        return nl_error_set(NL_ERR_SHAPE, "notellm: projector %lld -> %lld must map the Q-Former width %lld to the LLM width %lld",
                            (long long)pj->in_dim, (long long)pj->out_dim, (long long)qf->cfg.hidden_size, (long long)C);
    return NL_OK;
}

nl_status nl_notellm_assemble(nl_notellm **out, const nl_notellm_config *c, nl_llm *llm, nl_vit *vit,
                              nl_qformer *qformer, nl_projector *projector, nl_rng *rng)
{
    *out = NULL;
    NL_TRY(check_config(c, llm, vit, qformer, projector));
    nl_notellm *m = calloc(1, sizeof *m);
    if (!m) return nl_error_set(NL_ERR_OOM, "notellm: out of memory");
    int64_t Cv = c->late_fusion ? vit->cfg.hidden_size : 0;
    nl_status st = nl_head_create(&m->head, llm->cfg.hidden_size, Cv, c->dim, llm->dev, rng);
    if (st != NL_OK) {
        free(m);
        return st;
    }
    m->cfg = *c;
    m->llm = llm, m->vit = vit, m->qformer = qformer, m->projector = projector;
    if (vit && c->freeze_vision) nl_params_set_trainable(&vit->params, "", false);
    *out = m;
    return NL_OK;
}

void nl_notellm_free(nl_notellm *m)
{
    if (!m) return;
    nl_llm_free(m->llm);
    nl_vit_free(m->vit);
    nl_qformer_free(m->qformer);
    nl_projector_free(m->projector);
    nl_head_free(m->head);
    free(m);
}

static nl_status add_all(nl_params *out, const nl_params *src, const char *prefix)
{
    for (int i = 0; src && i < src->n; i++) {
        char name[1024];
        snprintf(name, sizeof name, "%s%s", prefix, src->v[i].name);
        NL_TRY(nl_params_add(out, name, src->v[i].t));
    }
    return NL_OK;
}

nl_status nl_notellm_params(const nl_notellm *m, nl_params *out)
{
    *out = (nl_params){0};
    nl_status st = add_all(out, &m->llm->params, "llm.");
    if (st == NL_OK && m->vit) st = add_all(out, &m->vit->params, "vision.");
    if (st == NL_OK && m->qformer) st = add_all(out, &m->qformer->params, "qformer.");
    if (st == NL_OK && m->projector) st = add_all(out, &m->projector->params, "projector.");
    if (st == NL_OK) st = add_all(out, &m->head->params, "head.");
    if (st != NL_OK) nl_params_free(out);
    return st;
}

void nl_notellm_out_clear(nl_notellm_out *o)
{
    REL(o->e, o->e_v, o->loss);
    *o = (nl_notellm_out){0};
}

/* ---- vision ------------------------------------------------------------------ */

/* pixels -> CLIP last layer [B,1+P,Cv] (without gradients when frozen) and its CLS [B,Cv]. */
static nl_status run_vision(nl_tensor **feat, nl_tensor **cls, nl_notellm *m, nl_tensor *pixels)
{
    bool grad = nl_grad_set_enabled(m->cfg.freeze_vision ? false : nl_grad_enabled());
    nl_status st = nl_vit_forward(feat, m->vit, pixels, NULL, NULL);
    nl_grad_set_enabled(grad);
    NL_TRY(st);
    nl_tensor *c0 = NULL;
    st = nl_narrow(&c0, *feat, 1, 0, 1);
    if (st == NL_OK) st = nl_reshape(cls, c0, 2, (const int64_t[]){(*feat)->shape[0], (*feat)->shape[2]});
    nl_tensor_release(c0);
    return st;
}

/* Replace row b's <IMG> embedding (at slot[b]) by its NQ visual tokens:
 * emb [B,T,C], vis [B,NQ,C] -> [B,T+NQ-1,C]; mask likewise (ones for the
 * visual tokens). One gather from the rows of [emb; vis] (so the backward is
 * one scatter of the output's size, not a full-size zero gradient per row). */
static nl_status splice(nl_tensor **out, nl_tensor **out_mask, nl_tensor *emb, nl_tensor *mask, nl_tensor *vis,
                        const int64_t *slot)
{
    int64_t B = emb->shape[0], T = emb->shape[1], NQ = vis->shape[1], C = emb->shape[2], T2 = T + NQ - 1;
    int64_t *idx = malloc((size_t)(B * T2) * sizeof *idx);
    uint8_t *mk = malloc((size_t)(B * T2));
    uint8_t *m0 = malloc((size_t)(B * T));
    nl_status st = idx && mk && m0 ? NL_OK : nl_error_set(NL_ERR_OOM, "notellm splice: out of memory");
    if (st == NL_OK && mask) st = nl_tensor_to_host(mask, m0, NL_U8);
    else if (st == NL_OK) memset(m0, 1, (size_t)(B * T));
    for (int64_t b = 0; b < B && st == NL_OK; b++) {
        int64_t s = slot[b];
        if (s < 0 || s >= T) {
            st = nl_error_set(NL_ERR_ARG, "notellm: row %lld has no <IMG> slot inside its %lld tokens (slot %lld)",
                              (long long)b, (long long)T, (long long)s);
            break;
        }
        int64_t *ix = idx + b * T2; /* rows of [emb as [B*T,C]; vis as [B*NQ,C]] */
        for (int64_t t = 0; t < s; t++) ix[t] = b * T + t;
        for (int64_t q = 0; q < NQ; q++) ix[s + q] = B * T + b * NQ + q;
        for (int64_t t = s + 1; t < T; t++) ix[t + NQ - 1] = b * T + t;
        uint8_t *r = mk + b * T2;
        memcpy(r, m0 + b * T, (size_t)s);
        memset(r + s, 1, (size_t)NQ);
        memcpy(r + s + NQ, m0 + b * T + s + 1, (size_t)(T - s - 1));
    }
    nl_tensor *e2 = NULL, *v2 = NULL, *src = NULL, *ids = NULL;
    if (st == NL_OK) st = nl_reshape(&e2, emb, 2, (const int64_t[]){B * T, C});
    if (st == NL_OK) st = nl_reshape(&v2, vis, 2, (const int64_t[]){B * NQ, C});
    if (st == NL_OK) st = nl_concat(&src, 2, (nl_tensor *[]){e2, v2}, 0);
    if (st == NL_OK) st = nl_tensor_from_host(&ids, NL_I64, 2, (const int64_t[]){B, T2}, idx, NL_I64, nl_tensor_device(emb));
    if (st == NL_OK) st = nl_embedding(out, src, ids);
    if (st == NL_OK) st = nl_tensor_from_host(out_mask, NL_U8, 2, (const int64_t[]){B, T2}, mk, NL_U8, nl_tensor_device(emb));
    REL(e2, v2, src, ids);
    free(idx);
    free(mk);
    free(m0);
    return st;
}

int64_t nl_notellm_num_visual_tokens(const nl_notellm *m)
{
    return m && m->cfg.visual_tokens && m->qformer ? m->qformer->cfg.num_query_tokens : 0;
}

/* Positions after splicing: everything after the slot moves by NQ-1. */
void nl_notellm_spliced_positions(int64_t *out, const int64_t *pos, const int64_t *slot, int64_t B, int64_t NQ)
{
    for (int64_t b = 0; b < B; b++) out[b] = slot && pos[b] > slot[b] ? pos[b] + NQ - 1 : pos[b];
}

static int64_t *shift_positions(const int64_t *pos, const int64_t *slot, int64_t B, int64_t NQ)
{
    int64_t *p = malloc((size_t)B * sizeof *p);
    if (p) nl_notellm_spliced_positions(p, pos, slot, B, NQ);
    return p;
}

/* ---- embeddings ------------------------------------------------------------------ */

typedef struct fwd {
    nl_tensor *hidden;  /* [B,T',C] final-norm LLM output ([B,n,C]: only the read-out rows, see readout_rows) */
    nl_tensor *cls;     /* [B,Cv] or NULL */
    int64_t *pos, *vpos;
} fwd;

static void fwd_clear(fwd *f)
{
    REL(f->hidden, f->cls);
    free(f->pos);
    free(f->vpos);
}

static nl_status check_batch(const nl_notellm *m, const nl_notellm_batch *b)
{
    char a[96];
    if (!b->ids || b->ids->ndim != 2 || (b->ids->dtype != NL_I64 && b->ids->dtype != NL_I32))
        return nl_error_set(NL_ERR_ARG, "notellm: ids must be an integer [B T] tensor");
    int64_t B = b->ids->shape[0];
    if (!b->readout) return nl_error_set(NL_ERR_ARG, "notellm: read-out positions are required");
    if (m->cfg.micl && !b->vreadout) return nl_error_set(NL_ERR_ARG, "notellm: mICL needs visual read-out positions");
    if (m->cfg.visual_tokens && !b->img_slot) return nl_error_set(NL_ERR_ARG, "notellm: visual tokens need <IMG> slots");
    if (m->vit && (!b->pixels || b->pixels->ndim != 4 || b->pixels->shape[0] != B))
        return nl_error_set(NL_ERR_SHAPE, "notellm: pixels must be [B 3 S S] with B = %lld, got %s", (long long)B,
                            b->pixels ? nl_shape_str(b->pixels, a, sizeof a) : "none");
    if (m->cfg.csft && !b->labels) return nl_error_set(NL_ERR_ARG, "notellm: CSFT needs labels");
    return NL_OK;
}

/* When only the read-outs are read from the LLM (no CSFT; no probe that
 * needs gradients through full attention squares), its last layer runs at
 * those rows alone: out_pos [B,n] = the text (and under mICL the visual)
 * read-out positions, and f->pos / f->vpos become 0 / 1, their rows in the
 * [B,n,C] hidden states. */
static nl_status readout_rows(nl_tensor **out_pos, fwd *f, int64_t B, bool micl, nl_device dev)
{
    int64_t n = micl ? 2 : 1, *p = malloc((size_t)(B * n + 1) * sizeof *p);
    if (!p) return nl_error_set(NL_ERR_OOM, "notellm: out of memory");
    for (int64_t b = 0; b < B; b++) {
        p[b * n] = f->pos[b], f->pos[b] = 0;
        if (micl) p[b * n + 1] = f->vpos[b], f->vpos[b] = 1;
    }
    nl_status st = nl_tensor_from_host(out_pos, NL_I64, 2, (const int64_t[]){B, n}, p, NL_I64, dev);
    free(p);
    return st;
}

static nl_status forward(fwd *f, nl_notellm *m, const nl_notellm_batch *b, nl_attn_probe *probe)
{
    *f = (fwd){0};
    NL_TRY(check_batch(m, b));
    int64_t B = b->ids->shape[0];
    nl_tensor *feat = NULL, *emb = NULL, *vis = NULL, *q = NULL, *spliced = NULL, *smask = NULL;
    nl_status st = NL_OK;
    if (m->vit) st = run_vision(&feat, &f->cls, m, b->pixels);
    int64_t NQ = 1;
    const int64_t *slot = NULL;
    if (st == NL_OK && m->cfg.visual_tokens) {
        double p = b->train ? m->cfg.qformer_dropout : 0.0;
        if (b->row_dropout) st = nl_qformer_forward_rows(&q, m->qformer, feat, p, b->dropout_seed, b->row0);
        else st = nl_qformer_forward(&q, m->qformer, feat, NULL, NULL, p, b->rng);
        if (st == NL_OK) st = nl_projector_forward(&vis, m->projector, q);
        if (st == NL_OK) st = nl_llm_embed(&emb, m->llm, b->ids);
        if (st == NL_OK) st = splice(&spliced, &smask, emb, b->mask, vis, b->img_slot);
        NQ = m->qformer->cfg.num_query_tokens;
        slot = b->img_slot;
    }
    if (st == NL_OK) {
        f->pos = shift_positions(b->readout, slot, B, NQ);
        f->vpos = b->vreadout ? shift_positions(b->vreadout, slot, B, NQ) : NULL;
        if (!f->pos || (b->vreadout && !f->vpos)) st = nl_error_set(NL_ERR_OOM, "notellm: out of memory");
    }
    nl_tensor *out_pos = NULL;
    if (st == NL_OK && !m->cfg.csft && (!probe || !nl_grad_enabled()))
        st = readout_rows(&out_pos, f, B, m->cfg.micl, m->llm->dev);
    if (st == NL_OK) {
        nl_llm_input in = {.ids = spliced ? NULL : b->ids, .embeds = spliced, .mask = spliced ? smask : b->mask,
                           .probe = probe, .out_pos = out_pos};
        st = nl_llm_forward(&f->hidden, NULL, m->llm, &in);
    }
    REL(feat, emb, vis, q, spliced, smask, out_pos);
    if (st != NL_OK) fwd_clear(f);
    return st;
}

static nl_status embed_from(nl_notellm_out *out, nl_notellm *m, const fwd *f)
{
    nl_tensor *r = NULL, *rv = NULL;
    nl_tensor *cls = m->cfg.late_fusion ? f->cls : NULL;
    nl_status st = nl_readout(&r, f->hidden, f->pos);
    if (st == NL_OK) st = nl_head_embed(&out->e, m->head, r, cls);
    if (st == NL_OK && m->cfg.micl) st = nl_readout(&rv, f->hidden, f->vpos);
    if (st == NL_OK && m->cfg.micl) st = nl_head_embed(&out->e_v, m->head, rv, cls);
    REL(r, rv);
    return st;
}

nl_status nl_notellm_embed(nl_notellm_out *out, nl_notellm *m, const nl_notellm_batch *b, nl_attn_probe *probe)
{
    *out = (nl_notellm_out){0};
    fwd f;
    NL_TRY(forward(&f, m, b, probe));
    nl_status st = embed_from(out, m, &f);
    fwd_clear(&f);
    if (st != NL_OK) nl_notellm_out_clear(out);
    return st;
}

static double scalar(nl_tensor *t)
{
    double v = 0;
    if (t) nl_tensor_get(t, (const int64_t[]){0}, &v);
    return v;
}

nl_status nl_notellm_loss(nl_notellm_out *out, nl_notellm *m, const nl_notellm_batch *b)
{
    *out = (nl_notellm_out){0};
    fwd f;
    NL_TRY(forward(&f, m, b, NULL));
    nl_tensor *l_cl = NULL, *l_v = NULL, *l_gen = NULL;
    nl_status st = embed_from(out, m, &f);
    if (st == NL_OK) st = nl_gcl_loss(&l_cl, out->e, m->head->tau);
    if (st == NL_OK && m->cfg.micl) st = nl_gcl_loss(&l_v, out->e_v, m->head->tau);
    if (st == NL_OK && m->cfg.csft) st = nl_gen_loss(&l_gen, f.hidden, m->llm->lm_head, b->labels);
    if (st == NL_OK) {
        if (m->cfg.micl) st = nl_micl_loss(&out->loss, l_cl, l_v, m->cfg.w_t, m->cfg.w_v);
        else if (m->cfg.csft) st = nl_csft_loss(&out->loss, l_cl, l_gen, m->cfg.alpha, m->cfg.gcl);
        else out->loss = nl_tensor_retain(l_cl);
    }
    out->l_cl = scalar(l_cl), out->l_v = scalar(l_v), out->l_gen = scalar(l_gen);
    REL(l_cl, l_v, l_gen);
    fwd_clear(&f);
    if (st != NL_OK) nl_notellm_out_clear(out);
    return st;
}

nl_status nl_notellm_embed_gen(nl_notellm_out *out, nl_notellm *m, const nl_notellm_batch *b)
{
    *out = (nl_notellm_out){0};
    fwd f;
    NL_TRY(forward(&f, m, b, NULL));
    nl_status st = embed_from(out, m, &f);
    if (st == NL_OK && m->cfg.csft) {
        st = nl_gen_loss(&out->loss, f.hidden, m->llm->lm_head, b->labels);
        out->l_gen = scalar(out->loss);
    }
    fwd_clear(&f);
    if (st != NL_OK) nl_notellm_out_clear(out);
    return st;
}
