/* convert.c — Scheme values <-> runtime values: dtype and device symbols,
 * shapes, integers, reals and tensor lists. Argument type problems raise
 * Guile's wrong-type-arg/out-of-range; unknown dtype/device names raise the
 * notellm key of that domain. No tensor operations here. */
#include <string.h>

#include "glue.h"

/* A symbol or string argument as a C string in `buf`. */
static void name_arg(SCM obj, char *buf, size_t n, int pos, const char *who, const char *what)
{
    SCM str = scm_is_symbol(obj) ? scm_symbol_to_string(obj) : obj;
    if (!scm_is_string(str)) scm_wrong_type_arg_msg(who, pos, obj, what);
    size_t len = scm_to_locale_stringbuf(str, buf, n - 1);
    buf[len < n - 1 ? len : n - 1] = '\0';
}

nl_dtype nl_scm_to_dtype(SCM sym, int pos, const char *who)
{
    char name[32];
    name_arg(sym, name, sizeof name, pos, who, "dtype symbol");
    nl_dtype dt;
    if (nl_dtype_from_name(name, &dt) != 0)
        nl_scm_raisef(NL_ERR_DTYPE, who, "unknown dtype '%s' HINT: use f32, bf16, f16, i32, i64 or u8", name);
    return dt;
}

SCM nl_scm_from_dtype(nl_dtype dt) { return scm_from_utf8_symbol(nl_dtype_name(dt)); }

nl_device nl_scm_to_device(SCM sym, int pos, const char *who)
{
    char name[64];
    name_arg(sym, name, sizeof name, pos, who, "device symbol");
    nl_device d;
    NL_SCM_CHECK(who, nl_device_parse(name, &d));
    return d;
}

SCM nl_scm_from_device(nl_device d)
{
    char buf[32];
    nl_device_name(d, buf, sizeof buf);
    return scm_from_utf8_symbol(buf);
}

int64_t nl_scm_to_i64(SCM obj, int pos, const char *who)
{
    if (!scm_is_exact_integer(obj)) scm_wrong_type_arg_msg(who, pos, obj, "exact integer");
    if (!scm_is_signed_integer(obj, INT64_MIN, INT64_MAX)) scm_out_of_range_pos(who, obj, scm_from_int(pos));
    return scm_to_int64(obj);
}

double nl_scm_to_real(SCM obj, int pos, const char *who)
{
    if (!scm_is_real(obj)) scm_wrong_type_arg_msg(who, pos, obj, "real number");
    return scm_to_double(obj);
}

int nl_scm_to_shape(SCM obj, int64_t *shape, int pos, const char *who)
{
    if (scm_is_exact_integer(obj)) {
        shape[0] = nl_scm_to_i64(obj, pos, who);
        return 1;
    }
    if (scm_is_false(scm_list_p(obj))) scm_wrong_type_arg_msg(who, pos, obj, "shape (a list of sizes)");
    long n = scm_ilength(obj);
    if (n > NL_MAX_DIMS)
        nl_scm_raisef(NL_ERR_SHAPE, who, "a tensor has at most %d dims, the shape has %ld", NL_MAX_DIMS, n);
    for (int i = 0; i < n; i++, obj = scm_cdr(obj)) {
        SCM d = scm_car(obj);
        if (!scm_is_exact_integer(d)) scm_wrong_type_arg_msg(who, pos, d, "exact integer size");
        shape[i] = nl_scm_to_i64(d, pos, who);
    }
    return (int)n;
}

SCM nl_scm_from_shape(int ndim, const int64_t *shape)
{
    SCM l = SCM_EOL;
    for (int i = ndim - 1; i >= 0; i--) l = scm_cons(scm_from_int64(shape[i]), l);
    return l;
}

nl_tensor **nl_scm_to_tensor_array(SCM lst, int *n, int pos, const char *who)
{
    if (scm_is_false(scm_list_p(lst))) scm_wrong_type_arg_msg(who, pos, lst, "list of tensors");
    long len = scm_ilength(lst);
    if (len > 1 << 20) scm_out_of_range_pos(who, lst, scm_from_int(pos));
    nl_tensor **v = scm_gc_malloc_pointerless(sizeof *v * (size_t)(len ? len : 1), "tensor array");
    for (long i = 0; i < len; i++, lst = scm_cdr(lst)) v[i] = nl_scm_to_tensor(scm_car(lst), pos, who);
    *n = (int)len;
    return v;
}
