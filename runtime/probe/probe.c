/* probe.c — visual-attention probes on the NoteLLM composite (method §5):
 * attention masses from the read-outs, gradient × attention saliency with
 * the §5.2 span conventions and denominators, modality-ablation cosines.
 * Reads the attention the LLM records through nl_attn_probe (layers.h); the
 * sequence layout comes from nl_notellm_spliced_positions (notellm.h). */
#include "probe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd.h"
#include "losses.h"

/* ---- layout of a batch after splicing ---------------------------------------- */

typedef struct layout {
    int64_t B, T, NQ, T2;     /* rows, prompt length, visual tokens, spliced length */
    int64_t *pos, *vpos;      /* [B] spliced read-outs (vpos NULL without mICL) */
    int64_t *slot;            /* [B] first visual token (= the <IMG> slot) */
    uint8_t *kind;            /* [B*T2] NL_PROBE_TOK_* */
} layout;

static void layout_free(layout *y)
{
    free(y->pos);
    free(y->vpos);
    free(y->slot);
    free(y->kind);
    *y = (layout){0};
}

static nl_status check_inputs(const char *who, const nl_notellm *m, const nl_notellm_batch *b)
{
    if (!m || !b) return nl_error_set(NL_ERR_ARG, "%s: model and batch are required", who);
    if (nl_notellm_num_visual_tokens(m) <= 0)
        return nl_error_set(NL_ERR_ARG,
                            "%s: the model splices no visual tokens into the LLM (text model or only late fusion), "
                            "so its attention cannot look at the image. HINT: use the modality ablation "
                            "(nl_probe_ablate) for late fusion", who);
    if (!b->img_slot)
        return nl_error_set(NL_ERR_ARG, "%s: the batch has no <IMG> slots. HINT: build it with the image "
                            "prompt of method §4.3", who);
    if (!b->ids || b->ids->ndim != 2) return nl_error_set(NL_ERR_ARG, "%s: ids must be a [B T] tensor", who);
    if (!b->readout) return nl_error_set(NL_ERR_ARG, "%s: read-out positions are required", who);
    if (m->cfg.micl && !b->vreadout) return nl_error_set(NL_ERR_ARG, "%s: mICL needs visual read-out positions", who);
    int64_t B = b->ids->shape[0], T = b->ids->shape[1];
    for (int64_t i = 0; i < B; i++) {
        if (b->img_slot[i] < 0 || b->img_slot[i] >= T)
            return nl_error_set(NL_ERR_ARG, "%s: row %lld: <IMG> slot %lld outside its %lld tokens", who,
                                (long long)i, (long long)b->img_slot[i], (long long)T);
        if (b->readout[i] < 0 || b->readout[i] >= T)
            return nl_error_set(NL_ERR_ARG, "%s: row %lld: read-out %lld outside its %lld tokens", who,
                                (long long)i, (long long)b->readout[i], (long long)T);
        if (m->cfg.micl && (b->vreadout[i] < 0 || b->vreadout[i] >= T))
            return nl_error_set(NL_ERR_ARG, "%s: row %lld: visual read-out %lld outside its %lld tokens", who,
                                (long long)i, (long long)b->vreadout[i], (long long)T);
    }
    return NL_OK;
}

