/* run_config.c — the training-run configuration: small-model defaults, the
 * method table (method name -> composite switches + prompt kind), and JSON
 * in/out through one table of knobs per object, so every key is parsed,
 * range-checked, listed in the unknown-key HINT and written back the same way. */
#include "run.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "json.h"

void nl_run_config_defaults(nl_run_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->method, sizeof c->method, "notellm");
    snprintf(c->lang, sizeof c->lang, "zh");
    snprintf(c->eos, sizeof c->eos, "</s>");
    snprintf(c->train_list, sizeof c->train_list, "train");
    snprintf(c->val_list, sizeof c->val_list, "val");
    snprintf(c->projector, sizeof c->projector, "mlp2x_gelu");
    nl_run_config_set_preset(c, "tiny");
    c->freeze_vision = true;
    c->lr = 1e-4, c->beta1 = 0.9, c->beta2 = 0.999, c->eps = 1e-8, c->weight_decay = 0.001;
    c->warmup_ratio = 0.1, c->epochs = 1, c->max_steps = 0, c->pairs_per_batch = 8, c->grad_accum = 1;
    c->grad_cache_chunk = 0;
    c->clip = 1.0;
    c->qformer_dropout = 0.1;
    c->topic_rate = 0.4, c->alpha = 0.01, c->w_t = 9.0, c->w_v = 1.0, c->dim = 64, c->max_note_tokens = 140;
    c->image_size = 0, c->bucket_batches = 0;
    c->eval_every = 0, c->eval_batches = 16, c->save_every = 0, c->log_every = 1;
    c->seed = 42;
}

nl_status nl_run_config_set_preset(nl_run_config *c, const char *name)
{
    nl_llm_config l;
    nl_vit_config v;
    nl_qformer_config q;
    NL_TRY(nl_llm_config_preset(&l, name));
    NL_TRY(nl_vit_config_preset(&v, name));
    NL_TRY(nl_qformer_config_preset(&q, name));
    if (strlen(name) >= sizeof c->model) return nl_error_set(NL_ERR_ARG, "run config: preset name too long");
    c->llm = l, c->vision = v, c->qformer = q;
    snprintf(c->model, sizeof c->model, "%s", name);
    return NL_OK;
}

/* ---- methods ----------------------------------------------------------------- */

typedef struct method_def {
    const char *name;
    bool vision, visual_tokens, late_fusion, micl, csft, gcl;
    nl_prompt_kind kind;
} method_def;

static const method_def methods[] = {
    {"notellm", false, false, false, false, true, true, NL_PROMPT_CATEGORY},
    {"text_only", false, false, false, false, false, true, NL_PROMPT_TEXT_ONLY},
    {"csft_only", false, false, false, false, true, false, NL_PROMPT_CATEGORY}, /* NoteLLM "w/o GCL" */
    {"notellm2", true, true, true, true, false, true, NL_PROMPT_MICL},
    {"mm_basic", true, true, false, false, false, true, NL_PROMPT_MM_BASIC},
    {"micl", true, true, false, true, false, true, NL_PROMPT_MICL},
    {"late_fusion", true, true, true, false, false, true, NL_PROMPT_MM_BASIC},
    {"late_fusion_only", true, false, true, false, false, true, NL_PROMPT_LATE_FUSION},
};
#define N_METHODS (sizeof methods / sizeof *methods)

nl_status nl_run_method(const nl_run_config *c, nl_notellm_config *mc, nl_prompt_kind *kind)
{
    for (size_t i = 0; i < N_METHODS; i++) {
        const method_def *d = &methods[i];
        if (strcmp(c->method, d->name) != 0) continue;
        nl_notellm_config_defaults(mc, d->vision);
        mc->vision = d->vision, mc->visual_tokens = d->visual_tokens, mc->late_fusion = d->late_fusion;
        mc->micl = d->micl, mc->csft = d->csft, mc->gcl = d->gcl;
        mc->w_t = c->w_t, mc->w_v = c->w_v, mc->alpha = c->alpha, mc->dim = c->dim;
        mc->freeze_vision = c->freeze_vision;
        mc->qformer_dropout = c->qformer_dropout;
        *kind = d->kind;
        return NL_OK;
    }
    char known[256] = "";
    for (size_t i = 0; i < N_METHODS; i++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "", methods[i].name);
    return nl_error_set(NL_ERR_ARG, "run config: unknown method \"%s\"; HINT: methods are %s", c->method, known);
}

/* ---- the knob tables ---------------------------------------------------------- */

typedef enum { K_STR, K_DBL, K_I64, K_U64, K_BOOL } kind_t;

typedef struct knob {
    const char *key;
    kind_t kind;
    size_t off, size; /* size: the buffer of K_STR */
    double lo, hi;
} knob;

