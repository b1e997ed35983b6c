/* data.c — the notes data from Scheme: the <notes> dataset (paper layout,
 * one problem summary), note lookup with the §1.4 fields, prompt building
 * (one tokenization, read-out and target spans), the <pair-loader> over a
 * pair list, and the synthetic benchmark generator. */
#include "glue.h"

#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "notes.h"
#include "prompt.h"
#include "synth.h"
#include "tokenizer.h"

static SCM notes_class, loader_class;

static void finalize_notes(SCM obj)
{
    nl_notes *ds = scm_foreign_object_ref(obj, 0);
    scm_foreign_object_set_x(obj, 0, NULL);
    nl_notes_free(ds);
}

static void finalize_loader(SCM obj)
{
    nl_pair_loader *l = scm_foreign_object_ref(obj, 0);
    scm_foreign_object_set_x(obj, 0, NULL);
    nl_pair_loader_free(l);
}

static nl_notes *to_notes(SCM obj, int pos, const char *who)
{
    if (!SCM_IS_A_P(obj, notes_class)) scm_wrong_type_arg_msg(who, pos, obj, "notes");
    return scm_foreign_object_ref(obj, 0);
}

static SCM str(const char *s) { return s ? scm_from_utf8_string(s) : SCM_BOOL_F; }
static SCM sym(const char *s) { return scm_from_utf8_symbol(s); }

#define FUNC_NAME "load-notes"
static SCM load_notes(SCM dir)
{
    scm_dynwind_begin(0);
    nl_notes_report rep;
    nl_notes *ds;
    NL_SCM_CHECK(FUNC_NAME, nl_notes_load(&ds, nl_scm_dynwind_utf8(dir, 1, FUNC_NAME), &rep));
    scm_dynwind_end();
    return scm_make_foreign_object_1(notes_class, ds);
}
#undef FUNC_NAME

#define FUNC_NAME "notes-report"
static SCM notes_report(SCM obj)
{
    nl_notes *ds = to_notes(obj, 1, FUNC_NAME);
    const nl_notes_report *r = nl_notes_get_report(ds);
    char buf[2048];
    nl_notes_report_format(r, buf, sizeof buf);
    SCM examples = SCM_EOL;
    for (size_t i = r->n_examples; i-- > 0;) examples = scm_cons(str(r->examples[i]), examples);
    SCM out = scm_list_n(scm_cons(sym("summary"), str(buf)), scm_cons(sym("notes"), scm_from_size_t(r->notes)),
                         scm_cons(sym("pairs"), scm_from_size_t(r->pairs)),
                         scm_cons(sym("pairs-skipped"), scm_from_size_t(r->pairs_skipped)),
                         scm_cons(sym("images-missing"), scm_from_size_t(r->images_missing)),
                         scm_cons(sym("rows-skipped"), scm_from_size_t(r->rows_skipped)),
                         scm_cons(sym("duplicate-ids"), scm_from_size_t(r->duplicate_ids)),
                         scm_cons(sym("invalid-utf8"), scm_from_size_t(r->invalid_utf8)),
                         scm_cons(sym("examples"), examples), SCM_UNDEFINED);
    scm_remember_upto_here_1(obj);
    return out;
}
#undef FUNC_NAME

#define FUNC_NAME "notes-count"
static SCM notes_count(SCM obj) { return scm_from_size_t(nl_notes_count(to_notes(obj, 1, FUNC_NAME))); }
#undef FUNC_NAME

/* A note by index or id string; #f when absent. */
static const nl_note *find_note(nl_notes *ds, SCM key, int64_t *index, const char *who)
{
    int64_t i;
    if (scm_is_string(key)) {
        scm_dynwind_begin(0);
        i = nl_notes_find(ds, nl_scm_dynwind_utf8(key, 2, who));
        scm_dynwind_end();
    } else {
        i = nl_scm_to_i64(key, 2, who);
    }
    *index = i;
    return i >= 0 ? nl_notes_get(ds, (size_t)i) : NULL;
}

