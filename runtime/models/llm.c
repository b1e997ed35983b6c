/* llm.c — LLaMA/Qwen2 decoder: parameters, forward, resize, LoRA adapters, generation. */
#include "llm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "atomic.h"
#include "autograd.h"
#include "json.h"

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
    if (m->layers) nl_llm_remove_lora(m);
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

/* ---- LoRA adapters ------------------------------------------------------------ */

static const char *const proj_module[NL_PROJ_COUNT] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                       "gate_proj", "up_proj", "down_proj"};

static nl_tensor *proj_weight(const nl_llm_layer *L, int p)
{
    nl_tensor *const w[NL_PROJ_COUNT] = {L->q, L->k, L->v, L->o, L->gate, L->up, L->down};
    return w[p];
}

static int proj_index(const char *module)
{
    for (int p = 0; p < NL_PROJ_COUNT; p++)
        if (strcmp(module, proj_module[p]) == 0) return p;
    return -1;
}

/* Target module names -> bit mask of projections; NL_ERR_ARG naming an unknown one. */
static nl_status parse_targets(unsigned *mask, const char *const *targets, int n)
{
    *mask = 0;
    for (int i = 0; i < n; i++) {
        int p = targets[i] ? proj_index(targets[i]) : -1;
        if (p < 0)
            return nl_error_set(NL_ERR_ARG, "add lora: unknown LoRA target module \"%s\" HINT: use q_proj k_proj v_proj "
                                "o_proj gate_proj up_proj down_proj", targets[i] ? targets[i] : "(null)");
        *mask |= 1u << p;
    }
    return NL_OK;
}

void nl_llm_remove_lora(nl_llm *m)
{
    for (int l = 0; l < m->cfg.num_layers; l++)
        for (int p = 0; p < NL_PROJ_COUNT; p++) {
            free(m->layers[l].lora[p]);
            m->layers[l].lora[p] = NULL;
        }
    nl_params_free(&m->lora_params);
    m->lora_rank = 0;
    m->lora_alpha = 0;
}

/* Zero adapters on the projections in mask of every layer; no freezing. The
 * caller removes them on error. */
static nl_status attach_lora(nl_llm *m, int rank, double alpha, unsigned mask)
{
    m->lora_rank = rank;
    m->lora_alpha = alpha;
    for (int l = 0; l < m->cfg.num_layers; l++)
        for (int p = 0; p < NL_PROJ_COUNT; p++) {
            if (!(mask & (1u << p))) continue;
            nl_lora *a = calloc(1, sizeof *a);
            if (!a) return nl_error_set(NL_ERR_OOM, "lora: out of memory");
            m->layers[l].lora[p] = a;
            a->rank = rank;
            a->scaling = alpha / rank;
            nl_tensor *w = proj_weight(&m->layers[l], p);
            const char *block = p <= NL_PROJ_O ? "self_attn" : "mlp";
            char name[256];
            snprintf(name, sizeof name, "base_model.model.model.layers.%d.%s.%s.lora_A.weight", l, block, proj_module[p]);
            NL_TRY(nl_params_new(&m->lora_params, &a->A, name, 2, (const int64_t[]){rank, w->shape[1]}, m->dev));
            snprintf(name, sizeof name, "base_model.model.model.layers.%d.%s.%s.lora_B.weight", l, block, proj_module[p]);
            NL_TRY(nl_params_new(&m->lora_params, &a->B, name, 2, (const int64_t[]){w->shape[0], rank}, m->dev));
        }
    return NL_OK;
}

