/* model.c — the <model> foreign object over the runtime's models (decoder
 * LLM for now) and the %nl- primitives to make, load, save, inspect, freeze,
 * run and generate with them. One slot table per model kind keeps the
 * generic verbs (parameters, save, free) in one place. */
#include "glue.h"

#include <string.h>

#include "llm.h"

typedef struct model_kind {
    const char *name;  /* Scheme symbol */
    nl_params *(*params)(void *m);
    nl_status (*save)(void *m, const char *dir);
    void (*free)(void *m);
} model_kind;

static nl_params *llm_params(void *m) { return &((nl_llm *)m)->params; }
static nl_status llm_save(void *m, const char *dir) { return nl_llm_save(m, dir); }
static void llm_free(void *m) { nl_llm_free(m); }

enum { K_LLM, K_COUNT };
static const model_kind kinds[K_COUNT] = {
    [K_LLM] = {"llm", llm_params, llm_save, llm_free},
};

static SCM model_class;

static void finalize_model(SCM obj)
{
    void *m = scm_foreign_object_ref(obj, 1);
    scm_foreign_object_set_x(obj, 1, NULL);
    if (m) kinds[scm_foreign_object_unsigned_ref(obj, 0)].free(m);
}

static SCM wrap(int kind, void *m)
{
    return scm_make_foreign_object_2(model_class, (void *)(uintptr_t)kind, m);
}

/* The model pointer of OBJ, checking its kind (-1: any kind). */
static void *to_model(SCM obj, int kind, int pos, const char *who, int *kind_out)
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

static int to_kind(SCM sym, int pos, const char *who)
{
    for (int k = 0; k < K_COUNT; k++)
        if (scm_is_eq(sym, scm_from_utf8_symbol(kinds[k].name))) return k;
    scm_wrong_type_arg_msg(who, pos, sym, "model kind symbol (llm)");
    return -1;
}

static char *dynwind_utf8(SCM s, int pos, const char *who)
{
    if (scm_is_symbol(s)) s = scm_symbol_to_string(s);
    if (!scm_is_string(s)) scm_wrong_type_arg_msg(who, pos, s, "string");
    char *c = scm_to_utf8_string(s);
    scm_dynwind_free(c);
    return c;
}

/* ---- llm config <-> alist ------------------------------------------------- */

typedef struct int_field {
    const char *key;
    size_t off;
} int_field;
#define F(k, f) {k, offsetof(nl_llm_config, f)}
static const int_field llm_fields[] = {
    F("vocab-size", vocab_size), F("hidden-size", hidden_size), F("intermediate-size", intermediate_size),
    F("layers", num_layers),     F("heads", num_heads),         F("kv-heads", num_kv_heads),
    F("head-dim", head_dim),     F("max-positions", max_positions), F("bos-token-id", bos_token_id),
    F("eos-token-id", eos_token_id), F("pad-token-id", pad_token_id),
};
#undef F
#define N_LLM_FIELDS (sizeof llm_fields / sizeof llm_fields[0])

static SCM llm_config_alist(const nl_llm *m)
{
    const nl_llm_config *c = &m->cfg;
    SCM out = SCM_EOL;
    for (size_t i = N_LLM_FIELDS; i-- > 0;)
        out = scm_acons(scm_from_utf8_symbol(llm_fields[i].key),
                        scm_from_int64(*(const int64_t *)((const char *)c + llm_fields[i].off)), out);
    out = scm_acons(scm_from_utf8_symbol("model-type"), scm_from_utf8_symbol(c->type == NL_LLM_QWEN2 ? "qwen2" : "llama"),
                    out);
    out = scm_append(scm_list_2(out, scm_list_5(
        scm_cons(scm_from_utf8_symbol("rms-norm-eps"), scm_from_double(c->rms_norm_eps)),
        scm_cons(scm_from_utf8_symbol("rope-theta"), scm_from_double(c->rope_theta)),
        scm_cons(scm_from_utf8_symbol("tie-word-embeddings"), scm_from_bool(c->tie_word_embeddings)),
        scm_cons(scm_from_utf8_symbol("qkv-bias"), scm_from_bool(c->qkv_bias)),
        scm_cons(scm_from_utf8_symbol("nonfinite-weights"), scm_from_int64(m->nonfinite)))));
    return out;
}

