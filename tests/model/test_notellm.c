/* test_notellm.c — the NoteLLM / NoteLLM-2 composite on tiny random
 * models: visual tokens spliced over <IMG> (the LLM sees T+NQ-1 tokens,
 * padding stays masked, the read-out attends to the visual tokens), causal
 * read-outs, the loss parts combine as method §3.6 / §4.7 say,
 * finite-difference gradients reach every trainable part (none reach the
 * frozen vision encoder), and the configuration checks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd.h"
#include "harness.h"
#include "losses.h"
#include "notellm.h"

enum { P = 2, B = 2 * P, T = 7, V = 40, C = 16, CV = 12, CQ = 8, NQ = 3, S = 16 };

static nl_rng rng;

static nl_llm *tiny_llm(void)
{
    nl_llm_config c;
    nl_llm_config_preset(&c, "tiny");
    c.vocab_size = V, c.hidden_size = C, c.intermediate_size = 24, c.num_layers = 2, c.num_heads = 2;
    c.num_kv_heads = 1, c.head_dim = C / 2, c.max_positions = 64;
    nl_llm *m = NULL;
    h_ok(nl_llm_create(&m, &c, NL_CPU_DEVICE, &rng), "llm");
    /* larger weights than HF's 0.02 so the finite differences see real signal */
    for (int i = 0; i < m->params.n; i++)
        if (m->params.v[i].t->ndim == 2) nl_fill_normal(m->params.v[i].t, 0, 0.3, &rng);
    return m;
}

static void tiny_vision(nl_vit **vit, nl_qformer **qf, nl_projector **pj)
{
    nl_vit_config vc = {.hidden_size = CV, .intermediate_size = 16, .num_layers = 1, .num_heads = 2,
                        .image_size = S, .patch_size = 8, .num_channels = 3, .layer_norm_eps = 1e-5};
    nl_qformer_config qc = {.hidden_size = CQ, .intermediate_size = 16, .num_layers = 1, .num_heads = 2,
                            .encoder_hidden_size = CV, .num_query_tokens = NQ, .cross_attention_frequency = 1,
                            .layer_norm_eps = 1e-12};
    h_ok(nl_vit_create(vit, &vc, NL_CPU_DEVICE, &rng), "vit");
    h_ok(nl_qformer_create(qf, &qc, NL_CPU_DEVICE, &rng), "qformer");
    h_ok(nl_projector_create(pj, NL_PROJ_MLP2X_GELU, CQ, C, NL_CPU_DEVICE, &rng), "projector");
    nl_fill_normal((*qf)->query_tokens, 0, 0.5, &rng);
}

typedef struct batch_data {
    int64_t ids[B * T], mask[B * T], labels[B * T];
    int64_t readout[B], vreadout[B], slot[B];
    nl_tensor *tids, *tmask, *tlabels, *pixels;
    nl_notellm_batch b;
} batch_data;

/* Rows: [ids..., padding] of lengths 7, 6, 7, 5; token 3 is <IMG> at slot 1
 * when img_token; text read-out at the last real token, visual at 2. */
static void make_batch(batch_data *d, bool pixels, bool img_token)
{
    static const int lens[B] = {7, 6, 7, 5};
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            d->ids[b * T + t] = t < lens[b] ? 4 + (int)(nl_rng_uniform(&rng) * (V - 4)) : 0;
            d->mask[b * T + t] = t < lens[b];
            d->labels[b * T + t] = t >= lens[b] - 2 && t < lens[b] ? d->ids[b * T + t] : -100;
        }
        d->slot[b] = 1;
        if (img_token) d->ids[b * T + 1] = 3;
        d->vreadout[b] = 2;
        d->readout[b] = lens[b] - 1;
    }
    const int64_t sh[2] = {B, T};
    nl_tensor_from_host(&d->tids, NL_I64, 2, sh, d->ids, NL_I64, NL_CPU_DEVICE);
    nl_tensor_from_host(&d->tmask, NL_I64, 2, sh, d->mask, NL_I64, NL_CPU_DEVICE);
    nl_tensor_from_host(&d->tlabels, NL_I64, 2, sh, d->labels, NL_I64, NL_CPU_DEVICE);
    d->pixels = NULL;
    if (pixels) {
        nl_tensor_empty(&d->pixels, NL_F32, 4, (const int64_t[]){B, 3, S, S}, NL_CPU_DEVICE);
        nl_fill_normal(d->pixels, 0, 1, &rng);
    }
    d->b = (nl_notellm_batch){.ids = d->tids, .mask = d->tmask, .labels = d->tlabels, .readout = d->readout,
                              .vreadout = d->vreadout, .img_slot = d->slot, .pixels = d->pixels};
}

static void free_batch(batch_data *d)
{
    nl_tensor_release(d->tids); nl_tensor_release(d->tmask); nl_tensor_release(d->tlabels);
    nl_tensor_release(d->pixels);
}

