/* evalrun.c — generation with the NoteLLM generation prompts and the
 * checkpoint configuration rewrite (see evalrun.h). */
#define _GNU_SOURCE
#include "evalrun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "json.h"
#include "llm.h"
#include "notellm.h"
#include "preprocess.h"
#include "runtime.h"
#include "tokenizer.h"

nl_status nl_eval_gen_prompt(nl_run *r, int64_t note, nl_prompt_kind kind, nl_sample *out)
{
    if (!r || !out) return nl_error_set(NL_ERR_ARG, "generation prompt: NULL argument");
    if (kind != NL_PROMPT_GEN_CATEGORY && kind != NL_PROMPT_GEN_HASHTAG)
        return nl_error_set(NL_ERR_ARG, "generation prompt: kind %d is not gen-category or gen-hashtag", (int)kind);
    const nl_notes *ds = nl_run_notes(r);
    const nl_note *n = note >= 0 ? nl_notes_get(ds, (size_t)note) : NULL;
    if (!n)
        return nl_error_set(NL_ERR_ARG, "generation prompt: note %lld outside the dataset [0, %zu)", (long long)note,
                            nl_notes_count(ds));
    const nl_run_config *c = nl_run_get_config(r);
    nl_prompt_opts o;
    nl_prompt_opts_init(&o, nl_run_tokenizer(r));
    o.tpl = nl_prompt_preset(c->lang);
    o.max_note_tokens = (int)c->max_note_tokens;
    o.eos = c->eos;
    return nl_prompt_build(&o, kind, n, NULL, out);
}

/* s without leading/trailing Unicode whitespace, in place. */
static void strip(char *s)
{
    size_t lo, hi, n = strlen(s);
    nl_utf8_strip(s, n, &lo, &hi);
    memmove(s, s + lo, hi - lo);
    s[hi - lo] = 0;
}

nl_status nl_eval_generate(nl_run *r, int64_t note, nl_prompt_kind kind, const nl_eval_gen_opts *o,
                           char **prediction, char **reference)
{
    if (!r || !o || !prediction || !reference) return nl_error_set(NL_ERR_ARG, "generate: NULL argument");
    *prediction = *reference = NULL;
    const nl_run_config *c = nl_run_get_config(r);
    if (nl_run_model(r)->cfg.vision)
        return nl_error_set(NL_ERR_ARG, "generate: method \"%s\" is multimodal; generation metrics are for text "
                            "NoteLLM runs (methods without vision: notellm, text_only, csft_only)", c->method);
    if (o->max_new_tokens < 1 || !(o->repetition_penalty > 0))
        return nl_error_set(NL_ERR_ARG, "generate: max new tokens %d (>= 1) and repetition penalty %g (> 0)",
                            o->max_new_tokens, o->repetition_penalty);
    NL_TRY(nl_interrupt_poll());
    const nl_tokenizer *tok = nl_run_tokenizer(r);
    int32_t eos = nl_tok_token_to_id(tok, c->eos);
    nl_sample s;
    NL_TRY(nl_eval_gen_prompt(r, note, kind, &s));
    int64_t *ids = malloc(sizeof *ids * (s.n ? s.n : 1)), *seq = NULL, n_seq = 0;
    nl_status st = ids ? NL_OK : nl_error_set(NL_ERR_OOM, "generate: out of memory");
    for (size_t i = 0; st == NL_OK && i < s.n; i++) ids[i] = s.ids[i];
    nl_gen_opts g = {.max_new_tokens = o->max_new_tokens, .repetition_penalty = o->repetition_penalty,
                     .eos_token_id = eos};
    if (st == NL_OK) st = nl_llm_generate(&seq, &n_seq, nl_run_model(r)->llm, ids, (int64_t)s.n, &g);
    free(ids);
    int64_t k = 0, first = (int64_t)s.n;
    int32_t *gen = NULL;
    if (st == NL_OK && !(gen = malloc(sizeof *gen * (size_t)(n_seq - first + 1))))
        st = nl_error_set(NL_ERR_OOM, "generate: out of memory");
    for (int64_t i = first; st == NL_OK && i < n_seq && seq[i] != eos; i++) gen[k++] = (int32_t)seq[i];
    free(seq);
    if (st == NL_OK) st = nl_tok_decode(tok, gen, (size_t)k, true, prediction);
    free(gen);
    if (st == NL_OK && !(*reference = strdup(s.target ? s.target : "")))
        st = nl_error_set(NL_ERR_OOM, "generate: out of memory");
    nl_sample_free(&s);
    if (st != NL_OK) {
        free(*prediction);
        *prediction = NULL;
        return st;
    }
    strip(*prediction);
    strip(*reference);
    return NL_OK;
}

nl_status nl_eval_run_config(const char *dir, const char *data_dir, char **json, int64_t *step)
{
    if (!dir || !data_dir || !json || !step) return nl_error_set(NL_ERR_ARG, "run config: NULL argument");
    *json = NULL;
    *step = -1;
    char path[NL_RUN_PATH_MAX + 16];
    if ((size_t)snprintf(path, sizeof path, "%s/run.json", dir) >= sizeof path || strlen(data_dir) >= NL_RUN_PATH_MAX)
        return nl_error_set(NL_ERR_ARG, "run config: path too long (%s, %s)", dir, data_dir);
    cJSON *j;
    NL_TRY(nl_json_load(&j, path, 1u << 24));
    cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "config");
    nl_status st = NL_OK;
    if (!cJSON_IsObject(c))
        st = nl_error_set(NL_ERR_FORMAT, "%s: no \"config\" object", path);
    else if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c, "data_dir")))
        st = nl_error_set(NL_ERR_FORMAT, "%s: the config has no data_dir string", path);
    cJSON *v = st == NL_OK ? cJSON_CreateString(data_dir) : NULL, *o = st == NL_OK ? cJSON_CreateString("") : NULL;
    if (st == NL_OK && (!v || !o)) st = nl_error_set(NL_ERR_OOM, "run config: out of memory");
    if (st == NL_OK) {
        cJSON_ReplaceItemInObjectCaseSensitive(c, "data_dir", v), v = NULL;
        if (cJSON_GetObjectItemCaseSensitive(c, "out_dir")) cJSON_ReplaceItemInObjectCaseSensitive(c, "out_dir", o), o = NULL;
        if (!(*json = cJSON_PrintUnformatted(c))) st = nl_error_set(NL_ERR_OOM, "run config: out of memory");
    }
    cJSON_Delete(v);
    cJSON_Delete(o);
    cJSON_Delete(j);
    snprintf(path, sizeof path, "%s/state.json", dir);
    if (st == NL_OK) { /* the step is informative only: any problem leaves -1 */
        if (nl_json_load(&j, path, 1u << 20) == NL_OK) {
            if (nl_json_int(j, path, "step", false, 0, INT64_MAX, step) != NL_OK) *step = -1;
            cJSON_Delete(j);
        }
        nl_error_clear();
    }
    return st;
}
