/* test_probe.c — the visual-attention probes (runtime/probe) on tiny random
 * NoteLLM-2 composites: the probed forward equals the plain one, masses are
 * a partition of each attention row, a uniform-attention model gives the
 * image share NQ/(t+1), saliency I_l and S_v/S_t/S_o match a direct
 * computation and method §5.2's relations, the pre-softmax variant matches
 * the softmax backward of the post-softmax gradient, the model's gradients
 * survive the probe, the ablation cosines, and the bad inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd.h"
#include "harness.h"
#include "losses.h"
#include "notellm.h"
#include "probe.h"

enum { P = 2, B = 2 * P, T = 12, V = 40, C = 16, CV = 12, CQ = 8, NQ = 3, S = 16, NL = 2, NH = 2, T2 = T + NQ - 1 };

static nl_rng rng;

static nl_llm *tiny_llm(void)
{
    nl_llm_config c;
    nl_llm_config_preset(&c, "tiny");
    c.vocab_size = V, c.hidden_size = C, c.intermediate_size = 24, c.num_layers = NL, c.num_heads = NH;
    c.num_kv_heads = 1, c.head_dim = C / NH, c.max_positions = 64;
    nl_llm *m = NULL;
    h_ok(nl_llm_create(&m, &c, NL_CPU_DEVICE, &rng), "llm");
    for (int i = 0; i < m->params.n; i++)
        if (m->params.v[i].t->ndim == 2) nl_fill_normal(m->params.v[i].t, 0, 0.3, &rng);
    return m;
}

/* NoteLLM-2 (visual tokens + late fusion, mICL as asked); NULL on failure. */
static nl_notellm *tiny_notellm2(bool micl)
{
    nl_vit_config vc = {.hidden_size = CV, .intermediate_size = 16, .num_layers = 1, .num_heads = 2,
                        .image_size = S, .patch_size = 8, .num_channels = 3, .layer_norm_eps = 1e-5};
    nl_qformer_config qc = {.hidden_size = CQ, .intermediate_size = 16, .num_layers = 1, .num_heads = 2,
                            .encoder_hidden_size = CV, .num_query_tokens = NQ, .cross_attention_frequency = 1,
                            .layer_norm_eps = 1e-12};
    nl_vit *vit = NULL;
    nl_qformer *qf = NULL;
    nl_projector *pj = NULL;
    h_ok(nl_vit_create(&vit, &vc, NL_CPU_DEVICE, &rng), "vit");
    h_ok(nl_qformer_create(&qf, &qc, NL_CPU_DEVICE, &rng), "qformer");
    h_ok(nl_projector_create(&pj, NL_PROJ_MLP2X_GELU, CQ, C, NL_CPU_DEVICE, &rng), "projector");
    nl_fill_normal(qf->query_tokens, 0, 0.5, &rng);
    nl_notellm_config cfg;
    nl_notellm_config_defaults(&cfg, true);
    cfg.dim = 8;
    cfg.micl = micl;
    nl_notellm *m = NULL;
    if (!h_ok(nl_notellm_assemble(&m, &cfg, tiny_llm(), vit, qf, pj, &rng), "assemble NoteLLM-2")) return NULL;
    return m;
}

typedef struct batch_data {
    int64_t ids[B * T], mask[B * T];
    int64_t readout[B], vreadout[B], slot[B];
    nl_tensor *tids, *tmask, *pixels;
    nl_notellm_batch b;
} batch_data;

/* Right-padded rows of lengths 12, 10, 11, 9; <IMG> (token 3) at slot 1,
 * visual read-out at 2, text read-out at the last real token. */
static const int lens[B] = {12, 10, 11, 9};

static void make_batch(batch_data *d, bool img_token)
{
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            d->ids[b * T + t] = t < lens[b] ? 4 + (int)(nl_rng_uniform(&rng) * (V - 4)) : 0;
            d->mask[b * T + t] = t < lens[b];
        }
        if (img_token) d->ids[b * T + 1] = 3;
        d->slot[b] = 1, d->vreadout[b] = 2, d->readout[b] = lens[b] - 1;
    }
    const int64_t sh[2] = {B, T};
    nl_tensor_from_host(&d->tids, NL_I64, 2, sh, d->ids, NL_I64, NL_CPU_DEVICE);
    nl_tensor_from_host(&d->tmask, NL_I64, 2, sh, d->mask, NL_I64, NL_CPU_DEVICE);
    nl_tensor_empty(&d->pixels, NL_F32, 4, (const int64_t[]){B, 3, S, S}, NL_CPU_DEVICE);
    nl_fill_normal(d->pixels, 0, 1, &rng);
    d->b = (nl_notellm_batch){.ids = d->tids, .mask = d->tmask, .readout = d->readout, .vreadout = d->vreadout,
                              .img_slot = d->slot, .pixels = d->pixels};
}

