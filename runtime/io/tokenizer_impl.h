/* tokenizer_impl.h — private to tokenizer.c and tokenizer_encode.c: the
 * nl_tokenizer struct, its pipeline steps, and the JSON helpers both files use
 * to validate tokenizer.json. Not installed. Depends on the runtime core,
 * cJSON and PCRE2 only (no Guile). */
#ifndef NL_TOKENIZER_IMPL_H
#define NL_TOKENIZER_IMPL_H

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <pcre2.h>

#include "bpe.h"
#include "tokenizer.h"

#define TK_MAX_FILE (1024u * 1024u * 1024u) /* 1 GiB */
#define TK_MAX_TOKEN 65536                  /* bytes in one vocab or added token */

enum norm_kind { N_NFC, N_NFD, N_NFKC, N_NFKD, N_PREPEND, N_REPLACE };
typedef struct norm_step {
    enum norm_kind k;
    char *a, *b; /* Prepend: a; Replace: a -> b */
} norm_step;

enum pre_kind { P_BYTELEVEL, P_SPLIT, P_METASPACE };
enum behavior { B_REMOVED, B_ISOLATED, B_PREVIOUS, B_NEXT, B_CONTIGUOUS };
enum scheme { S_ALWAYS, S_FIRST, S_NEVER };
typedef struct pre_step {
    enum pre_kind k;
    pcre2_code *re;  /* Split with a Regex; ByteLevel with use_regex (GPT-2 pattern) */
    char *lit;       /* Split with a String pattern */
    enum behavior behavior;
    bool invert, add_prefix_space, split;
    char rep[5];     /* Metaspace replacement character */
    enum scheme scheme;
} pre_step;

enum dec_kind { D_BYTELEVEL, D_REPLACE, D_BYTEFALLBACK, D_FUSE, D_STRIP, D_METASPACE };
typedef struct dec_step {
    enum dec_kind k;
    char *a, *b;     /* Replace: a -> b */
    char rep[5];     /* Strip: the character; Metaspace: the replacement */
    int start, stop; /* Strip */
    enum scheme scheme;
} dec_step;

typedef struct added_tok {
    char *s;       /* content, as in the file */
    char *m;       /* what is matched and decoded: s, or normalize(s) when "normalized" (owned if != s) */
    size_t len, mlen;
    int32_t id;
    bool special, lstrip, rstrip, single_word, normalized;
} added_tok;

/* The added tokens matched in one phase (raw text, or normalized text for
 * "normalized": true), by first byte and longest first. */
typedef struct added_set {
    int *order;  /* indices into nl_tokenizer.added */
    int n;
    int bucket[257];
} added_set;

struct nl_tokenizer {
    char *path;
    cJSON *root;        /* the file as parsed; add_tokens appends to "added_tokens"; save prints it */
    int32_t n_vocab;    /* model vocab ids are [0, n_vocab) */
    char **vocab;       /* owned token strings */
    int32_t n_ids, cap_ids; /* highest id + 1 */
    const char **tok;   /* id -> string (borrowed from vocab or added), NULL: unused id */
    uint32_t *tok_len;
    bool *special;
    nl_bpe bpe;
    added_tok *added;
    int n_added, cap_added;
    nl_strmap added_map;   /* content -> index in added */
    added_set set[2];      /* [0]: matched in the raw text, [1]: in the normalized text */
    norm_step norm[32];
    int n_norm;
    pre_step pre[32];
    int n_pre;
    dec_step dec[32];
    int n_dec;
    bool has_decoder, byte_level;
    nl_ids prefix, suffix; /* post_processor template around the text */
    char bl_enc[256][3];   /* GPT-2 bytes_to_unicode, UTF-8 encoded */
    uint8_t bl_len[256];
    int16_t bl_dec[324];   /* code point -> byte, -1 */
};

static inline nl_status oom(const char *path) { return nl_error_set(NL_ERR_OOM, "tokenizer %s: out of memory", path); }

static inline char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) { memcpy(d, s, n); d[n] = '\0'; }
    return d;
}

static inline const cJSON *get(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }
static inline bool absent(const cJSON *v) { return !v || cJSON_IsNull(v); }

/* JSON checks shared by the loader (tokenizer.c) and the encode pipeline
 * (tokenizer_encode.c); each sets a message naming PATH and the key. */
nl_status nl_tk_want_string(const char *path, const cJSON *o, const char *where, const char *k, const char **out);
nl_status nl_tk_opt_bool(const char *path, const cJSON *o, const char *where, const char *k, bool dflt, bool *out);
bool nl_tk_json_id(const cJSON *v, double limit, int32_t *out); /* an exact integer in [0, limit) */
nl_status nl_tk_one_char(const char *path, const char *where, const char *s, char rep[5]);
nl_status nl_tk_parse_scheme(const char *path, const cJSON *o, const char *where, enum scheme *out);
nl_status nl_tk_string_pattern(const char *path, const cJSON *o, const char *where, const char **out);
nl_status nl_tk_parse_type(const char *path, const cJSON *o, const char *where, const char **type);

/* Byte spans of the input text, [a, b), carried alongside every byte of the
 * intermediate strings by nl_tok_encode_offsets (tokenizer_encode.c). */
typedef struct nl_tk_span { int64_t a, b; } nl_tk_span;
typedef struct nl_tk_spanv { nl_tk_span *p; size_t n, cap; } nl_tk_spanv;

/* tokenizer_encode.c: parse the "normalizer", "pre_tokenizer" and
 * "post_processor" objects into t (post_processor after the added tokens,
 * since it checks ids against t->n_ids). */
nl_status nl_tk_parse_norm(nl_tokenizer *t, const cJSON *o);
nl_status nl_tk_parse_pre(nl_tokenizer *t, const cJSON *o);
nl_status nl_tk_parse_post(nl_tokenizer *t, const cJSON *o);
/* Run t's normalizers over s (n bytes) into *out (caller frees out->p). */
nl_status nl_tk_normalize(const nl_tokenizer *t, const char *s, size_t n, nl_sbuf *out);

#endif