#define FUNC_NAME "note-ref"
static SCM note_ref(SCM obj, SCM key)
{
    nl_notes *ds = to_notes(obj, 1, FUNC_NAME);
    int64_t i;
    const nl_note *n = find_note(ds, key, &i, FUNC_NAME);
    if (!n) return SCM_BOOL_F;
    SCM out = scm_list_n(
        scm_cons(sym("index"), scm_from_int64(i)), scm_cons(sym("id"), str(n->id)),
        scm_cons(sym("split"), sym(n->split == NL_NOTE_TRAIN ? "train" : "test")),
        scm_cons(sym("title"), str(n->title)), scm_cons(sym("content"), str(n->content)),
        scm_cons(sym("image-id"), str(n->image_id)), scm_cons(sym("category"), str(n->category)),
        scm_cons(sym("image-found"), scm_from_bool(n->image_found)),
        scm_cons(sym("p-title"), str(n->p_title)), scm_cons(sym("p-topic"), str(n->p_topic)),
        scm_cons(sym("p-content"), str(n->p_content)), scm_cons(sym("p-category"), str(n->p_category)),
        SCM_UNDEFINED);
    scm_remember_upto_here_1(obj);
    return out;
}
#undef FUNC_NAME

#define FUNC_NAME "note-pairs"
static SCM note_pairs(SCM obj, SCM name)
{
    nl_notes *ds = to_notes(obj, 1, FUNC_NAME);
    if (scm_is_false(name)) {
        SCM out = SCM_EOL;
        for (size_t i = nl_notes_pair_list_count(ds); i-- > 0;) out = scm_cons(str(nl_notes_pair_list_name(ds, i)), out);
        return out;
    }
    scm_dynwind_begin(0);
    size_t n = 0;
    const nl_note_pair *p = nl_notes_pairs(ds, nl_scm_dynwind_utf8(name, 2, FUNC_NAME), &n);
    scm_dynwind_end();
    SCM out = SCM_EOL;
    for (size_t i = n; i-- > 0;) out = scm_cons(scm_cons(scm_from_int64(p[i].a), scm_from_int64(p[i].b)), out);
    scm_remember_upto_here_1(obj);
    return out;
}
#undef FUNC_NAME

static nl_prompt_kind to_kind(SCM s, int pos, const char *who)
{
    for (int k = 0; k < NL_PROMPT_KIND_COUNT; k++)
        if (scm_is_eq(s, sym(nl_prompt_kind_name((nl_prompt_kind)k)))) return (nl_prompt_kind)k;
    scm_wrong_type_arg_msg(who, pos, s, "prompt kind (category, hashtag, infer, gen-category, ...)");
    return NL_PROMPT_CATEGORY;
}

static void prompt_opts(nl_prompt_opts *o, const nl_tokenizer *tok, SCM lang, SCM max_tokens, int pos, const char *who)
{
    nl_prompt_opts_init(o, tok);
    scm_dynwind_begin(0);
    const char *l = nl_scm_dynwind_utf8(lang, pos, who);
    o->tpl = nl_prompt_preset(l);
    if (!o->tpl) nl_scm_raisef(NL_ERR_ARG, who, "no prompt templates for language %s (known: zh, en)", l);
    scm_dynwind_end();
    o->max_note_tokens = (int)nl_scm_to_i64(max_tokens, pos + 1, who);
}

static void free_sample(void *s) { nl_sample_free(s); }

#define FUNC_NAME "build-prompt"
static SCM build_prompt(SCM obj, SCM tok, SCM key, SCM kind, SCM lang, SCM max_tokens, SCM seed)
{
    nl_notes *ds = to_notes(obj, 1, FUNC_NAME);
    nl_prompt_opts o;
    prompt_opts(&o, nl_scm_to_tokenizer(tok, 2, FUNC_NAME), lang, max_tokens, 5, FUNC_NAME);
    int64_t i;
    const nl_note *n = find_note(ds, key, &i, FUNC_NAME);
    if (!n) nl_scm_raisef(NL_ERR_ARG, FUNC_NAME, "no such note");
    nl_rng rng;
    nl_rng_seed(&rng, (uint64_t)nl_scm_to_i64(seed, 7, FUNC_NAME));
    nl_sample s = {0};
    scm_dynwind_begin(0);
    scm_dynwind_unwind_handler(free_sample, &s, SCM_F_WIND_EXPLICITLY);
    NL_SCM_CHECK(FUNC_NAME, nl_prompt_build(&o, to_kind(kind, 4, FUNC_NAME), n, &rng, &s));
    SCM ids = SCM_EOL, labels = SCM_EOL;
    for (size_t k = s.n; k-- > 0;) {
        ids = scm_cons(scm_from_int32(s.ids[k]), ids);
        labels = scm_cons(scm_from_int64(s.labels[k]), labels);
    }
    SCM out = scm_list_n(scm_cons(sym("kind"), kind), scm_cons(sym("text"), scm_from_utf8_stringn(s.text, s.text_len)),
                         scm_cons(sym("ids"), ids), scm_cons(sym("labels"), labels),
                         scm_cons(sym("text-readout"), scm_from_int64(s.text_readout)),
                         scm_cons(sym("visual-readout"), scm_from_int64(s.visual_readout)),
                         scm_cons(sym("image-slot"), scm_from_int64(s.image_slot)),
                         scm_cons(sym("note-tokens"), scm_from_size_t(s.note_tokens)),
                         scm_cons(sym("truncated"), scm_from_bool(s.truncated)),
                         scm_cons(sym("target"), str(s.target)), SCM_UNDEFINED);
    scm_dynwind_end();
    scm_remember_upto_here_2(obj, tok);
    return out;
}
#undef FUNC_NAME

