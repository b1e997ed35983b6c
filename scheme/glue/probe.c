/* probe.c — the visual-attention probe primitives (method §5) on a run:
 * attention shares from the read-outs, saliency over batches of pairs,
 * embeddings under the ablation variants, per-row cosines, the per-token
 * attention bar chart and the patch view. Scheme side: (notellm probe). */
#include "glue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "patches.h"
#include "plot_tokens.h"
#include "probe.h"
#include "run.h"
#include "tokenizer.h"

static SCM sym(const char *s) { return scm_from_utf8_symbol(s); }

static SCM doubles(const double *v, size_t n, size_t stride)
{
    SCM l = SCM_EOL;
    for (size_t i = n; i-- > 0;) l = scm_cons(scm_from_double(v[i * stride]), l);
    return l;
}

static void free_batch(void *p) { nl_run_batch_free(p); }
static void free_attn(void *p) { nl_probe_attn_free(p); }
static void free_sal(void *p) { nl_probe_sal_free(p); }
static void free_acc(void *p) { nl_probe_sal_acc_free(p); }

/* Per layer head means, and the [L][NH] lists, of one mass array. */
static SCM mass_entries(SCM acc, const char *prefix, const char *name, const double *a, int L, int NH)
{
    char key[64];
    double *m = scm_gc_malloc_pointerless(sizeof *m * (size_t)L, "means");
    for (int l = 0; l < L; l++) m[l] = nl_probe_head_mean(a, NH, l);
    snprintf(key, sizeof key, "%s%s", prefix, name);
    acc = scm_acons(sym(key), doubles(m, (size_t)L, 1), acc);
    if (strstr(name, "-tok")) return acc;
    SCM heads = SCM_EOL;
    for (int l = L; l-- > 0;) heads = scm_cons(doubles(a + (size_t)l * NH, (size_t)NH, 1), heads);
    snprintf(key, sizeof key, "%s%s-heads", prefix, name);
    return scm_acons(sym(key), heads, acc);
}

static SCM masses(SCM acc, const char *prefix, const nl_probe_mass *ms, int L, int NH)
{
    acc = mass_entries(acc, prefix, "image", ms->image, L, NH);
    acc = mass_entries(acc, prefix, "text", ms->text, L, NH);
    acc = mass_entries(acc, prefix, "sink", ms->sink, L, NH);
    acc = mass_entries(acc, prefix, "pad", ms->pad, L, NH);
    acc = mass_entries(acc, prefix, "image-tok", ms->image_tok, L, NH);
    return mass_entries(acc, prefix, "text-tok", ms->text_tok, L, NH);
}

/* The token strings of row 0 of the spliced sequence: prompt tokens decoded
 * one by one (bytes of a split character become U+FFFD), visual tokens <vK>. */
static SCM spliced_tokens(const nl_run *r, const nl_run_batch *rb, const nl_probe_attn_result *res, const char *who)
{
    int64_t T2 = res->seq, NQ = res->n_image, s = NQ > 0 ? res->img_start[0] : T2;
    SCM l = SCM_EOL;
    for (int64_t j = T2; j-- > 0;) {
        char buf[32], *txt = NULL;
        if (j >= s && j < s + NQ) {
            snprintf(buf, sizeof buf, "<v%lld>", (long long)(j - s));
            l = scm_cons(scm_from_utf8_string(buf), l);
            continue;
        }
        int64_t p = j >= s + NQ && NQ > 0 ? j - NQ + 1 : j;
        if (p >= rb->n_tokens[0]) {
            l = scm_cons(scm_from_utf8_string(""), l);
            continue;
        }
        NL_SCM_CHECK(who, nl_tok_decode(nl_run_tokenizer(r), &rb->ids[p], 1, false, &txt));
        SCM str = scm_from_stringn(txt, strlen(txt), "UTF-8", SCM_FAILED_CONVERSION_QUESTION_MARK);
        free(txt);
        l = scm_cons(str, l);
    }
    return l;
}

