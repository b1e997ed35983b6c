/* model_config.c — config.json <-> nl_llm_config / nl_vit_config / nl_qformer_config,
 * and the random-init presets. */
#include "model_config.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic.h"
#include "io/json.h"

#define MAXDIM ((int64_t)1 << 20)   /* widths and layer counts: generous but not absurd */
#define MAXVOCAB ((int64_t)1 << 24)

/* ---- decoder LLMs ------------------------------------------------------- */

nl_status nl_llm_config_parse(nl_llm_config *c, const cJSON *j, const char *what)
{
    *c = (nl_llm_config){.rms_norm_eps = 1e-6, .rope_theta = 10000.0, .max_positions = 2048,
                         .bos_token_id = -1, .eos_token_id = -1, .pad_token_id = -1};
    const char *type = NULL;
    NL_TRY(nl_json_str(j, what, "model_type", true, &type));
    if (strcmp(type, "llama") == 0) c->type = NL_LLM_LLAMA;
    else if (strcmp(type, "qwen2") == 0) c->type = NL_LLM_QWEN2;
    else
        return nl_error_set(NL_ERR_FORMAT, "%s: model_type \"%s\" is not a supported decoder (supported: llama, qwen2)",
                            what, type);
    NL_TRY(nl_json_int(j, what, "vocab_size", true, 1, MAXVOCAB, &c->vocab_size));
    NL_TRY(nl_json_int(j, what, "hidden_size", true, 1, MAXDIM, &c->hidden_size));
    NL_TRY(nl_json_int(j, what, "intermediate_size", true, 1, MAXDIM, &c->intermediate_size));
    NL_TRY(nl_json_int(j, what, "num_hidden_layers", true, 1, 4096, &c->num_layers));
    NL_TRY(nl_json_int(j, what, "num_attention_heads", true, 1, 4096, &c->num_heads));
    c->num_kv_heads = c->num_heads;
    NL_TRY(nl_json_int(j, what, "num_key_value_heads", false, 1, 4096, &c->num_kv_heads));
    if (c->hidden_size % c->num_heads != 0 && !cJSON_GetObjectItemCaseSensitive(j, "head_dim"))
        return nl_error_set(NL_ERR_FORMAT, "%s: hidden_size %lld is not divisible by num_attention_heads %lld",
                            what, (long long)c->hidden_size, (long long)c->num_heads);
    c->head_dim = c->hidden_size / c->num_heads;
    NL_TRY(nl_json_int(j, what, "head_dim", false, 2, MAXDIM, &c->head_dim));
    if (c->head_dim % 2 != 0)
        return nl_error_set(NL_ERR_FORMAT, "%s: head_dim %lld must be even for RoPE", what, (long long)c->head_dim);
    if (c->num_heads % c->num_kv_heads != 0)
        return nl_error_set(NL_ERR_FORMAT, "%s: num_attention_heads %lld is not a multiple of num_key_value_heads %lld",
                            what, (long long)c->num_heads, (long long)c->num_kv_heads);
    NL_TRY(nl_json_int(j, what, "max_position_embeddings", false, 1, (int64_t)1 << 30, &c->max_positions));
    NL_TRY(nl_json_num(j, what, "rms_norm_eps", false, 1e-30, 1.0, &c->rms_norm_eps));
    NL_TRY(nl_json_num(j, what, "rope_theta", false, 1.0, 1e12, &c->rope_theta));
    const cJSON *scaling = cJSON_GetObjectItemCaseSensitive(j, "rope_scaling");
    if (scaling && !cJSON_IsNull(scaling))
        return nl_error_set(NL_ERR_FORMAT, "%s: rope_scaling is not supported (only plain RoPE); HINT: remove it for contexts "
                            "within max_position_embeddings", what);
    c->tie_word_embeddings = false; /* the HF default of both config classes */
    NL_TRY(nl_json_bool(j, what, "tie_word_embeddings", false, &c->tie_word_embeddings));
    c->qkv_bias = c->type == NL_LLM_QWEN2;
    if (c->type == NL_LLM_LLAMA) NL_TRY(nl_json_bool(j, what, "attention_bias", false, &c->qkv_bias));
    const char *act = "silu";
    NL_TRY(nl_json_str(j, what, "hidden_act", false, &act));
    if (strcmp(act, "silu") != 0)
        return nl_error_set(NL_ERR_FORMAT, "%s: hidden_act \"%s\" is not supported (supported: silu)", what, act);
    NL_TRY(nl_json_int(j, what, "bos_token_id", false, 0, c->vocab_size - 1, &c->bos_token_id));
    NL_TRY(nl_json_int(j, what, "eos_token_id", false, 0, c->vocab_size - 1, &c->eos_token_id));
    NL_TRY(nl_json_int(j, what, "pad_token_id", false, 0, c->vocab_size - 1, &c->pad_token_id));
    return NL_OK;
}

