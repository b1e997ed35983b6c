/* vision.c — %nl- primitives of the vision side: the CLIP encoder's
 * forward (last-layer features before post_layernorm, optional hidden
 * states and attention) and pooled output, the Q-Former's forward over
 * vision features, and loading images as preprocessed tensors. */
#include "glue.h"

#include "image.h"
#include "qformer.h"
#include "vit.h"

#define FUNC_NAME "model-forward"
static SCM vit_forward(SCM model, SCM pixels, SCM want_all, SCM want_probe)
{
    nl_vit *m = nl_scm_to_model(model, NL_SCM_VIT, 1, FUNC_NAME, NULL);
    nl_tensor *x = nl_scm_to_tensor(pixels, 2, FUNC_NAME);
    int L = (int)m->cfg.num_layers;
    nl_scm_fwd f;
    scm_dynwind_begin(0);
    nl_scm_fwd_begin(&f, scm_is_true(want_all), L + 1, scm_is_true(want_probe), L, FUNC_NAME);
    nl_tensor *h;
    NL_SCM_CHECK(FUNC_NAME, nl_vit_forward(&h, m, x, f.hidden, f.want_probe ? &f.probe : NULL));
    SCM out = scm_list_3(nl_scm_take_tensor(h), nl_scm_fwd_hidden(&f), nl_scm_fwd_attention(&f));
    scm_dynwind_end();
    scm_remember_upto_here_2(model, pixels);
    return out;
}
#undef FUNC_NAME

#define FUNC_NAME "vision-pooled"
static SCM vit_pooled(SCM model, SCM hidden)
{
    nl_vit *m = nl_scm_to_model(model, NL_SCM_VIT, 1, FUNC_NAME, NULL);
    nl_tensor *out;
    NL_SCM_CHECK(FUNC_NAME, nl_vit_pooled(&out, m, nl_scm_to_tensor(hidden, 2, FUNC_NAME)));
    scm_remember_upto_here_2(model, hidden);
    return nl_scm_take_tensor(out);
}
#undef FUNC_NAME

#define FUNC_NAME "model-forward"
static SCM qformer_forward(SCM model, SCM vision, SCM want_all, SCM want_probe, SCM dropout)
{
    nl_qformer *m = nl_scm_to_model(model, NL_SCM_QFORMER, 1, FUNC_NAME, NULL);
    nl_tensor *x = nl_scm_to_tensor(vision, 2, FUNC_NAME);
    double p = nl_scm_to_real(dropout, 5, FUNC_NAME);
    int L = (int)m->cfg.num_layers;
    nl_scm_fwd f;
    scm_dynwind_begin(0);
    nl_scm_fwd_begin(&f, scm_is_true(want_all), L + 1, scm_is_true(want_probe), 2 * L, FUNC_NAME);
    nl_tensor *h;
    NL_SCM_CHECK(FUNC_NAME, nl_qformer_forward(&h, m, x, f.hidden, f.want_probe ? &f.probe : NULL, p, NULL));
    SCM out = scm_list_3(nl_scm_take_tensor(h), nl_scm_fwd_hidden(&f), nl_scm_fwd_attention(&f));
    scm_dynwind_end();
    scm_remember_upto_here_2(model, vision);
    return out;
}
#undef FUNC_NAME

#define FUNC_NAME "load-image"
static SCM load_image(SCM file, SCM size, SCM flip, SCM zero_on_error)
{
    SCM_VALIDATE_STRING(1, file);
    nl_image_preproc p = nl_image_preproc_clip((int)nl_scm_to_i64(size, 2, FUNC_NAME));
    p.flip = scm_is_true(flip);
    scm_dynwind_begin(0);
    char *path = nl_scm_dynwind_utf8(file, 1, FUNC_NAME);
    nl_tensor *t;
    bool zeroed = false;
    NL_SCM_CHECK(FUNC_NAME, nl_image_load_tensor(&t, path, &p, scm_is_true(zero_on_error), &zeroed));
    SCM reason = zeroed ? scm_from_utf8_string(nl_last_error()) : SCM_BOOL_F;
    scm_dynwind_end();
    return scm_cons(nl_scm_take_tensor(t), reason);
}
#undef FUNC_NAME

#define FUNC_NAME "image-formats"
static SCM image_formats(void) { return scm_from_utf8_string(nl_image_formats()); }
#undef FUNC_NAME

void nl_scm_init_vision(void)
{
    static const nl_scm_proc procs[] = {
        {"%nl-vit-forward", 4, 0, 0, (scm_t_subr)vit_forward,
         "CLIP features of PIXELS [B 3 S S]: (last-layer [B T C] before post_layernorm, hidden-states or #f, "
         "attention probabilities or #f)."},
        {"%nl-vit-pooled", 2, 0, 0, (scm_t_subr)vit_pooled, "post_layernorm of token 0 of HIDDEN [B T C]: [B C]."},
        {"%nl-qformer-forward", 5, 0, 0, (scm_t_subr)qformer_forward,
         "Q-Former queries attending to VISION [B Tv Cenc]: (output [B NQ C], hidden-states or #f, attention or #f); "
         "DROPOUT > 0 only when training."},
        {"%nl-load-image", 4, 0, 0, (scm_t_subr)load_image,
         "Decode FILE (PNG/JPEG/WebP by magic bytes) and preprocess to a CLIP-normalised [3 SIZE SIZE] tensor, "
         "flipped when FLIP. With ZERO-ON-ERROR an unreadable file gives the zero image: returns (tensor . reason-or-#f)."},
        {"%nl-image-formats", 0, 0, 0, (scm_t_subr)image_formats, "The image formats this build decodes."},
    };
    NL_SCM_DEFINE_ALL(procs);
}
