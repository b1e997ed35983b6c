/* preprocess.h — NoteLLM note text preprocessing (method §1.4), exact, on
 * UTF-8 with code-point semantics: hashtag extraction into the topic,
 * newline replacement, truncation and Python str.strip() of content, title
 * and topic, and the two-level category. Plus the UTF-8 helpers the note
 * loader uses (validation, U+FFFD replacement). Depends on the runtime core
 * and PCRE2 only. */
#ifndef NL_PREPROCESS_H
#define NL_PREPROCESS_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Limits, all in code points (Python string characters). */
typedef struct nl_preprocess_opts {
    size_t content_max; /* content truncated to this many, then stripped (80) */
    size_t title_max;   /* title truncated to this many, then stripped (20) */
    size_t tag_max;     /* a #tag# match is a tag when its length incl. both '#' is <= this (16) */
    size_t tags_max;    /* at most this many tags in the topic (10) */
} nl_preprocess_opts;

#define NL_PREPROCESS_OPTS_DEFAULT {80, 20, 16, 10}

/* The preprocessed fields of one note, each malloc'ed and NUL-terminated. */
typedef struct nl_note_text {
    char *title;
    char *content;
    char *topic;    /* tags joined by "，" (U+FF0C) */
    char *category; /* "level1，level2。" — WITHOUT the EOS string: the prompt
                       builder appends the model's EOS ("</s>" in the method) */
    size_t n_tags;  /* tags found (before the tags_max cut) */
} nl_note_text;

/* All of §1.4 for one note. Inputs are (pointer, length) and must be valid
 * UTF-8 (NL_ERR_FORMAT naming the field and byte offset otherwise; run
 * nl_utf8_sanitize first). opts NULL means the defaults. On error *out is
 * left zeroed. */
nl_status nl_preprocess_note(const char *title, size_t title_n, const char *content, size_t content_n,
                             const char *category, size_t category_n, const nl_preprocess_opts *opts,
                             nl_note_text *out);
void nl_note_text_free(nl_note_text *t);

/* The single steps (same input contract; outputs malloc'ed). */
/* §1.4 steps 1-4: content after tag removal, '\n' → "。", truncation, strip;
 * topic from the first tags_max tags, stripped. */
nl_status nl_preprocess_content(const char *content, size_t n, const nl_preprocess_opts *opts,
                                char **content_out, char **topic_out, size_t *n_tags);
/* §1.4 step 5: first title_max code points, stripped. */
nl_status nl_preprocess_title(const char *title, size_t n, const nl_preprocess_opts *opts, char **out);
/* §1.4 step 6 without EOS: split on '@', keep 2 levels, join with "，",
 * drop one trailing "，", append "。". "A@" → "A。", "A@B@C@" → "A，B。". */
nl_status nl_preprocess_category(const char *category, size_t n, char **out);

/* Python str.strip() / str[:k] on UTF-8: the byte range [*lo, *hi) of s
 * without leading/trailing Unicode whitespace (str.isspace: \t\n\v\f\r,
 * \x1c-\x1f, space, U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029,
 * U+202F, U+205F, U+3000), and the byte length of the first k code points. */
void nl_utf8_strip(const char *s, size_t n, size_t *lo, size_t *hi);
size_t nl_utf8_prefix(const char *s, size_t n, size_t k);
/* Number of code points of valid UTF-8. */
size_t nl_utf8_length(const char *s, size_t n);

/* Offset of the first invalid byte, or n when s[0..n) is valid UTF-8
 * (surrogates U+D800-DFFF, overlongs and > U+10FFFF are invalid). */
size_t nl_utf8_check(const char *s, size_t n);
/* A malloc'ed NUL-terminated copy with every invalid sequence replaced by
 * U+FFFD, one per maximal subpart (Unicode's recommended practice, which is
 * Python's errors="replace"). *replaced counts the U+FFFDs inserted. */
nl_status nl_utf8_sanitize(const char *s, size_t n, char **out, size_t *out_n, size_t *replaced);

#endif
