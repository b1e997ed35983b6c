/* optim.c — the <optimizer> foreign object over nl_optim (AdamW, SGD) and
 * %nl- primitives to build, step and inspect it, plus global-norm gradient
 * clipping. The finalizer frees the optimizer (and its references to the
 * parameters) on Guile's finalizer thread; refcounts are atomic. */
#include "glue.h"

static SCM optim_class;

static void finalize_optim(SCM obj)
{
    nl_optim *o = scm_foreign_object_ref(obj, 0);
    scm_foreign_object_set_x(obj, 0, NULL);
    nl_optim_free(o);
}

static nl_optim *to_optim(SCM obj, const char *who)
{
    if (!SCM_IS_A_P(obj, optim_class)) scm_wrong_type_arg_msg(who, 1, obj, "optimizer");
    return scm_foreign_object_ref(obj, 0);
}

#define FUNC_NAME "make-optimizer"
static SCM make_optimizer(SCM kind, SCM params, SCM lr, SCM hyper, SCM wd)
{
    int adamw = scm_is_eq(kind, scm_from_utf8_symbol("adamw"));
    const char *who = adamw ? "make-adamw" : "make-sgd";
    if (!adamw && !scm_is_eq(kind, scm_from_utf8_symbol("sgd"))) scm_wrong_type_arg_msg(FUNC_NAME, 1, kind, "adamw or sgd");
    int n;
    nl_tensor **v = nl_scm_to_tensor_array(params, &n, 1, who);
    nl_optim_config cfg = {.kind = adamw ? NL_OPTIM_ADAMW : NL_OPTIM_SGD,
                           .lr = nl_scm_to_real(lr, 2, who),
                           .weight_decay = nl_scm_to_real(wd, 4, who)};
    if (adamw) {
        if (scm_ilength(hyper) != 3) scm_wrong_type_arg_msg(who, 3, hyper, "list (beta1 beta2 eps)");
        cfg.beta1 = nl_scm_to_real(scm_car(hyper), 3, who);
        cfg.beta2 = nl_scm_to_real(scm_cadr(hyper), 3, who);
        cfg.eps = nl_scm_to_real(scm_caddr(hyper), 3, who);
    } else {
        cfg.momentum = nl_scm_to_real(hyper, 3, who);
    }
    nl_optim *o;
    NL_SCM_CHECK(who, nl_optim_new(&o, &cfg, n, v));
    scm_remember_upto_here_1(params);
    return scm_make_foreign_object_1(optim_class, o);
}
#undef FUNC_NAME

static SCM optimizer_p(SCM obj) { return scm_from_bool(SCM_IS_A_P(obj, optim_class)); }

#define FUNC_NAME "optimizer-step!"
static SCM step_x(SCM obj)
{
    NL_SCM_CHECK(FUNC_NAME, nl_optim_step(to_optim(obj, FUNC_NAME)));
    scm_remember_upto_here_1(obj);
    return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

static SCM zero_grad_x(SCM obj)
{
    nl_optim_zero_grad(to_optim(obj, "optimizer-zero-grad!"));
    scm_remember_upto_here_1(obj);
    return SCM_UNSPECIFIED;
}

#define FUNC_NAME "set-optimizer-lr!"
static SCM set_lr_x(SCM obj, SCM lr)
{
    double v = nl_scm_to_real(lr, 2, FUNC_NAME);
    if (!(v >= 0)) scm_out_of_range_pos(FUNC_NAME, lr, scm_from_int(2));
    nl_optim_set_lr(to_optim(obj, FUNC_NAME), v);
    scm_remember_upto_here_1(obj);
    return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

static SCM lr(SCM obj) { return scm_from_double(nl_optim_get_config(to_optim(obj, "optimizer-lr"))->lr); }

static SCM steps(SCM obj) { return scm_from_int64(nl_optim_steps(to_optim(obj, "optimizer-steps"))); }

static SCM kind(SCM obj)
{
    nl_optim_kind k = nl_optim_get_config(to_optim(obj, "optimizer-kind"))->kind;
    return scm_from_utf8_symbol(k == NL_OPTIM_ADAMW ? "adamw" : "sgd");
}

static SCM parameters(SCM obj)
{
    nl_optim *o = to_optim(obj, "optimizer-parameters");
    SCM l = SCM_EOL;
    for (int i = nl_optim_nparams(o) - 1; i >= 0; i--) l = scm_cons(nl_scm_from_tensor(nl_optim_param(o, i)), l);
    scm_remember_upto_here_1(obj);
    return l;
}

#define FUNC_NAME "clip-grad-norm!"
static SCM clip_grad_norm_x(SCM params, SCM max_norm)
{
    int n;
    nl_tensor **v = nl_scm_to_tensor_array(params, &n, 1, FUNC_NAME);
    double norm;
    NL_SCM_CHECK(FUNC_NAME, nl_clip_grad_norm(n, v, nl_scm_to_real(max_norm, 2, FUNC_NAME), &norm));
    scm_remember_upto_here_1(params);
    return scm_from_double(norm);
}
#undef FUNC_NAME

void nl_scm_init_optim(void)
{
    optim_class = scm_make_foreign_object_type(scm_from_utf8_symbol("optimizer"),
                                               scm_list_1(scm_from_utf8_symbol("ptr")), finalize_optim);
    scm_gc_protect_object(optim_class);
    scm_c_define("<optimizer>", optim_class);
    scm_c_export("<optimizer>", NULL);
    static const nl_scm_proc procs[] = {
        {"%nl-make-optimizer", 5, 0, 0, (scm_t_subr)make_optimizer,
         "Make an optimizer of KIND ('adamw: HYPER = (beta1 beta2 eps); 'sgd: HYPER = momentum) over PARAMS."},
        {"%nl-optimizer?", 1, 0, 0, (scm_t_subr)optimizer_p, "#t if OBJ is an optimizer."},
        {"%nl-optimizer-step!", 1, 0, 0, (scm_t_subr)step_x, "One update from the parameters' gradients."},
        {"%nl-optimizer-zero-grad!", 1, 0, 0, (scm_t_subr)zero_grad_x, "Drop the gradients of the parameters."},
        {"%nl-set-optimizer-lr!", 2, 0, 0, (scm_t_subr)set_lr_x, "Set the learning rate."},
        {"%nl-optimizer-lr", 1, 0, 0, (scm_t_subr)lr, "The learning rate."},
        {"%nl-optimizer-steps", 1, 0, 0, (scm_t_subr)steps, "The number of steps taken."},
        {"%nl-optimizer-kind", 1, 0, 0, (scm_t_subr)kind, "'adamw or 'sgd."},
        {"%nl-optimizer-parameters", 1, 0, 0, (scm_t_subr)parameters, "The parameter tensors."},
        {"%nl-clip-grad-norm!", 2, 0, 0, (scm_t_subr)clip_grad_norm_x,
         "Scale the gradients of PARAMS to global norm at most MAX-NORM; return the norm before."},
    };
    NL_SCM_DEFINE_ALL(procs);
}
