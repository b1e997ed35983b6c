/* qformer.c — Q-Former: parameter registration in HF order, random init,
 * load/save, and the BERT post-LN forward composed from runtime/ops.h and
 * nl_mha (so probes work); dropout only when dropout_p > 0. */
#include "qformer.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "autograd.h"

#define CK(x)                                   \
    do {                                        \
        if ((st = (x)) != NL_OK) goto done;     \
    } while (0)

/* Register the parameter named by the printf format, of the given shape. */
static nl_status reg(nl_qformer *m, nl_tensor **out, nl_device dev, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static nl_status reg(nl_qformer *m, nl_tensor **out, nl_device dev, int ndim, const int64_t *shape, const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof name) return nl_error_set(NL_ERR_ARG, "parameter name too long: %s...", name);
    return nl_params_new(&m->params, out, name, ndim, shape, dev);
}

/* "encoder.layer.{l}.{part}.*" for part "attention" or "crossattention"; kv_in = C or CE. */
static nl_status register_attn(nl_qformer *m, nl_qformer_attn *a, nl_device dev, long long l, const char *part,
                               int64_t kv_in)
{
    int64_t C = m->cfg.hidden_size, vC[1] = {C}, CC[2] = {C, C}, CK_[2] = {C, kv_in};
    NL_TRY(reg(m, &a->q_w, dev, 2, CC, "encoder.layer.%lld.%s.attention.query.weight", l, part));
    NL_TRY(reg(m, &a->q_b, dev, 1, vC, "encoder.layer.%lld.%s.attention.query.bias", l, part));
    NL_TRY(reg(m, &a->k_w, dev, 2, CK_, "encoder.layer.%lld.%s.attention.key.weight", l, part));
    NL_TRY(reg(m, &a->k_b, dev, 1, vC, "encoder.layer.%lld.%s.attention.key.bias", l, part));
    NL_TRY(reg(m, &a->v_w, dev, 2, CK_, "encoder.layer.%lld.%s.attention.value.weight", l, part));
    NL_TRY(reg(m, &a->v_b, dev, 1, vC, "encoder.layer.%lld.%s.attention.value.bias", l, part));
    NL_TRY(reg(m, &a->o_w, dev, 2, CC, "encoder.layer.%lld.%s.output.dense.weight", l, part));
    NL_TRY(reg(m, &a->o_b, dev, 1, vC, "encoder.layer.%lld.%s.output.dense.bias", l, part));
    NL_TRY(reg(m, &a->ln_w, dev, 1, vC, "encoder.layer.%lld.%s.output.LayerNorm.weight", l, part));
    NL_TRY(reg(m, &a->ln_b, dev, 1, vC, "encoder.layer.%lld.%s.output.LayerNorm.bias", l, part));
    return NL_OK;
}

static nl_status register_params(nl_qformer *m, nl_device dev)
{
    const nl_qformer_config *c = &m->cfg;
    int64_t C = c->hidden_size, I = c->intermediate_size, vC[1] = {C}, vI[1] = {I};
    NL_TRY(reg(m, &m->query_tokens, dev, 3, (const int64_t[]){1, c->num_query_tokens, C}, "query_tokens"));
    NL_TRY(reg(m, &m->ln_w, dev, 1, vC, "layernorm.weight"));
    NL_TRY(reg(m, &m->ln_b, dev, 1, vC, "layernorm.bias"));
    for (long long l = 0; l < c->num_layers; l++) {
        nl_qformer_layer *L = &m->layers[l];
        NL_TRY(register_attn(m, &L->self, dev, l, "attention", C));
        L->has_cross = l % c->cross_attention_frequency == 0;
        if (L->has_cross) NL_TRY(register_attn(m, &L->cross, dev, l, "crossattention", c->encoder_hidden_size));
        NL_TRY(reg(m, &L->fc1_w, dev, 2, (const int64_t[]){I, C}, "encoder.layer.%lld.intermediate_query.dense.weight", l));
        NL_TRY(reg(m, &L->fc1_b, dev, 1, vI, "encoder.layer.%lld.intermediate_query.dense.bias", l));
        NL_TRY(reg(m, &L->fc2_w, dev, 2, (const int64_t[]){C, I}, "encoder.layer.%lld.output_query.dense.weight", l));
        NL_TRY(reg(m, &L->fc2_b, dev, 1, vC, "encoder.layer.%lld.output_query.dense.bias", l));
        NL_TRY(reg(m, &L->ln_w, dev, 1, vC, "encoder.layer.%lld.output_query.LayerNorm.weight", l));
        NL_TRY(reg(m, &L->ln_b, dev, 1, vC, "encoder.layer.%lld.output_query.LayerNorm.bias", l));
    }
    return NL_OK;
}

