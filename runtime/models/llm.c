/* llm.c — LLaMA/Qwen2 decoder: parameters, forward, resize, generation. */
#include "llm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "autograd.h"

#define REL(...)                                                            \
    do {                                                                    \
        nl_tensor *rel_[] = {__VA_ARGS__};                                  \
        for (size_t i_ = 0; i_ < sizeof rel_ / sizeof *rel_; i_++) nl_tensor_release(rel_[i_]); \
    } while (0)

/* ---- construction ------------------------------------------------------- */

static nl_status add_param(nl_llm *m, nl_tensor **t, const char *fmt, int l, int ndim, int64_t d0, int64_t d1)
{
    char name[256];
    snprintf(name, sizeof name, fmt, l);
    int64_t shape[2] = {d0, d1};
    return nl_params_new(&m->params, t, name, ndim, shape, m->dev);
}

static nl_status build(nl_llm *m)
{
    const nl_llm_config *c = &m->cfg;
    int64_t C = c->hidden_size, I = c->intermediate_size, QD = c->num_heads * c->head_dim,
            KD = c->num_kv_heads * c->head_dim;
    NL_TRY(add_param(m, &m->embed, "model.embed_tokens.weight", 0, 2, c->vocab_size, C));
    for (int l = 0; l < c->num_layers; l++) {
        nl_llm_layer *L = &m->layers[l];
        NL_TRY(add_param(m, &L->q, "model.layers.%d.self_attn.q_proj.weight", l, 2, QD, C));
        if (c->qkv_bias) NL_TRY(add_param(m, &L->qb, "model.layers.%d.self_attn.q_proj.bias", l, 1, QD, 0));
        NL_TRY(add_param(m, &L->k, "model.layers.%d.self_attn.k_proj.weight", l, 2, KD, C));
        if (c->qkv_bias) NL_TRY(add_param(m, &L->kb, "model.layers.%d.self_attn.k_proj.bias", l, 1, KD, 0));
        NL_TRY(add_param(m, &L->v, "model.layers.%d.self_attn.v_proj.weight", l, 2, KD, C));
        if (c->qkv_bias) NL_TRY(add_param(m, &L->vb, "model.layers.%d.self_attn.v_proj.bias", l, 1, KD, 0));
        NL_TRY(add_param(m, &L->o, "model.layers.%d.self_attn.o_proj.weight", l, 2, C, QD));
        NL_TRY(add_param(m, &L->gate, "model.layers.%d.mlp.gate_proj.weight", l, 2, I, C));
        NL_TRY(add_param(m, &L->up, "model.layers.%d.mlp.up_proj.weight", l, 2, I, C));
        NL_TRY(add_param(m, &L->down, "model.layers.%d.mlp.down_proj.weight", l, 2, C, I));
        NL_TRY(add_param(m, &L->in_norm, "model.layers.%d.input_layernorm.weight", l, 1, C, 0));
        NL_TRY(add_param(m, &L->post_norm, "model.layers.%d.post_attention_layernorm.weight", l, 1, C, 0));
    }
    NL_TRY(add_param(m, &m->norm, "model.norm.weight", 0, 1, C, 0));
    if (c->tie_word_embeddings) m->lm_head = m->embed;
    else NL_TRY(add_param(m, &m->lm_head, "lm_head.weight", 0, 2, c->vocab_size, C));
    return NL_OK;
}

static bool is_norm(const char *name)
{
    size_t n = strlen(name);
    return n >= 11 && strcmp(name + n - 11, "norm.weight") == 0;
}

static nl_status init_random(nl_llm *m, nl_rng *rng)
{
    for (int i = 0; i < m->params.n; i++) {
        nl_param *p = &m->params.v[i];
        if (is_norm(p->name)) NL_TRY(nl_tensor_fill_(p->t, 1.0));
        else if (p->t->ndim == 2) NL_TRY(nl_fill_normal(p->t, 0.0, 0.02, rng));
        /* biases stay zero */
    }
    return NL_OK;
}