#define FUNC_NAME "make-pair-loader"
static SCM make_pair_loader(SCM obj, SCM tok, SCM args)
{
    /* args: (list-name P seed kind topic-rate lang max-note-tokens) */
    if (scm_ilength(args) != 7) scm_wrong_type_arg_msg(FUNC_NAME, 3, args, "7 loader arguments");
    nl_notes *ds = to_notes(obj, 1, FUNC_NAME);
    nl_tokenizer *t = nl_scm_to_tokenizer(tok, 2, FUNC_NAME);
    nl_pair_loader_opts o;
    nl_pair_loader_opts_init(&o, t);
    scm_dynwind_begin(0);
    o.list = nl_scm_dynwind_utf8(scm_list_ref(args, scm_from_int(0)), 3, FUNC_NAME);
    o.pairs_per_batch = (size_t)nl_scm_to_i64(scm_list_ref(args, scm_from_int(1)), 3, FUNC_NAME);
    o.seed = (uint64_t)nl_scm_to_i64(scm_list_ref(args, scm_from_int(2)), 3, FUNC_NAME);
    o.kind = to_kind(scm_list_ref(args, scm_from_int(3)), 3, FUNC_NAME);
    o.topic_rate = nl_scm_to_real(scm_list_ref(args, scm_from_int(4)), 3, FUNC_NAME);
    prompt_opts(&o.prompt, t, scm_list_ref(args, scm_from_int(5)), scm_list_ref(args, scm_from_int(6)), 3, FUNC_NAME);
    nl_pair_loader *l;
    NL_SCM_CHECK(FUNC_NAME, nl_pair_loader_new(&l, ds, &o));
    scm_dynwind_end();
    return scm_make_foreign_object_1(loader_class, l);
}
#undef FUNC_NAME

static void free_batch(void *b) { nl_pair_batch_free(b); }

static SCM i64_tensor(const int64_t *v, int ndim, const int64_t *shape, const char *who)
{
    nl_tensor *t;
    NL_SCM_CHECK(who, nl_tensor_from_host(&t, NL_I64, ndim, shape, v, NL_I64, NL_CPU_DEVICE));
    return nl_scm_take_tensor(t);
}

#define FUNC_NAME "pair-loader-next!"
static SCM loader_next(SCM obj)
{
    if (!SCM_IS_A_P(obj, loader_class)) scm_wrong_type_arg_msg(FUNC_NAME, 1, obj, "pair-loader");
    nl_pair_loader *l = scm_foreign_object_ref(obj, 0);
    nl_pair_batch b = {0};
    scm_dynwind_begin(0);
    scm_dynwind_unwind_handler(free_batch, &b, SCM_F_WIND_EXPLICITLY);
    NL_SCM_CHECK(FUNC_NAME, nl_pair_loader_next(l, &b));
    int64_t rt[2] = {(int64_t)b.rows, (int64_t)b.T}, r1 = (int64_t)b.rows;
    nl_tensor *ids, *mask;
    NL_SCM_CHECK(FUNC_NAME, nl_tensor_from_host(&ids, NL_I64, 2, rt, b.ids, NL_I32, NL_CPU_DEVICE));
    SCM sids = nl_scm_take_tensor(ids);
    NL_SCM_CHECK(FUNC_NAME, nl_tensor_from_host(&mask, NL_U8, 2, rt, b.attn, NL_U8, NL_CPU_DEVICE));
    SCM out = scm_list_n(scm_cons(sym("ids"), sids), scm_cons(sym("mask"), nl_scm_take_tensor(mask)),
                         scm_cons(sym("labels"), i64_tensor(b.labels, 2, rt, FUNC_NAME)),
                         scm_cons(sym("text-readout"), i64_tensor(b.text_readout, 1, &r1, FUNC_NAME)),
                         scm_cons(sym("visual-readout"), i64_tensor(b.visual_readout, 1, &r1, FUNC_NAME)),
                         scm_cons(sym("image-slot"), i64_tensor(b.image_slot, 1, &r1, FUNC_NAME)),
                         scm_cons(sym("note-index"), i64_tensor(b.note_index, 1, &r1, FUNC_NAME)),
                         scm_cons(sym("epoch"), scm_from_uint64(b.epoch)),
                         scm_cons(sym("batch"), scm_from_uint64(b.batch)), SCM_UNDEFINED);
    scm_dynwind_end();
    scm_remember_upto_here_1(obj);
    return out;
}
#undef FUNC_NAME

