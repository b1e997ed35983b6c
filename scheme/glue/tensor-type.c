/* tensor-type.c — the <tensor> foreign object: one slot holding an
 * nl_tensor reference. take/from/to/release verbs (guile-cairo style); the
 * finalizer is a backstop that runs on Guile's finalizer thread, which is
 * safe because tensor refcounts are atomic. No tensor operations here. */
#include "glue.h"

SCM nl_scm_tensor_class;

static void finalize_tensor(SCM obj)
{
    nl_tensor *t = scm_foreign_object_ref(obj, 0);
    scm_foreign_object_set_x(obj, 0, NULL);
    nl_tensor_release(t);
}

SCM nl_scm_take_tensor(nl_tensor *t) { return scm_make_foreign_object_1(nl_scm_tensor_class, t); }

SCM nl_scm_from_tensor(nl_tensor *t) { return nl_scm_take_tensor(nl_tensor_retain(t)); }

int nl_scm_is_tensor(SCM obj) { return SCM_IS_A_P(obj, nl_scm_tensor_class); }

nl_tensor *nl_scm_tensor_peek(SCM obj) { return scm_foreign_object_ref(obj, 0); }

nl_tensor *nl_scm_to_tensor(SCM obj, int pos, const char *who)
{
    if (!nl_scm_is_tensor(obj)) scm_wrong_type_arg_msg(who, pos, obj, "tensor");
    nl_tensor *t = nl_scm_tensor_peek(obj);
    if (!t) nl_scm_raisef(NL_ERR_STATE, who, "the tensor was freed HINT: it was released by tensor-free! or with-tensor");
    return t;
}

nl_tensor *nl_scm_to_tensor_or_null(SCM obj, int pos, const char *who)
{
    return scm_is_false(obj) ? NULL : nl_scm_to_tensor(obj, pos, who);
}

void nl_scm_release_tensor(SCM obj)
{
    nl_tensor *t = nl_scm_tensor_peek(obj);
    scm_foreign_object_set_x(obj, 0, NULL);
    nl_tensor_release(t);
}

#define FUNC_NAME "tensor?"
static SCM tensor_p(SCM obj) { return scm_from_bool(nl_scm_is_tensor(obj)); }
#undef FUNC_NAME

#define FUNC_NAME "tensor-free!"
static SCM tensor_free_x(SCM obj)
{
    if (!nl_scm_is_tensor(obj)) scm_wrong_type_arg_msg(FUNC_NAME, 1, obj, "tensor");
    nl_scm_release_tensor(obj);
    return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

#define FUNC_NAME "tensor-freed?"
static SCM tensor_freed_p(SCM obj)
{
    if (!nl_scm_is_tensor(obj)) scm_wrong_type_arg_msg(FUNC_NAME, 1, obj, "tensor");
    return scm_from_bool(nl_scm_tensor_peek(obj) == NULL);
}
#undef FUNC_NAME

void nl_scm_init_tensor_type(void)
{
    nl_scm_tensor_class = scm_make_foreign_object_type(
        scm_from_utf8_symbol("tensor"), scm_list_1(scm_from_utf8_symbol("ptr")), finalize_tensor);
    scm_gc_protect_object(nl_scm_tensor_class);
    scm_c_define("<tensor>", nl_scm_tensor_class);
    scm_c_export("<tensor>", NULL);
    static const nl_scm_proc procs[] = {
        {"%nl-tensor?", 1, 0, 0, (scm_t_subr)tensor_p, "Return #t if OBJ is a tensor (freed or not)."},
        {"%nl-tensor-free!", 1, 0, 0, (scm_t_subr)tensor_free_x,
         "Release the tensor's memory now; later use raises notellm-error."},
        {"%nl-tensor-freed?", 1, 0, 0, (scm_t_subr)tensor_freed_p, "Return #t if the tensor was freed."},
    };
    NL_SCM_DEFINE_ALL(procs);
}