/* Apply (key . value) overrides to a preset. */
static void llm_overrides(nl_llm_config *c, SCM alist, const char *who)
{
    bool head_dim_given = false;
    for (; scm_is_pair(alist); alist = scm_cdr(alist)) {
        SCM kv = scm_car(alist);
        if (!scm_is_pair(kv) || !scm_is_symbol(scm_car(kv))) scm_wrong_type_arg_msg(who, 3, kv, "(key . value) pair");
        SCM key = scm_car(kv), v = scm_cdr(kv);
        size_t i = 0;
        while (i < N_LLM_FIELDS && !scm_is_eq(key, scm_from_utf8_symbol(llm_fields[i].key))) i++;
        if (i < N_LLM_FIELDS) {
            *(int64_t *)((char *)c + llm_fields[i].off) = nl_scm_to_i64(v, 3, who);
            head_dim_given |= strcmp(llm_fields[i].key, "head-dim") == 0;
        } else if (scm_is_eq(key, scm_from_utf8_symbol("model-type"))) {
            c->type = scm_is_eq(v, scm_from_utf8_symbol("qwen2")) ? NL_LLM_QWEN2 : NL_LLM_LLAMA;
            c->qkv_bias = c->type == NL_LLM_QWEN2;
        } else if (scm_is_eq(key, scm_from_utf8_symbol("tie-word-embeddings"))) {
            c->tie_word_embeddings = scm_is_true(v);
        } else if (scm_is_eq(key, scm_from_utf8_symbol("rope-theta"))) {
            c->rope_theta = nl_scm_to_real(v, 3, who);
        } else {
            nl_scm_raisef(NL_ERR_ARG, who, "unknown decoder option %s", dynwind_utf8(key, 3, who));
        }
    }
    if (!head_dim_given && c->num_heads > 0) c->head_dim = c->hidden_size / c->num_heads;
    if (c->vocab_size < 1 || c->hidden_size < 1 || c->num_layers < 1 || c->num_heads < 1 || c->num_kv_heads < 1 ||
        c->intermediate_size < 1 || c->head_dim < 2 || c->head_dim % 2 || c->num_heads % c->num_kv_heads ||
        c->num_heads * c->head_dim != c->hidden_size)
        nl_scm_raisef(NL_ERR_ARG, who,
                      "inconsistent decoder sizes: vocab %lld, hidden %lld = heads %lld x head-dim %lld (even), "
                      "kv-heads %lld dividing heads, layers %lld, intermediate %lld",
                      (long long)c->vocab_size, (long long)c->hidden_size, (long long)c->num_heads,
                      (long long)c->head_dim, (long long)c->num_kv_heads, (long long)c->num_layers,
                      (long long)c->intermediate_size);
}

/* ---- generic verbs ---------------------------------------------------------- */

#define FUNC_NAME "make-model"
static SCM make_model(SCM kind, SCM preset, SCM overrides, SCM device, SCM seed)
{
    int k = to_kind(kind, 1, FUNC_NAME);
    nl_device dev = nl_scm_to_device(device, 4, FUNC_NAME);
    nl_rng rng;
    nl_rng_seed(&rng, (uint64_t)nl_scm_to_i64(seed, 5, FUNC_NAME));
    scm_dynwind_begin(0);
    const char *p = dynwind_utf8(preset, 2, FUNC_NAME);
    void *m = NULL;
    if (k == K_LLM) {
        nl_llm_config c;
        NL_SCM_CHECK(FUNC_NAME, nl_llm_config_preset(&c, p));
        llm_overrides(&c, overrides, FUNC_NAME);
        nl_llm *lm;
        NL_SCM_CHECK(FUNC_NAME, nl_llm_create(&lm, &c, dev, &rng));
        m = lm;
    }
    scm_dynwind_end();
    return wrap(k, m);
}
#undef FUNC_NAME

#define FUNC_NAME "load-model"
static SCM load_model(SCM kind, SCM dir, SCM device)
{
    int k = to_kind(kind, 1, FUNC_NAME);
    nl_device dev = nl_scm_to_device(device, 3, FUNC_NAME);
    scm_dynwind_begin(0);
    const char *d = dynwind_utf8(dir, 2, FUNC_NAME);
    void *m = NULL;
    if (k == K_LLM) {
        nl_llm *lm;
        NL_SCM_CHECK(FUNC_NAME, nl_llm_load(&lm, d, dev));
        m = lm;
    }
    scm_dynwind_end();
    return wrap(k, m);
}
#undef FUNC_NAME

#define FUNC_NAME "save-model"
static SCM save_model(SCM model, SCM dir)
{
    int k;
    void *m = to_model(model, -1, 1, FUNC_NAME, &k);
    scm_dynwind_begin(0);
    NL_SCM_CHECK(FUNC_NAME, kinds[k].save(m, dynwind_utf8(dir, 2, FUNC_NAME)));
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
    to_model(model, -1, 1, FUNC_NAME, &k);
    return scm_from_utf8_symbol(kinds[k].name);
}
#undef FUNC_NAME