nl_status nl_llm_add_lora(nl_llm *m, int rank, double alpha, const char *const *targets, int n_targets, nl_rng *rng)
{
    if (m->lora_rank > 0)
        return nl_error_set(NL_ERR_STATE, "add lora: the model already has rank-%d adapters HINT: merge or remove them first",
                            m->lora_rank);
    if (rank < 1) return nl_error_set(NL_ERR_ARG, "add lora: rank must be >= 1, got %d", rank);
    if (!isfinite(alpha)) return nl_error_set(NL_ERR_ARG, "add lora: alpha must be finite, got %g", alpha);
    if (n_targets < 1 || !targets) return nl_error_set(NL_ERR_ARG, "add lora: no target modules given");
    unsigned mask;
    NL_TRY(parse_targets(&mask, targets, n_targets));
    nl_status st = attach_lora(m, rank, alpha, mask);
    for (int l = 0; l < m->cfg.num_layers && st == NL_OK; l++)
        for (int p = 0; p < NL_PROJ_COUNT && st == NL_OK; p++)
            if (m->layers[l].lora[p]) st = nl_lora_init(m->layers[l].lora[p], rng);
    if (st != NL_OK) {
        nl_llm_remove_lora(m);
        return st;
    }
    nl_params_set_trainable(&m->params, "", false);
    return NL_OK;
}

nl_status nl_llm_merge_lora(nl_llm *m)
{
    for (int l = 0; l < m->cfg.num_layers; l++)
        for (int p = 0; p < NL_PROJ_COUNT; p++)
            if (m->layers[l].lora[p]) NL_TRY(nl_lora_merge_into(proj_weight(&m->layers[l], p), m->layers[l].lora[p]));
    nl_llm_remove_lora(m);
    return NL_OK;
}

nl_status nl_llm_save_lora(const nl_llm *m, const char *dir)
{
    if (m->lora_rank < 1) return nl_error_set(NL_ERR_STATE, "save lora: the model has no adapters");
    NL_TRY(nl_ensure_dir(dir));
    char path[4096];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    const char *meta[2] = {"format", "pt"};
    NL_TRY(nl_params_save(&m->lora_params, path, NULL, 1, meta));
    cJSON *j = cJSON_CreateObject(), *t = cJSON_CreateArray();
    if (j) cJSON_AddItemToObject(j, "peft_type", cJSON_CreateString("LORA"));
    if (j) cJSON_AddItemToObject(j, "r", cJSON_CreateNumber(m->lora_rank));
    if (j) cJSON_AddItemToObject(j, "lora_alpha", cJSON_CreateNumber(m->lora_alpha));
    for (int p = 0; t && p < NL_PROJ_COUNT; p++)
        if (m->layers[0].lora[p]) cJSON_AddItemToArray(t, cJSON_CreateString(proj_module[p]));
    if (j && t) cJSON_AddItemToObject(j, "target_modules", t), t = NULL;
    if (j) cJSON_AddItemToObject(j, "lora_dropout", cJSON_CreateNumber(0.0));
    if (j) cJSON_AddItemToObject(j, "bias", cJSON_CreateString("none"));
    if (j) cJSON_AddItemToObject(j, "task_type", cJSON_CreateString("FEATURE_EXTRACTION"));
    char *text = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    cJSON_Delete(t);
    if (!text) return nl_error_set(NL_ERR_OOM, "save lora: out of memory");
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    nl_status st = nl_atomic_save(path, text, strlen(text));
    cJSON_free(text);
    return st;
}

/* Rank, alpha and target mask from a PEFT adapter_config.json; refuses what
 * the forward does not implement (rsLoRA, DoRA, biases, per-layer patterns). */
