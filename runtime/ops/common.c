/* common.c — shared argument checks and the contiguous-input kernel runner. */
#include "common.h"

#include <stdlib.h>

nl_status nl_check_f32(const char *who, const char *what, const nl_tensor *t)
{
    if (t->dtype == NL_F32) return NL_OK;
    return nl_error_set(NL_ERR_DTYPE, "%s: %s must be f32, got %s HINT: convert with tensor-to", who, what,
                        nl_dtype_name(t->dtype));
}

nl_status nl_check_index(const char *who, const char *what, const nl_tensor *t)
{
    if (t->dtype == NL_I64 || t->dtype == NL_I32) return NL_OK;
    return nl_error_set(NL_ERR_DTYPE, "%s: %s must be i64 or i32, got %s", who, what, nl_dtype_name(t->dtype));
}

nl_status nl_check_same_device(const char *who, const nl_tensor *a, const nl_tensor *b)
{
    if (nl_device_equal(nl_tensor_device(a), nl_tensor_device(b))) return NL_OK;
    char d0[16], d1[16];
    nl_device_name(nl_tensor_device(a), d0, sizeof d0);
    nl_device_name(nl_tensor_device(b), d1, sizeof d1);
    return nl_error_set(NL_ERR_DEVICE, "%s: tensors on different devices (%s and %s) HINT: move them with tensor-to",
                        who, d0, d1);
}

nl_status nl_check_ndim(const char *who, const char *what, const nl_tensor *t, int ndim)
{
    if (t->ndim == ndim) return NL_OK;
    char s[128];
    return nl_error_set(NL_ERR_SHAPE, "%s: %s must have %d dims, got %s", who, what, ndim, nl_shape_str(t, s, sizeof s));
}

nl_status nl_run_contiguous(nl_op op, int n_in, nl_tensor *const *in, int n_out, nl_tensor **out,
                            const nl_op_params *p)
{
    nl_tensor *small[8] = {0};
    nl_tensor **c = n_in <= 8 ? small : calloc((size_t)n_in, sizeof *c);
    if (!c) return nl_error_set(NL_ERR_OOM, "out of memory");
    bool was = nl_grad_set_enabled(false);
    nl_status st = NL_OK;
    for (int i = 0; i < n_in && st == NL_OK; i++)
        if (in[i]) st = nl_contiguous(&c[i], in[i]);
    nl_grad_set_enabled(was);
    if (st == NL_OK) {
        nl_op_args a = {.op = op, .n_in = n_in, .in = c, .n_out = n_out};
        for (int i = 0; i < n_out; i++) a.out[i] = out[i];
        if (p) a.p = *p;
        st = nl_dispatch(&a);
    }
    for (int i = 0; i < n_in; i++) nl_tensor_release(c[i]);
    if (c != small) free(c);
    return st;
}