typedef struct ctx {
    nl_notellm *m;
    const nl_notellm_batch *b;
} ctx;

static nl_status loss_fn(nl_tensor **out, nl_tensor **in, void *p)
{
    ctx *c = p;
    nl_notellm_out o;
    NL_TRY(nl_notellm_loss(&o, c->m, c->b));
    *out = nl_tensor_retain(o.loss);
    nl_notellm_out_clear(&o);
    return NL_OK;
}

static void test_notellm_text(void)
{
    nl_notellm_config cfg;
    nl_notellm_config_defaults(&cfg, false);
    cfg.dim = 8;
    nl_notellm *m = NULL;
    if (!h_ok(nl_notellm_assemble(&m, &cfg, tiny_llm(), NULL, NULL, NULL, &rng), "assemble NoteLLM")) return;
    batch_data d;
    make_batch(&d, false, false);
    nl_notellm_out o;
    if (h_ok(nl_notellm_loss(&o, m, &d.b), "NoteLLM loss")) {
        double total = 0;
        nl_tensor_get(o.loss, (const int64_t[]){0}, &total);
        double want = (o.l_cl + 0.01 * o.l_gen) / 1.01;
        h_check(fabs(total - want) < 1e-6 && o.l_gen > 0 && o.l_cl > 0,
                "NoteLLM loss = (L_cl + 0.01 L_gen)/1.01: %.6f vs %.6f", total, want);
        h_check(o.e->shape[0] == B && o.e->shape[1] == 8 && o.e_v == NULL, "embeddings [B d], no e_v");
        nl_notellm_out_clear(&o);
    }
    nl_tensor *in[4] = {m->head->tau, m->head->red_w, m->llm->layers[1].up, m->llm->embed};
    ctx c = {m, &d.b};
    h_gradcheck("NoteLLM loss gradients (tau, reduction, LLM mlp, embeddings)", loss_fn, 4, in, &c, 1e-2, 2e-3,
                3e-2, 12);
    /* causal read-out: a token after the read-out position does not move the embedding */
    nl_notellm_out e1, e2;
    d.readout[0] = 5;
    h_ok(nl_notellm_embed(&e1, m, &d.b, NULL), "embed");
    d.ids[0 * T + 6] = (d.ids[0 * T + 6] + 1) % V;
    nl_tensor_release(d.tids);
    nl_tensor_from_host(&d.tids, NL_I64, 2, (const int64_t[]){B, T}, d.ids, NL_I64, NL_CPU_DEVICE);
    d.b.ids = d.tids;
    h_ok(nl_notellm_embed(&e2, m, &d.b, NULL), "embed after changing a later token");
    double *v1 = h_values(e1.e);
    h_close("a token after the read-out does not change any embedding", e2.e, v1, 0, 0);
    free(v1);
    nl_notellm_out_clear(&e1);
    nl_notellm_out_clear(&e2);
    free_batch(&d);
    nl_notellm_free(m);
}

