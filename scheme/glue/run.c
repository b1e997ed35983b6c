/* run.c — the <run> foreign object over nl_run (a NoteLLM / NoteLLM-2
 * training run) and the %nl- primitives the Scheme trainer is built from:
 * make from a JSON configuration, resume from a checkpoint, one step, val
 * loss, save, metrics lines, inspection. */
#include "glue.h"

#include <math.h>
#include <stdlib.h>

#include "run.h"

static SCM run_class;

static void finalize_run(SCM obj)
{
    nl_run *r = scm_foreign_object_ref(obj, 0);
    scm_foreign_object_set_x(obj, 0, NULL);
    nl_run_free(r);
}

nl_run *nl_scm_to_run(SCM obj, int pos, const char *who)
{
    if (!SCM_IS_A_P(obj, run_class)) scm_wrong_type_arg_msg(who, pos, obj, "run");
    nl_run *r = scm_foreign_object_ref(obj, 0);
    if (!r) nl_scm_raisef(NL_ERR_STATE, who, "the run was freed");
    return r;
}

static SCM sym(const char *s) { return scm_from_utf8_symbol(s); }

int nl_scm_to_run_variant(SCM v, int pos, const char *who)
{
    if (scm_is_eq(v, sym("full"))) return NL_RUN_FULL;
    if (scm_is_eq(v, sym("text-only"))) return NL_RUN_TEXT_ONLY;
    if (scm_is_eq(v, sym("image-only"))) return NL_RUN_IMAGE_ONLY;
    scm_wrong_type_arg_msg(who, pos, v, "'full, 'text-only or 'image-only");
}

int64_t *nl_scm_to_note_indices(SCM notes, long *n, int pos, const char *who)
{
    *n = scm_ilength(notes);
    if (*n < 0) scm_wrong_type_arg_msg(who, pos, notes, "list of note indices");
    int64_t *idx = scm_gc_malloc_pointerless(sizeof *idx * (size_t)(*n ? *n : 1), "notes");
    SCM l = notes;
    for (long i = 0; i < *n; i++, l = scm_cdr(l)) idx[i] = nl_scm_to_i64(scm_car(l), pos, who);
    return idx;
}

#define FUNC_NAME "make-run"
static SCM make_run(SCM json)
{
    SCM_VALIDATE_STRING(1, json);
    scm_dynwind_begin(0);
    nl_run_config c;
    nl_run_config_defaults(&c);
    NL_SCM_CHECK(FUNC_NAME, nl_run_config_from_json(&c, nl_scm_dynwind_utf8(json, 1, FUNC_NAME), "run configuration"));
    nl_run *r;
    NL_SCM_CHECK(FUNC_NAME, nl_run_create(&r, &c));
    scm_dynwind_end();
    return scm_make_foreign_object_1(run_class, r);
}
#undef FUNC_NAME

#define FUNC_NAME "load-run"
static SCM resume_run(SCM dir)
{
    scm_dynwind_begin(0);
    nl_run *r;
    NL_SCM_CHECK(FUNC_NAME, nl_run_resume(&r, nl_scm_dynwind_utf8(dir, 1, FUNC_NAME)));
    scm_dynwind_end();
    return scm_make_foreign_object_1(run_class, r);
}
#undef FUNC_NAME

static SCM metrics_alist(const nl_run_metrics *m)
{
    SCM v = isnan(m->val_loss) ? SCM_BOOL_F : scm_from_double(m->val_loss);
    return scm_list_n(scm_cons(sym("step"), scm_from_int64(m->step)), scm_cons(sym("epoch"), scm_from_int64(m->epoch)),
                      scm_cons(sym("loss"), scm_from_double(m->loss)), scm_cons(sym("l-cl"), scm_from_double(m->l_cl)),
                      scm_cons(sym("l-v"), scm_from_double(m->l_v)), scm_cons(sym("l-gen"), scm_from_double(m->l_gen)),
                      scm_cons(sym("lr"), scm_from_double(m->lr)), scm_cons(sym("tau"), scm_from_double(m->tau)),
                      scm_cons(sym("grad-norm"), scm_from_double(m->grad_norm)),
                      scm_cons(sym("notes-per-s"), scm_from_double(m->notes_per_s)),
                      scm_cons(sym("seconds"), scm_from_double(m->seconds)),
                      scm_cons(sym("notes"), scm_from_int64(m->notes)),
                      scm_cons(sym("images-zeroed"), scm_from_int64(m->images_zeroed)),
                      scm_cons(sym("val-loss"), v), SCM_UNDEFINED);
}

static double num(SCM alist, const char *key)
{
    SCM v = scm_assq_ref(alist, sym(key));
    return scm_is_real(v) ? scm_to_double(v) : NAN;
}

#define FUNC_NAME "run-step!"
static SCM run_step(SCM run)
{
    nl_run *r = nl_scm_to_run(run, 1, FUNC_NAME);
    nl_run_metrics m;
    scm_dynwind_begin(0);
    nl_scm_dynwind_transient_allocations();
    NL_SCM_CHECK(FUNC_NAME, nl_run_step(r, &m));
    scm_dynwind_end();
    scm_remember_upto_here_1(run);
    return metrics_alist(&m);
}
#undef FUNC_NAME