static void free_batch(batch_data *d)
{
    nl_tensor_release(d->tids);
    nl_tensor_release(d->tmask);
    nl_tensor_release(d->pixels);
}

/* ---- attention probe ---------------------------------------------------------- */

static void check_masses(const char *what, const nl_probe_mass *ms, int L, int H)
{
    bool range = true, part = true, pad = true, tok = true;
    double worst = 0;
    for (int k = 0; k < L * H; k++) {
        double v[4] = {ms->image[k], ms->text[k], ms->sink[k], ms->pad[k]};
        for (int i = 0; i < 4; i++) range = range && v[i] >= 0 && v[i] <= 1;
        double sum = v[0] + v[1] + v[2] + v[3];
        worst = fmax(worst, fabs(sum - 1));
        part = part && fabs(sum - 1) < 1e-5;
        pad = pad && ms->pad[k] == 0;
        /* every read-out sees all NQ visual tokens: the per-token image mean is the mass / NQ */
        tok = tok && fabs(ms->image_tok[k] - ms->image[k] / NQ) < 1e-12 && ms->text_tok[k] <= ms->text[k] + 1e-12;
    }
    h_check(range, "%s: image, text, sink and padding masses lie in [0, 1]", what);
    h_check(part, "%s: image + text + sink + padding = 1 per layer and head (worst %.2g)", what, worst);
    h_check(pad, "%s: padding gets exactly 0", what);
    h_check(tok, "%s: per-token means (image = mass / NQ, text <= mass)", what);
}

static void test_attention(void)
{
    nl_notellm *m = tiny_notellm2(true);
    if (!m) return;
    batch_data d;
    make_batch(&d, true);
    nl_notellm_out plain;
    bool grad = nl_grad_set_enabled(false);
    h_ok(nl_notellm_embed(&plain, m, &d.b, NULL), "plain embed");
    nl_grad_set_enabled(grad);
    nl_probe_attn_result r;
    if (!h_ok(nl_probe_attention(&r, m, &d.b), "attention probe")) goto out;
    h_check(nl_grad_enabled() == grad, "grad mode restored after the attention probe");
    h_check(r.n_layers == NL && r.n_heads == NH && r.batch == B && r.seq == T2 && r.n_image == NQ && r.has_visual,
            "result dims L %d NH %d B %lld T' %lld NQ %lld", r.n_layers, r.n_heads, (long long)r.batch,
            (long long)r.seq, (long long)r.n_image);
    double *pe = h_values(plain.e), *pv = h_values(plain.e_v);
    h_close("probed embeddings e are bit-identical to the plain forward", r.e, pe, 0, 0);
    h_close("probed embeddings e_v are bit-identical to the plain forward", r.e_v, pv, 0, 0);
    free(pe), free(pv);
    /* positions follow the splice: read-out lens-1 moves by NQ-1, visual read-out 2 -> 2+NQ-1 */
    bool pos = true, kinds = true;
    for (int b = 0; b < B; b++) {
        pos = pos && r.pos[b] == lens[b] - 1 + NQ - 1 && r.vpos[b] == 2 + NQ - 1 && r.img_start[b] == 1;
        for (int j = 0; j < T2; j++) {
            int want = j == 0 ? NL_PROBE_TOK_SINK
                       : j >= 1 && j < 1 + NQ ? NL_PROBE_TOK_IMAGE
                       : j < lens[b] + NQ - 1 ? NL_PROBE_TOK_TEXT : NL_PROBE_TOK_PAD;
            kinds = kinds && r.kind[b * T2 + j] == want;
        }
    }
    h_check(pos, "read-out positions after splicing: t = len-1+NQ-1, v = 2+NQ-1");
    h_check(kinds, "key classes: sink 0, image [1, 1+NQ), text, padding after the last real token");
    check_masses("text read-out", &r.text, NL, NH);
    check_masses("visual read-out", &r.visual, NL, NH);
    /* the display rows reproduce the head-mean masses */
    bool disp = true;
    for (int l = 0; l < NL; l++) {
        double img = 0, causal = 0;
        for (int b = 0; b < B; b++) {
            const float *row = r.vrow + ((size_t)b * NL + l) * T2;
            for (int j = 1; j < 1 + NQ; j++) img += row[j] / B;
            for (int j = r.vpos[b] + 1; j < T2; j++) causal += row[j];
        }
        disp = disp && fabs(img - nl_probe_head_mean(r.visual.image, NH, l)) < 1e-6 && causal == 0;
    }
    h_check(disp, "display rows: head-mean image mass matches, nothing after the visual read-out (causal)");
    nl_probe_attn_free(&r);
out:
    nl_notellm_out_clear(&plain);
    free_batch(&d);
    nl_notellm_free(m);
}