static nl_status read_lora_config(const char *path, int *rank, double *alpha, unsigned *mask)
{
    cJSON *j;
    NL_TRY(nl_json_load(&j, path, 0));
    const char *type = NULL, *bias = "none";
    int64_t r = 0;
    bool rs = false, dora = false;
    *alpha = 8.0; /* PEFT's default */
    nl_status st = nl_json_str(j, path, "peft_type", true, &type);
    if (st == NL_OK && strcmp(type, "LORA") != 0)
        st = nl_error_set(NL_ERR_FORMAT, "%s: peft_type is \"%s\", expected \"LORA\"", path, type);
    if (st == NL_OK) st = nl_json_int(j, path, "r", true, 1, 1 << 20, &r);
    if (st == NL_OK) st = nl_json_num(j, path, "lora_alpha", false, -HUGE_VAL, HUGE_VAL, alpha);
    if (st == NL_OK) st = nl_json_str(j, path, "bias", false, &bias);
    if (st == NL_OK && strcmp(bias, "none") != 0)
        st = nl_error_set(NL_ERR_FORMAT, "%s: bias \"%s\" is not supported (only \"none\")", path, bias);
    if (st == NL_OK) st = nl_json_bool(j, path, "use_rslora", false, &rs);
    if (st == NL_OK) st = nl_json_bool(j, path, "use_dora", false, &dora);
    if (st == NL_OK && (rs || dora))
        st = nl_error_set(NL_ERR_FORMAT, "%s: %s is not supported", path, rs ? "use_rslora" : "use_dora");
    static const char *const unsupported[] = {"rank_pattern", "alpha_pattern", "layers_to_transform"};
    for (size_t i = 0; st == NL_OK && i < sizeof unsupported / sizeof *unsupported; i++) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, unsupported[i]);
        if (e && !cJSON_IsNull(e) && !(cJSON_IsObject(e) && !e->child))
            st = nl_error_set(NL_ERR_FORMAT, "%s: \"%s\" is not supported", path, unsupported[i]);
    }
    const cJSON *tm = cJSON_GetObjectItemCaseSensitive(j, "target_modules");
    if (st == NL_OK && (!cJSON_IsArray(tm) || !tm->child))
        st = nl_error_set(NL_ERR_FORMAT, "%s: target_modules must be a non-empty list of module names", path);
    *mask = 0;
    for (const cJSON *e = tm ? tm->child : NULL; st == NL_OK && e; e = e->next) {
        int p = cJSON_IsString(e) ? proj_index(e->valuestring) : -1;
        if (p < 0)
            st = nl_error_set(NL_ERR_FORMAT, "%s: unknown LoRA target module %s%s%s", path, cJSON_IsString(e) ? "\"" : "",
                              cJSON_IsString(e) ? e->valuestring : "(not a string)", cJSON_IsString(e) ? "\"" : "");
        else
            *mask |= 1u << p;
    }
    cJSON_Delete(j);
    *rank = (int)r;
    return st;
}

nl_status nl_llm_load_lora(nl_llm *m, const char *dir)
{
    if (m->lora_rank > 0)
        return nl_error_set(NL_ERR_STATE, "load lora: the model already has rank-%d adapters HINT: merge or remove them first",
                            m->lora_rank);
    char path[4096];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    int rank;
    double alpha;
    unsigned mask;
    NL_TRY(read_lora_config(path, &rank, &alpha, &mask));
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    int64_t nonfinite = 0;
    nl_status st = attach_lora(m, rank, alpha, mask);
    if (st == NL_OK) st = nl_params_load(&m->lora_params, path, "", true, &nonfinite);
    if (st != NL_OK) {
        nl_llm_remove_lora(m);
        return st;
    }
    m->nonfinite = nonfinite;
    nl_params_set_trainable(&m->params, "", false);
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
    /* with out_pos: the last layer's rows */
    nl_tensor *sel_ids;  /* i64 [B*n]: rows b*T + out_pos[b,j] of a [B*T,C] view */
    nl_tensor *sel_mask; /* f32 [B,1,n,T]: 0 where out_pos[b,j] may attend, -inf elsewhere */
    int64_t n_sel;
    const nl_llm_input *in;
} fwd_ctx;

/* Self-attention of layer l: keys and values from h [B,T,C]; queries from
 * hq — h itself (causal over all rows), or h's rows at out_pos [B,n,C]
 * (then positioned and masked by out_pos). */
