/* model.c — the <model> foreign object over the runtime's models (decoder
 * LLM, CLIP vision encoder, Q-Former) and the verbs every kind shares:
 * make from a preset with overrides, load and save HF directories, kind,
 * configuration alist, parameters, freezing, explicit free. Kind-specific
 * forward passes live in llm.c and vision.c. */
#include "glue.h"

#include <stddef.h>
#include <string.h>

#include "llm.h"
#include "qformer.h"
#include "vit.h"

/* ---- configuration fields as (symbol . value) ---------------------------- */

typedef enum { FI, FD, FB } ftype; /* int64_t, double, bool */
typedef struct field {
    const char *key;
    ftype type;
    size_t off;
} field;

#define LF(k, t, f) {k, t, offsetof(nl_llm_config, f)}
static const field llm_fields[] = {
    LF("vocab-size", FI, vocab_size), LF("hidden-size", FI, hidden_size),
    LF("intermediate-size", FI, intermediate_size), LF("layers", FI, num_layers), LF("heads", FI, num_heads),
    LF("kv-heads", FI, num_kv_heads), LF("head-dim", FI, head_dim), LF("max-positions", FI, max_positions),
    LF("rms-norm-eps", FD, rms_norm_eps), LF("rope-theta", FD, rope_theta),
    LF("tie-word-embeddings", FB, tie_word_embeddings), LF("qkv-bias", FB, qkv_bias),
    LF("bos-token-id", FI, bos_token_id), LF("eos-token-id", FI, eos_token_id), LF("pad-token-id", FI, pad_token_id),
    {NULL, FI, 0}};
#define VF(k, t, f) {k, t, offsetof(nl_vit_config, f)}
static const field vit_fields[] = {
    VF("hidden-size", FI, hidden_size), VF("intermediate-size", FI, intermediate_size), VF("layers", FI, num_layers),
    VF("heads", FI, num_heads), VF("image-size", FI, image_size), VF("patch-size", FI, patch_size),
    VF("channels", FI, num_channels), VF("layer-norm-eps", FD, layer_norm_eps), {NULL, FI, 0}};
#define QF(k, t, f) {k, t, offsetof(nl_qformer_config, f)}
static const field qformer_fields[] = {
    QF("hidden-size", FI, hidden_size), QF("intermediate-size", FI, intermediate_size), QF("layers", FI, num_layers),
    QF("heads", FI, num_heads), QF("encoder-hidden-size", FI, encoder_hidden_size),
    QF("query-tokens", FI, num_query_tokens), QF("cross-attention-frequency", FI, cross_attention_frequency),
    QF("layer-norm-eps", FD, layer_norm_eps), {NULL, FI, 0}};

static SCM fields_to_alist(const field *f, const void *cfg)
{
    SCM out = SCM_EOL;
    for (; f->key; f++) {
        const char *p = (const char *)cfg + f->off;
        SCM v = f->type == FI ? scm_from_int64(*(const int64_t *)p)
              : f->type == FD ? scm_from_double(*(const double *)p)
                              : scm_from_bool(*(const bool *)p);
        out = scm_acons(scm_from_utf8_symbol(f->key), v, out);
    }
    return scm_reverse_x(out, SCM_EOL);
}

/* Apply (key . value) overrides; returns whether `key` was among them. */
static bool apply_overrides(const field *fields, void *cfg, SCM alist, const char *watch, const char *who)
{
    bool seen = false;
    for (; scm_is_pair(alist); alist = scm_cdr(alist)) {
        SCM kv = scm_car(alist);
        if (!scm_is_pair(kv) || !scm_is_symbol(scm_car(kv))) scm_wrong_type_arg_msg(who, 3, kv, "(key . value) pair");
        const char *key = nl_scm_dynwind_utf8(scm_car(kv), 3, who);
        const field *f = fields;
        while (f->key && strcmp(f->key, key) != 0) f++;
        if (!f->key) nl_scm_raisef(NL_ERR_ARG, who, "unknown configuration key %s", key);
        char *p = (char *)cfg + f->off;
        if (f->type == FI) *(int64_t *)p = nl_scm_to_i64(scm_cdr(kv), 3, who);
        else if (f->type == FD) *(double *)p = nl_scm_to_real(scm_cdr(kv), 3, who);
        else *(bool *)p = scm_is_true(scm_cdr(kv));
        seen |= watch && strcmp(key, watch) == 0;
    }
    return seen;
}

