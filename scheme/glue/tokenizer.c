/* tokenizer.c — the <tokenizer> foreign object over nl_tokenizer (HF
 * tokenizer.json) and the %nl- primitives to load, encode, decode, add
 * tokens, look up and save. Strings cross as UTF-8 bytes (NUL allowed). */
#include "glue.h"

#include <stdlib.h>

#include "bpe_train.h"
#include "tokenizer.h"

static SCM tok_class;

static void finalize_tok(SCM obj)
{
    nl_tokenizer *t = scm_foreign_object_ref(obj, 0);
    scm_foreign_object_set_x(obj, 0, NULL);
    nl_tok_free(t);
}

nl_tokenizer *nl_scm_to_tokenizer(SCM obj, int pos, const char *who)
{
    if (!SCM_IS_A_P(obj, tok_class)) scm_wrong_type_arg_msg(who, pos, obj, "tokenizer");
    return scm_foreign_object_ref(obj, 0);
}

static void free_ptr(void *p) { free(p); }

#define FUNC_NAME "load-tokenizer"
static SCM load_tokenizer(SCM file)
{
    SCM_VALIDATE_STRING(1, file);
    scm_dynwind_begin(0);
    nl_tokenizer *t;
    NL_SCM_CHECK(FUNC_NAME, nl_tok_load(&t, nl_scm_dynwind_utf8(file, 1, FUNC_NAME)));
    scm_dynwind_end();
    return scm_make_foreign_object_1(tok_class, t);
}
#undef FUNC_NAME

static SCM tokenizer_p(SCM obj) { return scm_from_bool(SCM_IS_A_P(obj, tok_class)); }

#define FUNC_NAME "tokenize"
static SCM tokenize(SCM tok, SCM text, SCM add_special)
{
    nl_tokenizer *t = nl_scm_to_tokenizer(tok, 1, FUNC_NAME);
    SCM_VALIDATE_STRING(2, text);
    scm_dynwind_begin(0);
    size_t len;
    char *s = scm_to_utf8_stringn(text, &len);
    scm_dynwind_free(s);
    int32_t *ids = NULL;
    size_t n = 0;
    NL_SCM_CHECK(FUNC_NAME, nl_tok_encode_ex(t, s, len, scm_is_true(add_special), &ids, &n));
    scm_dynwind_unwind_handler(free_ptr, ids, SCM_F_WIND_EXPLICITLY);
    SCM out = SCM_EOL;
    for (size_t i = n; i-- > 0;) out = scm_cons(scm_from_int32(ids[i]), out);
    scm_dynwind_end();
    scm_remember_upto_here_1(tok);
    return out;
}
#undef FUNC_NAME

#define FUNC_NAME "detokenize"
static SCM detokenize(SCM tok, SCM ids, SCM skip_special)
{
    nl_tokenizer *t = nl_scm_to_tokenizer(tok, 1, FUNC_NAME);
    long n = scm_ilength(ids);
    if (n < 0) scm_wrong_type_arg_msg(FUNC_NAME, 2, ids, "list of token ids");
    int32_t *v = scm_gc_malloc_pointerless(sizeof *v * (size_t)(n ? n : 1), "ids");
    SCM l = ids;
    for (long i = 0; i < n; i++, l = scm_cdr(l)) {
        int64_t x = nl_scm_to_i64(scm_car(l), 2, FUNC_NAME);
        if (x < INT32_MIN || x > INT32_MAX) scm_out_of_range(FUNC_NAME, scm_car(l));
        v[i] = (int32_t)x;
    }
    char *s = NULL;
    NL_SCM_CHECK(FUNC_NAME, nl_tok_decode(t, v, (size_t)n, scm_is_true(skip_special), &s));
    SCM out = scm_from_utf8_string(s);
    free(s);
    scm_remember_upto_here_1(tok);
    return out;
}
#undef FUNC_NAME

#define FUNC_NAME "tokenizer-add-tokens!"
static SCM add_tokens(SCM tok, SCM contents, SCM special)
{
    nl_tokenizer *t = nl_scm_to_tokenizer(tok, 1, FUNC_NAME);
    long n = scm_ilength(contents);
    if (n < 0) scm_wrong_type_arg_msg(FUNC_NAME, 2, contents, "list of strings");
    scm_dynwind_begin(0);
    const char **c = scm_gc_malloc(sizeof *c * (size_t)(n ? n : 1), "tokens");
    int32_t *ids = scm_gc_malloc_pointerless(sizeof *ids * (size_t)(n ? n : 1), "ids");
    SCM l = contents;
    for (long i = 0; i < n; i++, l = scm_cdr(l)) c[i] = nl_scm_dynwind_utf8(scm_car(l), 2, FUNC_NAME);
    NL_SCM_CHECK(FUNC_NAME, nl_tok_add_tokens(t, (int)n, c, scm_is_true(special), ids));
    SCM out = SCM_EOL;
    for (long i = n; i-- > 0;) out = scm_cons(scm_from_int32(ids[i]), out);
    scm_dynwind_end();
    scm_remember_upto_here_1(tok);
    return out;
}
#undef FUNC_NAME

#define FUNC_NAME "tokenizer-vocab-size"
static SCM vocab_size(SCM tok) { return scm_from_int32(nl_tok_vocab_size(nl_scm_to_tokenizer(tok, 1, FUNC_NAME))); }
#undef FUNC_NAME

