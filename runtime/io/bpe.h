/* bpe.h — private to the tokenizer (runtime/io/tokenizer*.c): buffers, piece
 * lists, string and pair hash maps, UTF-8 helpers and the BPE model (vocab
 * ids, ranked merges, byte fallback, unk) with its merge loop. Not installed;
 * functions carry the library-internal prefix nl_tk_. Depends on the runtime
 * core only (no Guile, no cJSON). */
#ifndef NL_BPE_H
#define NL_BPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* ---- growable buffers --------------------------------------------------- */

typedef struct nl_sbuf { /* bytes, not NUL-terminated unless nl_tk_sbuf_cstr is called */
    char *p;
    size_t n, cap;
} nl_sbuf;
bool nl_tk_sbuf_add(nl_sbuf *b, const void *s, size_t n); /* false on OOM */
bool nl_tk_sbuf_cstr(nl_sbuf *b);                          /* append a NUL not counted in n */

typedef struct nl_ids {
    int32_t *p;
    size_t n, cap;
} nl_ids;
bool nl_tk_ids_push(nl_ids *v, int32_t id);

/* A list of byte strings ("pieces") stored back to back in one buffer. */
typedef struct nl_piece {
    size_t off, len;
    bool first; /* starts at offset 0 of the original text (Metaspace "first") */
} nl_piece;
typedef struct nl_plist {
    nl_sbuf buf;
    nl_piece *p;
    size_t n, cap;
} nl_plist;
bool nl_tk_plist_add(nl_plist *l, const char *s, size_t n, bool first); /* s must not point into l */
void nl_tk_plist_free(nl_plist *l);

/* Append s (n bytes) with every occurrence of the string a replaced by b. */
bool nl_tk_replace_all(nl_sbuf *out, const char *s, size_t n, const char *a, const char *b);

/* ---- hash maps ---------------------------------------------------------- */

/* String (any bytes) -> int32. Keys are borrowed: they must outlive the map. */
typedef struct nl_strmap {
    struct nl_strslot *slot;
    size_t cap, n;
} nl_strmap;
/* 1 inserted, 0 present already (*old set, value unchanged), -1 OOM. */
int nl_tk_strmap_put(nl_strmap *m, const char *k, size_t len, int32_t v, int32_t *old);
int32_t nl_tk_strmap_get(const nl_strmap *m, const char *k, size_t len); /* -1 when absent */
void nl_tk_strmap_free(nl_strmap *m);

/* (left id, right id) -> (rank, merged id). */
typedef struct nl_pairmap {
    struct nl_pairslot *slot;
    size_t cap, n;
} nl_pairmap;
/* Inserts or replaces (HF keeps the last duplicate merge). false on OOM. */
bool nl_tk_pairmap_put(nl_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t merged);
bool nl_tk_pairmap_get(const nl_pairmap *m, int32_t a, int32_t b, int32_t *rank, int32_t *merged);
void nl_tk_pairmap_free(nl_pairmap *m);

/* ---- UTF-8 -------------------------------------------------------------- */

/* Length of the well-formed UTF-8 character at s (1..4, decoded into *cp),
 * or 0 when the bytes there are not one; *bad is then the length of the
 * maximal ill-formed subpart to replace by one U+FFFD (Unicode's policy). */
int nl_tk_utf8_char(const uint8_t *s, size_t len, uint32_t *cp, int *bad);
/* Offset of the first ill-formed byte, or len. */
size_t nl_tk_utf8_check(const char *s, size_t len);
/* Append s to out, replacing ill-formed subparts by U+FFFD. */
bool nl_tk_utf8_lossy(nl_sbuf *out, const char *s, size_t len);
/* Encode cp (< 0x110000) into buf; returns the byte count. */
int nl_tk_utf8_put(uint32_t cp, char *buf);

/* ---- the BPE model ------------------------------------------------------ */

typedef struct nl_bpe {
    nl_strmap vocab;       /* model vocab token -> id (keys owned by the tokenizer) */
    nl_pairmap merges;
    int32_t unk;           /* -1: unknown characters are dropped (as HF does) */
    bool fuse_unk, byte_fallback, ignore_merges;
    int32_t byte_id[256];  /* id of "<0xNN>", or -1 */
} nl_bpe;

/* Per-call cache: word -> ids, so repeated words of a long text are merged once. */
typedef struct nl_bpe_cache {
    nl_strmap map;    /* word -> index into ent */
    struct nl_bpe_cached { char *key; size_t off, n; } *ent; /* key: owned copy of the word */
    size_t nent, capent;
    nl_ids ids;       /* cached ids, back to back */
    /* merge-loop scratch, reused across words */
    int32_t *sym, *prev, *next;
    struct nl_bpe_cand *heap;
    size_t scratch_cap, heap_cap;
} nl_bpe_cache;

/* Append the ids of one pre-tokenized word (valid UTF-8 expected; an
 * ill-formed byte is treated as a one-byte character). NL_ERR_OOM only. */
nl_status nl_tk_bpe_word(const nl_bpe *m, nl_bpe_cache *c, const char *w, size_t len, nl_ids *out);
void nl_tk_bpe_cache_free(nl_bpe_cache *c);
void nl_tk_bpe_free(nl_bpe *m);

#endif
