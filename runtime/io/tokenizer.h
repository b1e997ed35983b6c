/* tokenizer.h — HF tokenizer.json tokenizers: load (fully validated), encode,
 * decode, add tokens, save (atomic). Byte-level BPE (GPT-2, Qwen2) and
 * SentencePiece-style BPE with byte fallback (LLaMA-2), NFC/NFD/NFKC/NFKD
 * normalizers, added tokens (cut out of the raw text, or of the normalized
 * text when "normalized"), TemplateProcessing. Encodes and decodes like HF
 * tokenizers; unsupported types and options are refused at load, except
 * "truncation" and "padding", which are ignored.
 * Owns: nl_tokenizer. Depends on the runtime core only (no Guile). */
#ifndef NL_TOKENIZER_H
#define NL_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct nl_tokenizer nl_tokenizer;

/* Parse and validate PATH (NL_ERR_IO for OS errors, NL_ERR_FORMAT for bad or
 * unsupported contents, naming the key or type). */
nl_status nl_tok_load(nl_tokenizer **out, const char *path);
void nl_tok_free(nl_tokenizer *t); /* NULL allowed */

/* Encode len bytes of UTF-8 (NUL bytes allowed) into *ids (caller frees with
 * free(); NULL when *n is 0). Like HF's encode with add_special_tokens=true:
 * the post_processor's template (e.g. LLaMA's BOS) is applied. Ill-formed
 * UTF-8 goes through byte-level tokenizers as bytes; other tokenizers see
 * U+FFFD in its place. */
nl_status nl_tok_encode(const nl_tokenizer *t, const char *utf8, size_t len, int32_t **ids, size_t *n);
/* Same, choosing whether the post_processor's special tokens are added. */
nl_status nl_tok_encode_ex(const nl_tokenizer *t, const char *utf8, size_t len, bool add_special,
                           int32_t **ids, size_t *n);
/* Same ids as nl_tok_encode_ex, plus for every token the byte span
 * [byte_start, byte_end) of the INPUT text it came from: added tokens their
 * match (with the white space lstrip/rstrip removed); BPE tokens the input
 * bytes they cover, through normalizers and pre-tokenizers (a character the
 * normalizer rewrites maps to its whole input run; a prepended "▁" or prefix
 * space is empty); a token holding part of a multi-byte character gets the
 * whole character. Template tokens: empty span at 0 before the text, at len
 * after it. Spans are non-decreasing and cover the text; neighbours overlap
 * only on a shared character (or a run a normalizer rewrote as a whole).
 * Caller frees the three arrays (NULL when *n is 0). */
nl_status nl_tok_encode_offsets(const nl_tokenizer *t, const char *utf8, size_t len, bool add_special, int32_t **ids,
                                int64_t **byte_start, int64_t **byte_end, size_t *n);
/* Decode n ids into a NUL-terminated UTF-8 string (caller frees with free()).
 * An id outside [0, vocab size) or naming no token is NL_ERR_ARG. */
nl_status nl_tok_decode(const nl_tokenizer *t, const int32_t *ids, size_t n, bool skip_special, char **utf8);

/* Highest id + 1 over the model vocab and the added tokens (the embedding
 * table size a model needs). */
int32_t nl_tok_vocab_size(const nl_tokenizer *t);
/* Id of a vocab or added token given by its exact string, or -1. */
int32_t nl_tok_token_to_id(const nl_tokenizer *t, const char *token);
/* The token string of id (vocab form, e.g. "Ġhello"; added tokens as their
 * content, or for "normalized" ones the normalized content, as decode emits
 * it), owned by t; NULL when out of range or unused. */
const char *nl_tok_id_to_token(const nl_tokenizer *t, int32_t id);

/* Add n tokens matched as units in the raw text ("normalized": false; special:
 * skipped by decode with skip_special). New tokens get fresh ids after the
 * current highest id; a token of the vocab becomes an added token with its
 * vocab id; an added token returns its id. ids_out (may be NULL) gets n ids. */
nl_status nl_tok_add_tokens(nl_tokenizer *t, int n, const char *const *contents, bool special, int32_t *ids_out);

/* Write t (with its added tokens) as tokenizer.json to PATH: temp file in the
 * same directory, fsync, rename; on error PATH is left untouched. */
nl_status nl_tok_save(const nl_tokenizer *t, const char *path);

#endif