/* q = k = 0 makes every score 0: each of the t+1 visible keys gets 1/(t+1). */
static void test_uniform(void)
{
    nl_notellm *m = tiny_notellm2(true);
    if (!m) return;
    for (int l = 0; l < NL; l++) {
        nl_llm_layer *ly = &m->llm->layers[l];
        nl_tensor *z[] = {ly->q, ly->k, ly->qb, ly->kb};
        for (int i = 0; i < 4; i++)
            if (z[i]) nl_tensor_fill_(z[i], 0);
    }
    batch_data d;
    make_batch(&d, true);
    nl_probe_attn_result r;
    if (h_ok(nl_probe_attention(&r, m, &d.b), "attention probe, uniform attention")) {
        double img = 0, sink = 0, txt = 0, vimg = 0, worst = 0;
        bool rows = true;
        for (int b = 0; b < B; b++) {
            double t = (double)r.pos[b];
            img += NQ / (t + 1) / B, sink += 1 / (t + 1) / B, txt += (t + 1 - NQ - 1) / (t + 1) / B;
            vimg += NQ / (double)(r.vpos[b] + 1) / B;
            for (int l = 0; l < NL; l++)
                for (int j = 0; j < T2; j++) {
                    double want = j <= r.pos[b] ? 1 / (t + 1) : 0;
                    double got = r.row[((size_t)b * NL + l) * T2 + j];
                    worst = fmax(worst, fabs(got - want));
                    rows = rows && fabs(got - want) < 1e-7;
                }
        }
        bool ok = true;
        for (int k = 0; k < NL * NH; k++)
            ok = ok && fabs(r.text.image[k] - img) < 1e-6 && fabs(r.text.sink[k] - sink) < 1e-6 &&
                 fabs(r.text.text[k] - txt) < 1e-6 && fabs(r.visual.image[k] - vimg) < 1e-6;
        h_check(rows, "uniform attention: every visible key gets 1/(t+1) (worst %.2g)", worst);
        h_check(ok, "uniform attention: image share NQ/(t+1) = %.6f (got %.6f), sink 1/(t+1), visual read-out "
                "NQ/(v+1) = %.6f", img, r.text.image[0], vimg);
        h_check(fabs(r.visual.image_tok[0] - vimg / NQ) < 1e-6, "uniform attention: per-image-token mean 1/(v+1)");
        nl_probe_attn_free(&r);
    }
    free_batch(&d);
    nl_notellm_free(m);
}

/* ---- saliency probe ------------------------------------------------------------ */

/* The gradient state a training step would leave: grads from a loss.backward. */
static void make_grads(nl_notellm *m, const nl_notellm_batch *b)
{
    nl_notellm_out o;
    if (h_ok(nl_notellm_loss(&o, m, b), "training loss")) {
        h_ok(nl_backward(o.loss, NULL, false), "training backward");
        nl_notellm_out_clear(&o);
    }
}