static nl_status attention_block(nl_tensor **out, nl_llm *m, int l, nl_tensor *h, nl_tensor *hq, const fwd_ctx *f)
{
    const nl_llm_config *c = &m->cfg;
    nl_llm_layer *L = &m->layers[l];
    bool sel = hq != h;
    nl_tensor *q = NULL, *k = NULL, *v = NULL, *qh = NULL, *kh = NULL, *vh = NULL, *qr = NULL, *kr = NULL;
    nl_tensor *ka = NULL, *va = NULL, *a = NULL, *am = NULL;
    nl_status st = nl_lora_linear(&q, hq, L->q, L->qb, L->lora[NL_PROJ_Q]);
    if (st == NL_OK) st = nl_lora_linear(&k, h, L->k, L->kb, L->lora[NL_PROJ_K]);
    if (st == NL_OK) st = nl_lora_linear(&v, h, L->v, L->vb, L->lora[NL_PROJ_V]);
    if (st == NL_OK) st = nl_heads_split(&qh, q, c->num_heads);
    if (st == NL_OK) st = nl_heads_split(&kh, k, c->num_kv_heads);
    if (st == NL_OK) st = nl_heads_split(&vh, v, c->num_kv_heads);
    if (st == NL_OK) st = nl_rope(&qr, qh, sel ? f->in->out_pos : f->pos, c->rope_theta, 0);
    if (st == NL_OK) st = nl_rope(&kr, kh, f->pos, c->rope_theta, 0);
    nl_llm_cache *cache = f->in->cache;
    if (st == NL_OK && cache) st = cache_append(&cache->k[l], kr, &ka);
    if (st == NL_OK && cache) st = cache_append(&cache->v[l], vh, &va);
    if (st == NL_OK && !cache) ka = nl_tensor_retain(kr), va = nl_tensor_retain(vh);
    nl_attention_opts o = {.causal = !sel, .mask = sel ? f->sel_mask : f->mask};
    if (st == NL_OK) st = nl_mha(&a, qr, ka, va, &o, f->in->probe, l);
    if (st == NL_OK) st = nl_heads_merge(&am, a);
    if (st == NL_OK) st = nl_lora_linear(out, am, L->o, NULL, L->lora[NL_PROJ_O]);
    REL(q, k, v, qh, kh, vh, qr, kr, ka, va, a, am);
    return st;
}

static nl_status mlp_block(nl_tensor **out, nl_llm_layer *L, nl_tensor *h)
{
    nl_tensor *g = NULL, *u = NULL, *gu = NULL;
    nl_status st = nl_lora_linear(&g, h, L->gate, NULL, L->lora[NL_PROJ_GATE]);
    if (st == NL_OK) st = nl_lora_linear(&u, h, L->up, NULL, L->lora[NL_PROJ_UP]);
    if (st == NL_OK) st = nl_swiglu(&gu, g, u);
    if (st == NL_OK) st = nl_lora_linear(out, gu, L->down, NULL, L->lora[NL_PROJ_DOWN]);
    REL(g, u, gu);
    return st;
}

/* The rows of t [B,T,C] at out_pos: [B,n,C]. */
static nl_status rows_at(nl_tensor **out, nl_tensor *t, const fwd_ctx *f)
{
    int64_t B = t->shape[0], T = t->shape[1], C = t->shape[2];
    nl_tensor *flat = NULL, *sel = NULL;
    nl_status st = nl_reshape(&flat, t, 2, (const int64_t[]){B * T, C});
    if (st == NL_OK) st = nl_index_select(&sel, flat, 0, f->sel_ids);
    if (st == NL_OK) st = nl_reshape(out, sel, 3, (const int64_t[]){B, f->n_sel, C});
    REL(flat, sel);
    return st;
}

/* Layer l; at_sel: only the rows at out_pos leave it ([B,n,C]) — keys and
 * values still come from every row, but the queries, the output projection
 * and the MLP run on those rows alone. */