#define FUNC_NAME "model-config"
static SCM model_config(SCM model)
{
    nl_llm *m = to_model(model, K_LLM, 1, FUNC_NAME, NULL);
    SCM out = llm_config_alist(m);
    scm_remember_upto_here_1(model);
    return out;
}
#undef FUNC_NAME

#define FUNC_NAME "model-parameters"
static SCM model_parameters(SCM model)
{
    int k;
    void *m = to_model(model, -1, 1, FUNC_NAME, &k);
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
    void *m = to_model(model, -1, 1, FUNC_NAME, &k);
    scm_dynwind_begin(0);
    int n = nl_params_set_trainable(kinds[k].params(m), dynwind_utf8(prefix, 2, FUNC_NAME), scm_is_true(on));
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

/* ---- decoder entry points ------------------------------------------------------ */

static SCM tensor_list(nl_tensor **v, int n)
{
    SCM out = SCM_EOL;
    for (int i = n - 1; i >= 0; i--) {
        out = scm_cons(v[i] ? nl_scm_take_tensor(v[i]) : SCM_BOOL_F, out);
        v[i] = NULL;
    }
    return out;
}

static void free_probe(void *p) { nl_attn_probe_free(p); }

#define FUNC_NAME "model-forward"
static SCM llm_forward(SCM model, SCM input, SCM mask, SCM flags)
{
    nl_llm *m = to_model(model, K_LLM, 1, FUNC_NAME, NULL);
    nl_tensor *x = nl_scm_to_tensor(input, 2, FUNC_NAME), *mk = nl_scm_to_tensor_or_null(mask, 3, FUNC_NAME);
    bool want_logits = scm_is_true(scm_memq(scm_from_utf8_symbol("logits"), flags));
    bool want_all = scm_is_true(scm_memq(scm_from_utf8_symbol("hidden-states"), flags));
    bool want_probe = scm_is_true(scm_memq(scm_from_utf8_symbol("attention"), flags));
    int L = (int)m->cfg.num_layers;
    /* filled only on success (nl_llm_forward releases them on error) */
    nl_tensor **all = scm_gc_malloc(sizeof *all * (size_t)(L + 1), "hidden states");
    for (int i = 0; i <= L; i++) all[i] = NULL;
    nl_attn_probe probe = {0};
    scm_dynwind_begin(0);
    if (want_probe) {
        NL_SCM_CHECK(FUNC_NAME, nl_attn_probe_init(&probe, L));
        scm_dynwind_unwind_handler(free_probe, &probe, SCM_F_WIND_EXPLICITLY);
    }
    bool ids = x->dtype == NL_I64 || x->dtype == NL_I32;
    nl_llm_input in = {.ids = ids ? x : NULL, .embeds = ids ? NULL : x, .mask = mk,
                       .all_hidden = want_all ? all : NULL, .probe = want_probe ? &probe : NULL};
    nl_tensor *hidden = NULL, *logits = NULL;
    NL_SCM_CHECK(FUNC_NAME, nl_llm_forward(&hidden, want_logits ? &logits : NULL, m, &in));
    SCM h = nl_scm_take_tensor(hidden), lg = logits ? nl_scm_take_tensor(logits) : SCM_BOOL_F;
    SCM hs = want_all ? tensor_list(all, L + 1) : SCM_BOOL_F;
    SCM pr = SCM_BOOL_F;
    if (want_probe) {
        pr = SCM_EOL;
        for (int l = L - 1; l >= 0; l--) pr = scm_cons(nl_scm_from_tensor(probe.probs[l]), pr);
    }
    scm_dynwind_end();
    scm_remember_upto_here_2(model, input);
    return scm_list_4(h, lg, hs, pr);
}
#undef FUNC_NAME

#define FUNC_NAME "model-embed"
static SCM llm_embed(SCM model, SCM ids)
{
    nl_llm *m = to_model(model, K_LLM, 1, FUNC_NAME, NULL);
    nl_tensor *out;
    NL_SCM_CHECK(FUNC_NAME, nl_llm_embed(&out, m, nl_scm_to_tensor(ids, 2, FUNC_NAME)));
    scm_remember_upto_here_2(model, ids);
    return nl_scm_take_tensor(out);
}
#undef FUNC_NAME

#define FUNC_NAME "model-logits"
static SCM llm_logits(SCM model, SCM hidden)
{
    nl_llm *m = to_model(model, K_LLM, 1, FUNC_NAME, NULL);
    nl_tensor *out;
    NL_SCM_CHECK(FUNC_NAME, nl_llm_logits(&out, m, nl_scm_to_tensor(hidden, 2, FUNC_NAME)));
    scm_remember_upto_here_2(model, hidden);
    return nl_scm_take_tensor(out);
}
#undef FUNC_NAME

#define FUNC_NAME "generate"
static SCM llm_generate(SCM model, SCM prompt, SCM max_new, SCM penalty, SCM eos)
{
    nl_llm *m = to_model(model, K_LLM, 1, FUNC_NAME, NULL);
    long n = scm_ilength(prompt);
    if (n < 0) scm_wrong_type_arg_msg(FUNC_NAME, 2, prompt, "list of token ids");
    int64_t *p = scm_gc_malloc_pointerless(sizeof *p * (size_t)(n ? n : 1), "prompt");
    SCM l = prompt;
    for (long i = 0; i < n; i++, l = scm_cdr(l)) p[i] = nl_scm_to_i64(scm_car(l), 2, FUNC_NAME);
    nl_gen_opts o = {.max_new_tokens = (int)nl_scm_to_i64(max_new, 3, FUNC_NAME),
                     .repetition_penalty = nl_scm_to_real(penalty, 4, FUNC_NAME),
                     .eos_token_id = scm_is_false(eos) ? -1 : nl_scm_to_i64(eos, 5, FUNC_NAME)};
    int64_t *out = NULL, nout = 0;
    NL_SCM_CHECK(FUNC_NAME, nl_llm_generate(&out, &nout, m, p, n, &o));
    SCM res = SCM_EOL;
    for (int64_t i = nout - 1; i >= 0; i--) res = scm_cons(scm_from_int64(out[i]), res);
    free(out);
    scm_remember_upto_here_1(model);
    return res;
}
#undef FUNC_NAME

#define FUNC_NAME "resize-vocab!"
static SCM llm_resize_x(SCM model, SCM n)
{
    nl_llm *m = to_model(model, K_LLM, 1, FUNC_NAME, NULL);
    NL_SCM_CHECK(FUNC_NAME, nl_llm_resize_vocab(m, nl_scm_to_i64(n, 2, FUNC_NAME)));
    scm_remember_upto_here_1(model);
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
         "A randomly initialised model of KIND ('llm) from PRESET (\"tiny\", \"small\") with OVERRIDES (alist) on DEVICE, seeded with SEED."},
        {"%nl-load-model", 3, 0, 0, (scm_t_subr)load_model, "Load a model of KIND from the HF directory DIR onto DEVICE."},
        {"%nl-save-model", 2, 0, 0, (scm_t_subr)save_model, "Write config.json and model.safetensors of MODEL into DIR."},
        {"%nl-model?", 1, 0, 0, (scm_t_subr)model_p, "#t if OBJ is a model."},
        {"%nl-model-kind", 1, 0, 0, (scm_t_subr)model_kind_, "The kind of MODEL: 'llm."},
        {"%nl-model-config", 1, 0, 0, (scm_t_subr)model_config, "The configuration of MODEL as an alist."},
        {"%nl-model-parameters", 1, 0, 0, (scm_t_subr)model_parameters,
         "The parameters of MODEL as an alist (HF name . tensor), in HF order."},
        {"%nl-set-model-trainable!", 3, 0, 0, (scm_t_subr)set_trainable_x,
         "Set requires-grad of the parameters whose names start with PREFIX; return how many."},
        {"%nl-model-free!", 1, 0, 0, (scm_t_subr)model_free_x, "Free MODEL's memory now."},
        {"%nl-llm-forward", 4, 0, 0, (scm_t_subr)llm_forward,
         "Run the decoder on INPUT (ids or embeddings) with MASK (or #f); FLAGS among logits, hidden-states, attention. "
         "Returns (hidden logits hidden-states attention-probabilities), #f for what was not asked."},
        {"%nl-llm-embed", 2, 0, 0, (scm_t_subr)llm_embed, "Token embeddings of IDS."},
        {"%nl-llm-logits", 2, 0, 0, (scm_t_subr)llm_logits, "LM-head logits of HIDDEN."},
        {"%nl-llm-generate", 5, 0, 0, (scm_t_subr)llm_generate,
         "Greedy generation from PROMPT (ids) with a KV cache: MAX-NEW tokens, repetition PENALTY, stop at EOS (#f: never)."},
        {"%nl-llm-resize-vocab!", 2, 0, 0, (scm_t_subr)llm_resize_x,
         "Grow the vocabulary to N rows; new embedding rows are the mean of the old ones."},
    };
    NL_SCM_DEFINE_ALL(procs);
}