nl_status nl_llm_create(nl_llm **out, const nl_llm_config *c, nl_device dev, nl_rng *rng)
{
    *out = NULL;
    nl_llm *m = calloc(1, sizeof *m);
    if (!m) return nl_error_set(NL_ERR_OOM, "llm: out of memory");
    m->cfg = *c;
    m->dev = dev;
    m->layers = calloc((size_t)c->num_layers, sizeof *m->layers);
    nl_status st = m->layers ? build(m) : nl_error_set(NL_ERR_OOM, "llm: out of memory");
    if (st == NL_OK && rng) st = init_random(m, rng);
    if (st != NL_OK) {
        nl_llm_free(m);
        return st;
    }
    *out = m;
    return NL_OK;
}

void nl_llm_free(nl_llm *m)
{
    if (!m) return;
    nl_params_free(&m->params);
    free(m->layers);
    free(m);
}

nl_status nl_llm_load(nl_llm **out, const char *dir, nl_device dev)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    nl_llm_config c;
    NL_TRY(nl_llm_config_load(&c, path));
    NL_TRY(nl_llm_create(out, &c, dev, NULL));
    nl_status st = nl_params_load(&(*out)->params, dir, "", true, &(*out)->nonfinite);
    if (st != NL_OK) {
        nl_llm_free(*out);
        *out = NULL;
    }
    return st;
}

nl_status nl_llm_save(const nl_llm *m, const char *dir)
{
    NL_TRY(nl_ensure_dir(dir));
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    NL_TRY(nl_llm_config_save(&m->cfg, path));
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    const char *meta[2] = {"format", "pt"};
    return nl_params_save(&m->params, path, NULL, 1, meta);
}

/* ---- vocabulary resize ---------------------------------------------------- */

/* [V,C] -> [new_v,C], new rows = mean of the old ones, same requires_grad. */
static nl_status grow_rows(nl_tensor **out, nl_tensor *w, int64_t new_v)
{
    int64_t V = w->shape[0], C = w->shape[1];
    float *h = malloc((size_t)(new_v * C) * sizeof *h);
    double *mean = calloc((size_t)C, sizeof *mean);
    nl_status st = h && mean ? nl_tensor_to_host(w, h, NL_F32) : nl_error_set(NL_ERR_OOM, "resize vocab: out of memory");
    if (st == NL_OK) {
        for (int64_t r = 0; r < V; r++)
            for (int64_t j = 0; j < C; j++) mean[j] += h[r * C + j];
        for (int64_t r = V; r < new_v; r++)
            for (int64_t j = 0; j < C; j++) h[r * C + j] = (float)(mean[j] / (double)V);
        st = nl_tensor_from_host(out, NL_F32, 2, (const int64_t[]){new_v, C}, h, NL_F32, nl_tensor_device(w));
    }
    if (st == NL_OK) (*out)->requires_grad = w->requires_grad;
    free(h);
    free(mean);
    return st;
}

nl_status nl_llm_resize_vocab(nl_llm *m, int64_t new_v)
{
    int64_t V = m->cfg.vocab_size;
    if (new_v < V)
        return nl_error_set(NL_ERR_ARG, "resize vocab: %lld is smaller than the current %lld rows (shrinking is not supported)",
                            (long long)new_v, (long long)V);
    if (new_v == V) return NL_OK;
    nl_tensor *e = NULL, *h = NULL;
    NL_TRY(grow_rows(&e, m->embed, new_v));
    if (!m->cfg.tie_word_embeddings) {
        nl_status st = grow_rows(&h, m->lm_head, new_v);
        if (st != NL_OK) {
            nl_tensor_release(e);
            return st;
        }
        NL_TRY(nl_params_replace(&m->params, "lm_head.weight", h));
        nl_tensor_release(h);
        m->lm_head = h;
    }
    NL_TRY(nl_params_replace(&m->params, "model.embed_tokens.weight", e));
    nl_tensor_release(e);
    m->embed = e;
    if (m->cfg.tie_word_embeddings) m->lm_head = e;
    m->cfg.vocab_size = new_v;
    return NL_OK;
}

/* ---- KV cache --------------------------------------------------------------- */

nl_status nl_llm_cache_init(nl_llm_cache *c, const nl_llm *m)
{
    *c = (nl_llm_cache){.n_layers = (int)m->cfg.num_layers};
    c->k = calloc((size_t)c->n_layers, sizeof *c->k);
    c->v = calloc((size_t)c->n_layers, sizeof *c->v);
    if (!c->k || !c->v) {
        nl_llm_cache_free(c);
        return nl_error_set(NL_ERR_OOM, "kv cache: out of memory");
    }
    return NL_OK;
}