/* Spliced positions and key classes, the same rule as the forward (§4.4). */
static nl_status layout_make(layout *y, const nl_notellm *m, const nl_notellm_batch *b)
{
    *y = (layout){0};
    int64_t B = b->ids->shape[0], T = b->ids->shape[1], NQ = nl_notellm_num_visual_tokens(m);
    y->B = B, y->T = T, y->NQ = NQ, y->T2 = T + NQ - 1;
    y->pos = malloc((size_t)B * sizeof *y->pos);
    y->slot = malloc((size_t)B * sizeof *y->slot);
    y->vpos = m->cfg.micl ? malloc((size_t)B * sizeof *y->vpos) : NULL;
    y->kind = malloc((size_t)(B * y->T2));
    uint8_t *m0 = malloc((size_t)(B * T));
    nl_status st = y->pos && y->slot && y->kind && m0 && (!m->cfg.micl || y->vpos)
                       ? NL_OK : nl_error_set(NL_ERR_OOM, "probe: out of memory");
    if (st == NL_OK && b->mask) st = nl_tensor_to_host(b->mask, m0, NL_U8);
    else if (st == NL_OK) memset(m0, 1, (size_t)(B * T));
    if (st == NL_OK) {
        nl_notellm_spliced_positions(y->pos, b->readout, b->img_slot, B, NQ);
        if (y->vpos) nl_notellm_spliced_positions(y->vpos, b->vreadout, b->img_slot, B, NQ);
        memcpy(y->slot, b->img_slot, (size_t)B * sizeof *y->slot);
        for (int64_t i = 0; i < B; i++) {
            int64_t s = b->img_slot[i];
            uint8_t *k = y->kind + i * y->T2;
            bool sink = false;
            for (int64_t j = 0; j < y->T2; j++) {
                bool img = j >= s && j < s + NQ;
                bool real = img || (j < s ? m0[i * T + j] != 0 : m0[i * T + j - NQ + 1] != 0);
                k[j] = !real ? NL_PROBE_TOK_PAD : img ? NL_PROBE_TOK_IMAGE : NL_PROBE_TOK_TEXT;
                if (real && !sink) {
                    sink = true; /* the first real token, the sink unless it is visual */
                    if (!img) k[j] = NL_PROBE_TOK_SINK;
                }
            }
        }
    }
    free(m0);
    if (st != NL_OK) layout_free(y);
    return st;
}

/* Run the composite in eval mode with every layer's attention recorded. */
static nl_status probed_embed(nl_notellm_out *o, nl_attn_probe *probe, nl_notellm *m, const nl_notellm_batch *b,
                              const layout *y, bool scores)
{
    int L = (int)m->llm->cfg.num_layers;
    NL_TRY(nl_attn_probe_init(probe, L));
    nl_notellm_batch eb = *b;
    eb.train = false; /* no dropout: no draws from any generator */
    nl_status st = scores ? nl_attn_probe_want_scores(probe) : NL_OK;
    if (st == NL_OK) st = nl_notellm_embed(o, m, &eb, probe);
    for (int l = 0; st == NL_OK && l < L; l++) {
        nl_tensor *p = probe->probs[l];
        int64_t rows = l == L - 1 && !scores ? (y->vpos ? 2 : 1) : y->T2; /* see layer_probs */
        if (!p || p->ndim != 4 || p->shape[0] != y->B || (p->shape[2] != y->T2 && p->shape[2] != rows) ||
            p->shape[3] != y->T2)
            st = nl_error_set(NL_ERR_STATE, "probe: layer %d recorded no [B NH %lld %lld] attention", l,
                              (long long)y->T2, (long long)y->T2);
    }
    if (st != NL_OK) {
        nl_notellm_out_clear(o);
        nl_attn_probe_free(probe);
    }
    return st;
}

/* ---- 1. attention probe ---------------------------------------------------- */

static nl_status mass_alloc(nl_probe_mass *ms, size_t n)
{
    double **a[] = {&ms->image, &ms->text, &ms->sink, &ms->pad, &ms->image_tok, &ms->text_tok};
    for (size_t i = 0; i < sizeof a / sizeof *a; i++)
        if (!(*a[i] = calloc(n, sizeof(double)))) return nl_error_set(NL_ERR_OOM, "attention probe: out of memory");
    return NL_OK;
}

static void mass_free(nl_probe_mass *ms)
{
    free(ms->image), free(ms->text), free(ms->sink), free(ms->pad), free(ms->image_tok), free(ms->text_tok);
    *ms = (nl_probe_mass){0};
}

void nl_probe_attn_free(nl_probe_attn_result *r)
{
    if (!r) return;
    mass_free(&r->text);
    mass_free(&r->visual);
    free(r->pos), free(r->vpos), free(r->img_start), free(r->kind), free(r->row), free(r->vrow);
    nl_tensor_release(r->e);
    nl_tensor_release(r->e_v);
    *r = (nl_probe_attn_result){0};
}

double nl_probe_head_mean(const double *a, int n_heads, int layer)
{
    double s = 0;
    for (int h = 0; h < n_heads; h++) s += a[(size_t)layer * n_heads + h];
    return n_heads > 0 ? s / n_heads : 0;
}

