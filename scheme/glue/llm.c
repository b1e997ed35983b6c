/* llm.c — %nl- primitives of the decoder LLM: forward (ids or input
 * embeddings, padding mask, optional logits, all hidden states and
 * probe-able attention), embeddings, logits, generation, vocab resize. */
#include "glue.h"

#include "llm.h"

static bool has_flag(SCM flags, const char *name)
{
    return scm_is_true(scm_memq(scm_from_utf8_symbol(name), flags));
}

#define FUNC_NAME "model-forward"
static SCM llm_forward(SCM model, SCM input, SCM mask, SCM flags)
{
    nl_llm *m = nl_scm_to_model(model, NL_SCM_LLM, 1, FUNC_NAME, NULL);
    nl_tensor *x = nl_scm_to_tensor(input, 2, FUNC_NAME), *mk = nl_scm_to_tensor_or_null(mask, 3, FUNC_NAME);
    bool want_logits = has_flag(flags, "logits"), want_all = has_flag(flags, "hidden-states"),
         want_probe = has_flag(flags, "attention");
    int L = (int)m->cfg.num_layers;
    nl_scm_fwd f;
    scm_dynwind_begin(0);
    nl_scm_fwd_begin(&f, want_all, L + 1, want_probe, L, FUNC_NAME);
    bool ids = x->dtype == NL_I64 || x->dtype == NL_I32;
    nl_llm_input in = {.ids = ids ? x : NULL, .embeds = ids ? NULL : x, .mask = mk, .all_hidden = f.hidden,
                       .probe = want_probe ? &f.probe : NULL};
    nl_tensor *hidden = NULL, *logits = NULL;
    NL_SCM_CHECK(FUNC_NAME, nl_llm_forward(&hidden, want_logits ? &logits : NULL, m, &in));
    SCM h = nl_scm_take_tensor(hidden), lg = logits ? nl_scm_take_tensor(logits) : SCM_BOOL_F;
    SCM hs = nl_scm_fwd_hidden(&f), pr = nl_scm_fwd_attention(&f);
    scm_dynwind_end();
    scm_remember_upto_here_2(model, input);
    return scm_list_4(h, hs, pr, lg);
}
#undef FUNC_NAME

#define FUNC_NAME "model-embed"
static SCM llm_embed(SCM model, SCM ids)
{
    nl_llm *m = nl_scm_to_model(model, NL_SCM_LLM, 1, FUNC_NAME, NULL);
    nl_tensor *out;
    NL_SCM_CHECK(FUNC_NAME, nl_llm_embed(&out, m, nl_scm_to_tensor(ids, 2, FUNC_NAME)));
    scm_remember_upto_here_2(model, ids);
    return nl_scm_take_tensor(out);
}
#undef FUNC_NAME

#define FUNC_NAME "model-logits"
static SCM llm_logits(SCM model, SCM hidden)
{
    nl_llm *m = nl_scm_to_model(model, NL_SCM_LLM, 1, FUNC_NAME, NULL);
    nl_tensor *out;
    NL_SCM_CHECK(FUNC_NAME, nl_llm_logits(&out, m, nl_scm_to_tensor(hidden, 2, FUNC_NAME)));
    scm_remember_upto_here_2(model, hidden);
    return nl_scm_take_tensor(out);
}
#undef FUNC_NAME

#define FUNC_NAME "generate"
static SCM llm_generate(SCM model, SCM prompt, SCM max_new, SCM penalty, SCM eos)
{
    nl_llm *m = nl_scm_to_model(model, NL_SCM_LLM, 1, FUNC_NAME, NULL);
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
    nl_llm *m = nl_scm_to_model(model, NL_SCM_LLM, 1, FUNC_NAME, NULL);
    NL_SCM_CHECK(FUNC_NAME, nl_llm_resize_vocab(m, nl_scm_to_i64(n, 2, FUNC_NAME)));
    scm_remember_upto_here_1(model);
    return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

void nl_scm_init_llm(void)
{
    static const nl_scm_proc procs[] = {
        {"%nl-llm-forward", 4, 0, 0, (scm_t_subr)llm_forward,
         "Run the decoder on INPUT (ids or embeddings) with MASK (or #f); FLAGS among logits, hidden-states, attention. "
         "Returns (hidden hidden-states attention-probabilities logits), #f for what was not asked."},
        {"%nl-llm-embed", 2, 0, 0, (scm_t_subr)llm_embed, "Token embeddings of IDS."},
        {"%nl-llm-logits", 2, 0, 0, (scm_t_subr)llm_logits, "LM-head logits of HIDDEN."},
        {"%nl-llm-generate", 5, 0, 0, (scm_t_subr)llm_generate,
         "Greedy generation from PROMPT (ids) with a KV cache: MAX-NEW tokens, repetition PENALTY, stop at EOS (#f: never)."},
        {"%nl-llm-resize-vocab!", 2, 0, 0, (scm_t_subr)llm_resize_x,
         "Grow the vocabulary to N rows; new embedding rows are the mean of the old ones."},
    };
    NL_SCM_DEFINE_ALL(procs);
}