static nl_status layer_forward(nl_tensor **out, nl_llm *m, int l, nl_tensor *x, const fwd_ctx *f, bool at_sel)
{
    nl_llm_layer *L = &m->layers[l];
    double eps = m->cfg.rms_norm_eps;
    nl_tensor *h = NULL, *hq = NULL, *xq = NULL, *a = NULL, *x1 = NULL, *h2 = NULL, *d = NULL;
    nl_status st = nl_rmsnorm(&h, x, L->in_norm, eps);
    if (st == NL_OK && at_sel) st = rows_at(&hq, h, f);
    if (st == NL_OK && at_sel) st = rows_at(&xq, x, f);
    if (st == NL_OK) st = attention_block(&a, m, l, h, at_sel ? hq : h, f);
    if (st == NL_OK) st = nl_add(&x1, at_sel ? xq : x, a);
    if (st == NL_OK) st = nl_rmsnorm(&h2, x1, L->post_norm, eps);
    if (st == NL_OK) st = mlp_block(&d, L, h2);
    if (st == NL_OK) st = nl_add(out, x1, d);
    REL(h, hq, xq, a, x1, h2, d);
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
    if (!in->out_pos) return NL_OK;
    if (in->out_pos->ndim != 2 || in->out_pos->shape[0] != x->shape[0] || in->out_pos->dtype != NL_I64)
        return nl_error_set(NL_ERR_SHAPE, "llm forward: out_pos must be i64 [B n] with B = %lld, got %s %s",
                            (long long)x->shape[0], nl_dtype_name(in->out_pos->dtype), nl_shape_str(in->out_pos, a, sizeof a));
    if (in->cache || in->all_hidden)
        return nl_error_set(NL_ERR_ARG, "llm forward: out_pos does not combine with a KV cache or all_hidden");
    return NL_OK;
}

/* sel_ids and sel_mask of out_pos: row j of sequence b sees the keys up to
 * its position that the padding mask keeps. */
static nl_status make_selection(fwd_ctx *f, nl_llm *m, const nl_llm_input *in, int64_t T)
{
    int64_t B = in->out_pos->shape[0], n = in->out_pos->shape[1];
    int64_t *pos = malloc((size_t)(B * n + 1) * sizeof *pos), *ids = malloc((size_t)(B * n + 1) * sizeof *ids);
    uint8_t *keep = in->mask ? malloc((size_t)(B * T + 1)) : NULL;
    float *add = malloc((size_t)(B * n * T + 1) * sizeof *add);
    nl_status st = pos && ids && add && (keep || !in->mask) ? NL_OK : nl_error_set(NL_ERR_OOM, "llm forward: out of memory");
    if (st == NL_OK) st = nl_tensor_to_host(in->out_pos, pos, NL_I64);
    if (st == NL_OK && keep) st = nl_tensor_to_host(f->mask, keep, NL_U8);
    for (int64_t b = 0; st == NL_OK && b < B; b++)
        for (int64_t j = 0; j < n; j++) {
            int64_t p = pos[b * n + j];
            if (p < 0 || p >= T) {
                st = nl_error_set(NL_ERR_ARG, "llm forward: out_pos[%lld %lld] = %lld is outside [0, %lld)", (long long)b,
                                  (long long)j, (long long)p, (long long)T);
                break;
            }
            ids[b * n + j] = b * T + p;
            for (int64_t t = 0; t < T; t++)
                add[(b * n + j) * T + t] = t <= p && (!keep || keep[b * T + t]) ? 0.0f : -INFINITY;
        }
    if (st == NL_OK) st = nl_tensor_from_host(&f->sel_ids, NL_I64, 1, (const int64_t[]){B * n}, ids, NL_I64, m->dev);
    if (st == NL_OK)
        st = nl_tensor_from_host(&f->sel_mask, NL_F32, 4, (const int64_t[]){B, 1, n, T}, add, NL_F32, m->dev);
    f->n_sel = n;
    free(pos);
    free(ids);
    free(keep);
    free(add);
    return st;
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
    if (st == NL_OK && in->out_pos) st = make_selection(f, m, in, T);
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
        st = layer_forward(&y, m, l, x, &f, in->out_pos && l == L - 1);
        nl_tensor_release(x);
        x = y;
        if (st == NL_OK && in->all_hidden && l + 1 < L) in->all_hidden[l + 1] = nl_tensor_retain(x);
    }
    if (st == NL_OK) st = nl_rmsnorm(hidden, x, m->norm, m->cfg.rms_norm_eps);
    if (st == NL_OK && in->all_hidden) in->all_hidden[L] = nl_tensor_retain(*hidden);
    if (st == NL_OK && logits) st = nl_llm_logits(logits, m, *hidden);
    if (st == NL_OK && in->cache) in->cache->len += in->embeds ? in->embeds->shape[1] : in->ids->shape[1];
    REL(x, f.pos, f.mask, f.sel_ids, f.sel_mask);
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
