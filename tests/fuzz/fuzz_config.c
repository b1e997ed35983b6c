/* fuzz_config.c — fuzz target for the JSON readers: nl_json_load and its typed
 * getters, and nl_{llm,vit,qformer}_config_load on the input as config.json.
 * An accepted config must have sane sizes and survive save + load unchanged.
 * Seeds: the model fixtures' config.json files. */
#include <cJSON.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "io/json.h"
#include "model_config.h"

const char *const nl_fuzz_seed_globs[] = {"fixtures:models/*/config.json", NULL};
const long nl_fuzz_default_runs = 60000;

static void getters(const cJSON *j)
{
    static const char *const keys[] = {"hidden_size", "rms_norm_eps", "tie_word_embeddings", "model_type",
                                       "vision_config", "missing"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        int64_t iv = -7;
        double dv = -7;
        bool bv = false;
        const char *sv = NULL;
        fz_status(nl_json_int(j, "config.json", keys[i], false, -1000, 1000, &iv), "nl_json_int");
        fz_status(nl_json_num(j, "config.json", keys[i], false, 0, 1e9, &dv), "nl_json_num");
        fz_status(nl_json_bool(j, "config.json", keys[i], true, &bv), "nl_json_bool");
        if (fz_status(nl_json_str(j, "config.json", keys[i], false, &sv), "nl_json_str") && sv) (void)strlen(sv);
        if (iv != -7 && (iv < -1000 || iv > 1000)) fz_fail("nl_json_int gave %lld outside its range", (long long)iv);
    }
}

static void llm(const char *path, const char *path2, const cJSON *j)
{
    nl_llm_config c, c2;
    memset(&c, 0, sizeof c);
    if (j) fz_status(nl_llm_config_parse(&c, j, "config.json"), "nl_llm_config_parse");
    memset(&c, 0, sizeof c);
    if (!fz_status(nl_llm_config_load(&c, path), "nl_llm_config_load")) return;
    if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.num_layers <= 0 || c.num_heads <= 0 || c.num_kv_heads <= 0 ||
        c.head_dim <= 0 || c.num_heads % c.num_kv_heads != 0)
        fz_fail("accepted llm config with V=%lld C=%lld L=%lld NH=%lld NKV=%lld HS=%lld", (long long)c.vocab_size,
                (long long)c.hidden_size, (long long)c.num_layers, (long long)c.num_heads, (long long)c.num_kv_heads,
                (long long)c.head_dim);
    if (fz_status(nl_llm_config_save(&c, path2), "nl_llm_config_save")) {
        memset(&c2, 0, sizeof c2);
        if (!fz_status(nl_llm_config_load(&c2, path2), "reload llm config"))
            fz_fail("a saved llm config does not load: %s", nl_last_error());
        if (c2.vocab_size != c.vocab_size || c2.hidden_size != c.hidden_size || c2.num_heads != c.num_heads ||
            c2.num_kv_heads != c.num_kv_heads || c2.head_dim != c.head_dim || c2.num_layers != c.num_layers ||
            c2.type != c.type || c2.qkv_bias != c.qkv_bias || c2.tie_word_embeddings != c.tie_word_embeddings)
            fz_fail("llm config changed through save and load");
    }
}

static void vit(const char *path, const char *path2, const cJSON *j)
{
    nl_vit_config c, c2;
    memset(&c, 0, sizeof c);
    if (j) fz_status(nl_vit_config_parse(&c, j, "config.json"), "nl_vit_config_parse");
    memset(&c, 0, sizeof c);
    if (!fz_status(nl_vit_config_load(&c, path), "nl_vit_config_load")) return;
    if (c.hidden_size <= 0 || c.num_heads <= 0 || c.patch_size <= 0 || c.image_size <= 0 || c.num_layers <= 0)
        fz_fail("accepted vit config with C=%lld NH=%lld patch=%lld image=%lld", (long long)c.hidden_size,
                (long long)c.num_heads, (long long)c.patch_size, (long long)c.image_size);
    if (fz_status(nl_vit_config_save(&c, path2), "nl_vit_config_save")) {
        memset(&c2, 0, sizeof c2);
        if (!fz_status(nl_vit_config_load(&c2, path2), "reload vit config"))
            fz_fail("a saved vit config does not load: %s", nl_last_error());
        if (c2.hidden_size != c.hidden_size || c2.patch_size != c.patch_size || c2.image_size != c.image_size ||
            c2.num_heads != c.num_heads || c2.num_layers != c.num_layers)
            fz_fail("vit config changed through save and load");
    }
}

static void qformer(const char *path, const char *path2, const cJSON *j)
{
    nl_qformer_config c, c2;
    memset(&c, 0, sizeof c);
    if (j) fz_status(nl_qformer_config_parse(&c, j, "config.json"), "nl_qformer_config_parse");
    memset(&c, 0, sizeof c);
    if (!fz_status(nl_qformer_config_load(&c, path), "nl_qformer_config_load")) return;
    if (c.hidden_size <= 0 || c.num_heads <= 0 || c.num_layers <= 0 || c.num_query_tokens <= 0 ||
        c.cross_attention_frequency <= 0)
        fz_fail("accepted qformer config with C=%lld NH=%lld L=%lld Q=%lld freq=%lld", (long long)c.hidden_size,
                (long long)c.num_heads, (long long)c.num_layers, (long long)c.num_query_tokens,
                (long long)c.cross_attention_frequency);
    if (fz_status(nl_qformer_config_save(&c, path2), "nl_qformer_config_save")) {
        memset(&c2, 0, sizeof c2);
        if (!fz_status(nl_qformer_config_load(&c2, path2), "reload qformer config"))
            fz_fail("a saved qformer config does not load: %s", nl_last_error());
        if (c2.hidden_size != c.hidden_size || c2.num_heads != c.num_heads || c2.num_layers != c.num_layers ||
            c2.num_query_tokens != c.num_query_tokens || c2.encoder_hidden_size != c.encoder_hidden_size)
            fz_fail("qformer config changed through save and load");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_begin();
    char path[512], path2[512];
    snprintf(path, sizeof path, "%s", fz_path("config.json"));
    snprintf(path2, sizeof path2, "%s", fz_path("saved.json"));
    fz_write(path, data, size);
    cJSON *j = NULL;
    if (fz_status(nl_json_load(&j, path, 0), "nl_json_load")) {
        if (!j) fz_fail("nl_json_load succeeded without an object");
        getters(j);
    } else if (j) {
        fz_fail("nl_json_load failed but set *out");
    }
    cJSON *small = NULL;
    if (fz_status(nl_json_load(&small, path, 64), "nl_json_load (64 bytes)") && size > 64)
        fz_fail("a %zu-byte file passed a 64-byte limit", size);
    cJSON_Delete(small);
    llm(path, path2, j);
    vit(path, path2, j);
    qformer(path, path2, j);
    cJSON_Delete(j);
    fz_end();
    return 0;
}