static nl_status load_file(const char *path, void *c, nl_status (*parse)(void *, const cJSON *, const char *))
{
    cJSON *j;
    NL_TRY(nl_json_load(&j, path, 0));
    nl_status st = parse(c, j, path);
    cJSON_Delete(j);
    return st;
}

static nl_status parse_llm(void *c, const cJSON *j, const char *what) { return nl_llm_config_parse(c, j, what); }
static nl_status parse_qf(void *c, const cJSON *j, const char *what) { return nl_qformer_config_parse(c, j, what); }

nl_status nl_llm_config_load(nl_llm_config *c, const char *path) { return load_file(path, c, parse_llm); }

static nl_status save_json(cJSON *j, const char *path)
{
    char *text = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    if (!text) return nl_error_set(NL_ERR_OOM, "save %s: out of memory", path);
    size_t n = strlen(text);
    text[n] = '\n';  /* cJSON_Print's terminating NUL becomes the final newline */
    nl_status st = nl_atomic_save(path, text, n + 1);
    free(text);
    return st;
}

static void put_int(cJSON *j, const char *k, int64_t v) { cJSON_AddNumberToObject(j, k, (double)v); }

nl_status nl_llm_config_save(const nl_llm_config *c, const char *path)
{
    cJSON *j = cJSON_CreateObject();
    const char *type = c->type == NL_LLM_QWEN2 ? "qwen2" : "llama";
    cJSON *arch = cJSON_AddArrayToObject(j, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString(c->type == NL_LLM_QWEN2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM"));
    cJSON_AddStringToObject(j, "model_type", type);
    put_int(j, "vocab_size", c->vocab_size);
    put_int(j, "hidden_size", c->hidden_size);
    put_int(j, "intermediate_size", c->intermediate_size);
    put_int(j, "num_hidden_layers", c->num_layers);
    put_int(j, "num_attention_heads", c->num_heads);
    put_int(j, "num_key_value_heads", c->num_kv_heads);
    put_int(j, "head_dim", c->head_dim);
    put_int(j, "max_position_embeddings", c->max_positions);
    cJSON_AddNumberToObject(j, "rms_norm_eps", c->rms_norm_eps);
    cJSON_AddNumberToObject(j, "rope_theta", c->rope_theta);
    cJSON_AddBoolToObject(j, "tie_word_embeddings", c->tie_word_embeddings);
    if (c->type == NL_LLM_LLAMA) cJSON_AddBoolToObject(j, "attention_bias", c->qkv_bias);
    cJSON_AddStringToObject(j, "hidden_act", "silu");
    if (c->bos_token_id >= 0) put_int(j, "bos_token_id", c->bos_token_id);
    if (c->eos_token_id >= 0) put_int(j, "eos_token_id", c->eos_token_id);
    if (c->pad_token_id >= 0) put_int(j, "pad_token_id", c->pad_token_id);
    cJSON_AddStringToObject(j, "torch_dtype", "float32");
    return save_json(j, path);
}

nl_status nl_llm_config_preset(nl_llm_config *c, const char *name)
{
    *c = (nl_llm_config){.type = NL_LLM_LLAMA, .rms_norm_eps = 1e-5, .rope_theta = 10000.0,
                         .bos_token_id = 1, .eos_token_id = 2, .pad_token_id = -1};
    if (strcmp(name, "tiny") == 0) {
        c->vocab_size = 4096, c->hidden_size = 256, c->intermediate_size = 688, c->num_layers = 4;
        c->num_heads = 4, c->num_kv_heads = 4, c->max_positions = 512;
    } else if (strcmp(name, "small") == 0) {
        c->vocab_size = 8192, c->hidden_size = 512, c->intermediate_size = 1376, c->num_layers = 8;
        c->num_heads = 8, c->num_kv_heads = 4, c->max_positions = 1024;
    } else {
        return nl_error_set(NL_ERR_ARG, "no decoder preset \"%s\" (presets: tiny, small)", name);
    }
    c->head_dim = c->hidden_size / c->num_heads;
    return NL_OK;
}

/* ---- CLIP vision ---------------------------------------------------------- */

nl_status nl_vit_config_parse(nl_vit_config *c, const cJSON *j, const char *what)
{
    *c = (nl_vit_config){.num_channels = 3, .layer_norm_eps = 1e-5};
    const char *type = NULL;
    NL_TRY(nl_json_str(j, what, "model_type", true, &type));
    if (strcmp(type, "clip") == 0) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "vision_config");
        if (!cJSON_IsObject(v)) return nl_error_set(NL_ERR_FORMAT, "%s: missing key \"vision_config\"", what);
        j = v;
    } else if (strcmp(type, "clip_vision_model") != 0) {
        return nl_error_set(NL_ERR_FORMAT,
                            "%s: model_type \"%s\" is not a supported vision encoder (supported: clip_vision_model, clip)",
                            what, type);
    }
    NL_TRY(nl_json_int(j, what, "hidden_size", true, 1, MAXDIM, &c->hidden_size));
    NL_TRY(nl_json_int(j, what, "intermediate_size", true, 1, MAXDIM, &c->intermediate_size));
    NL_TRY(nl_json_int(j, what, "num_hidden_layers", true, 1, 4096, &c->num_layers));
    NL_TRY(nl_json_int(j, what, "num_attention_heads", true, 1, 4096, &c->num_heads));
    NL_TRY(nl_json_int(j, what, "image_size", true, 1, 1 << 14, &c->image_size));
    NL_TRY(nl_json_int(j, what, "patch_size", true, 1, 1 << 14, &c->patch_size));
    NL_TRY(nl_json_int(j, what, "num_channels", false, 1, 16, &c->num_channels));
    NL_TRY(nl_json_num(j, what, "layer_norm_eps", false, 1e-30, 1.0, &c->layer_norm_eps));
    const char *act = "quick_gelu";
    NL_TRY(nl_json_str(j, what, "hidden_act", false, &act));
    if (strcmp(act, "quick_gelu") != 0)
        return nl_error_set(NL_ERR_FORMAT, "%s: hidden_act \"%s\" is not supported (supported: quick_gelu)", what, act);
    if (c->hidden_size % c->num_heads != 0)
        return nl_error_set(NL_ERR_FORMAT, "%s: hidden_size %lld is not divisible by num_attention_heads %lld", what,
                            (long long)c->hidden_size, (long long)c->num_heads);
    if (c->image_size % c->patch_size != 0)
        return nl_error_set(NL_ERR_FORMAT, "%s: image_size %lld is not a multiple of patch_size %lld", what,
                            (long long)c->image_size, (long long)c->patch_size);
    return NL_OK;
}