static void test_saliency(bool micl)
{
    const char *what = micl ? "saliency (mICL)" : "saliency (basic)";
    nl_notellm *m = tiny_notellm2(micl);
    if (!m) return;
    batch_data d;
    make_batch(&d, true);
    nl_params ps;
    h_ok(nl_notellm_params(m, &ps), "params");
    /* basic: everything but tau frozen, so only the probe puts the LLM's attention in the graph */
    if (!micl) nl_params_set_trainable(&ps, "", false), nl_params_set_trainable(&ps, "head.tau", true);
    make_grads(m, &d.b);
    /* a training batch with its own generator: the probe runs in eval mode and draws nothing */
    nl_rng drng = rng, drng0;
    d.b.train = true, d.b.rng = &drng;
    drng0 = drng;
    nl_tensor **g0 = calloc((size_t)ps.n, sizeof *g0);
    double **v0 = calloc((size_t)ps.n, sizeof *v0);
    bool *rq = calloc((size_t)ps.n, sizeof *rq);
    int with_grad = 0;
    for (int i = 0; i < ps.n; i++) {
        g0[i] = ps.v[i].t->grad;
        v0[i] = g0[i] ? h_values(g0[i]) : NULL;
        rq[i] = ps.v[i].t->requires_grad;
        with_grad += g0[i] != NULL;
    }
    nl_probe_sal_result r;
    if (!h_ok(nl_probe_saliency(&r, m, &d.b), what)) goto out;
    /* the model's gradients are exactly the ones it had */
    bool same = true;
    for (int i = 0; i < ps.n; i++) {
        nl_tensor *g = ps.v[i].t->grad;
        same = same && g == g0[i] && ps.v[i].t->requires_grad == rq[i];
        if (g && same) {
            double *v = h_values(g);
            same = memcmp(v, v0[i], (size_t)nl_tensor_numel(g) * sizeof *v) == 0;
            free(v);
        }
    }
    h_check(same && with_grad > 0, "%s: the %d existing gradients and the trainable flags are untouched", what,
            with_grad);
    h_check(memcmp(&drng, &drng0, sizeof drng) == 0, "%s: no dropout draws from the batch's generator", what);
    d.b.train = false, d.b.rng = NULL;
    /* direct computation: the same forward, L_cl on e, backward; I_l from the probe tensors */
    nl_attn_probe pr;
    nl_attn_probe_init(&pr, NL);
    nl_tensor **saved = calloc((size_t)ps.n, sizeof *saved);
    for (int i = 0; i < ps.n; i++) saved[i] = ps.v[i].t->grad, ps.v[i].t->grad = NULL;
    bool er = m->llm->embed->requires_grad;
    m->llm->embed->requires_grad = true; /* as the probe does: a frozen model's attention stays in the graph */
    nl_notellm_out o;
    nl_tensor *loss = NULL;
    double l_direct = 0;
    if (h_ok(nl_notellm_embed(&o, m, &d.b, &pr), "direct embed") && h_ok(nl_gcl_loss(&loss, o.e, m->head->tau), "L_cl") &&
        h_ok(nl_backward(loss, NULL, false), "direct backward")) {
        nl_tensor_get(loss, (const int64_t[]){0}, &l_direct);
        double worst = 0, scale = 0;
        bool any_grad = true;
        for (int l = 0; l < NL; l++) {
            double *a = h_values(pr.probs[l]), *g = pr.probs[l]->grad ? h_values(pr.probs[l]->grad) : NULL;
            any_grad = any_grad && g;
            for (int b = 0; b < B && g; b++)
                for (int i = 0; i < T2; i++)
                    for (int j = 0; j < T2; j++) {
                        double s = 0;
                        for (int h = 0; h < NH; h++) {
                            size_t k = (((size_t)b * NH + h) * T2 + i) * T2 + j;
                            s += a[k] * g[k];
                        }
                        double want = i == j ? 0 : fabs(s);
                        double got = r.sal[(((size_t)l * B + b) * T2 + i) * T2 + j];
                        worst = fmax(worst, fabs(got - want));
                        scale = fmax(scale, want);
                    }
            free(a), free(g);
        }
        h_check(any_grad && scale > 0 && worst <= 1e-6 * scale, "%s: I_l = |Σ_h A ⊙ dL/dA| from the probe tensors "
                "(worst %.2g of %.2g)", what, worst, scale);
        h_check(fabs(l_direct - r.loss) < 1e-6, "%s: the probe's loss is L_cl on e (%.6f vs %.6f)", what, r.loss,
                l_direct);
        nl_notellm_out_clear(&o);
    }
    nl_tensor_release(loss);
    nl_attn_probe_free(&pr);
    m->llm->embed->requires_grad = er;
    for (int i = 0; i < ps.n; i++) nl_zero_grad(ps.v[i].t), ps.v[i].t->grad = saved[i];
    free(saved);
    /* §5.2 relations per row and layer */
    bool span = true, rel = true, zeros = true, mean = true;
    double worst = 0;
    for (int b = 0; b < B; b++) {
        int64_t t = r.pos[b], vs = r.v_start[b], ve = r.v_end[b], nv = ve - vs + 1;
        span = span && t == lens[b] + NQ - 2 && vs == 1 && ve == (micl ? 2 + NQ - 1 + 3 : NQ);
        for (int l = 0; l < NL; l++) {
            const float *I = r.sal + ((size_t)l * B + b) * T2 * T2;
            const double *f = r.per_row + ((size_t)b * NL + l) * 3;
            double rowt = 0, all = 0, inside = 0;
            for (int i = 0; i < T2; i++)
                for (int j = 0; j < T2; j++) {
                    all += I[i * T2 + j];
                    zeros = zeros && (j <= i || I[i * T2 + j] == 0) && (i <= t || I[i * T2 + j] == 0) &&
                            (i != j || I[i * T2 + j] == 0);
                }
            for (int j = 0; j < T2; j++) rowt += I[t * T2 + j], inside += j >= vs && j <= ve ? I[t * T2 + j] : 0;
            double e1 = fabs(f[0] * nv + f[1] * (t - nv) - rowt), e2 = fabs(f[2] * t * (t - 1) / 2 + rowt - all);
            double e3 = fabs(f[0] * nv - inside);
            worst = fmax(worst, fmax(e1, fmax(e2, e3)) / (all > 0 ? all : 1));
            rel = rel && worst < 1e-9;
        }
    }
    for (int l = 0; l < NL; l++)
        for (int k = 0; k < 3; k++) {
            double s = 0;
            for (int b = 0; b < B; b++) s += r.per_row[((size_t)b * NL + l) * 3 + k] / B;
            mean = mean && fabs(s - r.mean[l * 3 + k]) < 1e-12;
        }
    h_check(span, "%s: t = n^m position, V = [slot, %s]", what, micl ? "visual read-out + 3" : "slot + NQ - 1");
    h_check(zeros, "%s: I is 0 on the diagonal, above it (causal) and in rows after t (padding)", what);
    h_check(rel, "%s: S_v|V| + S_t(t-|V|) = Σ_j I[t,j], S_o t(t-1)/2 = Σ I - Σ_j I[t,j] (worst %.2g)", what, worst);
    h_check(mean, "%s: per-layer means over rows", what);
    /* accumulate: the same batch twice gives the same mean; normalised layers sum to 1 */
    nl_probe_sal_acc acc = {0};
    double mu[NL * 3], nrm[NL * 3];
    h_expect_error(nl_probe_sal_summary(&acc, mu, nrm), NL_ERR_STATE, "summary of nothing");
    h_ok(nl_probe_sal_accumulate(&acc, &r), "accumulate");
    h_ok(nl_probe_sal_accumulate(&acc, &r), "accumulate again");
    if (h_ok(nl_probe_sal_summary(&acc, mu, nrm), "summary")) {
        bool ok = acc.n_samples == 2 * B;
        for (int l = 0; l < NL; l++) {
            double s = 0;
            for (int k = 0; k < 3; k++) {
                ok = ok && fabs(mu[l * 3 + k] - r.mean[l * 3 + k]) < 1e-12 * (1 + r.mean[l * 3 + k]);
                ok = ok && fabs(nrm[l * 3 + k] - mu[l * 3 + k] / (mu[l * 3] + mu[l * 3 + 1] + mu[l * 3 + 2])) < 1e-12;
                s += nrm[l * 3 + k];
            }
            ok = ok && fabs(s - 1) < 1e-12;
        }
        h_check(ok, "%s: accumulated mean over samples, each layer normalised to sum 1", what);
    }
    nl_probe_sal_result other = {.n_layers = NL + 1, .batch = 1, .per_row = r.per_row};
    h_expect_error(nl_probe_sal_accumulate(&acc, &other), NL_ERR_SHAPE, "accumulate another layer count");
    nl_probe_sal_acc_free(&acc);
    nl_probe_sal_free(&r);
out:
    for (int i = 0; i < ps.n; i++) free(v0[i]);
    free(v0), free(g0), free(rq);
    nl_params_free(&ps);
    free_batch(&d);
    nl_notellm_free(m);
}

