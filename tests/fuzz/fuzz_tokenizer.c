/* fuzz_tokenizer.c — fuzz target for nl_tok_load (the input is tokenizer.json).
 * An accepted tokenizer must encode fixed texts and a slice of the input
 * (ids in range, sane offsets), decode what it encoded, refuse foreign ids,
 * add a token, and save to a file that loads again. Seeds: tests/fuzz/seeds. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "io/tokenizer.h"

const char *const nl_fuzz_seed_globs[] = {"seeds:*.tokenizer.json", NULL};
const long nl_fuzz_default_runs = 25000;

static void check_ids(const nl_tokenizer *t, const int32_t *ids, size_t n, const char *what)
{
    int32_t v = nl_tok_vocab_size(t);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= v) fz_fail("%s: id %d outside [0, %d)", what, (int)ids[i], (int)v);
}

static void exercise(const nl_tokenizer *t, const char *text, size_t len)
{
    for (int special = 0; special < 2; special++) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (!fz_status(nl_tok_encode_ex(t, text, len, special, &ids, &n), "nl_tok_encode_ex")) {
            free(ids);
            continue;
        }
        check_ids(t, ids, n, "encode");
        for (int skip = 0; skip < 2; skip++) {
            char *s = NULL;
            if (!fz_status(nl_tok_decode(t, ids, n, skip, &s), "nl_tok_decode"))
                fz_fail("decode of encoded ids failed: %s", nl_last_error());
            (void)strlen(s);
            free(s);
        }
        free(ids);

        int64_t *b0 = NULL, *b1 = NULL;
        ids = NULL;
        if (fz_status(nl_tok_encode_offsets(t, text, len, special, &ids, &b0, &b1, &n), "nl_tok_encode_offsets")) {
            check_ids(t, ids, n, "encode_offsets");
            for (size_t i = 0; i < n; i++) {
                if (b0[i] < 0 || b0[i] > b1[i] || b1[i] > (int64_t)len)
                    fz_fail("token %zu: span [%lld, %lld) outside the %zu-byte text", i, (long long)b0[i],
                            (long long)b1[i], len);
                if (i && b0[i] < b0[i - 1]) fz_fail("token %zu: spans go backwards", i);
            }
        }
        free(ids);
        free(b0);
        free(b1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_begin();
    const char *path = fz_path("tokenizer.json");
    fz_write(path, data, size);
    nl_tokenizer *t = NULL;
    if (!fz_status(nl_tok_load(&t, path), "nl_tok_load")) {
        if (t) fz_fail("nl_tok_load failed but set *out");
        fz_end();
        return 0;
    }
    static const char *const texts[] = {"", "Hello world", " the  thing\n\tx", "\xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80",
                                        "<s>a</s><|endoftext|>", "\xff\xfe\xc3(\xed\xa0\x80"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) exercise(t, texts[i], strlen(texts[i]));
    exercise(t, "a\0b", 3);
    size_t tail = size < 48 ? size : 48; /* some text the mutations control */
    exercise(t, (const char *)data + size - tail, tail);

    int32_t v = nl_tok_vocab_size(t);
    if (v < 0) fz_fail("vocab size %d", (int)v);
    int32_t bad[2] = {v, -1};
    char *s = NULL;
    for (int i = 0; i < 2; i++) {
        if (fz_status(nl_tok_decode(t, &bad[i], 1, false, &s), "decode foreign id"))
            fz_fail("id %d decoded with vocab size %d", (int)bad[i], (int)v);
        free(s);
        s = NULL;
    }
    for (int32_t id = 0; id < v && id < 400; id++) {
        const char *tok = nl_tok_id_to_token(t, id);
        /* no round trip: a "normalized" added token shows its normalized form */
        if (tok) (void)nl_tok_token_to_id(t, tok);
    }
    const char *add[] = {"<fuzz>"};
    int32_t new_id = -1;
    if (fz_status(nl_tok_add_tokens(t, 1, add, true, &new_id), "nl_tok_add_tokens")) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (fz_status(nl_tok_encode_ex(t, "x<fuzz>y", 8, false, &ids, &n), "encode with added token")) {
            size_t k = 0;
            while (k < n && ids[k] != new_id) k++;
            if (k == n) fz_fail("added token %d not found in the encoding", (int)new_id);
        }
        free(ids);
    }

    const char *path2 = fz_path("saved.json");
    if (fz_status(nl_tok_save(t, path2), "nl_tok_save")) {
        nl_tokenizer *t2 = NULL;
        if (!fz_status(nl_tok_load(&t2, path2), "reload saved tokenizer"))
            fz_fail("a saved tokenizer does not load again: %s", nl_last_error());
        if (nl_tok_vocab_size(t2) != nl_tok_vocab_size(t))
            fz_fail("vocab size %d after save and load, was %d", (int)nl_tok_vocab_size(t2), (int)nl_tok_vocab_size(t));
        nl_tok_free(t2);
    }
    nl_tok_free(t);
    fz_end();
    return 0;
}