/* ---- per-kind operations ------------------------------------------------------ */

static void llm_check(const nl_llm_config *c, const char *who)
{
    if (c->vocab_size < 1 || c->hidden_size < 1 || c->num_layers < 1 || c->num_heads < 1 || c->num_kv_heads < 1 ||
        c->intermediate_size < 1 || c->head_dim < 2 || c->head_dim % 2 || c->num_heads % c->num_kv_heads)
        nl_scm_raisef(NL_ERR_ARG, who,
                      "inconsistent decoder sizes: vocab %lld, hidden %lld, heads %lld x head-dim %lld (even), "
                      "kv-heads %lld dividing heads, layers %lld, intermediate %lld",
                      (long long)c->vocab_size, (long long)c->hidden_size, (long long)c->num_heads,
                      (long long)c->head_dim, (long long)c->num_kv_heads, (long long)c->num_layers,
                      (long long)c->intermediate_size);
}

static void *llm_make(const char *preset, SCM over, nl_device dev, nl_rng *rng, const char *who)
{
    nl_llm_config c;
    NL_SCM_CHECK(who, nl_llm_config_preset(&c, preset));
    for (SCM l = over; scm_is_pair(l); l = scm_cdr(l))
        if (scm_is_pair(scm_car(l)) && scm_is_eq(scm_caar(l), scm_from_utf8_symbol("model-type"))) {
            c.type = scm_is_eq(scm_cdar(l), scm_from_utf8_symbol("qwen2")) ? NL_LLM_QWEN2 : NL_LLM_LLAMA;
            c.qkv_bias = c.type == NL_LLM_QWEN2;
            over = scm_delete(scm_car(l), over);
            break;
        }
    if (!apply_overrides(llm_fields, &c, over, "head-dim", who)) c.head_dim = c.hidden_size / (c.num_heads ? c.num_heads : 1);
    llm_check(&c, who);
    nl_llm *m;
    NL_SCM_CHECK(who, nl_llm_create(&m, &c, dev, rng));
    return m;
}

static void *vit_make(const char *preset, SCM over, nl_device dev, nl_rng *rng, const char *who)
{
    nl_vit_config c;
    NL_SCM_CHECK(who, nl_vit_config_preset(&c, preset));
    apply_overrides(vit_fields, &c, over, NULL, who);
    if (c.hidden_size < 1 || c.num_heads < 1 || c.hidden_size % c.num_heads || c.patch_size < 1 ||
        c.image_size % c.patch_size || c.num_layers < 1 || c.intermediate_size < 1)
        nl_scm_raisef(NL_ERR_ARG, who, "inconsistent vision sizes: hidden %lld, heads %lld, image %lld, patch %lld",
                      (long long)c.hidden_size, (long long)c.num_heads, (long long)c.image_size,
                      (long long)c.patch_size);
    nl_vit *m;
    NL_SCM_CHECK(who, nl_vit_create(&m, &c, dev, rng));
    return m;
}

static void *qformer_make(const char *preset, SCM over, nl_device dev, nl_rng *rng, const char *who)
{
    nl_qformer_config c;
    NL_SCM_CHECK(who, nl_qformer_config_preset(&c, preset));
    apply_overrides(qformer_fields, &c, over, NULL, who);
    if (c.hidden_size < 1 || c.num_heads < 1 || c.hidden_size % c.num_heads || c.num_layers < 1 ||
        c.num_query_tokens < 1 || c.encoder_hidden_size < 1 || c.cross_attention_frequency < 1)
        nl_scm_raisef(NL_ERR_ARG, who, "inconsistent Q-Former sizes: hidden %lld, heads %lld, layers %lld, queries %lld",
                      (long long)c.hidden_size, (long long)c.num_heads, (long long)c.num_layers,
                      (long long)c.num_query_tokens);
    nl_qformer *m;
    NL_SCM_CHECK(who, nl_qformer_create(&m, &c, dev, rng));
    return m;
}