static SCM kinds(const nl_probe_attn_result *res)
{
    static const char *names[] = {"pad", "sink", "text", "image"};
    SCM l = SCM_EOL;
    for (int64_t j = res->seq; j-- > 0;) l = scm_cons(sym(names[res->kind[j] & 3]), l);
    return l;
}

static SCM floats_row(const float *v, int64_t n)
{
    SCM l = SCM_EOL;
    for (int64_t j = n; j-- > 0;) l = scm_cons(scm_from_double(v[j]), l);
    return l;
}

#define FUNC_NAME "probe-attention"
static SCM probe_attention(SCM run, SCM notes, SCM variant, SCM layer)
{
    nl_run *r = nl_scm_to_run(run, 1, FUNC_NAME);
    long n;
    int64_t *idx = nl_scm_to_note_indices(notes, &n, 2, FUNC_NAME);
    nl_run_variant v = nl_scm_to_run_variant(variant, 3, FUNC_NAME);
    int64_t lay = nl_scm_to_i64(layer, 4, FUNC_NAME);
    scm_dynwind_begin(0);
    nl_scm_dynwind_transient_allocations();
    nl_run_batch *rb = scm_gc_malloc_pointerless(sizeof *rb, "batch");
    nl_probe_attn_result *res = scm_gc_malloc_pointerless(sizeof *res, "probe");
    memset(res, 0, sizeof *res);
    NL_SCM_CHECK(FUNC_NAME, nl_run_batch_notes(r, idx, n, v, rb));
    scm_dynwind_unwind_handler(free_batch, rb, SCM_F_WIND_EXPLICITLY);
    scm_dynwind_unwind_handler(free_attn, res, SCM_F_WIND_EXPLICITLY);
    NL_SCM_CHECK(FUNC_NAME, nl_probe_attention(res, nl_run_model(r), &rb->b));
    int L = res->n_layers, NH = res->n_heads;
    if (lay < 0) lay = L - 1;
    if (lay >= L)
        nl_scm_raisef(NL_ERR_ARG, FUNC_NAME, "layer %lld out of range: the model has %d layers (0..%d)",
                      (long long)lay, L, L - 1);
    SCM acc = SCM_EOL;
    acc = scm_acons(sym("embedding"), nl_scm_from_tensor(res->e), acc);
    acc = scm_acons(sym("row"), floats_row(res->row + (size_t)lay * (size_t)res->seq, res->seq), acc);
    if (res->has_visual)
        acc = scm_acons(sym("visual-row"), floats_row(res->vrow + (size_t)lay * (size_t)res->seq, res->seq), acc);
    acc = scm_acons(sym("kinds"), kinds(res), acc);
    acc = scm_acons(sym("tokens"), spliced_tokens(r, rb, res, FUNC_NAME), acc);
    acc = scm_acons(sym("layer"), scm_from_int64(lay), acc);
    acc = masses(acc, "", &res->text, L, NH);
    if (res->has_visual) acc = masses(acc, "visual-", &res->visual, L, NH);
    acc = scm_acons(sym("n-tokens"), scm_from_int64(rb->n_tokens[0]), acc);
    acc = scm_acons(sym("n-image"), scm_from_int64(res->n_image), acc);
    acc = scm_acons(sym("batch"), scm_from_int64(res->batch), acc);
    acc = scm_acons(sym("heads"), scm_from_int(NH), acc);
    acc = scm_acons(sym("layers"), scm_from_int(L), acc);
    scm_dynwind_end();
    scm_remember_upto_here_1(run);
    return acc;
}
#undef FUNC_NAME

/* L rows of 3 -> list of (S_v S_t S_o). */
static SCM triples(const double *v, int L)
{
    SCM l = SCM_EOL;
    for (int i = L; i-- > 0;) l = scm_cons(doubles(v + 3 * (size_t)i, 3, 1), l);
    return l;
}

