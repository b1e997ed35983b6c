/* prompt.h — NoteLLM (method §3.1, §3.9, §3.10) and NoteLLM-2 (§4.3) prompt
 * builders with the templates as data ("zh": the paper code's strings, byte
 * for byte; "en": an English rendering). One tokenization of the whole
 * prompt; read-outs, the image slot and the supervised target are found by
 * byte offsets (nl_tok_encode_offsets), never by dropping leading ids (§3.3).
 * Depends on the runtime core, tokenizer.h, notes.h and rng.h; no Guile. */
#ifndef NL_PROMPT_H
#define NL_PROMPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "notes.h"
#include "rng.h"
#include "tokenizer.h"

/* Placeholders replaced in the templates: {title} {topics} {content} {j}.
 * Markers kept verbatim and located after tokenization (each must be one
 * added token of the tokenizer): <IMG>, <IMG_EMB>, <TEXT_EMB>. Any other
 * text, braces included, is literal. Field values are inserted as they are
 * (no escaping, as in the paper code). */
typedef struct nl_prompt_templates {
    const char *name;
    const char *note;            /* NoteLLM note string: {title} {topics} {content} */
    const char *note_no_topic;   /* generation hashtag prompt (§3.10): {title} {content} */
    const char *mm_note;         /* NoteLLM-2 basic (§4.3a): <IMG> {title} {topics} {content} */
    const char *micl_image;      /* mICL image sub-prompt (§4.3b), put before `note`: <IMG> <IMG_EMB> */
    const char *suffix_category; /* after the note; must hold <TEXT_EMB> */
    const char *suffix_hashtag;  /* after the note; must hold <TEXT_EMB>; {j} = number of tags asked for */
    const char *suffix_open;     /* inference and NoteLLM-2: ends where the embedding is read */
    const char *target_prefix;   /* between the suffix and the target ("" in zh) */
    const char *tag_sep;         /* joins tags and category levels ("，" in zh) */
    const char *target_end;      /* closes a target or reference ("。" in zh), before the EOS */
} nl_prompt_templates;

/* "zh" or "en"; NULL for another name. */
const nl_prompt_templates *nl_prompt_preset(const char *name);

typedef enum nl_prompt_kind {
    NL_PROMPT_CATEGORY,         /* NoteLLM training, category target (§3.1) */
    NL_PROMPT_HASHTAG,          /* NoteLLM training, hashtag target: j = min(1, #tags) drawn with the rng */
    NL_PROMPT_INFER,            /* NoteLLM inference (§3.9): note + open suffix */
    NL_PROMPT_GEN_CATEGORY,     /* generation (§3.10): note + category suffix, reference = full category path */
    NL_PROMPT_GEN_HASHTAG,      /* generation: note without topics + hashtag suffix (j = gen_tags), reference = all tags */
    NL_PROMPT_MM_BASIC,         /* NoteLLM-2 basic multimodal prompt (§4.3a) */
    NL_PROMPT_MICL,             /* NoteLLM-2 mICL prompt (§4.3b) */
    NL_PROMPT_IMAGE_ONLY,       /* basic prompt, empty text fields (§4.3d) */
    NL_PROMPT_MICL_IMAGE_ONLY,  /* mICL prompt, empty text fields (§4.3d) */
    NL_PROMPT_TEXT_ONLY,        /* text-only NoteLLM note prompt, no image placeholder */
    NL_PROMPT_LATE_FUSION,      /* the late-fusion text prompt (§4.3e): same string as TEXT_ONLY */
    NL_PROMPT_KIND_COUNT
} nl_prompt_kind;

const char *nl_prompt_kind_name(nl_prompt_kind k); /* "category", "hashtag", ...; NULL when out of range */

typedef struct nl_prompt_opts {
    const nl_prompt_templates *tpl; /* NULL: the "zh" preset */
    const nl_tokenizer *tok;        /* required */
    int max_note_tokens;            /* tokens from the start (BOS included) to the end of the note string: 140 */
    const char *eos;                /* appended after a training target; must encode to one token: "</s>" */
    int gen_tags;                   /* {j} of the generation hashtag prompt: 5 */
} nl_prompt_opts;