static void *llm_load(const char *dir, nl_device dev, const char *who)
{
    nl_llm *m;
    NL_SCM_CHECK(who, nl_llm_load(&m, dir, dev));
    return m;
}
static void *vit_load(const char *dir, nl_device dev, const char *who)
{
    nl_vit *m;
    NL_SCM_CHECK(who, nl_vit_load(&m, dir, dev));
    return m;
}
static void *qformer_load(const char *dir, nl_device dev, const char *who)
{
    nl_qformer *m;
    NL_SCM_CHECK(who, nl_qformer_load(&m, dir, dev));
    return m;
}

static SCM llm_config(void *p)
{
    nl_llm *m = p;
    SCM type = scm_from_utf8_symbol(m->cfg.type == NL_LLM_QWEN2 ? "qwen2" : "llama");
    return scm_acons(scm_from_utf8_symbol("model-type"), type,
                     scm_append(scm_list_2(fields_to_alist(llm_fields, &m->cfg),
                                           scm_list_1(scm_cons(scm_from_utf8_symbol("nonfinite-weights"),
                                                               scm_from_int64(m->nonfinite))))));
}
static SCM vit_config(void *p)
{
    return scm_acons(scm_from_utf8_symbol("model-type"), scm_from_utf8_symbol("clip_vision_model"),
                     fields_to_alist(vit_fields, &((nl_vit *)p)->cfg));
}
static SCM qformer_config(void *p)
{
    return scm_acons(scm_from_utf8_symbol("model-type"), scm_from_utf8_symbol("blip_2_qformer"),
                     fields_to_alist(qformer_fields, &((nl_qformer *)p)->cfg));
}

static nl_params *llm_params(void *m) { return &((nl_llm *)m)->params; }
static nl_params *vit_params(void *m) { return &((nl_vit *)m)->params; }
static nl_params *qformer_params(void *m) { return &((nl_qformer *)m)->params; }

static nl_status llm_save(void *m, const char *dir) { return nl_llm_save(m, dir); }
static nl_status vit_save(void *m, const char *dir) { return nl_vit_save(m, dir); }
static nl_status qformer_save(void *m, const char *dir) { return nl_qformer_save(m, dir); }
static void llm_free(void *m) { nl_llm_free(m); }
static void vit_free(void *m) { nl_vit_free(m); }
static void qformer_free(void *m) { nl_qformer_free(m); }

typedef struct model_kind {
    const char *name;  /* Scheme symbol */
    void *(*make)(const char *preset, SCM overrides, nl_device dev, nl_rng *rng, const char *who);
    void *(*load)(const char *dir, nl_device dev, const char *who);
    SCM (*config)(void *m);
    nl_params *(*params)(void *m);
    nl_status (*save)(void *m, const char *dir);
    void (*free)(void *m);
} model_kind;

static const model_kind kinds[NL_SCM_MODEL_KINDS] = {
    [NL_SCM_LLM] = {"llm", llm_make, llm_load, llm_config, llm_params, llm_save, llm_free},
    [NL_SCM_VIT] = {"vit", vit_make, vit_load, vit_config, vit_params, vit_save, vit_free},
    [NL_SCM_QFORMER] = {"qformer", qformer_make, qformer_load, qformer_config, qformer_params, qformer_save, qformer_free},
};

/* ---- the foreign type ------------------------------------------------------------- */

static SCM model_class;

static void finalize_model(SCM obj)
{
    void *m = scm_foreign_object_ref(obj, 1);
    scm_foreign_object_set_x(obj, 1, NULL);
    if (m) kinds[scm_foreign_object_unsigned_ref(obj, 0)].free(m);
}

void *nl_scm_to_model(SCM obj, int kind, int pos, const char *who, int *kind_out)
{
    if (!SCM_IS_A_P(obj, model_class)) scm_wrong_type_arg_msg(who, pos, obj, "model");
    int k = (int)scm_foreign_object_unsigned_ref(obj, 0);
    void *m = scm_foreign_object_ref(obj, 1);
    if (!m) nl_scm_raisef(NL_ERR_STATE, who, "the model was freed");
    if (kind >= 0 && k != kind)
        nl_scm_raisef(NL_ERR_ARG, who, "expects a %s model, got a %s model", kinds[kind].name, kinds[k].name);
    if (kind_out) *kind_out = k;
    return m;
}

