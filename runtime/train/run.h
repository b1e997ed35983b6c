/* run.h — one training run of NoteLLM / NoteLLM-2 (method §3.5-3.7, §4.7-4.9):
 * the run configuration (every knob, JSON in and out), building tokenizer,
 * model, data loaders and AdamW from it, optimizer steps with gradient
 * accumulation, a NaN/Inf guard and clipping, the warm-up/decay schedule,
 * validation loss, metrics lines, and bit-identical checkpoint/resume.
 * Driven by the Scheme trainer and `notellm train`. Runtime only: no Guile. */
#ifndef NL_RUN_H
#define NL_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "model_config.h"
#include "notellm.h"
#include "prompt.h"

#define NL_RUN_PATH_MAX 1024
#define NL_RUN_NAME_MAX 64

/* Every knob of a run. Strings are fixed buffers ("" = unset), so a config is
 * a plain value that can be copied. Defaults (nl_run_config_defaults) suit
 * the small from-scratch models of this project, not the paper's 7B runs:
 *   lr 1e-4 (the paper's 3e-6 is for fine-tuning a 7B model; randomly
 *   initialised tiny models need a much larger step), betas 0.9/0.999,
 *   eps 1e-8, weight decay 0.001 (applied to every trainable tensor, tau
 *   included, as upstream), warm-up 10 % then linear decay to 0, clip 1.0,
 *   1 epoch, P = 8 pairs per batch, grad_accum 1, grad_cache_chunk 0 (off), topic_rate 0.4,
 *   alpha 0.01, w_t 9, w_v 1, Q-Former dropout 0.1, d 64, max_note_tokens 140, seed 42. */
typedef struct nl_run_config {
    /* "notellm"          NoteLLM: GCL + CSFT (category/hashtag mix)
     * "text_only"        NoteLLM without CSFT ("w/o CSFT"): GCL on the text prompt
     * "notellm2"         NoteLLM-2: visual tokens + mICL + late fusion
     * "mm_basic"         visual tokens, basic prompt, no mICL, no late fusion
     * "micl"             visual tokens + mICL, no late fusion
     * "late_fusion"      visual tokens + late fusion, basic prompt
     * "late_fusion_only" no visual tokens: text prompt + CLIP CLS gate */
    char method[NL_RUN_NAME_MAX];
    char data_dir[NL_RUN_PATH_MAX];   /* required: nl_notes_load's directory */
    char tokenizer[NL_RUN_PATH_MAX];  /* required: a tokenizer.json */
    char out_dir[NL_RUN_PATH_MAX];    /* metrics.jsonl, checkpoints; "" = none */
    char lang[8];                     /* prompt templates: "zh" or "en" */
    char eos[NL_RUN_NAME_MAX];        /* training-target EOS token, added (special) if it is not one token */
    char train_list[NL_RUN_NAME_MAX]; /* pair list trained on: "train" */
    char val_list[NL_RUN_NAME_MAX];   /* pair list of nl_run_eval: "val" (absent list: no eval) */

    /* Model: a preset fills llm/vision/qformer ("tiny", "small"); the
     * structs may then be edited (vocab_size is always the tokenizer's, the
     * Q-Former's encoder width the vision width). An HF directory replaces
     * the corresponding random model (the LLM's vocabulary grows by mean
     * rows to the tokenizer's size). */
    char model[NL_RUN_NAME_MAX];
    nl_llm_config llm;
    nl_vit_config vision;
    nl_qformer_config qformer;
    char llm_dir[NL_RUN_PATH_MAX], vision_dir[NL_RUN_PATH_MAX], qformer_dir[NL_RUN_PATH_MAX];
    char projector[NL_RUN_NAME_MAX];  /* "mlp2x_gelu" (default), "linear", "identity" */
    bool freeze_vision;               /* §4.8: true */

    /* Optimisation */
    double lr, beta1, beta2, eps, weight_decay;
    double warmup_ratio;              /* warm-up steps W = ceil(ratio * total) */
    int64_t epochs;                   /* used when max_steps is 0 */
    int64_t max_steps;                /* optimizer steps; 0: epochs x batches / grad_accum */
    int64_t pairs_per_batch;          /* P: a micro-batch holds 2P notes */
    int64_t grad_accum;               /* micro-batches per optimizer step */
    int64_t grad_cache_chunk;         /* gradient caching (gradcache.h): notes per re-run chunk, so the
                                       * graph holds at most this many notes; 0 = off (one graph per
                                       * micro-batch). Same gradients either way (row-keyed dropout). */
    double clip;                      /* global grad-norm clip; <= 0: off */

    /* Method */
    double topic_rate, alpha, w_t, w_v;
    double qformer_dropout;           /* training passes only (HF's 0.1); masks drawn from the run RNG */
    int64_t dim;                      /* embedding width d */
    int64_t max_note_tokens;
    int64_t image_size;               /* 0: the vision config's image_size */
    int64_t bucket_batches;           /* nl_pair_loader_opts.bucket_batches: 0 */

    /* Schedule of nl_run_train and bookkeeping */
    int64_t eval_every;               /* steps between evals; 0: never */
    int64_t eval_batches;             /* batches per eval at most: 16 */
    int64_t save_every;               /* steps between checkpoints; 0: only at the end */
    int64_t log_every;                /* steps between metrics lines: 1 */
    uint64_t seed;
} nl_run_config;