#define FUNC_NAME "probe-saliency"
static SCM probe_saliency(SCM run, SCM batches, SCM pre, SCM neg_cos)
{
    nl_probe_sal_opts opts = {.at = scm_is_true(pre) ? NL_PROBE_PRE_SOFTMAX : NL_PROBE_POST_SOFTMAX,
                              .loss = scm_is_true(neg_cos) ? NL_PROBE_LOSS_NEG_COS : NL_PROBE_LOSS_GCL};
    nl_run *r = nl_scm_to_run(run, 1, FUNC_NAME);
    long nb = scm_ilength(batches);
    if (nb < 1) scm_wrong_type_arg_msg(FUNC_NAME, 2, batches, "non-empty list of lists of (note . note) pairs");
    scm_dynwind_begin(0);
    nl_scm_dynwind_transient_allocations();
    nl_probe_sal_acc *acc = scm_gc_malloc_pointerless(sizeof *acc, "saliency");
    memset(acc, 0, sizeof *acc);
    scm_dynwind_unwind_handler(free_acc, acc, SCM_F_WIND_EXPLICITLY);
    double loss = 0;
    for (SCM b = batches; scm_is_pair(b); b = scm_cdr(b)) {
        SCM ps = scm_car(b);
        long P = scm_ilength(ps);
        if (P < 1) scm_wrong_type_arg_msg(FUNC_NAME, 2, ps, "non-empty list of (note . note) pairs");
        int64_t *idx = scm_gc_malloc_pointerless(sizeof *idx * 2 * (size_t)P, "notes");
        SCM l = ps;
        for (long i = 0; i < P; i++, l = scm_cdr(l)) {
            if (!scm_is_pair(scm_car(l))) scm_wrong_type_arg_msg(FUNC_NAME, 2, scm_car(l), "(note . note) pair");
            idx[i] = nl_scm_to_i64(scm_caar(l), 2, FUNC_NAME);
            idx[P + i] = nl_scm_to_i64(scm_cdar(l), 2, FUNC_NAME);
        }
        NL_SCM_CHECK(FUNC_NAME, nl_interrupt_poll());
        scm_dynwind_begin(0);
        nl_run_batch *rb = scm_gc_malloc_pointerless(sizeof *rb, "batch");
        nl_probe_sal_result *res = scm_gc_malloc_pointerless(sizeof *res, "saliency");
        memset(res, 0, sizeof *res);
        NL_SCM_CHECK(FUNC_NAME, nl_run_batch_notes(r, idx, 2 * P, NL_RUN_FULL, rb));
        scm_dynwind_unwind_handler(free_batch, rb, SCM_F_WIND_EXPLICITLY);
        scm_dynwind_unwind_handler(free_sal, res, SCM_F_WIND_EXPLICITLY);
        NL_SCM_CHECK(FUNC_NAME, nl_probe_saliency_ex(res, nl_run_model(r), &rb->b, &opts));
        NL_SCM_CHECK(FUNC_NAME, nl_probe_sal_accumulate(acc, res));
        loss += res->loss;
        scm_dynwind_end();
    }
    int L = acc->n_layers;
    double *mean = scm_gc_malloc_pointerless(sizeof *mean * 3 * (size_t)L, "mean");
    double *norm = scm_gc_malloc_pointerless(sizeof *norm * 3 * (size_t)L, "norm");
    NL_SCM_CHECK(FUNC_NAME, nl_probe_sal_summary(acc, mean, norm));
    SCM out = scm_list_5(scm_cons(sym("layers"), scm_from_int(L)), scm_cons(sym("samples"), scm_from_int64(acc->n_samples)),
                         scm_cons(sym("mean"), triples(mean, L)), scm_cons(sym("norm"), triples(norm, L)),
                         scm_cons(sym("loss"), scm_from_double(loss / (double)nb)));
    scm_dynwind_end();
    scm_remember_upto_here_1(run);
    return out;
}
#undef FUNC_NAME