/* Pre-softmax saliency (the upstream LLaMA variant): the recorded scores S
 * give back the probabilities (softmax(S) = A), their gradient is the
 * softmax backward of the post-softmax one, dL/dS = A ⊙ (G - Σ_k A G), and
 * the probe's I_l = |Σ_h S ⊙ dL/dS| is computed from that analytic gradient
 * (masked keys: -inf × 0 = NaN -> 0). */
static void test_saliency_pre(void)
{
    const char *what = "saliency (pre-softmax)";
    nl_notellm *m = tiny_notellm2(false);
    if (!m) return;
    batch_data d;
    make_batch(&d, true);
    nl_probe_sal_result r;
    h_expect_error(nl_probe_saliency_ex(&r, m, &d.b, &(nl_probe_sal_opts){.at = (nl_probe_sal_at)7}), NL_ERR_ARG,
                   "unknown saliency variant");
    h_expect_error(nl_probe_saliency_ex(&r, m, &d.b, &(nl_probe_sal_opts){.loss = (nl_probe_sal_loss)7}), NL_ERR_ARG,
                   "unknown saliency loss");
    if (h_ok(nl_probe_saliency_ex(&r, m, &d.b, &(nl_probe_sal_opts){.loss = NL_PROBE_LOSS_NEG_COS}), "-cos saliency")) {
        /* the loss against an independent forward: mean over pairs of -e_i·e_{i+P}, in double */
        nl_notellm_out o0;
        if (h_ok(nl_notellm_embed(&o0, m, &d.b, NULL), "plain embed")) {
            double *e = h_values(o0.e), want = 0;
            int64_t dim = o0.e->shape[1];
            for (int i = 0; i < P; i++)
                for (int64_t k = 0; k < dim; k++) want -= e[i * dim + k] * e[(i + P) * dim + k] / P;
            h_check(fabs(want - r.loss) < 1e-6, "-cos saliency: loss %.6f is the mean -cos %.6f", r.loss, want);
            free(e);
            nl_notellm_out_clear(&o0);
        }
        nl_probe_sal_free(&r);
    }
    if (!h_ok(nl_probe_saliency_ex(&r, m, &d.b, &(nl_probe_sal_opts){.at = NL_PROBE_PRE_SOFTMAX}), what)) goto out;
    nl_attn_probe pr;
    nl_attn_probe_init(&pr, NL);
    h_ok(nl_attn_probe_want_scores(&pr), "want scores");
    bool er = m->llm->embed->requires_grad;
    m->llm->embed->requires_grad = true;
    nl_notellm_out o;
    nl_tensor *loss = NULL;
    if (h_ok(nl_notellm_embed(&o, m, &d.b, &pr), "direct embed") && h_ok(nl_gcl_loss(&loss, o.e, m->head->tau), "L_cl") &&
        h_ok(nl_backward(loss, NULL, false), "direct backward")) {
        double e_soft = 0, e_grad = 0, g_scale = 0, e_sal = 0, s_scale = 0;
        bool recorded = true;
        for (int l = 0; l < NL; l++) {
            recorded = recorded && pr.scores[l] && pr.scores[l]->grad && pr.probs[l]->grad;
            if (!recorded) break;
            double *sc = h_values(pr.scores[l]), *gs = h_values(pr.scores[l]->grad);
            double *a = h_values(pr.probs[l]), *g = h_values(pr.probs[l]->grad);
            double *ga = malloc(sizeof *ga * (size_t)B * NH * T2 * T2);
            for (int b = 0; b < B; b++)
                for (int h = 0; h < NH; h++)
                    for (int i = 0; i < T2; i++) {
                        size_t row = (((size_t)b * NH + h) * T2 + i) * T2;
                        double mx = -INFINITY, z = 0, dot = 0;
                        for (int j = 0; j < T2; j++) mx = fmax(mx, sc[row + j]);
                        for (int j = 0; j < T2; j++) z += exp(sc[row + j] - mx);
                        for (int j = 0; j < T2; j++) dot += a[row + j] * g[row + j];
                        for (int j = 0; j < T2; j++) {
                            e_soft = fmax(e_soft, fabs(exp(sc[row + j] - mx) / z - a[row + j]));
                            ga[row + j] = a[row + j] * (g[row + j] - dot);
                            e_grad = fmax(e_grad, fabs(ga[row + j] - gs[row + j]));
                            g_scale = fmax(g_scale, fabs(ga[row + j]));
                        }
                    }
            for (int b = 0; b < B; b++)
                for (int i = 0; i < T2; i++)
                    for (int j = 0; j < T2; j++) {
                        double v = 0;
                        for (int h = 0; h < NH; h++) {
                            size_t k = (((size_t)b * NH + h) * T2 + i) * T2 + j;
                            v += sc[k] * ga[k];
                        }
                        double want = i == j || isnan(v) ? 0 : fabs(v);
                        double got = r.sal[(((size_t)l * B + b) * T2 + i) * T2 + j];
                        e_sal = fmax(e_sal, fabs(got - want));
                        s_scale = fmax(s_scale, want);
                    }
            free(sc), free(gs), free(a), free(g), free(ga);
        }
        h_check(recorded, "%s: every layer records scores with a gradient", what);
        h_check(e_soft < 1e-6, "%s: softmax of the recorded scores is the attention (worst %.2g)", what, e_soft);
        h_check(g_scale > 0 && e_grad <= 1e-5 * g_scale, "%s: dL/dS = A (G - sum A G) (worst %.2g of %.2g)", what,
                e_grad, g_scale);
        h_check(s_scale > 0 && e_sal <= 1e-4 * s_scale, "%s: I_l = |sum_h S dL/dS| (worst %.2g of %.2g)", what, e_sal,
                s_scale);
        nl_notellm_out_clear(&o);
    }
    nl_tensor_release(loss);
    nl_attn_probe_free(&pr);
    m->llm->embed->requires_grad = er;
    nl_params ps;
    if (h_ok(nl_notellm_params(m, &ps), "params")) {
        for (int i = 0; i < ps.n; i++) nl_zero_grad(ps.v[i].t);
        nl_params_free(&ps);
    }
    nl_probe_sal_free(&r);
out:
    free_batch(&d);
    nl_notellm_free(m);
}