/* Split the rows at pos[] of one layer's probabilities A [B,NH,T2,T2] by key class. */
static void split_layer(nl_probe_mass *ms, float *disp, const float *A, const layout *y, const int64_t *pos, int l,
                        int L, int NH)
{
    int64_t T2 = y->T2;
    for (int64_t b = 0; b < y->B; b++) {
        int64_t t = pos[b];
        const uint8_t *k = y->kind + b * T2;
        int64_t n_img = 0, n_txt = 0;
        for (int64_t j = 0; j <= t; j++) n_img += k[j] == NL_PROBE_TOK_IMAGE, n_txt += k[j] == NL_PROBE_TOK_TEXT;
        float *d = disp + ((size_t)b * L + l) * T2;
        for (int h = 0; h < NH; h++) {
            const float *row = A + (((size_t)b * NH + h) * T2 + t) * T2;
            double s[4] = {0, 0, 0, 0};
            for (int64_t j = 0; j < T2; j++) {
                s[k[j]] += row[j];
                d[j] += row[j] / NH;
            }
            size_t at = (size_t)l * NH + h;
            ms->pad[at] += s[NL_PROBE_TOK_PAD] / y->B;
            ms->sink[at] += s[NL_PROBE_TOK_SINK] / y->B;
            ms->text[at] += s[NL_PROBE_TOK_TEXT] / y->B;
            ms->image[at] += s[NL_PROBE_TOK_IMAGE] / y->B;
            if (n_img) ms->image_tok[at] += s[NL_PROBE_TOK_IMAGE] / n_img / y->B;
            if (n_txt) ms->text_tok[at] += s[NL_PROBE_TOK_TEXT] / n_txt / y->B;
        }
    }
}

/* Layer l's probabilities into A [B NH T2 T2]. Without gradients the
 * model's last layer runs at the read-out rows only and records
 * [B NH n T2] (row 0 the text read-out, row 1 the visual one): those rows
 * go to their positions, the only rows split_layer reads. */
static nl_status layer_probs(float *A, const nl_tensor *p, const layout *y, int NH)
{
    int64_t n = p->shape[2], T2 = y->T2;
    if (n == T2) return nl_tensor_to_host(p, A, NL_F32);
    float *R = malloc((size_t)(y->B * NH * n * T2) * sizeof *R);
    if (!R) return nl_error_set(NL_ERR_OOM, "attention probe: out of memory");
    nl_status st = nl_tensor_to_host(p, R, NL_F32);
    for (int64_t b = 0; st == NL_OK && b < y->B; b++)
        for (int h = 0; h < NH; h++)
            for (int64_t j = 0; j < n; j++) {
                int64_t t = j == 0 ? y->pos[b] : y->vpos[b];
                memcpy(A + (((size_t)b * NH + h) * T2 + t) * T2, R + (((size_t)b * NH + h) * n + j) * T2,
                       (size_t)T2 * sizeof *A);
            }
    free(R);
    return st;
}

nl_status nl_probe_attention(nl_probe_attn_result *r, nl_notellm *m, const nl_notellm_batch *b)
{
    *r = (nl_probe_attn_result){0};
    NL_TRY(check_inputs("attention probe", m, b));
    layout y;
    NL_TRY(layout_make(&y, m, b));
    bool grad = nl_grad_set_enabled(false);
    nl_attn_probe probe;
    nl_notellm_out o;
    nl_status st = probed_embed(&o, &probe, m, b, &y, false);
    nl_grad_set_enabled(grad);
    if (st != NL_OK) {
        layout_free(&y);
        return st;
    }
    int L = probe.n_layers, NH = (int)probe.probs[0]->shape[1];
    size_t n = (size_t)L * NH, disp = (size_t)(y.B * L * y.T2);
    r->n_layers = L, r->n_heads = NH, r->batch = y.B, r->seq = y.T2, r->n_image = y.NQ;
    r->has_visual = y.vpos != NULL;
    r->e = o.e, r->e_v = o.e_v;
    o.e = o.e_v = NULL;
    r->pos = y.pos, r->vpos = y.vpos, r->img_start = y.slot, r->kind = y.kind;
    y.pos = y.vpos = y.slot = NULL, y.kind = NULL;
    r->row = calloc(disp, sizeof *r->row);
    r->vrow = r->has_visual ? calloc(disp, sizeof *r->vrow) : NULL;
    float *A = malloc((size_t)(y.B * NH * y.T2 * y.T2) * sizeof *A);
    st = r->row && A && (!r->has_visual || r->vrow) ? NL_OK : nl_error_set(NL_ERR_OOM, "attention probe: out of memory");
    if (st == NL_OK) st = mass_alloc(&r->text, n);
    if (st == NL_OK && r->has_visual) st = mass_alloc(&r->visual, n);
    y.pos = r->pos, y.vpos = r->vpos, y.slot = r->img_start, y.kind = r->kind; /* borrowed view for the loop */
    for (int l = 0; st == NL_OK && l < L; l++) {
        st = layer_probs(A, probe.probs[l], &y, NH);
        if (st != NL_OK) break;
        split_layer(&r->text, r->row, A, &y, r->pos, l, L, NH);
        if (r->has_visual) split_layer(&r->visual, r->vrow, A, &y, r->vpos, l, L, NH);
    }
    free(A);
    nl_attn_probe_free(&probe);
    nl_notellm_out_clear(&o);
    if (st != NL_OK) nl_probe_attn_free(r);
    return st;
}