void nl_llm_cache_free(nl_llm_cache *c)
{
    for (int l = 0; c->k && c->v && l < c->n_layers; l++) REL(c->k[l], c->v[l]);
    free(c->k);
    free(c->v);
    *c = (nl_llm_cache){0};
}

/* Append new [1,NKV,T,HS] keys/values to layer l's cache; *kv = the whole. */
static nl_status cache_append(nl_tensor **slot, nl_tensor *x, nl_tensor **all)
{
    if (*slot) NL_TRY(nl_concat(all, 2, (nl_tensor *[]){*slot, x}, 2));
    else *all = nl_tensor_retain(x);
    nl_tensor_release(*slot);
    *slot = nl_tensor_retain(*all);
    return NL_OK;
}

/* ---- forward ----------------------------------------------------------------- */

typedef struct fwd_ctx {
    nl_tensor *pos;   /* i64 [T] */
    nl_tensor *mask;  /* u8 [B,T] or NULL */
    const nl_llm_input *in;
} fwd_ctx;

static nl_status attention_block(nl_tensor **out, nl_llm *m, int l, nl_tensor *h, const fwd_ctx *f)
{
    const nl_llm_config *c = &m->cfg;
    nl_llm_layer *L = &m->layers[l];
    nl_tensor *q = NULL, *k = NULL, *v = NULL, *qh = NULL, *kh = NULL, *vh = NULL, *qr = NULL, *kr = NULL;
    nl_tensor *ka = NULL, *va = NULL, *a = NULL, *am = NULL;
    nl_status st = nl_linear(&q, h, L->q, L->qb);
    if (st == NL_OK) st = nl_linear(&k, h, L->k, L->kb);
    if (st == NL_OK) st = nl_linear(&v, h, L->v, L->vb);
    if (st == NL_OK) st = nl_heads_split(&qh, q, c->num_heads);
    if (st == NL_OK) st = nl_heads_split(&kh, k, c->num_kv_heads);
    if (st == NL_OK) st = nl_heads_split(&vh, v, c->num_kv_heads);
    if (st == NL_OK) st = nl_rope(&qr, qh, f->pos, c->rope_theta, 0);
    if (st == NL_OK) st = nl_rope(&kr, kh, f->pos, c->rope_theta, 0);
    nl_llm_cache *cache = f->in->cache;
    if (st == NL_OK && cache) st = cache_append(&cache->k[l], kr, &ka);
    if (st == NL_OK && cache) st = cache_append(&cache->v[l], vh, &va);
    if (st == NL_OK && !cache) ka = nl_tensor_retain(kr), va = nl_tensor_retain(vh);
    nl_attention_opts o = {.causal = true, .mask = f->mask};
    if (st == NL_OK) st = nl_mha(&a, qr, ka, va, &o, f->in->probe, l);
    if (st == NL_OK) st = nl_heads_merge(&am, a);
    if (st == NL_OK) st = nl_linear(out, am, L->o, NULL);
    REL(q, k, v, qh, kh, vh, qr, kr, ka, va, a, am);
    return st;
}

static nl_status mlp_block(nl_tensor **out, nl_llm_layer *L, nl_tensor *h)
{
    nl_tensor *g = NULL, *gs = NULL, *u = NULL, *gu = NULL;
    nl_status st = nl_linear(&g, h, L->gate, NULL);
    if (st == NL_OK) st = nl_silu(&gs, g);
    if (st == NL_OK) st = nl_linear(&u, h, L->up, NULL);
    if (st == NL_OK) st = nl_mul(&gu, gs, u);
    if (st == NL_OK) st = nl_linear(out, gu, L->down, NULL);
    REL(g, gs, u, gu);
    return st;
}

static nl_status layer_forward(nl_tensor **out, nl_llm *m, int l, nl_tensor *x, const fwd_ctx *f)
{
    nl_llm_layer *L = &m->layers[l];
    double eps = m->cfg.rms_norm_eps;
    nl_tensor *h = NULL, *a = NULL, *x1 = NULL, *h2 = NULL, *d = NULL;
    nl_status st = nl_rmsnorm(&h, x, L->in_norm, eps);
    if (st == NL_OK) st = attention_block(&a, m, l, h, f);
    if (st == NL_OK) st = nl_add(&x1, x, a);
    if (st == NL_OK) st = nl_rmsnorm(&h2, x1, L->post_norm, eps);
    if (st == NL_OK) st = mlp_block(&d, L, h2);
    if (st == NL_OK) st = nl_add(out, x1, d);
    REL(h, a, x1, h2, d);
    return st;
}