/* Small-model defaults (see above) with the "tiny" preset, method "notellm",
 * lang "zh", eos "</s>", lists "train"/"val". */
void nl_run_config_defaults(nl_run_config *c);
/* Fill llm/vision/qformer from a preset and record its name (NL_ERR_ARG for
 * an unknown name). */
nl_status nl_run_config_set_preset(nl_run_config *c, const char *name);
/* Apply a JSON object to c (start from the defaults or any config). "model"
 * is applied first, then the "llm", "vision" and "qformer" objects edit the
 * shapes field by field, then every other key. Wrong types or ranges are
 * NL_ERR_FORMAT naming `what` and the key; unknown keys are NL_ERR_FORMAT
 * with a HINT listing the known ones. On error c is unchanged. */
nl_status nl_run_config_from_json(nl_run_config *c, const char *json_text, const char *what);
/* The whole config as a JSON object (malloc'ed; free()); from_json of it on
 * any config gives back c. */
nl_status nl_run_config_to_json(const nl_run_config *c, char **json_text);
/* Whole-config checks (method name, lang, required paths, ranges). */
nl_status nl_run_config_validate(const nl_run_config *c);
/* The composite switches and the prompt kind of c->method. */
nl_status nl_run_method(const nl_run_config *c, nl_notellm_config *mc, nl_prompt_kind *kind);

typedef struct nl_run_metrics {
    int64_t step;           /* optimizer steps done (after this one) */
    int64_t epoch;          /* loader epoch of the last micro-batch (0-based) */
    double loss, l_cl, l_v, l_gen; /* mean over the micro-batches */
    double lr;              /* learning rate used by this step */
    double tau;             /* head.tau after the step */
    double grad_norm;       /* global norm before clipping */
    double notes_per_s;     /* notes (2P per micro-batch) / seconds */
    double seconds;         /* wall time of the step */
    int64_t notes;          /* notes in the step */
    int64_t images_zeroed;  /* images replaced by the zero image (missing or undecodable) */
    double val_loss;        /* NAN unless set by the caller (nl_run_train sets it after an eval) */
} nl_run_metrics;

typedef struct nl_run nl_run;

/* Load the tokenizer and add "[PAD]" (special), "<IMG>", "<IMG_EMB>",
 * "<TEXT_EMB>" (and the EOS when it is not one token), build the model (preset
 * shapes, random init from the seed; or HF directories), load the notes, the
 * train and val pair loaders, AdamW over the trainable parameters and the
 * schedule. */
nl_status nl_run_create(nl_run **out, const nl_run_config *c);
void nl_run_free(nl_run *r); /* NULL allowed */

/* One optimizer step: grad_accum micro-batches (each loss scaled by
 * 1/grad_accum), backward, then a finiteness check of the loss and of every
 * gradient, clipping, the scheduled lr and the AdamW update.
 * - A NaN/Inf loss or gradient is NL_ERR_STATE naming the tensor (for a
 *   non-finite loss, the first parameter holding NaN/Inf if any); the grads
 *   are zeroed, nothing is updated, the step counter stays and the batch is
 *   skipped (the loader moved on).
 * - Any other error (interrupt, I/O, memory) zeroes the grads and rewinds the
 *   loader and the run RNG, so a retry repeats the same step.
 * - Past the last scheduled step: NL_ERR_STATE.
 * The interrupt flag is checked before the step starts. m may be NULL. */
nl_status nl_run_step(nl_run *r, nl_run_metrics *m);
/* Mean loss over at most eval_batches batches of the val list, from its
 * first batch each time, without gradients. NL_ERR_STATE without val pairs. */
nl_status nl_run_eval(nl_run *r, double *val_loss);

/* Checkpoint DIR (runtime/train/checkpoint.h): model.safetensors holds every
 * parameter of the composite (prefixed names), optimizer.safetensors the
 * AdamW moments, state.json step, epoch and data position (the loader's
 * batch within the epoch) and the run RNG; config.json the model shapes;
 * run.json {"config": <run config>, "loader_state": "<hex>", "vocab_size": V}
 * where loader_state is the 72-byte nl_pair_loader_state_pack form as 144
 * lowercase hex digits. */