/* ---- 2. saliency probe ---------------------------------------------------- */

void nl_probe_sal_free(nl_probe_sal_result *r)
{
    if (!r) return;
    free(r->per_row), free(r->mean), free(r->sal), free(r->pos), free(r->v_start), free(r->v_end);
    *r = (nl_probe_sal_result){0};
}

/* The model's gradients and trainable flags, set aside while the probe runs. */
typedef struct stash {
    nl_params ps;
    nl_tensor **grad;
    bool *req;
    bool *dup;
} stash;

static nl_status stash_take(stash *s, nl_notellm *m)
{
    *s = (stash){0};
    NL_TRY(nl_notellm_params(m, &s->ps));
    int n = s->ps.n;
    s->grad = calloc((size_t)n + 1, sizeof *s->grad);
    s->req = calloc((size_t)n + 1, sizeof *s->req);
    s->dup = calloc((size_t)n + 1, sizeof *s->dup);
    if (!s->grad || !s->req || !s->dup) {
        free(s->grad), free(s->req), free(s->dup);
        nl_params_free(&s->ps);
        return nl_error_set(NL_ERR_OOM, "saliency probe: out of memory");
    }
    for (int i = 0; i < n; i++) {
        nl_tensor *t = s->ps.v[i].t;
        for (int j = 0; j < i && !s->dup[i]; j++) s->dup[i] = s->ps.v[j].t == t; /* tied weights */
        if (s->dup[i]) continue;
        s->grad[i] = t->grad;
        s->req[i] = t->requires_grad;
        t->grad = NULL;
    }
    /* The token embeddings take part, so every layer's attention is in the graph even when the whole
     * model is frozen (one [V C] gradient more, dropped with the others). */
    m->llm->embed->requires_grad = true;
    return NL_OK;
}

static void stash_restore(stash *s)
{
    for (int i = 0; i < s->ps.n; i++) {
        if (s->dup[i]) continue;
        nl_tensor *t = s->ps.v[i].t;
        nl_zero_grad(t);
        t->grad = s->grad[i];
        t->requires_grad = s->req[i];
    }
    free(s->grad), free(s->req), free(s->dup);
    nl_params_free(&s->ps);
    *s = (stash){0};
}

/* I_l for every row of one layer: |Σ_h A ⊙ G|, diagonal and NaN set to 0. */
static void saliency_layer(float *out, const float *A, const float *G, int64_t B, int NH, int64_t T2)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < T2; i++)
            for (int64_t j = 0; j < T2; j++) {
                double s = 0;
                for (int h = 0; h < NH && G; h++) {
                    size_t at = (((size_t)b * NH + h) * T2 + i) * T2 + j;
                    s += (double)A[at] * G[at];
                }
                s = fabs(s);
                out[(b * T2 + i) * T2 + j] = i == j || isnan(s) ? 0.0f : (float)s;
            }
}