/* ---- modality ablation ---------------------------------------------------------- */

static void test_ablation(void)
{
    float a[6] = {1, 0, 3, 4, 0, 0}, b[6] = {2, 0, -4, 3, 1, 1};
    nl_tensor *ta = h_from(2, (const int64_t[]){3, 2}, a), *tb = h_from(2, (const int64_t[]){3, 2}, b);
    double c[3];
    if (h_ok(nl_probe_cosine_rows(c, ta, tb), "cosine rows"))
        h_check(fabs(c[0] - 1) < 1e-12 && fabs(c[1]) < 1e-12 && c[2] == 0, "cosines 1, 0 and 0 for a zero row");
    nl_tensor *tc = h_from(2, (const int64_t[]){2, 3}, a);
    h_expect_error(nl_probe_cosine_rows(c, ta, tc), NL_ERR_SHAPE, "cosines of [3 2] and [2 3]");
    int64_t rk[4];
    h_expect_error(nl_probe_pair_ranks(rk, ta), NL_ERR_SHAPE, "ranks of an odd row count");
    nl_tensor_release(ta), nl_tensor_release(tb), nl_tensor_release(tc);
    /* pairs (0,2) and (1,3): rows 1 and 3 are nearer to row 0 than its partner (1,1), and to row 2 than row 0 */
    float e4[8] = {1, 0, 1, 0.1f, 1, 1, 1, 0.1f};
    nl_tensor *t4 = h_from(2, (const int64_t[]){4, 2}, e4);
    if (h_ok(nl_probe_pair_ranks(rk, t4), "pair ranks"))
        h_check(rk[0] == 3 && rk[1] == 1 && rk[2] == 3 && rk[3] == 1, "pair ranks %lld %lld %lld %lld (want 3 1 3 1)",
                (long long)rk[0], (long long)rk[1], (long long)rk[2], (long long)rk[3]);
    nl_tensor_release(t4);

    nl_notellm *m = tiny_notellm2(true);
    if (!m) return;
    batch_data d;
    make_batch(&d, true);
    nl_probe_ablation r;
    /* the full batch again stands in for the image-only prompts: full vs "image-only" is then 1 */
    if (h_ok(nl_probe_ablate(&r, m, &d.b, &d.b), "modality ablation")) {
        bool ok = r.n == B, moved = false;
        for (int i = 0; i < B; i++) {
            ok = ok && fabs(r.full_image[i] - 1) < 1e-6 && fabs(r.text_image[i] - r.full_text[i]) < 1e-6 &&
                 r.full_text[i] <= 1 + 1e-9 && r.full_text[i] >= -1 - 1e-9;
            moved = moved || r.full_text[i] < 1 - 1e-6;
        }
        h_check(ok, "ablation: cos(full, full) = 1, cos(text, image) = cos(full, text), in [-1, 1]");
        bool ranks = r.rank_full && r.rank_text && r.rank_image;
        for (int i = 0; ranks && i < B; i++)
            ranks = r.rank_full[i] == r.rank_image[i] && r.rank_full[i] >= 1 && r.rank_full[i] <= B - 1 &&
                    r.rank_text[i] >= 1 && r.rank_text[i] <= B - 1;
        h_check(ranks, "ablation: partner ranks per variant in [1, B-1], equal for identical variants");
        h_check(moved, "ablation: zeroing the image moves the embedding (cos %.8f)", r.full_text[0]);
        nl_probe_ablation_free(&r);
    }
    if (h_ok(nl_probe_ablate(&r, m, &d.b, NULL), "ablation without image-only"))
        h_check(r.full_text && !r.full_image && !r.text_image, "a missing variant gives NULL arrays");
    nl_probe_ablation_free(&r);
    nl_tensor *z = NULL;
    if (h_ok(nl_probe_zero_pixels(&z, d.pixels), "zero pixels")) {
        double *v = h_values(z);
        bool zero = nl_tensor_same_shape(z, d.pixels);
        for (int64_t i = 0; i < nl_tensor_numel(z); i++) zero = zero && v[i] == 0;
        h_check(zero, "the text-only image is all zeros, shaped like the pixels");
        free(v);
        nl_tensor_release(z);
    }
    free_batch(&d);
    nl_notellm_free(m);
}