nl_status nl_run_save(nl_run *r, const char *dir);
/* Rebuild the run from DIR/run.json's config (tokenizer and data re-read from
 * their paths; the vocabulary size must match) and restore everything, so the
 * next steps are bit-identical to an uninterrupted run. */
nl_status nl_run_resume(nl_run **out, const char *dir);

/* Append one JSON line to out_dir/metrics.jsonl (created; out_dir too).
 * NL_ERR_STATE when out_dir is "". */
nl_status nl_run_append_metrics(nl_run *r, const nl_run_metrics *m);

/* Steps until the schedule ends or the interrupt flag is set: a metrics line
 * every log_every steps, an eval every eval_every (val_loss in that line),
 * a checkpoint to out_dir/checkpoint every save_every and at the end (also
 * when interrupted). Returns NL_ERR_INTERRUPTED after saving on Ctrl-C. */
nl_status nl_run_train(nl_run *r);

/* Accessors */
const nl_run_config *nl_run_get_config(const nl_run *r);
nl_notellm *nl_run_model(nl_run *r);
nl_params *nl_run_params(nl_run *r);
const nl_notes *nl_run_notes(const nl_run *r); /* the run's dataset (borrowed) */

/* Embed the dataset notes notes[0..n) with the run's model, as a trained
 * model reads them: the inference prompt (NoteLLM's category/hashtag
 * prompts become the open inference prompt), no image flip, no dropout, no
 * gradients; batch notes per forward (each batch padded to its longest
 * prompt). out [n,d] gets the L2-normalised embeddings e — or e_v, the
 * mICL visual embeddings, when visual (NL_ERR_ARG for a method without
 * them). Unreadable images become the zero image (counted as in training). */
nl_status nl_run_embed(nl_run *r, const int64_t *notes, int64_t n, int64_t batch, bool visual, float *out);         /* the composite's named parameters (borrowed) */

/* ---- inference batches for the probes (method §5) ---------------------------- */

/* How the notes are shown to the model (method §5.1): full = image + text;
 * text-only = the zero image (after normalisation; placeholder and visual
 * tokens kept); image-only = title, content and hashtags emptied, the same
 * inference prompt built around empty fields. */
typedef enum nl_run_variant { NL_RUN_FULL = 0, NL_RUN_TEXT_ONLY = 1, NL_RUN_IMAGE_ONLY = 2 } nl_run_variant;

/* One eval batch of dataset notes, as nl_run_embed reads them. */
typedef struct nl_run_batch {
    nl_notellm_batch b;        /* over the tensors below; train false */
    int64_t rows, T;           /* notes, padded prompt length (right padding with [PAD]) */
    int32_t *ids;              /* [rows*T] prompt ids */
    int64_t *n_tokens;         /* [rows] real tokens of each prompt */
    int64_t *pos;              /* [3*rows]: text read-outs, visual read-outs, <IMG> slots (prompt positions) */
    nl_tensor *ids_t, *mask, *labels, *pixels; /* labels: all -100, only with CSFT (the composite wants them) */
    int64_t zeroed;            /* images replaced by the zero image (missing/undecodable; not text-only's) */
} nl_run_batch;

/* Build the batch of notes[0..n) (n >= 1) under variant v. Notes laid out
 * [firsts; seconds] give the pair layout of the contrastive loss. A note
 * index outside the dataset is NL_ERR_ARG; so is text-only or image-only for
 * a model without vision. */
nl_status nl_run_batch_notes(nl_run *r, const int64_t *notes, int64_t n, nl_run_variant v, nl_run_batch *out);
void nl_run_batch_free(nl_run_batch *b); /* NULL allowed; zeroes *b */
/* nl_run_embed under a variant (nl_run_embed is NL_RUN_FULL). */
nl_status nl_run_embed_variant(nl_run *r, const int64_t *notes, int64_t n, int64_t batch, bool visual,
                               nl_run_variant v, float *out);

const nl_tokenizer *nl_run_tokenizer(const nl_run *r);
int64_t nl_run_steps_done(const nl_run *r);
int64_t nl_run_total_steps(const nl_run *r);
bool nl_run_done(const nl_run *r);
/* The learning rate of update s (0-based) of a schedule with total steps T
 * and peak lr: lr*(s+1)/W during the W = ceil(warmup_ratio*T) warm-up steps,
 * then lr*(T-s)/(T-W), reaching 0 at s = T. */
double nl_run_schedule_lr(double lr, double warmup_ratio, int64_t total, int64_t s);

#endif