/* S_v, S_t, S_o of one row's I (§5.2 step 4). */
static void flows(double *svto, const float *I, int64_t T2, int64_t t, int64_t vs, int64_t ve)
{
    double sv = 0, st = 0, all = 0, rowt = 0;
    for (int64_t j = 0; j < T2; j++) {
        double v = I[t * T2 + j];
        rowt += v;
        if (j >= vs && j <= ve) sv += v;
        else st += v;
    }
    for (int64_t k = 0; k < T2 * T2; k++) all += I[k];
    double nv = (double)(ve - vs + 1), tt = (double)t;
    svto[0] = sv / nv;
    svto[1] = st / (tt - nv);
    svto[2] = (all - rowt) / (tt * (tt + 1) / 2 - tt);
}

static nl_status saliency_span(nl_probe_sal_result *r, const nl_notellm *m, const layout *y)
{
    for (int64_t b = 0; b < y->B; b++) {
        int64_t t = y->pos[b], s = y->slot[b];
        int64_t e = m->cfg.micl ? y->vpos[b] + 3 : s + y->NQ - 1;
        if (t < 2 || s < 0 || e < s || e >= t || t - (e - s + 1) <= 0)
            return nl_error_set(NL_ERR_ARG, "saliency probe: row %lld: the image span [%lld, %lld] must lie in [0, t) "
                                "with t = %lld >= 2 and leave a text token before t%s", (long long)b, (long long)s,
                                (long long)e, (long long)t,
                                m->cfg.micl ? " (mICL span: visual read-out + 3, method §5.2)" : "");
        r->pos[b] = t, r->v_start[b] = s, r->v_end[b] = e;
    }
    return NL_OK;
}

/* L = -(1/P) Σ_i e_i · e_{i+P} over [2P,d] unit rows e: the mean -cos of each note with its partner. */
static nl_status neg_cos_loss(nl_tensor **loss, nl_tensor *e)
{
    int64_t P = e->shape[0] / 2;
    if (e->shape[0] < 2 || e->shape[0] % 2)
        return nl_error_set(NL_ERR_SHAPE, "saliency probe: -cos needs [firsts; seconds] rows, an even number >= 2, "
                            "got %lld", (long long)e->shape[0]);
    nl_tensor *a = NULL, *b = NULL, *ab = NULL, *s = NULL;
    nl_status st = nl_narrow(&a, e, 0, 0, P);
    if (st == NL_OK) st = nl_narrow(&b, e, 0, P, P);
    if (st == NL_OK) st = nl_mul(&ab, a, b);
    if (st == NL_OK) st = nl_sum_all(&s, ab);
    if (st == NL_OK) st = nl_scale(loss, s, -1.0 / (double)P, 0.0);
    nl_tensor_release(a), nl_tensor_release(b), nl_tensor_release(ab), nl_tensor_release(s);
    return st;
}

nl_status nl_probe_saliency(nl_probe_sal_result *r, nl_notellm *m, const nl_notellm_batch *b)
{
    return nl_probe_saliency_ex(r, m, b, &(nl_probe_sal_opts){0});
}