char *nl_scm_dynwind_utf8(SCM s, int pos, const char *who)
{
    if (scm_is_symbol(s)) s = scm_symbol_to_string(s);
    if (!scm_is_string(s)) scm_wrong_type_arg_msg(who, pos, s, "string");
    char *c = scm_to_utf8_string(s);
    scm_dynwind_free(c);
    return c;
}

static void free_probe(void *p) { nl_attn_probe_free(p); }

void nl_scm_fwd_begin(nl_scm_fwd *f, bool want_hidden, int n_hidden, bool want_probe, int n_probe, const char *who)
{
    *f = (nl_scm_fwd){.want_hidden = want_hidden, .want_probe = want_probe, .n_hidden = n_hidden};
    if (want_hidden) {
        /* filled only on success (the runtime releases them on error) */
        f->hidden = scm_gc_malloc(sizeof *f->hidden * (size_t)n_hidden, "hidden states");
        for (int i = 0; i < n_hidden; i++) f->hidden[i] = NULL;
    }
    if (want_probe) {
        NL_SCM_CHECK(who, nl_attn_probe_init(&f->probe, n_probe));
        scm_dynwind_unwind_handler(free_probe, &f->probe, SCM_F_WIND_EXPLICITLY);
    }
}

SCM nl_scm_fwd_hidden(nl_scm_fwd *f)
{
    if (!f->want_hidden) return SCM_BOOL_F;
    SCM out = SCM_EOL;
    for (int i = f->n_hidden - 1; i >= 0; i--) {
        out = scm_cons(f->hidden[i] ? nl_scm_take_tensor(f->hidden[i]) : SCM_BOOL_F, out);
        f->hidden[i] = NULL;
    }
    return out;
}

SCM nl_scm_fwd_attention(nl_scm_fwd *f)
{
    if (!f->want_probe) return SCM_BOOL_F;
    SCM out = SCM_EOL;
    for (int l = f->probe.n_layers - 1; l >= 0; l--)
        out = scm_cons(f->probe.probs[l] ? nl_scm_from_tensor(f->probe.probs[l]) : SCM_BOOL_F, out);
    return out;
}

static int to_kind(SCM sym, int pos, const char *who)
{
    for (int k = 0; k < NL_SCM_MODEL_KINDS; k++)
        if (scm_is_eq(sym, scm_from_utf8_symbol(kinds[k].name))) return k;
    scm_wrong_type_arg_msg(who, pos, sym, "model kind symbol (llm, vit, qformer)");
    return -1;
}

#define FUNC_NAME "make-model"
static SCM make_model(SCM kind, SCM preset, SCM overrides, SCM device, SCM seed)
{
    int k = to_kind(kind, 1, FUNC_NAME);
    nl_device dev = nl_scm_to_device(device, 4, FUNC_NAME);
    nl_rng rng;
    nl_rng_seed(&rng, (uint64_t)nl_scm_to_i64(seed, 5, FUNC_NAME));
    scm_dynwind_begin(0);
    void *m = kinds[k].make(nl_scm_dynwind_utf8(preset, 2, FUNC_NAME), overrides, dev, &rng, FUNC_NAME);
    scm_dynwind_end();
    return scm_make_foreign_object_2(model_class, (void *)(uintptr_t)k, m);
}
#undef FUNC_NAME

#define FUNC_NAME "load-model"
static SCM load_model(SCM kind, SCM dir, SCM device)
{
    int k = to_kind(kind, 1, FUNC_NAME);
    nl_device dev = nl_scm_to_device(device, 3, FUNC_NAME);
    scm_dynwind_begin(0);
    void *m = kinds[k].load(nl_scm_dynwind_utf8(dir, 2, FUNC_NAME), dev, FUNC_NAME);
    scm_dynwind_end();
    return scm_make_foreign_object_2(model_class, (void *)(uintptr_t)k, m);
}
#undef FUNC_NAME