#define FUNC_NAME "run-log!"
static SCM run_log(SCM run, SCM metrics)
{
    nl_run *r = nl_scm_to_run(run, 1, FUNC_NAME);
    nl_run_metrics m = {.step = (int64_t)num(metrics, "step"), .epoch = (int64_t)num(metrics, "epoch"),
                        .loss = num(metrics, "loss"), .l_cl = num(metrics, "l-cl"), .l_v = num(metrics, "l-v"),
                        .l_gen = num(metrics, "l-gen"), .lr = num(metrics, "lr"), .tau = num(metrics, "tau"),
                        .grad_norm = num(metrics, "grad-norm"), .notes_per_s = num(metrics, "notes-per-s"),
                        .seconds = num(metrics, "seconds"), .notes = (int64_t)num(metrics, "notes"),
                        .images_zeroed = (int64_t)num(metrics, "images-zeroed"), .val_loss = num(metrics, "val-loss")};
    NL_SCM_CHECK(FUNC_NAME, nl_run_append_metrics(r, &m));
    scm_remember_upto_here_1(run);
    return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

#define FUNC_NAME "run-eval"
static SCM run_eval(SCM run)
{
    double v;
    nl_run *r = nl_scm_to_run(run, 1, FUNC_NAME);
    scm_dynwind_begin(0);
    nl_scm_dynwind_transient_allocations();
    NL_SCM_CHECK(FUNC_NAME, nl_run_eval(r, &v));
    scm_dynwind_end();
    scm_remember_upto_here_1(run);
    return isnan(v) ? SCM_BOOL_F : scm_from_double(v);
}
#undef FUNC_NAME

#define FUNC_NAME "save-run"
static SCM run_save(SCM run, SCM dir)
{
    nl_run *r = nl_scm_to_run(run, 1, FUNC_NAME);
    scm_dynwind_begin(0);
    NL_SCM_CHECK(FUNC_NAME, nl_run_save(r, nl_scm_dynwind_utf8(dir, 2, FUNC_NAME)));
    scm_dynwind_end();
    scm_remember_upto_here_1(run);
    return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

#define FUNC_NAME "run-info"
static SCM run_info(SCM run)
{
    nl_run *r = nl_scm_to_run(run, 1, FUNC_NAME);
    const nl_run_config *c = nl_run_get_config(r);
    char *json = NULL;
    NL_SCM_CHECK(FUNC_NAME, nl_run_config_to_json(c, &json));
    SCM cfg = scm_from_utf8_string(json);
    free(json);
    SCM out = scm_list_n(scm_cons(sym("steps-done"), scm_from_int64(nl_run_steps_done(r))),
                         scm_cons(sym("total-steps"), scm_from_int64(nl_run_total_steps(r))),
                         scm_cons(sym("done"), scm_from_bool(nl_run_done(r))),
                         scm_cons(sym("method"), scm_from_utf8_string(c->method)),
                         scm_cons(sym("visual-tokens"), scm_from_bool(nl_run_model(r)->cfg.visual_tokens)),
                         scm_cons(sym("out-dir"), scm_from_utf8_string(c->out_dir)),
                         scm_cons(sym("data-dir"), scm_from_utf8_string(c->data_dir)),
                         scm_cons(sym("eval-every"), scm_from_int64(c->eval_every)),
                         scm_cons(sym("save-every"), scm_from_int64(c->save_every)),
                         scm_cons(sym("log-every"), scm_from_int64(c->log_every)),
                         scm_cons(sym("config-json"), cfg), SCM_UNDEFINED);
    scm_remember_upto_here_1(run);
    return out;
}
#undef FUNC_NAME

#define FUNC_NAME "run-parameters"
static SCM run_parameters(SCM run)
{
    nl_run *r = nl_scm_to_run(run, 1, FUNC_NAME);
    const nl_params *p = nl_run_params(r);
    SCM out = SCM_EOL;
    for (int i = p->n - 1; i >= 0; i--)
        out = scm_acons(scm_from_utf8_string(p->v[i].name), nl_scm_from_tensor(p->v[i].t), out);
    scm_remember_upto_here_1(run);
    return out;
}
#undef FUNC_NAME

void nl_scm_init_run(void)
{
    run_class = scm_make_foreign_object_type(sym("run"), scm_list_1(sym("ptr")), finalize_run);
    scm_gc_protect_object(run_class);
    scm_c_define("<run>", run_class);
    scm_c_export("<run>", NULL);
    static const nl_scm_proc procs[] = {
        {"%nl-make-run", 1, 0, 0, (scm_t_subr)make_run, "A training run from the JSON configuration text JSON."},
        {"%nl-load-run", 1, 0, 0, (scm_t_subr)resume_run, "The run saved in the checkpoint directory DIR."},
        {"%nl-run-step!", 1, 0, 0, (scm_t_subr)run_step, "One optimizer step of RUN; returns its metrics alist."},
        {"%nl-run-log!", 2, 0, 0, (scm_t_subr)run_log, "Append METRICS as one JSON line to RUN's metrics.jsonl."},
        {"%nl-run-eval", 1, 0, 0, (scm_t_subr)run_eval, "The validation loss of RUN, or #f without val pairs."},
        {"%nl-save-run", 2, 0, 0, (scm_t_subr)run_save, "Write RUN's checkpoint directory DIR atomically."},
        {"%nl-run-info", 1, 0, 0, (scm_t_subr)run_info, "Progress and configuration of RUN as an alist."},
        {"%nl-run-parameters", 1, 0, 0, (scm_t_subr)run_parameters, "RUN's parameters as an alist (name . tensor)."},
    };
    NL_SCM_DEFINE_ALL(procs);
}