nl_status nl_probe_saliency_ex(nl_probe_sal_result *r, nl_notellm *m, const nl_notellm_batch *b,
                               const nl_probe_sal_opts *opts)
{
    *r = (nl_probe_sal_result){0};
    if (!opts) return nl_error_set(NL_ERR_ARG, "saliency probe: NULL options");
    nl_probe_sal_at at = opts->at;
    if ((unsigned)at > NL_PROBE_PRE_SOFTMAX) return nl_error_set(NL_ERR_ARG, "saliency probe: unknown variant %d", (int)at);
    if ((unsigned)opts->loss > NL_PROBE_LOSS_NEG_COS)
        return nl_error_set(NL_ERR_ARG, "saliency probe: unknown loss %d", (int)opts->loss);
    NL_TRY(check_inputs("saliency probe", m, b));
    layout y;
    NL_TRY(layout_make(&y, m, b));
    int L = (int)m->llm->cfg.num_layers;
    int64_t B = y.B, T2 = y.T2;
    r->n_layers = L, r->batch = B, r->seq = T2;
    r->pos = malloc((size_t)B * sizeof *r->pos);
    r->v_start = malloc((size_t)B * sizeof *r->v_start);
    r->v_end = malloc((size_t)B * sizeof *r->v_end);
    r->per_row = calloc((size_t)(B * L * 3), sizeof *r->per_row);
    r->mean = calloc((size_t)L * 3, sizeof *r->mean);
    r->sal = calloc((size_t)(L * B * T2 * T2), sizeof *r->sal);
    nl_status st = r->pos && r->v_start && r->v_end && r->per_row && r->mean && r->sal
                       ? NL_OK : nl_error_set(NL_ERR_OOM, "saliency probe: out of memory");
    if (st == NL_OK) st = saliency_span(r, m, &y);
    if (st != NL_OK) {
        layout_free(&y);
        nl_probe_sal_free(r);
        return st;
    }
    stash s;
    st = stash_take(&s, m);
    bool grad = nl_grad_set_enabled(true);
    nl_attn_probe probe = {0};
    nl_notellm_out o = {0};
    nl_tensor *loss = NULL;
    bool ran = false;
    if (st == NL_OK) {
        st = probed_embed(&o, &probe, m, b, &y, at == NL_PROBE_PRE_SOFTMAX);
        ran = st == NL_OK;
        if (st == NL_OK) /* L_cl on e only (§5.2 step 2), or the one-note variant of §5.3 */
            st = opts->loss == NL_PROBE_LOSS_NEG_COS ? neg_cos_loss(&loss, o.e) : nl_gcl_loss(&loss, o.e, m->head->tau);
        if (st == NL_OK) nl_tensor_get(loss, (const int64_t[]){0}, &r->loss);
        if (st == NL_OK) st = nl_backward(loss, NULL, false);
    }
    nl_grad_set_enabled(grad);
    int NH = ran ? (int)probe.probs[0]->shape[1] : 0;
    size_t n = (size_t)(B * NH * T2 * T2);
    float *A = ran ? malloc(n * sizeof *A) : NULL, *G = ran ? malloc(n * sizeof *G) : NULL;
    if (st == NL_OK && (!A || !G)) st = nl_error_set(NL_ERR_OOM, "saliency probe: out of memory");
    for (int l = 0; st == NL_OK && l < L; l++) {
        nl_tensor *p = at == NL_PROBE_PRE_SOFTMAX ? probe.scores[l] : probe.probs[l];
        st = p ? nl_tensor_to_host(p, A, NL_F32) : nl_error_set(NL_ERR_STATE, "saliency probe: layer %d recorded no scores", l);
        if (st == NL_OK && p->grad) st = nl_tensor_to_host(p->grad, G, NL_F32);
        if (st != NL_OK) break;
        float *I = r->sal + (size_t)l * B * T2 * T2;
        saliency_layer(I, A, p->grad ? G : NULL, B, NH, T2);
        for (int64_t i = 0; i < B; i++) {
            double *f = r->per_row + ((size_t)i * L + l) * 3;
            flows(f, I + (size_t)i * T2 * T2, T2, r->pos[i], r->v_start[i], r->v_end[i]);
            for (int k = 0; k < 3; k++) r->mean[l * 3 + k] += f[k] / (double)B;
        }
    }
    free(A), free(G);
    nl_tensor_release(loss);
    nl_notellm_out_clear(&o);
    nl_attn_probe_free(&probe);
    if (s.grad) stash_restore(&s);
    layout_free(&y);
    if (st != NL_OK) nl_probe_sal_free(r);
    return st;
}

nl_status nl_probe_sal_accumulate(nl_probe_sal_acc *acc, const nl_probe_sal_result *r)
{
    if (!acc || !r || !r->per_row) return nl_error_set(NL_ERR_ARG, "saliency accumulate: no result");
    if (!acc->sum) {
        acc->sum = calloc((size_t)r->n_layers * 3, sizeof *acc->sum);
        if (!acc->sum) return nl_error_set(NL_ERR_OOM, "saliency accumulate: out of memory");
        acc->n_layers = r->n_layers, acc->n_samples = 0;
    } else if (acc->n_layers != r->n_layers) {
        return nl_error_set(NL_ERR_SHAPE, "saliency accumulate: %d layers, the accumulator has %d", r->n_layers,
                            acc->n_layers);
    }
    size_t n = (size_t)acc->n_layers * 3;
    for (int64_t b = 0; b < r->batch; b++)
        for (size_t k = 0; k < n; k++) acc->sum[k] += r->per_row[(size_t)b * n + k];
    acc->n_samples += r->batch;
    return NL_OK;
}