#define FUNC_NAME "save-model"
static SCM save_model(SCM model, SCM dir)
{
    int k;
    void *m = nl_scm_to_model(model, -1, 1, FUNC_NAME, &k);
    scm_dynwind_begin(0);
    NL_SCM_CHECK(FUNC_NAME, kinds[k].save(m, nl_scm_dynwind_utf8(dir, 2, FUNC_NAME)));
    scm_dynwind_end();
    scm_remember_upto_here_1(model);
    return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

static SCM model_p(SCM obj) { return scm_from_bool(SCM_IS_A_P(obj, model_class)); }

#define FUNC_NAME "model-kind"
static SCM model_kind_(SCM model)
{
    int k;
    nl_scm_to_model(model, -1, 1, FUNC_NAME, &k);
    return scm_from_utf8_symbol(kinds[k].name);
}
#undef FUNC_NAME

#define FUNC_NAME "model-config"
static SCM model_config(SCM model)
{
    int k;
    void *m = nl_scm_to_model(model, -1, 1, FUNC_NAME, &k);
    SCM out = kinds[k].config(m);
    scm_remember_upto_here_1(model);
    return out;
}
#undef FUNC_NAME

#define FUNC_NAME "model-parameters"
static SCM model_parameters(SCM model)
{
    int k;
    void *m = nl_scm_to_model(model, -1, 1, FUNC_NAME, &k);
    nl_params *p = kinds[k].params(m);
    SCM out = SCM_EOL;
    for (int i = p->n - 1; i >= 0; i--)
        out = scm_acons(scm_from_utf8_string(p->v[i].name), nl_scm_from_tensor(p->v[i].t), out);
    scm_remember_upto_here_1(model);
    return out;
}
#undef FUNC_NAME

#define FUNC_NAME "set-model-trainable!"
static SCM set_trainable_x(SCM model, SCM prefix, SCM on)
{
    int k;
    void *m = nl_scm_to_model(model, -1, 1, FUNC_NAME, &k);
    scm_dynwind_begin(0);
    int n = nl_params_set_trainable(kinds[k].params(m), nl_scm_dynwind_utf8(prefix, 2, FUNC_NAME), scm_is_true(on));
    scm_dynwind_end();
    scm_remember_upto_here_1(model);
    return scm_from_int(n);
}
#undef FUNC_NAME

#define FUNC_NAME "model-free!"
static SCM model_free_x(SCM model)
{
    if (!SCM_IS_A_P(model, model_class)) scm_wrong_type_arg_msg(FUNC_NAME, 1, model, "model");
    finalize_model(model);
    return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

void nl_scm_init_model(void)
{
    model_class = scm_make_foreign_object_type(scm_from_utf8_symbol("model"),
                                               scm_list_2(scm_from_utf8_symbol("kind"), scm_from_utf8_symbol("ptr")),
                                               finalize_model);
    scm_gc_protect_object(model_class);
    scm_c_define("<model>", model_class);
    scm_c_export("<model>", NULL);
    static const nl_scm_proc procs[] = {
        {"%nl-make-model", 5, 0, 0, (scm_t_subr)make_model,
         "A randomly initialised model of KIND ('llm, 'vit, 'qformer) from PRESET (\"tiny\", \"small\") with OVERRIDES "
         "(alist of configuration keys) on DEVICE, seeded with SEED."},
        {"%nl-load-model", 3, 0, 0, (scm_t_subr)load_model, "Load a model of KIND from the HF directory DIR onto DEVICE."},
        {"%nl-save-model", 2, 0, 0, (scm_t_subr)save_model, "Write config.json and model.safetensors of MODEL into DIR."},
        {"%nl-model?", 1, 0, 0, (scm_t_subr)model_p, "#t if OBJ is a model."},
        {"%nl-model-kind", 1, 0, 0, (scm_t_subr)model_kind_, "The kind of MODEL: 'llm, 'vit or 'qformer."},
        {"%nl-model-config", 1, 0, 0, (scm_t_subr)model_config, "The configuration of MODEL as an alist."},
        {"%nl-model-parameters", 1, 0, 0, (scm_t_subr)model_parameters,
         "The parameters of MODEL as an alist (HF name . tensor), in HF order."},
        {"%nl-set-model-trainable!", 3, 0, 0, (scm_t_subr)set_trainable_x,
         "Set requires-grad of the parameters whose names start with PREFIX; return how many."},
        {"%nl-model-free!", 1, 0, 0, (scm_t_subr)model_free_x, "Free MODEL's memory now."},
    };
    NL_SCM_DEFINE_ALL(procs);
}