#define FUNC_NAME "modality-ablation"
static SCM cosine_rows(SCM a, SCM b)
{
    nl_tensor *x = nl_scm_to_tensor(a, 1, FUNC_NAME), *y = nl_scm_to_tensor(b, 2, FUNC_NAME);
    if (x->ndim != 2) nl_scm_raisef(NL_ERR_SHAPE, FUNC_NAME, "cosine rows: expected [n d] tensors, got %d dims", x->ndim);
    double *c = scm_gc_malloc_pointerless(sizeof *c * (size_t)(x->shape[0] ? x->shape[0] : 1), "cosines");
    NL_SCM_CHECK(FUNC_NAME, nl_probe_cosine_rows(c, x, y));
    scm_remember_upto_here_2(a, b);
    return doubles(c, (size_t)x->shape[0], 1);
}
#undef FUNC_NAME

#define FUNC_NAME "plot-attention-tokens"
static SCM plot_tokens(SCM file, SCM title, SCM tokens, SCM kinds_l, SCM row, SCM size)
{
    long n = scm_ilength(tokens);
    if (n < 1) scm_wrong_type_arg_msg(FUNC_NAME, 3, tokens, "non-empty list of strings");
    if (scm_ilength(kinds_l) != n) scm_wrong_type_arg_msg(FUNC_NAME, 4, kinds_l, "one kind per token");
    if (scm_ilength(row) != n) scm_wrong_type_arg_msg(FUNC_NAME, 5, row, "one number per token");
    if (scm_ilength(size) != 2) scm_wrong_type_arg_msg(FUNC_NAME, 6, size, "(width height)");
    scm_dynwind_begin(0);
    const char **labels = scm_gc_malloc(sizeof *labels * (size_t)n, "labels");
    uint8_t *cls = scm_gc_malloc_pointerless((size_t)n, "kinds");
    double *v = scm_gc_malloc_pointerless(sizeof *v * (size_t)n, "row");
    for (long i = 0; i < n; i++) {
        labels[i] = nl_scm_dynwind_utf8(scm_car(tokens), 3, FUNC_NAME);
        SCM k = scm_car(kinds_l);
        cls[i] = scm_is_eq(k, sym("image")) ? NL_PLOT_TOK_IMAGE : scm_is_eq(k, sym("sink")) ? NL_PLOT_TOK_SINK
                 : scm_is_eq(k, sym("pad")) ? NL_PLOT_TOK_PAD : NL_PLOT_TOK_TEXT;
        v[i] = nl_scm_to_real(scm_car(row), 5, FUNC_NAME);
        tokens = scm_cdr(tokens), kinds_l = scm_cdr(kinds_l), row = scm_cdr(row);
    }
    NL_SCM_CHECK(FUNC_NAME, nl_plot_tokens(nl_scm_dynwind_utf8(file, 1, FUNC_NAME), nl_scm_dynwind_utf8(title, 2, FUNC_NAME),
                                           labels, cls, v, (int)n, (int)nl_scm_to_i64(scm_car(size), 6, FUNC_NAME),
                                           (int)nl_scm_to_i64(scm_cadr(size), 6, FUNC_NAME)));
    scm_dynwind_end();
    return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

#define FUNC_NAME "overlay-patches"
static SCM overlay_patches(SCM run, SCM note, SCM layer, SCM file, SCM size)
{
    nl_run *r = nl_scm_to_run(run, 1, FUNC_NAME);
    int64_t idx = nl_scm_to_i64(note, 2, FUNC_NAME), lay = nl_scm_to_i64(layer, 3, FUNC_NAME);
    int px = (int)nl_scm_to_i64(size, 5, FUNC_NAME);
    scm_dynwind_begin(0);
    nl_scm_dynwind_transient_allocations();
    const char *path = nl_scm_dynwind_utf8(file, 4, FUNC_NAME);
    nl_run_batch *rb = scm_gc_malloc_pointerless(sizeof *rb, "batch");
    nl_probe_attn_result *res = scm_gc_malloc_pointerless(sizeof *res, "probe");
    memset(res, 0, sizeof *res);
    NL_SCM_CHECK(FUNC_NAME, nl_run_batch_notes(r, &idx, 1, NL_RUN_FULL, rb));
    scm_dynwind_unwind_handler(free_batch, rb, SCM_F_WIND_EXPLICITLY);
    scm_dynwind_unwind_handler(free_attn, res, SCM_F_WIND_EXPLICITLY);
    nl_notellm *m = nl_run_model(r);
    NL_SCM_CHECK(FUNC_NAME, nl_probe_attention(res, m, &rb->b));
    if (lay < 0) lay = res->n_layers - 1;
    if (lay >= res->n_layers)
        nl_scm_raisef(NL_ERR_ARG, FUNC_NAME, "layer %lld out of range: the model has %d layers (0..%d)",
                      (long long)lay, res->n_layers, res->n_layers - 1);
    int64_t g = 0;
    NL_SCM_CHECK(FUNC_NAME, nl_probe_patches(NULL, &g, m, &rb->b, res, 0, (int)lay));
    float *w = scm_gc_malloc_pointerless(sizeof *w * (size_t)(g * g), "patches");
    NL_SCM_CHECK(FUNC_NAME, nl_probe_patches(w, &g, m, &rb->b, res, 0, (int)lay));
    int S = (int)rb->pixels->shape[3];
    float *rgb = scm_gc_malloc_pointerless(sizeof *rgb * 3 * (size_t)S * (size_t)S, "pixels");
    NL_SCM_CHECK(FUNC_NAME, nl_tensor_to_host(rb->pixels, rgb, NL_F32));
    nl_image_preproc pre = nl_image_preproc_clip(S); /* undo the CLIP normalisation the run applied */
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < (size_t)S * (size_t)S; i++) {
            float *v = &rgb[(size_t)c * S * S + i];
            *v = *v * pre.std[c] + pre.mean[c];
        }
    NL_SCM_CHECK(FUNC_NAME, nl_plot_patch_overlay(path, rgb, S, w, (int)g, px));
    SCM rows = SCM_EOL;
    for (int64_t y = g; y-- > 0;) rows = scm_cons(floats_row(w + y * g, g), rows);
    scm_dynwind_end();
    scm_remember_upto_here_1(run);
    return rows;
}
#undef FUNC_NAME