static nl_status parse_vit(void *c, const cJSON *j, const char *what) { return nl_vit_config_parse(c, j, what); }
nl_status nl_vit_config_load(nl_vit_config *c, const char *path) { return load_file(path, c, parse_vit); }

nl_status nl_vit_config_save(const nl_vit_config *c, const char *path)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model_type", "clip_vision_model");
    put_int(j, "hidden_size", c->hidden_size);
    put_int(j, "intermediate_size", c->intermediate_size);
    put_int(j, "num_hidden_layers", c->num_layers);
    put_int(j, "num_attention_heads", c->num_heads);
    put_int(j, "image_size", c->image_size);
    put_int(j, "patch_size", c->patch_size);
    put_int(j, "num_channels", c->num_channels);
    cJSON_AddNumberToObject(j, "layer_norm_eps", c->layer_norm_eps);
    cJSON_AddStringToObject(j, "hidden_act", "quick_gelu");
    return save_json(j, path);
}

nl_status nl_vit_config_preset(nl_vit_config *c, const char *name)
{
    *c = (nl_vit_config){.num_channels = 3, .layer_norm_eps = 1e-5};
    if (strcmp(name, "tiny") == 0) {
        c->hidden_size = 192, c->intermediate_size = 768, c->num_layers = 4, c->num_heads = 3;
        c->image_size = 64, c->patch_size = 16;
    } else if (strcmp(name, "small") == 0) {
        c->hidden_size = 384, c->intermediate_size = 1536, c->num_layers = 6, c->num_heads = 6;
        c->image_size = 112, c->patch_size = 16;
    } else {
        return nl_error_set(NL_ERR_ARG, "no vision preset \"%s\" (presets: tiny, small)", name);
    }
    return NL_OK;
}