#define MAX_EXACT 9007199254740992.0 /* 2^53: integers JSON numbers hold exactly */
#define S(f) #f, K_STR, offsetof(nl_run_config, f), sizeof(((nl_run_config *)0)->f), 0, 0
#define D(f, lo, hi) #f, K_DBL, offsetof(nl_run_config, f), 0, lo, hi
#define I(f, lo, hi) #f, K_I64, offsetof(nl_run_config, f), 0, lo, hi
#define B(f) #f, K_BOOL, offsetof(nl_run_config, f), 0, 0, 0

static const knob top_knobs[] = {
    {S(method)}, {S(data_dir)}, {S(tokenizer)}, {S(out_dir)}, {S(lang)}, {S(eos)}, {S(train_list)}, {S(val_list)},
    {S(llm_dir)}, {S(vision_dir)}, {S(qformer_dir)}, {S(projector)}, {B(freeze_vision)},
    {D(lr, 0, 10)}, {D(beta1, 0, 0.999999)}, {D(beta2, 0, 0.999999999)}, {D(eps, 0, 1)},
    {D(weight_decay, 0, 10)}, {D(warmup_ratio, 0, 1)}, {I(epochs, 0, 1e9)}, {I(max_steps, 0, 1e12)},
    {I(pairs_per_batch, 1, 1e6)}, {I(grad_accum, 1, 1e6)}, {I(grad_cache_chunk, 0, 1e6)}, {D(clip, -1, 1e12)},
    {D(topic_rate, 0, 1)}, {D(qformer_dropout, 0, 0.99)}, {D(alpha, 0, 1e6)}, {D(w_t, 0, 1e6)}, {D(w_v, 0, 1e6)}, {I(dim, 1, 1e6)},
    {I(max_note_tokens, 1, 1e6)}, {I(image_size, 0, 1e5)}, {I(bucket_batches, 0, 1e6)},
    {I(eval_every, 0, 1e12)}, {I(eval_batches, 1, 1e9)}, {I(save_every, 0, 1e12)}, {I(log_every, 1, 1e12)},
    {"seed", K_U64, offsetof(nl_run_config, seed), 0, 0, MAX_EXACT},
};

#define LI(f, lo, hi) #f, K_I64, offsetof(nl_llm_config, f), 0, lo, hi
#define LD(f, lo, hi) #f, K_DBL, offsetof(nl_llm_config, f), 0, lo, hi
static const knob llm_knobs[] = {
    {LI(hidden_size, 1, 1e6)}, {LI(intermediate_size, 1, 1e7)}, {LI(num_layers, 1, 4096)},
    {LI(num_heads, 1, 4096)}, {LI(num_kv_heads, 1, 4096)}, {LI(head_dim, 1, 1e5)}, {LI(max_positions, 1, 1e8)},
    {LD(rms_norm_eps, 1e-30, 1)}, {LD(rope_theta, 1, 1e12)},
    {"tie_word_embeddings", K_BOOL, offsetof(nl_llm_config, tie_word_embeddings), 0, 0, 0},
    {"qkv_bias", K_BOOL, offsetof(nl_llm_config, qkv_bias), 0, 0, 0},
};
#define VI(f, lo, hi) #f, K_I64, offsetof(nl_vit_config, f), 0, lo, hi
static const knob vision_knobs[] = {
    {VI(hidden_size, 1, 1e6)}, {VI(intermediate_size, 1, 1e7)}, {VI(num_layers, 1, 4096)},
    {VI(num_heads, 1, 4096)}, {VI(image_size, 1, 1e5)}, {VI(patch_size, 1, 1e5)},
    {"layer_norm_eps", K_DBL, offsetof(nl_vit_config, layer_norm_eps), 0, 1e-30, 1},
};
#define QI(f, lo, hi) #f, K_I64, offsetof(nl_qformer_config, f), 0, lo, hi
static const knob qformer_knobs[] = {
    {QI(hidden_size, 1, 1e6)}, {QI(intermediate_size, 1, 1e7)}, {QI(num_layers, 1, 4096)},
    {QI(num_heads, 1, 4096)}, {QI(num_query_tokens, 1, 4096)}, {QI(cross_attention_frequency, 1, 4096)},
    {"layer_norm_eps", K_DBL, offsetof(nl_qformer_config, layer_norm_eps), 0, 1e-30, 1},
};
#define NK(t) (sizeof t / sizeof *t)

typedef struct sub_obj {
    const char *key;
    const knob *knobs;
    size_t n;
    size_t off;
} sub_obj;