void nl_scm_init_probe(void)
{
    static const nl_scm_proc procs[] = {
        {"%nl-probe-attention", 4, 0, 0, (scm_t_subr)probe_attention,
         "Attention probe of RUN's model on the dataset notes NOTES (one forward) under VARIANT ('full 'text-only "
         "'image-only): shares per layer and head, and the first note's tokens and attention row at LAYER (-1: last)."},
        {"%nl-probe-saliency", 4, 0, 0, (scm_t_subr)probe_saliency,
         "Saliency S_v/S_t/S_o per layer of RUN's model, accumulated over BATCHES (lists of (note . note) pairs, "
         "each laid out [firsts; seconds]), from the pre-softmax scores when PRE, with the loss -cos(first, "
         "second) when NEG-COS (else L_cl): 'layers 'samples 'mean 'norm 'loss."},
        {"%nl-probe-cosine-rows", 2, 0, 0, (scm_t_subr)cosine_rows,
         "The list of cosines between the rows of the [n d] tensors A and B."},
        {"%nl-plot-attention-tokens", 6, 0, 0, (scm_t_subr)plot_tokens,
         "Write a per-token bar chart PNG to FILE with TITLE: TOKENS (strings), KINDS (symbols 'text 'image 'sink "
         "'pad: bar colours), ROW (numbers), SIZE = (width height)."},
        {"%nl-overlay-patches", 5, 0, 0, (scm_t_subr)overlay_patches,
         "Patch view of dataset note NOTE through RUN's model at LLM LAYER (-1: last): writes the image with the "
         "patch weights overlaid to FILE (SIZE px image) and returns the weights as rows of the patch grid."},
    };
    NL_SCM_DEFINE_ALL(procs);
}