static nl_status init_attn(nl_qformer_attn *a, nl_rng *rng)
{
    nl_tensor *w[4] = {a->q_w, a->k_w, a->v_w, a->o_w};
    for (int i = 0; i < 4; i++) NL_TRY(nl_fill_normal(w[i], 0.0, 0.02, rng));
    return nl_tensor_fill_(a->ln_w, 1.0);
}

static nl_status init_params(nl_qformer *m, nl_rng *rng)
{
    NL_TRY(nl_fill_normal(m->query_tokens, 0.0, 0.02, rng)); /* not zeros: see qformer.h */
    NL_TRY(nl_tensor_fill_(m->ln_w, 1.0));
    for (int64_t l = 0; l < m->cfg.num_layers; l++) {
        nl_qformer_layer *L = &m->layers[l];
        NL_TRY(init_attn(&L->self, rng));
        if (L->has_cross) NL_TRY(init_attn(&L->cross, rng));
        NL_TRY(nl_fill_normal(L->fc1_w, 0.0, 0.02, rng));
        NL_TRY(nl_fill_normal(L->fc2_w, 0.0, 0.02, rng));
        NL_TRY(nl_tensor_fill_(L->ln_w, 1.0));
    }
    return NL_OK;
}

nl_status nl_qformer_create(nl_qformer **out, const nl_qformer_config *c, nl_device dev, nl_rng *rng)
{
    *out = NULL;
    if (c->hidden_size <= 0 || c->num_heads <= 0 || c->hidden_size % c->num_heads != 0 || c->num_layers <= 0 ||
        c->intermediate_size <= 0 || c->encoder_hidden_size <= 0 || c->num_query_tokens <= 0 ||
        c->cross_attention_frequency <= 0)
        return nl_error_set(NL_ERR_ARG,
                            "qformer: bad config: hidden %lld, heads %lld, layers %lld, intermediate %lld, "
                            "encoder_hidden %lld, queries %lld, cross_attention_frequency %lld",
                            (long long)c->hidden_size, (long long)c->num_heads, (long long)c->num_layers,
                            (long long)c->intermediate_size, (long long)c->encoder_hidden_size,
                            (long long)c->num_query_tokens, (long long)c->cross_attention_frequency);
    nl_qformer *m = calloc(1, sizeof *m);
    if (m) m->layers = calloc((size_t)c->num_layers, sizeof *m->layers);
    if (!m || !m->layers) {
        free(m);
        return nl_error_set(NL_ERR_OOM, "qformer: out of memory for %lld layers", (long long)c->num_layers);
    }
    m->cfg = *c;
    nl_status st = register_params(m, dev);
    if (st == NL_OK && rng) {
        bool g = nl_grad_set_enabled(false);
        st = init_params(m, rng);
        nl_grad_set_enabled(g);
    }
    if (st != NL_OK) {
        nl_qformer_free(m);
        return st;
    }
    *out = m;
    return NL_OK;
}

void nl_qformer_free(nl_qformer *m)
{
    if (!m) return;
    nl_params_free(&m->params);
    free(m->layers);
    free(m);
}

nl_status nl_qformer_load(nl_qformer **out, const char *dir, nl_device dev)
{
    *out = NULL;
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path)
        return nl_error_set(NL_ERR_ARG, "qformer: directory name too long: %s", dir);
    nl_qformer_config c;
    NL_TRY(nl_qformer_config_load(&c, path));
    nl_qformer *m;
    NL_TRY(nl_qformer_create(&m, &c, dev, NULL));
    nl_status st = nl_params_load(&m->params, dir, NULL, true, NULL);
    if (st != NL_OK) {
        nl_qformer_free(m);
        return st;
    }
    *out = m;
    return NL_OK;
}

nl_status nl_qformer_save(const nl_qformer *m, const char *dir)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path)
        return nl_error_set(NL_ERR_ARG, "qformer: directory name too long: %s", dir);
    NL_TRY(nl_ensure_dir(dir));
    NL_TRY(nl_qformer_config_save(&m->cfg, path));
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    static const char *const meta[2] = {"format", "pt"};
    return nl_params_save(&m->params, path, NULL, 1, meta);
}

/* The dropout of one forward: probability p, masks from rng, or row-keyed
 * (rows: each dropout site k draws from nl_dropout_rows with seed
 * nl_rng_mix(seed, k), sites counted in forward order). */