nl_status nl_llm_embed(nl_tensor **out, nl_llm *m, nl_tensor *ids)
{
    return nl_embedding(out, m->embed, ids);
}

nl_status nl_llm_logits(nl_tensor **out, nl_llm *m, nl_tensor *hidden)
{
    return nl_linear(out, hidden, m->lm_head, NULL);
}

static nl_status check_input(const nl_llm *m, const nl_llm_input *in, nl_tensor *x)
{
    char a[96], b[96];
    if (x->ndim != 3 || x->shape[2] != m->cfg.hidden_size)
        return nl_error_set(NL_ERR_SHAPE, "llm forward: inputs must be [B T %lld], got %s", (long long)m->cfg.hidden_size,
                            nl_shape_str(x, a, sizeof a));
    int64_t past = in->cache ? in->cache->len : 0;
    if (past + x->shape[1] > m->cfg.max_positions)
        return nl_error_set(NL_ERR_SHAPE, "llm forward: %lld positions exceed max_position_embeddings %lld; HINT: truncate the input",
                            (long long)(past + x->shape[1]), (long long)m->cfg.max_positions);
    if (in->cache && (x->shape[0] != 1 || in->mask))
        return nl_error_set(NL_ERR_ARG, "llm forward: the KV cache supports batch 1 without a padding mask");
    if (in->mask && (in->mask->ndim != 2 || in->mask->shape[0] != x->shape[0] || in->mask->shape[1] != x->shape[1]))
        return nl_error_set(NL_ERR_SHAPE, "llm forward: mask %s must be [B T] = [%lld %lld] like the input %s",
                            nl_shape_str(in->mask, a, sizeof a), (long long)x->shape[0], (long long)x->shape[1],
                            nl_shape_str(x, b, sizeof b));
    return NL_OK;
}

static nl_status make_ctx(fwd_ctx *f, nl_llm *m, const nl_llm_input *in, int64_t T)
{
    *f = (fwd_ctx){.in = in};
    int64_t past = in->cache ? in->cache->len : 0;
    int64_t *p = malloc((size_t)(T ? T : 1) * sizeof *p);
    if (!p) return nl_error_set(NL_ERR_OOM, "llm forward: out of memory");
    for (int64_t t = 0; t < T; t++) p[t] = past + t;
    nl_status st = nl_tensor_from_host(&f->pos, NL_I64, 1, &T, p, NL_I64, m->dev);
    free(p);
    if (st == NL_OK && in->mask) st = nl_to(&f->mask, in->mask, NL_U8, m->dev);
    return st;
}

nl_status nl_llm_forward(nl_tensor **hidden, nl_tensor **logits, nl_llm *m, const nl_llm_input *in)
{
    *hidden = NULL;
    if (logits) *logits = NULL;
    if (!in->ids == !in->embeds) return nl_error_set(NL_ERR_ARG, "llm forward: give exactly one of ids and embeds");
    int L = (int)m->cfg.num_layers;
    if (in->probe && in->probe->enabled && in->probe->n_layers < L)
        return nl_error_set(NL_ERR_ARG, "llm forward: the probe has %d layers, the model %d", in->probe->n_layers, L);
    nl_tensor *x = NULL;
    NL_TRY(in->embeds ? (x = nl_tensor_retain(in->embeds), NL_OK) : nl_llm_embed(&x, m, in->ids));
    fwd_ctx f = {0};
    nl_status st = check_input(m, in, x);
    if (st == NL_OK) st = make_ctx(&f, m, in, x->shape[1]);
    if (st == NL_OK && in->all_hidden) in->all_hidden[0] = nl_tensor_retain(x);
    for (int l = 0; l < L && st == NL_OK; l++) {
        nl_tensor *y = NULL;
        st = layer_forward(&y, m, l, x, &f);
        nl_tensor_release(x);
        x = y;
        if (st == NL_OK && in->all_hidden && l + 1 < L) in->all_hidden[l + 1] = nl_tensor_retain(x);
    }
    if (st == NL_OK) st = nl_rmsnorm(hidden, x, m->norm, m->cfg.rms_norm_eps);
    if (st == NL_OK && in->all_hidden) in->all_hidden[L] = nl_tensor_retain(*hidden);
    if (st == NL_OK && logits) st = nl_llm_logits(logits, m, *hidden);
    if (st == NL_OK && in->cache) in->cache->len += in->embeds ? in->embeds->shape[1] : in->ids->shape[1];
    REL(x, f.pos, f.mask);
    if (st != NL_OK) {
        nl_tensor_release(*hidden);
        *hidden = NULL;
        for (int l = 0; in->all_hidden && l <= L; l++) {
            nl_tensor_release(in->all_hidden[l]);
            in->all_hidden[l] = NULL;
        }
    }
    return st;
}

