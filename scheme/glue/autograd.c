/* autograd.c — %nl- primitives for the tape: requires-grad, .grad,
 * backward, zero-grad, retain-grad and the per-thread grad mode that
 * with-no-grad (in (notellm tensor)) toggles around a thunk. */
#include "glue.h"

#define FUNC_NAME "tensor-requires-grad?"
static SCM requires_grad_p(SCM obj)
{
    return scm_from_bool(nl_scm_to_tensor(obj, 1, FUNC_NAME)->requires_grad);
}
#undef FUNC_NAME

#define FUNC_NAME "set-tensor-requires-grad!"
static SCM set_requires_grad_x(SCM obj, SCM flag)
{
    nl_tensor *t = nl_scm_to_tensor(obj, 1, FUNC_NAME);
    if (!nl_dtype_is_float(t->dtype))
        nl_scm_raisef(NL_ERR_DTYPE, FUNC_NAME, "only float tensors can require grad, this one is %s",
                      nl_dtype_name(t->dtype));
    if (t->node)
        nl_scm_raisef(NL_ERR_STATE, FUNC_NAME, "the tensor is the result of an op, not a leaf"
                                               " HINT: use tensor-detach to get a leaf");
    t->requires_grad = scm_is_true(flag);
    scm_remember_upto_here_1(obj);
    return obj;
}
#undef FUNC_NAME

#define FUNC_NAME "tensor-grad"
static SCM grad(SCM obj)
{
    nl_tensor *t = nl_scm_to_tensor(obj, 1, FUNC_NAME);
    SCM g = t->grad ? nl_scm_from_tensor(t->grad) : SCM_BOOL_F;
    scm_remember_upto_here_1(obj);
    return g;
}
#undef FUNC_NAME

#define FUNC_NAME "tensor-backward!"
static SCM backward_x(SCM obj, SCM gradient, SCM retain_graph)
{
    nl_tensor *t = nl_scm_to_tensor(obj, 1, FUNC_NAME);
    nl_tensor *g = nl_scm_to_tensor_or_null(gradient, 2, FUNC_NAME);
    NL_SCM_CHECK(FUNC_NAME, nl_backward(t, g, scm_is_true(retain_graph)));
    scm_remember_upto_here_2(obj, gradient);
    return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

#define FUNC_NAME "tensor-zero-grad!"
static SCM zero_grad_x(SCM obj)
{
    nl_zero_grad(nl_scm_to_tensor(obj, 1, FUNC_NAME));
    scm_remember_upto_here_1(obj);
    return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

#define FUNC_NAME "tensor-retain-grad!"
static SCM retain_grad_x(SCM obj)
{
    nl_tensor *t = nl_scm_to_tensor(obj, 1, FUNC_NAME);
    if (!t->requires_grad)
        nl_scm_raisef(NL_ERR_STATE, FUNC_NAME, "the tensor does not require grad");
    t->retain_grad = true;
    scm_remember_upto_here_1(obj);
    return obj;
}
#undef FUNC_NAME

static SCM set_grad_enabled_x(SCM on) { return scm_from_bool(nl_grad_set_enabled(scm_is_true(on))); }

static SCM grad_enabled_p(void) { return scm_from_bool(nl_grad_enabled()); }

void nl_scm_init_autograd(void)
{
    static const nl_scm_proc procs[] = {
        {"%nl-tensor-requires-grad?", 1, 0, 0, (scm_t_subr)requires_grad_p, "#t if autograd tracks the tensor."},
        {"%nl-set-tensor-requires-grad!", 2, 0, 0, (scm_t_subr)set_requires_grad_x,
         "Make a float leaf tensor track (or stop tracking) gradients."},
        {"%nl-tensor-grad", 1, 0, 0, (scm_t_subr)grad, "The accumulated gradient, or #f."},
        {"%nl-tensor-backward!", 3, 0, 0, (scm_t_subr)backward_x,
         "Backpropagate from the tensor with seed GRADIENT (#f: 1), keeping the graph if RETAIN-GRAPH."},
        {"%nl-tensor-zero-grad!", 1, 0, 0, (scm_t_subr)zero_grad_x, "Drop the tensor's gradient."},
        {"%nl-tensor-retain-grad!", 1, 0, 0, (scm_t_subr)retain_grad_x, "Keep the gradient of a non-leaf after backward."},
        {"%nl-set-grad-enabled!", 1, 0, 0, (scm_t_subr)set_grad_enabled_x,
         "Turn grad mode on or off for this thread; returns the previous mode."},
        {"%nl-grad-enabled?", 0, 0, 0, (scm_t_subr)grad_enabled_p, "#t when ops record autograd history."},
    };
    NL_SCM_DEFINE_ALL(procs);
}