typedef struct drop {
    double p;
    nl_rng *rng;
    bool rows;
    uint64_t seed, site;
    int64_t row0;
} drop;

static nl_status apply_dropout(nl_tensor **out, nl_tensor *x, drop *d)
{
    if (d->rows) return nl_dropout_rows(out, x, d->p, nl_rng_mix(d->seed, d->site++), d->row0);
    return nl_dropout(out, x, d->p, d->rng);
}

/* x -> dropout(x) when p > 0, else a new reference to x. */
static nl_status maybe_dropout(nl_tensor **out, nl_tensor *x, drop *d)
{
    if (d->p > 0) return apply_dropout(out, x, d);
    *out = nl_tensor_retain(x);
    return NL_OK;
}

/* q [B,NH,Tq,HS], k,v [B,NH,Tk,HS] -> [B,NH,Tq,HS]. Eval: nl_mha (fused or
 * probed). Training: explicit softmax so the probabilities can be dropped
 * out as HF does; the probe then keeps them before dropout. */
static nl_status attend(nl_tensor **out, nl_tensor *q, nl_tensor *k, nl_tensor *v, nl_attn_probe *probe, int idx,
                        drop *d)
{
    if (d->p <= 0) return nl_mha(out, q, k, v, NULL, probe, idx);
    nl_tensor *s = NULL, *s2 = NULL, *P = NULL, *Pd = NULL;
    nl_status st;
    CK(nl_matmul(&s, q, k, false, true));
    CK(nl_scale(&s2, s, 1.0 / sqrt((double)q->shape[3]), 0.0));
    CK(nl_softmax(&P, s2, -1));                                                 /* [B,NH,Tq,Tk] */
    if (probe && probe->enabled) {
        P->retain_grad = true;
        nl_tensor_release(probe->probs[idx]);
        probe->probs[idx] = nl_tensor_retain(P);
    }
    CK(apply_dropout(&Pd, P, d));
    CK(nl_matmul(out, Pd, v, false, false));
done:
    nl_tensor_release(s); nl_tensor_release(s2); nl_tensor_release(P); nl_tensor_release(Pd);
    return st;
}

/* h [B,NQ,C], kv [B,Tk,C or CE] -> LN(h + dropout(dense(attn(q(h), k(kv), v(kv))))). */
static nl_status attn_block(nl_tensor **out, nl_qformer *m, const nl_qformer_attn *a, nl_tensor *h, nl_tensor *kv,
                            nl_attn_probe *probe, int idx, drop *d)
{
    int64_t NH = m->cfg.num_heads;
    nl_tensor *q = NULL, *k = NULL, *v = NULL, *qh = NULL, *kh = NULL, *vh = NULL, *c = NULL, *cm = NULL;
    nl_tensor *o = NULL, *od = NULL, *r = NULL;
    nl_status st;
    CK(nl_linear(&q, h, a->q_w, a->q_b));
    CK(nl_linear(&k, kv, a->k_w, a->k_b));
    CK(nl_linear(&v, kv, a->v_w, a->v_b));
    CK(nl_heads_split(&qh, q, NH));
    CK(nl_heads_split(&kh, k, NH));
    CK(nl_heads_split(&vh, v, NH));
    CK(attend(&c, qh, kh, vh, probe, idx, d));
    CK(nl_heads_merge(&cm, c));
    CK(nl_linear(&o, cm, a->o_w, a->o_b));
    CK(maybe_dropout(&od, o, d));
    CK(nl_add(&r, od, h));
    CK(nl_layernorm(out, r, a->ln_w, a->ln_b, m->cfg.layer_norm_eps));
done:
    nl_tensor_release(q); nl_tensor_release(k); nl_tensor_release(v); nl_tensor_release(qh);
    nl_tensor_release(kh); nl_tensor_release(vh); nl_tensor_release(c); nl_tensor_release(cm);
    nl_tensor_release(o); nl_tensor_release(od); nl_tensor_release(r);
    return st;
}