/* ---- generation ----------------------------------------------------------------- */

/* logits [1,T,V]: the penalised argmax of the last position. */
static nl_status next_token(int64_t *tok, nl_tensor *logits, const bool *seen, double penalty, float *row)
{
    int64_t T = logits->shape[1], V = logits->shape[2];
    nl_tensor *last = NULL;
    NL_TRY(nl_narrow(&last, logits, 1, T - 1, 1));
    nl_status st = nl_tensor_to_host(last, row, NL_F32);
    nl_tensor_release(last);
    NL_TRY(st);
    int64_t best = 0;
    for (int64_t j = 0; j < V; j++) {
        if (seen[j]) row[j] = row[j] < 0 ? (float)(row[j] * penalty) : (float)(row[j] / penalty);
        if (row[j] > row[best]) best = j;
    }
    *tok = best;
    return NL_OK;
}

nl_status nl_llm_generate(int64_t **out, int64_t *n_out, nl_llm *m, const int64_t *prompt, int64_t n_prompt,
                          const nl_gen_opts *o)
{
    *out = NULL;
    *n_out = 0;
    int64_t V = m->cfg.vocab_size;
    if (n_prompt < 1 || o->max_new_tokens < 0 || !(o->repetition_penalty > 0))
        return nl_error_set(NL_ERR_ARG, "generate: need a non-empty prompt (%lld tokens), max_new_tokens >= 0 (%d) and a "
                            "positive repetition penalty (%g)", (long long)n_prompt, o->max_new_tokens,
                            o->repetition_penalty);
    for (int64_t i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= V)
            return nl_error_set(NL_ERR_ARG, "generate: prompt token %lld at position %lld is outside [0, %lld)",
                                (long long)prompt[i], (long long)i, (long long)V);
    int64_t cap = n_prompt + o->max_new_tokens;
    int64_t *seq = malloc((size_t)cap * sizeof *seq);
    bool *seen = calloc((size_t)V, sizeof *seen);
    float *row = malloc((size_t)V * sizeof *row);
    nl_llm_cache cache = {0};
    nl_status st = seq && seen && row ? nl_llm_cache_init(&cache, m) : nl_error_set(NL_ERR_OOM, "generate: out of memory");
    bool grad = nl_grad_set_enabled(false);
    int64_t n = n_prompt, fed = 0;
    if (st == NL_OK) {
        memcpy(seq, prompt, (size_t)n_prompt * sizeof *seq);
        for (int64_t i = 0; i < n_prompt; i++) seen[prompt[i]] = true;
    }
    while (st == NL_OK && n < cap) {
        nl_tensor *ids = NULL, *hidden = NULL, *logits = NULL;
        int64_t T = n - fed, tok;
        st = nl_tensor_from_host(&ids, NL_I64, 2, (const int64_t[]){1, T}, seq + fed, NL_I64, m->dev);
        nl_llm_input in = {.ids = ids, .cache = &cache};
        if (st == NL_OK) st = nl_llm_forward(&hidden, &logits, m, &in);
        if (st == NL_OK) st = next_token(&tok, logits, seen, o->repetition_penalty, row);
        REL(ids, hidden, logits);
        if (st != NL_OK) break;
        fed = n;
        seq[n++] = tok;
        seen[tok] = true;
        if (tok == o->eos_token_id) break;
    }
    nl_grad_set_enabled(grad);
    nl_llm_cache_free(&cache);
    free(seen);
    free(row);
    if (st != NL_OK) {
        free(seq);
        return st;
    }
    *out = seq;
    *n_out = n;
    return NL_OK;
}