nl_status nl_probe_sal_summary(const nl_probe_sal_acc *acc, double *mean, double *norm)
{
    if (!acc || !acc->sum || acc->n_samples <= 0)
        return nl_error_set(NL_ERR_STATE, "saliency summary: no samples accumulated");
    for (int l = 0; l < acc->n_layers; l++) {
        double mu[3], tot = 0;
        for (int k = 0; k < 3; k++) tot += mu[k] = acc->sum[l * 3 + k] / (double)acc->n_samples;
        for (int k = 0; k < 3; k++) {
            if (mean) mean[l * 3 + k] = mu[k];
            if (norm) norm[l * 3 + k] = tot > 0 ? mu[k] / tot : 0;
        }
    }
    return NL_OK;
}

void nl_probe_sal_acc_free(nl_probe_sal_acc *acc)
{
    if (!acc) return;
    free(acc->sum);
    *acc = (nl_probe_sal_acc){0};
}

/* ---- 3. modality ablation ---------------------------------------------------- */

nl_status nl_probe_cosine_rows(double *out, nl_tensor *a, nl_tensor *b)
{
    char sa[64], sb[64];
    if (!a || !b || a->ndim != 2 || !nl_tensor_same_shape(a, b))
        return nl_error_set(NL_ERR_SHAPE, "probe cosines: embeddings must be two [n d] tensors of one shape, got %s and %s",
                            a ? nl_shape_str(a, sa, sizeof sa) : "none", b ? nl_shape_str(b, sb, sizeof sb) : "none");
    int64_t n = a->shape[0], d = a->shape[1];
    float *x = malloc((size_t)(n * d + 1) * sizeof *x), *y = malloc((size_t)(n * d + 1) * sizeof *y);
    nl_status st = x && y ? NL_OK : nl_error_set(NL_ERR_OOM, "probe cosines: out of memory");
    if (st == NL_OK) st = nl_tensor_to_host(a, x, NL_F32);
    if (st == NL_OK) st = nl_tensor_to_host(b, y, NL_F32);
    for (int64_t i = 0; st == NL_OK && i < n; i++) {
        double xy = 0, xx = 0, yy = 0;
        for (int64_t k = 0; k < d; k++) {
            double u = x[i * d + k], v = y[i * d + k];
            xy += u * v, xx += u * u, yy += v * v;
        }
        out[i] = xx > 0 && yy > 0 ? xy / sqrt(xx * yy) : 0;
    }
    free(x), free(y);
    return st;
}

nl_status nl_probe_pair_ranks(int64_t *rank, nl_tensor *e)
{
    char se[64];
    if (!e || e->ndim != 2 || e->shape[0] < 2 || e->shape[0] % 2)
        return nl_error_set(NL_ERR_SHAPE, "probe ranks: embeddings must be [2N d] pairs laid out [firsts; seconds], "
                            "got %s", e ? nl_shape_str(e, se, sizeof se) : "none");
    int64_t n = e->shape[0], d = e->shape[1], h = n / 2;
    float *x = malloc((size_t)(n * d) * sizeof *x);
    double *nrm = malloc((size_t)n * sizeof *nrm);
    nl_status st = x && nrm ? NL_OK : nl_error_set(NL_ERR_OOM, "probe ranks: out of memory");
    if (st == NL_OK) st = nl_tensor_to_host(e, x, NL_F32);
    for (int64_t i = 0; st == NL_OK && i < n; i++) {
        double s = 0;
        for (int64_t k = 0; k < d; k++) s += (double)x[i * d + k] * x[i * d + k];
        nrm[i] = s > 0 ? sqrt(s) : 1;
    }
    for (int64_t i = 0; st == NL_OK && i < n; i++) {
        int64_t p = i < h ? i + h : i - h, above = 0;
        double cp = 0;
        for (int64_t k = 0; k < d; k++) cp += (double)x[i * d + k] * x[p * d + k];
        cp /= nrm[i] * nrm[p];
        for (int64_t j = 0; j < n; j++) {
            if (j == i || j == p) continue;
            double c = 0;
            for (int64_t k = 0; k < d; k++) c += (double)x[i * d + k] * x[j * d + k];
            above += c / (nrm[i] * nrm[j]) > cp;
        }
        rank[i] = 1 + above;
    }
    free(x), free(nrm);
    return st;
}