/* One layer: self-attention, cross-attention (when present), FFN; h [B,NQ,C]. */
static nl_status layer_forward(nl_tensor **out, nl_qformer *m, int l, nl_tensor *h, nl_tensor *vision,
                               nl_attn_probe *probe, drop *d)
{
    const nl_qformer_layer *L = &m->layers[l];
    nl_tensor *a = NULL, *x = NULL, *f1 = NULL, *g = NULL, *f2 = NULL, *fd = NULL, *r = NULL;
    nl_status st;
    CK(attn_block(&a, m, &L->self, h, h, probe, 2 * l, d));
    if (L->has_cross) CK(attn_block(&x, m, &L->cross, a, vision, probe, 2 * l + 1, d));
    else x = nl_tensor_retain(a);
    CK(nl_linear(&f1, x, L->fc1_w, L->fc1_b));
    CK(nl_gelu(&g, f1));
    CK(nl_linear(&f2, g, L->fc2_w, L->fc2_b));
    CK(maybe_dropout(&fd, f2, d));
    CK(nl_add(&r, fd, x));
    CK(nl_layernorm(out, r, L->ln_w, L->ln_b, m->cfg.layer_norm_eps));
done:
    nl_tensor_release(a); nl_tensor_release(x); nl_tensor_release(f1); nl_tensor_release(g);
    nl_tensor_release(f2); nl_tensor_release(fd); nl_tensor_release(r);
    return st;
}

static nl_status forward(nl_tensor **out, nl_qformer *m, nl_tensor *vision, nl_tensor **all_hidden,
                         nl_attn_probe *probe, double dropout_p, drop *d)
{
    const nl_qformer_config *c = &m->cfg;
    char a[96];
    *out = NULL;
    if (vision->ndim != 3 || vision->shape[2] != c->encoder_hidden_size || vision->shape[1] < 1)
        return nl_error_set(NL_ERR_SHAPE, "qformer: vision is %s but the model needs [B Tv %lld] with Tv >= 1%s",
                            nl_shape_str(vision, a, sizeof a), (long long)c->encoder_hidden_size,
                            vision->ndim == 3 ? " HINT: encoder_hidden_size must be the vision encoder's width" : "");
    if (vision->dtype != NL_F32)
        return nl_error_set(NL_ERR_DTYPE, "qformer: vision must be f32, got %s", nl_dtype_name(vision->dtype));
    if (!(dropout_p >= 0 && dropout_p < 1))
        return nl_error_set(NL_ERR_ARG, "qformer: dropout_p must be in [0, 1), got %g", dropout_p);
    if (probe && probe->enabled && probe->n_layers < 2 * c->num_layers)
        return nl_error_set(NL_ERR_ARG,
                            "qformer: the probe has %d layers but needs %lld (self- and cross-attention of %lld layers)",
                            probe->n_layers, (long long)(2 * c->num_layers), (long long)c->num_layers);
    if (all_hidden)
        for (int64_t l = 0; l <= c->num_layers; l++) all_hidden[l] = NULL;
    int64_t B = vision->shape[0];
    nl_tensor *qe = NULL, *ln = NULL, *h = NULL;
    nl_status st = nl_expand(&qe, m->query_tokens, 3, (const int64_t[]){B, c->num_query_tokens, c->hidden_size});
    if (st == NL_OK) st = nl_layernorm(&ln, qe, m->ln_w, m->ln_b, c->layer_norm_eps);
    if (st == NL_OK) st = maybe_dropout(&h, ln, d);
    nl_tensor_release(qe);
    nl_tensor_release(ln);
    if (st != NL_OK) return st;
    if (all_hidden) all_hidden[0] = nl_tensor_retain(h);
    for (int l = 0; l < c->num_layers; l++) {
        nl_tensor *y = NULL;
        st = layer_forward(&y, m, l, h, vision, probe, d);
        nl_tensor_release(h);
        if (st != NL_OK) {
            if (all_hidden)
                for (int64_t i = 0; i <= c->num_layers; i++) {
                    nl_tensor_release(all_hidden[i]);
                    all_hidden[i] = NULL;
                }
            return st;
        }
        h = y;
        if (all_hidden) all_hidden[l + 1] = nl_tensor_retain(h);
    }
    *out = h;
    return NL_OK;
}

nl_status nl_qformer_forward(nl_tensor **out, nl_qformer *m, nl_tensor *vision, nl_tensor **all_hidden,
                             nl_attn_probe *probe, double dropout_p, nl_rng *rng)
{
    drop d = {.p = dropout_p, .rng = rng};
    return forward(out, m, vision, all_hidden, probe, dropout_p, &d);
}

nl_status nl_qformer_forward_rows(nl_tensor **out, nl_qformer *m, nl_tensor *vision, double dropout_p, uint64_t seed,
                                  int64_t row0)
{
    drop d = {.p = dropout_p, .rows = true, .seed = seed, .row0 = row0};
    return forward(out, m, vision, NULL, NULL, dropout_p, &d);
}