#define FUNC_NAME "generate-notes"
static SCM generate_notes(SCM dir, SCM items, SCM seed, SCM lang, SCM image_size, SCM overwrite, SCM distractors)
{
    nl_synth_opts o;
    nl_synth_defaults(&o);
    o.items = nl_scm_to_i64(items, 2, FUNC_NAME);
    o.seed = (uint64_t)nl_scm_to_i64(seed, 3, FUNC_NAME);
    o.image_size = (int)nl_scm_to_i64(image_size, 5, FUNC_NAME);
    o.overwrite = scm_is_true(overwrite);
    o.distractor_items = nl_scm_to_i64(distractors, 7, FUNC_NAME);
    nl_synth_stats st;
    scm_dynwind_begin(0);
    o.lang = nl_scm_dynwind_utf8(lang, 4, FUNC_NAME);
    NL_SCM_CHECK(FUNC_NAME, nl_synth_write(nl_scm_dynwind_utf8(dir, 1, FUNC_NAME), &o, &st));
    scm_dynwind_end();
    return scm_list_n(scm_cons(sym("notes-train"), scm_from_int64(st.notes_train)),
                      scm_cons(sym("notes-test"), scm_from_int64(st.notes_test)),
                      scm_cons(sym("pairs-train"), scm_from_int64(st.pairs_train)),
                      scm_cons(sym("pairs-val"), scm_from_int64(st.pairs_val)),
                      scm_cons(sym("pairs-test"), scm_from_int64(st.pairs_test)),
                      scm_cons(sym("pairs-test-imagelinked"), scm_from_int64(st.pairs_test_imagelinked)),
                      scm_cons(sym("pairs-test-textlinked"), scm_from_int64(st.pairs_test_textlinked)),
                      scm_cons(sym("images"), scm_from_int64(st.images)), SCM_UNDEFINED);
}
#undef FUNC_NAME

void nl_scm_init_data(void)
{
    notes_class = scm_make_foreign_object_type(sym("notes"), scm_list_1(sym("ptr")), finalize_notes);
    loader_class = scm_make_foreign_object_type(sym("pair-loader"), scm_list_1(sym("ptr")), finalize_loader);
    scm_gc_protect_object(notes_class);
    scm_gc_protect_object(loader_class);
    scm_c_define("<notes>", notes_class);
    scm_c_define("<pair-loader>", loader_class);
    scm_c_export("<notes>", "<pair-loader>", NULL);
    static const nl_scm_proc procs[] = {
        {"%nl-load-notes", 1, 0, 0, (scm_t_subr)load_notes, "Load the notes data directory DIR (paper layout)."},
        {"%nl-notes-report", 1, 0, 0, (scm_t_subr)notes_report, "The load report of DS as an alist."},
        {"%nl-notes-count", 1, 0, 0, (scm_t_subr)notes_count, "The number of notes in DS."},
        {"%nl-note-ref", 2, 0, 0, (scm_t_subr)note_ref, "The note KEY (index or id) of DS as an alist, or #f."},
        {"%nl-note-pairs", 2, 0, 0, (scm_t_subr)note_pairs,
         "The pairs (index . index) of list NAME of DS; NAME #f lists the pair list names."},
        {"%nl-build-prompt", 7, 0, 0, (scm_t_subr)build_prompt,
         "Build the prompt KIND for note KEY of DS with TOK, LANG templates, MAX-TOKENS note budget and SEED."},
        {"%nl-make-pair-loader", 3, 0, 0, (scm_t_subr)make_pair_loader,
         "A pair loader over DS with TOK; ARGS = (list P seed kind topic-rate lang max-note-tokens)."},
        {"%nl-pair-loader-next!", 1, 0, 0, (scm_t_subr)loader_next, "The next batch of LOADER as an alist of tensors."},
        {"%nl-generate-notes", 7, 0, 0, (scm_t_subr)generate_notes,
         "Write the synthetic benchmark to DIR: ITEMS, SEED, LANG, IMAGE-SIZE, OVERWRITE, DISTRACTORS; returns counts."},
    };
    NL_SCM_DEFINE_ALL(procs);
}