void nl_probe_ablation_free(nl_probe_ablation *r)
{
    if (!r) return;
    free(r->full_text), free(r->full_image), free(r->text_image);
    free(r->rank_full), free(r->rank_text), free(r->rank_image);
    *r = (nl_probe_ablation){0};
}

static nl_status cos_into(double **out, int64_t n, nl_tensor *a, nl_tensor *b)
{
    if (!a || !b) return NL_OK;
    *out = malloc((size_t)(n + 1) * sizeof **out);
    if (!*out) return nl_error_set(NL_ERR_OOM, "probe cosines: out of memory");
    return nl_probe_cosine_rows(*out, a, b);
}

nl_status nl_probe_cosines(nl_probe_ablation *r, nl_tensor *e_full, nl_tensor *e_text, nl_tensor *e_image)
{
    *r = (nl_probe_ablation){0};
    if (!e_full || e_full->ndim != 2) return nl_error_set(NL_ERR_SHAPE, "probe cosines: e_full must be [n d]");
    r->n = e_full->shape[0];
    nl_status st = cos_into(&r->full_text, r->n, e_full, e_text);
    if (st == NL_OK) st = cos_into(&r->full_image, r->n, e_full, e_image);
    if (st == NL_OK) st = cos_into(&r->text_image, r->n, e_text, e_image);
    nl_tensor *es[3] = {e_full, e_text, e_image};
    int64_t **rk[3] = {&r->rank_full, &r->rank_text, &r->rank_image};
    for (int v = 0; st == NL_OK && r->n >= 2 && r->n % 2 == 0 && v < 3; v++) {
        if (!es[v]) continue;
        *rk[v] = malloc((size_t)r->n * sizeof **rk[v]);
        st = *rk[v] ? nl_probe_pair_ranks(*rk[v], es[v]) : nl_error_set(NL_ERR_OOM, "probe ranks: out of memory");
    }
    if (st != NL_OK) nl_probe_ablation_free(r);
    return st;
}

nl_status nl_probe_zero_pixels(nl_tensor **out, const nl_tensor *pixels)
{
    *out = NULL;
    if (!pixels) return nl_error_set(NL_ERR_ARG, "probe: no pixels to zero");
    return nl_tensor_zeros_like(out, pixels);
}

nl_status nl_probe_ablate(nl_probe_ablation *r, nl_notellm *m, const nl_notellm_batch *b,
                          const nl_notellm_batch *image_only)
{
    *r = (nl_probe_ablation){0};
    if (!m || !b) return nl_error_set(NL_ERR_ARG, "modality ablation: model and batch are required");
    if (!m->cfg.vision || !b->pixels)
        return nl_error_set(NL_ERR_ARG, "modality ablation: needs a model with vision and a batch with pixels");
    nl_notellm_batch full = *b, text = *b, img = image_only ? *image_only : *b;
    full.train = text.train = img.train = false;
    nl_notellm_out of = {0}, ot = {0}, oi = {0};
    bool grad = nl_grad_set_enabled(false);
    nl_status st = nl_notellm_embed(&of, m, &full, NULL);
    nl_tensor *zero = NULL;
    if (st == NL_OK) st = nl_probe_zero_pixels(&zero, b->pixels);
    text.pixels = zero;
    if (st == NL_OK) st = nl_notellm_embed(&ot, m, &text, NULL);
    if (st == NL_OK && image_only) st = nl_notellm_embed(&oi, m, &img, NULL);
    nl_grad_set_enabled(grad);
    if (st == NL_OK && oi.e && oi.e->shape[0] != of.e->shape[0])
        st = nl_error_set(NL_ERR_SHAPE, "modality ablation: the image-only batch has %lld notes, the full one %lld",
                          (long long)oi.e->shape[0], (long long)of.e->shape[0]);
    if (st == NL_OK) st = nl_probe_cosines(r, of.e, ot.e, oi.e);
    nl_tensor_release(zero);
    nl_notellm_out_clear(&of);
    nl_notellm_out_clear(&ot);
    nl_notellm_out_clear(&oi);
    return st;
}
