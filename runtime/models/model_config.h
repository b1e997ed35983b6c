/* model_config.h — typed model configurations read from and written to HF
 * config.json (decoder LLMs, CLIP vision encoders, the Q-Former), with
 * validation whose errors name the key, and the random-init presets
 * `tiny` and `small`. Depends on the runtime core and runtime/io only. */
#ifndef NL_MODEL_CONFIG_H
#define NL_MODEL_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

struct cJSON;

typedef enum { NL_LLM_LLAMA = 0, NL_LLM_QWEN2 = 1 } nl_llm_type;

typedef struct nl_llm_config {
    nl_llm_type type;            /* "model_type": "llama" | "qwen2" */
    int64_t vocab_size;          /* V */
    int64_t hidden_size;         /* C */
    int64_t intermediate_size;   /* SwiGLU width */
    int64_t num_layers;          /* "num_hidden_layers" */
    int64_t num_heads;           /* NH, "num_attention_heads" */
    int64_t num_kv_heads;        /* NKV, "num_key_value_heads" (default NH) */
    int64_t head_dim;            /* HS, "head_dim" (default C / NH) */
    int64_t max_positions;       /* "max_position_embeddings" */
    double rms_norm_eps;
    double rope_theta;
    bool tie_word_embeddings;
    bool qkv_bias;               /* qwen2: always; llama: "attention_bias" */
    int64_t bos_token_id, eos_token_id, pad_token_id; /* -1 when absent */
} nl_llm_config;

typedef struct nl_vit_config {   /* HF "clip_vision_model" (or "clip"'s vision_config) */
    int64_t hidden_size, intermediate_size, num_layers, num_heads;
    int64_t image_size, patch_size, num_channels;
    double layer_norm_eps;
} nl_vit_config;

typedef struct nl_qformer_config { /* HF "blip_2_qformer" + num_query_tokens */
    int64_t hidden_size, intermediate_size, num_layers, num_heads;
    int64_t encoder_hidden_size, num_query_tokens, cross_attention_frequency;
    double layer_norm_eps;
} nl_qformer_config;

/* Parse a config object (`what` names it in errors) or a config.json file. */
nl_status nl_llm_config_parse(nl_llm_config *c, const struct cJSON *j, const char *what);
nl_status nl_llm_config_load(nl_llm_config *c, const char *path);
nl_status nl_llm_config_save(const nl_llm_config *c, const char *path);
nl_status nl_vit_config_parse(nl_vit_config *c, const struct cJSON *j, const char *what);
nl_status nl_vit_config_load(nl_vit_config *c, const char *path); /* also a full "clip" config */
nl_status nl_vit_config_save(const nl_vit_config *c, const char *path);
nl_status nl_qformer_config_parse(nl_qformer_config *c, const struct cJSON *j, const char *what);
nl_status nl_qformer_config_load(nl_qformer_config *c, const char *path);
nl_status nl_qformer_config_save(const nl_qformer_config *c, const char *path);

/* Presets "tiny" and "small" (NL_ERR_ARG naming the known ones otherwise). */
nl_status nl_llm_config_preset(nl_llm_config *c, const char *name);
nl_status nl_vit_config_preset(nl_vit_config *c, const char *name);
nl_status nl_qformer_config_preset(nl_qformer_config *c, const char *name);

#endif