/* tpl NULL (zh), max_note_tokens 140, eos "</s>", gen_tags 5. */
void nl_prompt_opts_init(nl_prompt_opts *o, const nl_tokenizer *tok);

/* One tokenized prompt. Positions are token indices into ids, -1 when absent. */
typedef struct nl_sample {
    nl_prompt_kind kind;
    char *text;              /* the full prompt, NUL-terminated UTF-8 (target and EOS included) */
    size_t text_len;
    int32_t *ids;            /* ONE tokenization of text, template tokens (BOS) as the tokenizer adds */
    int64_t *labels;         /* [n]: ids[k] on the target tokens (incl. target_end and EOS: every token
                                holding a byte of target_prefix + target + EOS), -100 elsewhere */
    size_t n;
    int64_t text_readout;    /* token before <TEXT_EMB>, or the last token of an open prompt */
    int64_t visual_readout;  /* mICL: token before <IMG_EMB> */
    int64_t image_slot;      /* the <IMG> token */
    size_t note_tokens;      /* tokens counted against max_note_tokens */
    size_t n_target;         /* supervised tokens */
    bool truncated;          /* the note fields were shortened to fit */
    int j;                   /* tags asked for (hashtag kinds), else 0 */
    char *target;            /* training: the target text without the EOS; generation: the reference; else NULL */
} nl_sample;

void nl_sample_free(nl_sample *s); /* frees the members and zeroes *s; NULL allowed */

/* Build one prompt for note. rng: used by NL_PROMPT_HASHTAG only (NULL
 * there: the process-wide generator). Errors (NL_ERR_ARG): a template
 * lacking a marker its kind needs, a marker the tokenizer does not encode as
 * one token, an EOS that is not one token, a note template that alone
 * exceeds max_note_tokens. On error *out is zeroed. */
nl_status nl_prompt_build(const nl_prompt_opts *o, nl_prompt_kind kind, const nl_note *note, nl_rng *rng,
                          nl_sample *out);

/* The builders by name (nl_prompt_build with that kind). */
nl_status nl_prompt_category(const nl_prompt_opts *o, const nl_note *note, nl_sample *out);
nl_status nl_prompt_hashtag(const nl_prompt_opts *o, const nl_note *note, nl_rng *rng, nl_sample *out);
nl_status nl_prompt_infer(const nl_prompt_opts *o, const nl_note *note, nl_sample *out);
nl_status nl_prompt_gen_category(const nl_prompt_opts *o, const nl_note *note, nl_sample *out);
nl_status nl_prompt_gen_hashtag(const nl_prompt_opts *o, const nl_note *note, nl_sample *out);
nl_status nl_prompt_mm_basic(const nl_prompt_opts *o, const nl_note *note, nl_sample *out);
nl_status nl_prompt_micl(const nl_prompt_opts *o, const nl_note *note, nl_sample *out);
nl_status nl_prompt_image_only(const nl_prompt_opts *o, const nl_note *note, bool micl, nl_sample *out);
nl_status nl_prompt_text_only(const nl_prompt_opts *o, const nl_note *note, nl_sample *out);
nl_status nl_prompt_late_fusion(const nl_prompt_opts *o, const nl_note *note, nl_sample *out);

/* CSFT task assignment (§3.6): of P pairs laid out [first notes; second
 * notes], int(rate·P) first-note slots and, independently, int(rate·P)
 * second-note slots get the hashtag prompt, chosen uniformly with r.
 * is_hashtag has 2P entries. NL_ERR_ARG for rate outside [0, 1]. */
nl_status nl_prompt_hashtag_slots(nl_rng *r, size_t P, double rate, bool *is_hashtag);

/* Positions after <IMG> is replaced by n_visual visual tokens (LLaMA style,
 * §4.4): everything after the slot moves by n_visual - 1. Without an image
 * slot nothing moves. */
typedef struct nl_splice_pos {
    int64_t length;          /* tokens after splicing */
    int64_t text_readout;
    int64_t visual_readout;  /* -1 when absent */
    int64_t image_start;     /* first visual token, -1 without a slot */
    int64_t image_end;       /* one past the last visual token */
} nl_splice_pos;
nl_status nl_sample_splice_positions(const nl_sample *s, int n_visual, nl_splice_pos *out);

#endif