static void test_notellm2(bool visual_tokens)
{
    nl_notellm_config cfg;
    nl_notellm_config_defaults(&cfg, true);
    cfg.dim = 8;
    cfg.visual_tokens = visual_tokens;
    cfg.micl = visual_tokens;
    nl_vit *vit;
    nl_qformer *qf;
    nl_projector *pj;
    tiny_vision(&vit, &qf, &pj);
    if (!visual_tokens) {
        nl_qformer_free(qf);
        nl_projector_free(pj);
        qf = NULL, pj = NULL;
    }
    nl_llm *llm = tiny_llm();
    nl_notellm *m = NULL;
    const char *what = visual_tokens ? "NoteLLM-2 (mICL + late fusion)" : "only late fusion";
    if (!h_ok(nl_notellm_assemble(&m, &cfg, llm, vit, qf, pj, &rng), what)) return;
    batch_data d;
    make_batch(&d, true, visual_tokens);
    if (visual_tokens) {
        /* splicing: the LLM read-out equals a forward over hand-spliced embeddings */
        nl_attn_probe probe;
        nl_attn_probe_init(&probe, 2);
        nl_notellm_out o;
        if (h_ok(nl_notellm_embed(&o, m, &d.b, &probe), "embed with probe")) {
            nl_tensor *p0 = probe.probs[0];
            h_check(p0 && p0->shape[2] == T + NQ - 1, "LLM saw T + NQ - 1 = %d tokens", T + NQ - 1);
            /* row 3 has 5 real tokens: keys 5+NQ-1 .. end are padding, never attended */
            const float *pv = nl_tensor_host_ptr(p0);
            int64_t T2 = T + NQ - 1;
            double leak = 0;
            for (int64_t i = 0; i < T2; i++)
                for (int64_t j = 5 + NQ - 1; j < T2; j++) leak += pv[((3 * 2 + 0) * T2 + i) * T2 + j];
            h_check(leak == 0, "padding after splicing is masked (%g)", leak);
            /* visual tokens are attended: row 0, last query, keys 1..NQ */
            double vis = 0;
            for (int64_t j = 1; j <= NQ; j++) vis += pv[((0 * 2 + 0) * T2 + (T2 - 1)) * T2 + j];
            h_check(vis > 0, "the read-out attends to the visual tokens (%g)", vis);
            h_check(o.e_v && o.e_v->shape[0] == B, "mICL gives e_v");
            nl_notellm_out_clear(&o);
        }
        nl_attn_probe_free(&probe);
    }
    nl_notellm_out o;
    if (h_ok(nl_notellm_loss(&o, m, &d.b), what)) {
        double total = 0;
        nl_tensor_get(o.loss, (const int64_t[]){0}, &total);
        double want = visual_tokens ? (9 * o.l_cl + 1 * o.l_v) / 10 : o.l_cl;
        h_check(fabs(total - want) < 1e-6, "%s: loss combines as §4.7 (%.6f vs %.6f)", what, total, want);
        if (h_ok(nl_backward(o.loss, NULL, false), "backward")) {
            bool frozen = true;
            for (int i = 0; i < vit->params.n; i++) frozen = frozen && !vit->params.v[i].t->grad;
            h_check(frozen, "%s: the frozen vision encoder gets no gradient", what);
            h_check(m->head->gate_w->grad && m->head->proj_w->grad, "%s: the late-fusion gate is trained", what);
        }
        nl_notellm_out_clear(&o);
    }
    nl_params all;
    nl_params_set_trainable(&m->head->params, "", true);
    if (h_ok(nl_notellm_params(m, &all), "gather params")) {
        h_check(nl_params_get(&all, "head.tau") == m->head->tau && nl_params_get(&all, "llm.model.norm.weight"),
                "%s: one parameter list with prefixes (%d tensors)", what, all.n);
        for (int i = 0; i < all.n; i++) nl_zero_grad(all.v[i].t);
        nl_params_free(&all);
    }
    ctx c = {m, &d.b};
    if (visual_tokens) {
        nl_tensor *in[5] = {m->head->gate_w, m->head->proj_w, qf->query_tokens, pj->w0, m->llm->layers[0].q};
        h_gradcheck("NoteLLM-2 gradients (gate, late-fusion projector, queries, projector, LLM)", loss_fn, 5, in,
                    &c, 1e-2, 2e-3, 3e-2, 10);
    } else {
        nl_tensor *in[3] = {m->head->gate_w, m->head->proj_w, m->head->tau};
        h_gradcheck("only-late-fusion gradients (gate, projector, tau)", loss_fn, 3, in, &c, 1e-2, 2e-3, 3e-2, 10);
    }
    free_batch(&d);
    nl_notellm_free(m);
}

static void test_config_errors(void)
{
    nl_notellm_config cfg;
    nl_notellm_config_defaults(&cfg, true);
    nl_notellm *m = NULL;
    nl_llm *llm = tiny_llm();
    h_expect_error(nl_notellm_assemble(&m, &cfg, llm, NULL, NULL, NULL, &rng), NL_ERR_ARG, "NoteLLM-2 without vision parts");
    cfg.csft = true;
    nl_vit *vit;
    nl_qformer *qf;
    nl_projector *pj;
    tiny_vision(&vit, &qf, &pj);
    h_expect_error(nl_notellm_assemble(&m, &cfg, llm, vit, qf, pj, &rng), NL_ERR_ARG, "CSFT with vision");
    nl_notellm_config_defaults(&cfg, true);
    cfg.w_v = 0;
    h_expect_error(nl_notellm_assemble(&m, &cfg, llm, vit, qf, pj, &rng), NL_ERR_ARG, "zero mICL weight");
    nl_notellm_config_defaults(&cfg, true);
    if (h_ok(nl_notellm_assemble(&m, &cfg, llm, vit, qf, pj, &rng), "assemble")) {
        batch_data d;
        make_batch(&d, true, true);
        d.slot[2] = T;
        nl_notellm_out o;
        h_expect_error(nl_notellm_loss(&o, m, &d.b), NL_ERR_ARG, "<IMG> slot outside the row");
        d.slot[2] = 1;
        d.b.pixels = NULL;
        h_expect_error(nl_notellm_loss(&o, m, &d.b), NL_ERR_SHAPE, "no pixels");
        free_batch(&d);
        nl_notellm_free(m);
    }
}

int main(void)
{
    h_init("notellm");
    nl_rng_seed(&rng, 11);
    test_notellm_text();
    test_notellm2(true);
    test_notellm2(false);
    test_config_errors();
    return h_finish();
}