#define FUNC_NAME "token->id"
static SCM token_to_id(SCM tok, SCM token)
{
    nl_tokenizer *t = nl_scm_to_tokenizer(tok, 1, FUNC_NAME);
    scm_dynwind_begin(0);
    int32_t id = nl_tok_token_to_id(t, nl_scm_dynwind_utf8(token, 2, FUNC_NAME));
    scm_dynwind_end();
    scm_remember_upto_here_1(tok);
    return id < 0 ? SCM_BOOL_F : scm_from_int32(id);
}
#undef FUNC_NAME

#define FUNC_NAME "id->token"
static SCM id_to_token(SCM tok, SCM id)
{
    nl_tokenizer *t = nl_scm_to_tokenizer(tok, 1, FUNC_NAME);
    int64_t i = nl_scm_to_i64(id, 2, FUNC_NAME);
    const char *s = i >= 0 && i <= INT32_MAX ? nl_tok_id_to_token(t, (int32_t)i) : NULL;
    SCM out = s ? scm_from_utf8_string(s) : SCM_BOOL_F;
    scm_remember_upto_here_1(tok);
    return out;
}
#undef FUNC_NAME

#define FUNC_NAME "save-tokenizer"
static SCM save_tokenizer(SCM tok, SCM file)
{
    nl_tokenizer *t = nl_scm_to_tokenizer(tok, 1, FUNC_NAME);
    scm_dynwind_begin(0);
    NL_SCM_CHECK(FUNC_NAME, nl_tok_save(t, nl_scm_dynwind_utf8(file, 2, FUNC_NAME)));
    scm_dynwind_end();
    scm_remember_upto_here_1(tok);
    return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

#define FUNC_NAME "train-tokenizer"
static SCM train_tokenizer(SCM files, SCM out, SCM vocab_size, SCM min_freq, SCM specials)
{
    long nf = scm_ilength(files), ns = scm_ilength(specials);
    if (nf < 1) scm_wrong_type_arg_msg(FUNC_NAME, 1, files, "non-empty list of file names");
    if (ns < 0) scm_wrong_type_arg_msg(FUNC_NAME, 5, specials, "list of strings");
    scm_dynwind_begin(0);
    const char **paths = scm_gc_malloc(sizeof *paths * (size_t)nf, "paths");
    const char **sp = scm_gc_malloc(sizeof *sp * (size_t)(ns ? ns : 1), "specials");
    SCM l = files;
    for (long i = 0; i < nf; i++, l = scm_cdr(l)) paths[i] = nl_scm_dynwind_utf8(scm_car(l), 1, FUNC_NAME);
    l = specials;
    for (long i = 0; i < ns; i++, l = scm_cdr(l)) sp[i] = nl_scm_dynwind_utf8(scm_car(l), 5, FUNC_NAME);
    nl_bpe_train_opts o;
    nl_bpe_train_opts_init(&o);
    int64_t v = nl_scm_to_i64(vocab_size, 3, FUNC_NAME);
    if (v < 1 || v > INT32_MAX) scm_out_of_range(FUNC_NAME, vocab_size);
    o.vocab_size = (int32_t)v;
    o.min_frequency = nl_scm_to_i64(min_freq, 4, FUNC_NAME);
    o.special_tokens = sp;
    o.n_special_tokens = (int)ns;
    NL_SCM_CHECK(FUNC_NAME, nl_bpe_train_files(paths, (int)nf, &o, nl_scm_dynwind_utf8(out, 2, FUNC_NAME)));
    scm_dynwind_end();
    return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

void nl_scm_init_tokenizer(void)
{
    tok_class = scm_make_foreign_object_type(scm_from_utf8_symbol("tokenizer"),
                                             scm_list_1(scm_from_utf8_symbol("ptr")), finalize_tok);
    scm_gc_protect_object(tok_class);
    scm_c_define("<tokenizer>", tok_class);
    scm_c_export("<tokenizer>", NULL);
    static const nl_scm_proc procs[] = {
        {"%nl-load-tokenizer", 1, 0, 0, (scm_t_subr)load_tokenizer, "Load the HF tokenizer.json FILE."},
        {"%nl-tokenizer?", 1, 0, 0, (scm_t_subr)tokenizer_p, "#t if OBJ is a tokenizer."},
        {"%nl-tokenize", 3, 0, 0, (scm_t_subr)tokenize,
         "Token ids of TEXT; ADD-SPECIAL applies the post-processor template (e.g. BOS)."},
        {"%nl-detokenize", 3, 0, 0, (scm_t_subr)detokenize, "Text of IDS, without special tokens when SKIP-SPECIAL."},
        {"%nl-tokenizer-add-tokens!", 3, 0, 0, (scm_t_subr)add_tokens,
         "Add CONTENTS as tokens matched whole (SPECIAL: skipped when decoding); returns their ids."},
        {"%nl-tokenizer-vocab-size", 1, 0, 0, (scm_t_subr)vocab_size, "Highest id + 1."},
        {"%nl-token->id", 2, 0, 0, (scm_t_subr)token_to_id, "The id of TOKEN, or #f."},
        {"%nl-id->token", 2, 0, 0, (scm_t_subr)id_to_token, "The token string of ID, or #f."},
        {"%nl-save-tokenizer", 2, 0, 0, (scm_t_subr)save_tokenizer, "Write TOK as tokenizer.json to FILE (atomic)."},
        {"%nl-train-tokenizer", 5, 0, 0, (scm_t_subr)train_tokenizer,
         "Train a byte-level BPE on the text FILES and write tokenizer.json to OUT: VOCAB-SIZE ids, merges seen at "
         "least MIN-FREQUENCY times, SPECIALS after <|endoftext|>."},
    };
    NL_SCM_DEFINE_ALL(procs);
}