static const sub_obj subs[] = {
    {"llm", llm_knobs, NK(llm_knobs), offsetof(nl_run_config, llm)},
    {"vision", vision_knobs, NK(vision_knobs), offsetof(nl_run_config, vision)},
    {"qformer", qformer_knobs, NK(qformer_knobs), offsetof(nl_run_config, qformer)},
};

static void list_keys(char *buf, size_t n, const knob *k, size_t nk, bool top)
{
    size_t len = 0;
    buf[0] = '\0';
    if (top) len += (size_t)snprintf(buf + len, n - len, "model, llm, vision, qformer");
    for (size_t i = 0; i < nk && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "", k[i].key);
}

static const knob *find_knob(const knob *k, size_t nk, const char *key)
{
    for (size_t i = 0; i < nk; i++)
        if (strcmp(k[i].key, key) == 0) return &k[i];
    return NULL;
}

/* Parse one knob from obj into base. */
static nl_status read_knob(void *base, const knob *k, const cJSON *obj, const char *what)
{
    char *p = (char *)base + k->off;
    switch (k->kind) {
    case K_STR: {
        const char *s = NULL;
        NL_TRY(nl_json_str(obj, what, k->key, true, &s));
        if (strlen(s) >= k->size)
            return nl_error_set(NL_ERR_FORMAT, "%s: key \"%s\": value is %zu bytes, at most %zu allowed", what, k->key,
                                strlen(s), k->size - 1);
        memcpy(p, s, strlen(s) + 1);
        return NL_OK;
    }
    case K_DBL:
        return nl_json_num(obj, what, k->key, true, k->lo, k->hi, (double *)(void *)p);
    case K_I64:
        return nl_json_int(obj, what, k->key, true, (int64_t)k->lo, (int64_t)k->hi, (int64_t *)(void *)p);
    case K_U64: {
        int64_t v = 0;
        NL_TRY(nl_json_int(obj, what, k->key, true, (int64_t)k->lo, (int64_t)k->hi, &v));
        *(uint64_t *)(void *)p = (uint64_t)v;
        return NL_OK;
    }
    case K_BOOL:
        return nl_json_bool(obj, what, k->key, true, (bool *)(void *)p);
    }
    return NL_OK;
}

static nl_status read_object(void *base, const knob *k, size_t nk, const cJSON *obj, const char *what, bool top)
{
    for (const cJSON *it = obj->child; it; it = it->next) {
        if (top && (strcmp(it->string, "model") == 0)) continue;
        bool sub = false;
        for (size_t s = 0; top && s < NK(subs); s++) sub = sub || strcmp(it->string, subs[s].key) == 0;
        if (sub) continue;
        const knob *kn = find_knob(k, nk, it->string);
        if (!kn) {
            char known[1024];
            list_keys(known, sizeof known, k, nk, top);
            return nl_error_set(NL_ERR_FORMAT, "%s: unknown key \"%s\"; HINT: known keys are %s", what, it->string,
                                known);
        }
        NL_TRY(read_knob(base, kn, obj, what));
    }
    return NL_OK;
}

nl_status nl_run_config_from_json(nl_run_config *c, const char *json_text, const char *what)
{
    if (!what) what = "run config";
    cJSON *j = cJSON_Parse(json_text ? json_text : "");
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return nl_error_set(NL_ERR_FORMAT, "%s: not a JSON object%s", what,
                            j ? "" : " (parse error); HINT: check quotes, commas and braces");
    }
    nl_run_config n = *c;
    nl_status st = NL_OK;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (model) {
        if (cJSON_IsString(model) && !model->valuestring[0])
            ; /* "": keep the shapes as they are */
        else if (!cJSON_IsString(model))
            st = nl_error_set(NL_ERR_FORMAT, "%s: key \"model\" must be a preset name string (tiny, small)", what);
        else if (nl_run_config_set_preset(&n, model->valuestring) != NL_OK)
            st = nl_error_set(NL_ERR_FORMAT, "%s: key \"model\": %s", what, nl_last_error());
    }
    for (size_t s = 0; s < NK(subs) && st == NL_OK; s++) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, subs[s].key);
        if (!o) continue;
        char w[128];
        snprintf(w, sizeof w, "%s: %s", what, subs[s].key);
        if (!cJSON_IsObject(o)) st = nl_error_set(NL_ERR_FORMAT, "%s: must be an object", w);
        else st = read_object((char *)&n + subs[s].off, subs[s].knobs, subs[s].n, o, w, false);
        /* a new width or head count without an explicit head_dim keeps C = NH * HS */
        if (st == NL_OK && s == 0 && !cJSON_GetObjectItemCaseSensitive(o, "head_dim"))
            n.llm.head_dim = n.llm.hidden_size / n.llm.num_heads;
    }
    if (st == NL_OK) st = read_object(&n, top_knobs, NK(top_knobs), j, what, true);
    cJSON_Delete(j);
    if (st == NL_OK) *c = n;
    return st;
}

