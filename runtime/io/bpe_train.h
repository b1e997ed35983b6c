/* bpe_train.h — training a byte-level BPE tokenizer (GPT-2/Qwen2 style) from
 * text and writing it as an HF tokenizer.json that nl_tok_load reads back.
 * Owns: nl_bpe_train_opts, nl_bpe_train, nl_bpe_train_files. Depends on the
 * runtime core only (no Guile); uses PCRE2 and cJSON internally. */
#ifndef NL_BPE_TRAIN_H
#define NL_BPE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Largest corpus file nl_bpe_train_files reads (each file is read whole). */
#define NL_BPE_TRAIN_MAX_FILE (1024u * 1024u * 1024u) /* 1 GiB */

typedef struct nl_bpe_train_opts {
    /* Total ids: special tokens + the 256 byte symbols + merged tokens.
     * Training stops earlier when no pair reaches min_frequency. */
    int32_t vocab_size;
    /* A pair is merged only when it occurs at least this often (>= 1). */
    int64_t min_frequency;
    /* Special tokens after "<|endoftext|>" (always id 0), in id order;
     * duplicates are dropped. They are cut out of the training text, as the
     * encoder matches them in raw text. */
    const char *const *special_tokens;
    int n_special_tokens;
    /* The pre-tokenizer's Split regex (PCRE2, UTF + UCP); NULL: Qwen2's. */
    const char *pattern;
} nl_bpe_train_opts;

/* vocab_size 4096, min_frequency 2, no extra specials, Qwen2's pattern. */
void nl_bpe_train_opts_init(nl_bpe_train_opts *o);

/* Train on n_texts byte strings (texts[i] has lens[i] bytes; any bytes,
 * ill-formed UTF-8 included) and write tokenizer.json to out_path atomically.
 * o NULL means the defaults. Merges are chosen by highest pair count; ties go
 * to the pair whose left token string, then right token string, is smallest
 * (strcmp of the byte-level forms, e.g. "Ġt" < "he"), so the file depends on
 * the corpus only. NL_ERR_ARG: bad options or an empty corpus; NL_ERR_IO:
 * out_path cannot be written; NL_ERR_INTERRUPTED: Ctrl-C. */
nl_status nl_bpe_train(const char *const *texts, const size_t *lens, size_t n_texts, const nl_bpe_train_opts *o,
                       const char *out_path);

/* Same with the whole contents of n files as the corpus (NL_ERR_IO when one
 * cannot be read; NL_ERR_ARG when one exceeds NL_BPE_TRAIN_MAX_FILE). */
nl_status nl_bpe_train_files(const char *const *paths, int n, const nl_bpe_train_opts *o, const char *out_path);

#endif