/* ---- bad input ---------------------------------------------------------------- */

static void test_errors(void)
{
    /* a text model (NoteLLM) has no visual tokens to look at */
    nl_notellm_config cfg;
    nl_notellm_config_defaults(&cfg, false);
    cfg.dim = 8;
    nl_notellm *t = NULL;
    batch_data d;
    make_batch(&d, false);
    d.b.pixels = NULL;
    d.b.img_slot = NULL;
    if (h_ok(nl_notellm_assemble(&t, &cfg, tiny_llm(), NULL, NULL, NULL, &rng), "assemble NoteLLM")) {
        nl_probe_attn_result ra;
        nl_probe_sal_result rs;
        nl_probe_ablation rb;
        h_expect_error(nl_probe_attention(&ra, t, &d.b), NL_ERR_ARG, "attention probe of a text model");
        h_check(strstr(nl_last_error(), "no visual tokens") != NULL, "the message says why: %s", nl_last_error());
        h_expect_error(nl_probe_saliency(&rs, t, &d.b), NL_ERR_ARG, "saliency probe of a text model");
        h_expect_error(nl_probe_ablate(&rb, t, &d.b, NULL), NL_ERR_ARG, "modality ablation of a text model");
        nl_notellm_free(t);
    }
    free_batch(&d);
    nl_notellm *m = tiny_notellm2(true);
    if (!m) return;
    make_batch(&d, true);
    nl_probe_attn_result ra;
    nl_probe_sal_result rs;
    d.b.img_slot = NULL;
    h_expect_error(nl_probe_attention(&ra, m, &d.b), NL_ERR_ARG, "batch without <IMG> slots");
    h_check(strstr(nl_last_error(), "<IMG> slots") != NULL, "the message names the slots: %s", nl_last_error());
    d.b.img_slot = d.slot;
    d.slot[2] = T;
    h_expect_error(nl_probe_attention(&ra, m, &d.b), NL_ERR_ARG, "<IMG> slot outside the row");
    d.slot[2] = 1;
    d.vreadout[3] = lens[3] - 2; /* the mICL span (v + 3) runs past the text read-out */
    h_expect_error(nl_probe_saliency(&rs, m, &d.b), NL_ERR_ARG, "mICL image span past the read-out");
    d.vreadout[3] = 2;
    d.b.vreadout = NULL;
    h_expect_error(nl_probe_saliency(&rs, m, &d.b), NL_ERR_ARG, "mICL without visual read-outs");
    d.b.vreadout = d.vreadout;
    nl_tensor *odd = NULL;
    nl_narrow(&odd, d.tids, 0, 0, 3);
    nl_tensor *oddp = NULL;
    nl_narrow(&oddp, d.pixels, 0, 0, 3);
    nl_tensor *oddm = NULL;
    nl_narrow(&oddm, d.tmask, 0, 0, 3);
    nl_notellm_batch b3 = d.b;
    b3.ids = odd, b3.pixels = oddp, b3.mask = oddm;
    h_expect_error(nl_probe_saliency(&rs, m, &b3), NL_ERR_SHAPE, "saliency of an odd batch (no pairs)");
    nl_tensor_release(odd), nl_tensor_release(oddp), nl_tensor_release(oddm);
    free_batch(&d);
    nl_notellm_free(m);
}

int main(void)
{
    h_init("probe");
    nl_rng_seed(&rng, 23);
    test_attention();
    test_uniform();
    test_saliency(true);
    test_saliency(false);
    test_saliency_pre();
    test_ablation();
    test_errors();
    return h_finish();
}
