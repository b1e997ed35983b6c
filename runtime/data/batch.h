/* batch.h — the pair loader of NoteLLM training (method §3.5, §3.6): per
 * epoch a Fisher–Yates shuffle (xoshiro256**) of a pair list derived from
 * the run seed, packing into batches of P pairs with no note twice in a
 * batch, prompts built per row (CSFT category/hashtag mix or one fixed
 * kind), right padding, and a small resumable state for checkpoints.
 * Depends on the runtime core, notes.h, prompt.h and rng.h; no Guile. */
#ifndef NL_BATCH_H
#define NL_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "notes.h"
#include "prompt.h"
#include "rng.h"

typedef struct nl_pair_loader_opts {
    const char *list;        /* pair list name: "train" */
    size_t pairs_per_batch;  /* P: 16 */
    uint64_t seed;           /* the run seed */
    /* NL_PROMPT_CATEGORY: the CSFT mix — int(topic_rate·P) first-note and
     * int(topic_rate·P) second-note rows get NL_PROMPT_HASHTAG (§3.6), the
     * rest the category prompt. Any other kind: every row uses it. */
    nl_prompt_kind kind;
    double topic_rate;       /* 0.4 */
    /* 0: off. k > 0: within each window of k·P pairs of the shuffled order,
     * pairs are sorted longest first (length = bytes of title + topic +
     * content of both notes; ties keep the shuffled order) before packing. */
    size_t bucket_batches;
    int32_t pad_id;          /* -1: the tokenizer's "[PAD]" */
    nl_prompt_opts prompt;   /* templates, tokenizer, max_note_tokens, EOS */
} nl_pair_loader_opts;

/* list "train", P 16, seed 0, kind CATEGORY, topic_rate 0.4, no bucketing,
 * pad_id -1, prompt from nl_prompt_opts_init(tok). */
void nl_pair_loader_opts_init(nl_pair_loader_opts *o, const nl_tokenizer *tok);

/* Where the loader stands: enough to continue with the same batches. */
typedef struct nl_pair_loader_state {
    uint64_t seed;    /* run seed (checked on restore) */
    uint64_t n_pairs; /* usable pairs of the list (checked on restore) */
    uint64_t epoch;   /* 0-based */
    uint64_t batch;   /* batches of this epoch already returned */
    nl_rng rng;       /* prompt-level draws: hashtag slots and tags */
} nl_pair_loader_state;

#define NL_PAIR_LOADER_STATE_BYTES 72
/* Fixed little-endian form for checkpoints: "NLPL", version 1, then the
 * fields in order. unpack: NL_ERR_FORMAT for a bad magic or version. */
void nl_pair_loader_state_pack(const nl_pair_loader_state *s, uint8_t out[NL_PAIR_LOADER_STATE_BYTES]);
nl_status nl_pair_loader_state_unpack(const uint8_t in[NL_PAIR_LOADER_STATE_BYTES], nl_pair_loader_state *s);

/* One batch of p <= P pairs as 2p rows [first notes; second notes], each
 * row T tokens, right-padded. Arrays are row-major [rows, T] or [rows]. */
typedef struct nl_pair_batch {
    size_t n_pairs, rows, T;
    int32_t *ids;            /* [rows, T], pad id after each row's tokens */
    uint8_t *attn;           /* [rows, T], 1 on real tokens */
    int64_t *labels;         /* [rows, T], -100 on padding and prompt */
    int64_t *lengths;        /* [rows] real tokens */
    int64_t *text_readout;   /* [rows] */
    int64_t *visual_readout; /* [rows], -1 when the kind has none */
    int64_t *image_slot;     /* [rows], -1 when the kind has none */
    uint8_t *is_hashtag;     /* [rows] */
    int64_t *note_index;     /* [rows] dataset indices (nl_notes_get) */
    int64_t *pair_index;     /* [n_pairs] indices into the pair list */
    uint64_t epoch, batch;   /* which batch this is */
} nl_pair_batch;

void nl_pair_batch_free(nl_pair_batch *b); /* frees the arrays and zeroes *b; NULL allowed */

typedef struct nl_pair_loader nl_pair_loader;

/* The loader keeps pointers to ds and to opts' templates and tokenizer: they
 * must outlive it. Pairs whose two notes are the same note cannot meet the
 * "no note twice in a batch" rule and are left out (counted in
 * nl_pair_loader_self_pairs). NL_ERR_ARG: unknown or empty list, P = 0,
 * topic rate outside [0, 1], no pad id. */
nl_status nl_pair_loader_new(nl_pair_loader **out, const nl_notes *ds, const nl_pair_loader_opts *o);
void nl_pair_loader_free(nl_pair_loader *l);

size_t nl_pair_loader_pairs(const nl_pair_loader *l);      /* usable pairs (one epoch) */
size_t nl_pair_loader_self_pairs(const nl_pair_loader *l); /* pairs left out (a == b) */
/* Batches of the current epoch (packing may give a few more than
 * ceil(pairs / P) when pairs are deferred). */
nl_status nl_pair_loader_epoch_batches(nl_pair_loader *l, size_t *n);

/* The next batch; after the last batch of an epoch the next epoch starts
 * (new shuffle). Packing: batches take pairs in shuffled order; a pair one of
 * whose notes is already in the batch is deferred — it goes first in line
 * for the next batches, ahead of the pairs not yet seen, and is never
 * dropped — so every pair is used exactly once per epoch. On error the
 * state does not move. */
nl_status nl_pair_loader_next(nl_pair_loader *l, nl_pair_batch *out);

void nl_pair_loader_get_state(const nl_pair_loader *l, nl_pair_loader_state *s);
/* NL_ERR_ARG when s is from another seed or pair count. */
nl_status nl_pair_loader_set_state(nl_pair_loader *l, const nl_pair_loader_state *s);

#endif
