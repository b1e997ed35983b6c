/* evalrun.h — evaluation helpers over a training run (runtime/train/run.h,
 * public accessors only): generation of categories and hashtags with the
 * NoteLLM generation prompts (method §3.10), and the run configuration of a
 * checkpoint pointed at another data directory. Depends on the runtime core,
 * train/run.h, data/prompt.h, models/llm.h, io/json.h; no Guile. */
#ifndef NL_EVALRUN_H
#define NL_EVALRUN_H

#include <stdint.h>

#include "prompt.h"
#include "run.h"

/* What generation looks like (§3.10): greedy, repetition penalty 1.2,
 * stop after the run's EOS token. Upstream uses 240 new tokens. */
typedef struct nl_eval_gen_opts {
    int max_new_tokens;
    double repetition_penalty;
} nl_eval_gen_opts;

/* The generation prompt of dataset note `note` as the run's CSFT training
 * builds its prompts (the run's lang templates, max_note_tokens, EOS; 5 tags
 * asked for): kind NL_PROMPT_GEN_CATEGORY (note + category suffix,
 * reference = the full category path) or NL_PROMPT_GEN_HASHTAG (note without
 * topics + hashtag suffix, reference = all tags). Generation starts right
 * after the suffix (after <TEXT_EMB>'s closing quote and the task words).
 * NL_ERR_ARG for another kind or a note index outside the dataset. */
nl_status nl_eval_gen_prompt(nl_run *r, int64_t note, nl_prompt_kind kind, nl_sample *out);

/* Generate for one note: the prompt above fed to the run's LLM with greedy
 * decoding under o, stopping at the EOS (not part of the output); the new
 * tokens decoded with special tokens skipped, surrounding whitespace
 * stripped. *prediction and *reference (the prompt's reference) are
 * malloc'ed. Only text-only NoteLLM runs (methods "notellm", "text_only")
 * generate: NL_ERR_ARG for a multimodal method. */
nl_status nl_eval_generate(nl_run *r, int64_t note, nl_prompt_kind kind, const nl_eval_gen_opts *o,
                           char **prediction, char **reference);

/* The run configuration stored in checkpoint DIR (DIR/run.json "config") as
 * JSON text (malloc'ed) with "data_dir" replaced by data_dir and "out_dir"
 * emptied, for nl_run_config_from_json: evaluating a checkpoint on another
 * copy or version of the data. *step gets the checkpoint's optimizer steps
 * (DIR/state.json "step"; -1 when unreadable). */
nl_status nl_eval_run_config(const char *dir, const char *data_dir, char **json, int64_t *step);

#endif