static void write_object(cJSON *o, const void *base, const knob *k, size_t nk)
{
    for (size_t i = 0; i < nk; i++) {
        const char *p = (const char *)base + k[i].off;
        switch (k[i].kind) {
        case K_STR: cJSON_AddStringToObject(o, k[i].key, p); break;
        case K_DBL: cJSON_AddNumberToObject(o, k[i].key, *(const double *)(const void *)p); break;
        case K_I64: cJSON_AddNumberToObject(o, k[i].key, (double)*(const int64_t *)(const void *)p); break;
        case K_U64: cJSON_AddNumberToObject(o, k[i].key, (double)*(const uint64_t *)(const void *)p); break;
        case K_BOOL: cJSON_AddBoolToObject(o, k[i].key, *(const bool *)(const void *)p); break;
        }
    }
}

nl_status nl_run_config_to_json(const nl_run_config *c, char **json_text)
{
    *json_text = NULL;
    cJSON *j = cJSON_CreateObject();
    if (!j) return nl_error_set(NL_ERR_OOM, "run config: out of memory");
    cJSON_AddStringToObject(j, "model", c->model);
    write_object(j, c, top_knobs, NK(top_knobs));
    for (size_t s = 0; s < NK(subs); s++) {
        cJSON *o = cJSON_AddObjectToObject(j, subs[s].key);
        if (o) write_object(o, (const char *)c + subs[s].off, subs[s].knobs, subs[s].n);
    }
    *json_text = cJSON_Print(j);
    cJSON_Delete(j);
    return *json_text ? NL_OK : nl_error_set(NL_ERR_OOM, "run config: out of memory");
}

nl_status nl_run_config_validate(const nl_run_config *c)
{
    nl_notellm_config mc;
    nl_prompt_kind kind;
    NL_TRY(nl_run_method(c, &mc, &kind));
    if (!nl_prompt_preset(c->lang))
        return nl_error_set(NL_ERR_ARG, "run config: lang \"%s\" has no templates; HINT: use \"zh\" or \"en\"", c->lang);
    if (!c->data_dir[0]) return nl_error_set(NL_ERR_ARG, "run config: data_dir is required");
    if (!c->tokenizer[0])
        return nl_error_set(NL_ERR_ARG, "run config: tokenizer is required; HINT: train one with nl_bpe_train "
                                        "(notellm train-tokenizer) and give the tokenizer.json path");
    if (!c->train_list[0]) return nl_error_set(NL_ERR_ARG, "run config: train_list is empty");
    if (c->max_steps <= 0 && c->epochs <= 0)
        return nl_error_set(NL_ERR_ARG, "run config: nothing to train: epochs and max_steps are both 0");
    if (!(c->lr >= 0) || !(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1) || !(c->eps > 0))
        return nl_error_set(NL_ERR_ARG, "run config: bad AdamW hyper-parameters (lr %g, betas %g %g, eps %g)", c->lr,
                            c->beta1, c->beta2, c->eps);
    if (c->pairs_per_batch < 1 || c->grad_accum < 1 || c->dim < 1 || c->max_note_tokens < 1)
        return nl_error_set(NL_ERR_ARG, "run config: pairs_per_batch, grad_accum, dim and max_note_tokens must be >= 1");
    if (c->grad_cache_chunk < 0)
        return nl_error_set(NL_ERR_ARG, "run config: grad_cache_chunk must be >= 0 (0 = off), got %lld",
                            (long long)c->grad_cache_chunk);
    if (!mc.gcl && c->grad_cache_chunk > 0)
        return nl_error_set(NL_ERR_ARG, "run config: grad_cache_chunk needs the contrastive loss (method %s has none)",
                            c->method);
    if (mc.micl && !(c->w_t > 0 && c->w_v > 0))
        return nl_error_set(NL_ERR_ARG, "run config: mICL weights must be positive (w_t %g, w_v %g)", c->w_t, c->w_v);
    if (c->llm.hidden_size % c->llm.num_heads != 0 && c->llm.head_dim * c->llm.num_heads == 0)
        return nl_error_set(NL_ERR_ARG, "run config: llm hidden_size %lld is not divisible by num_heads %lld",
                            (long long)c->llm.hidden_size, (long long)c->llm.num_heads);
    if (c->llm.num_heads % c->llm.num_kv_heads != 0)
        return nl_error_set(NL_ERR_ARG, "run config: llm num_heads %lld is not a multiple of num_kv_heads %lld",
                            (long long)c->llm.num_heads, (long long)c->llm.num_kv_heads);
    nl_projector_kind pk;
    NL_TRY(nl_projector_kind_parse(&pk, c->projector));
    return NL_OK;
}