/* ---- Q-Former ------------------------------------------------------------- */

nl_status nl_qformer_config_parse(nl_qformer_config *c, const cJSON *j, const char *what)
{
    *c = (nl_qformer_config){.hidden_size = 768, .intermediate_size = 3072, .num_layers = 6, .num_heads = 12,
                             .encoder_hidden_size = 768, .num_query_tokens = 16,
                             .cross_attention_frequency = 2, .layer_norm_eps = 1e-12};
    const char *type = NULL;
    NL_TRY(nl_json_str(j, what, "model_type", true, &type));
    if (strcmp(type, "blip_2_qformer") != 0)
        return nl_error_set(NL_ERR_FORMAT, "%s: model_type \"%s\" is not a Q-Former (expected blip_2_qformer)", what,
                            type);
    NL_TRY(nl_json_int(j, what, "hidden_size", false, 1, MAXDIM, &c->hidden_size));
    NL_TRY(nl_json_int(j, what, "intermediate_size", false, 1, MAXDIM, &c->intermediate_size));
    NL_TRY(nl_json_int(j, what, "num_hidden_layers", false, 1, 4096, &c->num_layers));
    NL_TRY(nl_json_int(j, what, "num_attention_heads", false, 1, 4096, &c->num_heads));
    NL_TRY(nl_json_int(j, what, "encoder_hidden_size", false, 1, MAXDIM, &c->encoder_hidden_size));
    NL_TRY(nl_json_int(j, what, "num_query_tokens", false, 1, 4096, &c->num_query_tokens));
    NL_TRY(nl_json_int(j, what, "cross_attention_frequency", false, 1, 4096, &c->cross_attention_frequency));
    NL_TRY(nl_json_num(j, what, "layer_norm_eps", false, 1e-30, 1.0, &c->layer_norm_eps));
    const char *act = "gelu";
    NL_TRY(nl_json_str(j, what, "hidden_act", false, &act));
    if (strcmp(act, "gelu") != 0)
        return nl_error_set(NL_ERR_FORMAT, "%s: hidden_act \"%s\" is not supported (supported: gelu)", what, act);
    if (c->hidden_size % c->num_heads != 0)
        return nl_error_set(NL_ERR_FORMAT, "%s: hidden_size %lld is not divisible by num_attention_heads %lld", what,
                            (long long)c->hidden_size, (long long)c->num_heads);
    return NL_OK;
}

nl_status nl_qformer_config_load(nl_qformer_config *c, const char *path) { return load_file(path, c, parse_qf); }

nl_status nl_qformer_config_save(const nl_qformer_config *c, const char *path)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model_type", "blip_2_qformer");
    put_int(j, "hidden_size", c->hidden_size);
    put_int(j, "intermediate_size", c->intermediate_size);
    put_int(j, "num_hidden_layers", c->num_layers);
    put_int(j, "num_attention_heads", c->num_heads);
    put_int(j, "encoder_hidden_size", c->encoder_hidden_size);
    put_int(j, "num_query_tokens", c->num_query_tokens);
    put_int(j, "cross_attention_frequency", c->cross_attention_frequency);
    cJSON_AddNumberToObject(j, "layer_norm_eps", c->layer_norm_eps);
    cJSON_AddStringToObject(j, "hidden_act", "gelu");
    return save_json(j, path);
}

nl_status nl_qformer_config_preset(nl_qformer_config *c, const char *name)
{
    nl_status st = NL_OK;
    *c = (nl_qformer_config){.num_query_tokens = 16, .cross_attention_frequency = 2, .layer_norm_eps = 1e-12};
    if (strcmp(name, "tiny") == 0) {
        c->hidden_size = 192, c->intermediate_size = 768, c->num_layers = 2, c->num_heads = 3;
        c->encoder_hidden_size = 192;
    } else if (strcmp(name, "small") == 0) {
        c->hidden_size = 384, c->intermediate_size = 1536, c->num_layers = 4, c->num_heads = 6;
        c->encoder_hidden_size = 384;
    } else {
        st = nl_error_set(NL_ERR_ARG, "no Q-Former preset \"%s\" (presets: tiny, small)", name);
    }
    return st;
}
