/* tensor.c — %nl- primitives that make tensors (from nested lists,
 * bytevectors, fills, the seeded RNG, ranges), read them back (lists,
 * bytevectors, f32vectors, elements) and report their properties. Views and
 * copies are in view.c. Temporary host buffers are GC memory, so an error
 * that unwinds through a primitive leaks nothing. */
#include <math.h>
#include <string.h>

#include "glue.h"

/* ---- nested lists -> tensor ------------------------------------------------ */

/* Shape of a nested list from its first elements. */
static int list_shape(SCM data, int64_t *shape, const char *who)
{
    int ndim = 0;
    while (scm_is_pair(data) || scm_is_null(data)) {
        if (ndim == NL_MAX_DIMS)
            nl_scm_raisef(NL_ERR_SHAPE, who, "nested list is deeper than %d levels", NL_MAX_DIMS);
        if (scm_is_false(scm_list_p(data))) scm_wrong_type_arg_msg(who, 1, data, "proper list");
        shape[ndim++] = scm_ilength(data);
        if (scm_is_null(data)) break;
        data = scm_car(data);
    }
    return ndim;
}

typedef struct {
    int ndim;
    const int64_t *shape;
    int integer;   /* fill `ival` (i64) rather than `fval` (f32) */
    int64_t *ival;
    float *fval;
    size_t k;      /* next element */
    const char *who;
} list_fill;

static void fill_leaf(list_fill *f, SCM x)
{
    double v;
    if (scm_is_bool(x)) v = scm_is_true(x);
    else if (scm_is_real(x)) v = scm_to_double(x);
    else scm_wrong_type_arg_msg(f->who, 1, x, "real number or boolean");
    if (!f->integer) f->fval[f->k++] = (float)v;
    else if (scm_is_exact_integer(x)) f->ival[f->k++] = scm_to_int64(x);
    else if (v > -9.2e18 && v < 9.2e18) f->ival[f->k++] = (int64_t)v; /* truncates, like C casts */
    else scm_out_of_range(f->who, x);
}

static void fill_from_list(list_fill *f, SCM data, int depth)
{
    if (depth == f->ndim) { fill_leaf(f, data); return; }
    if (scm_is_false(scm_list_p(data)) || scm_ilength(data) != f->shape[depth]) {
        char dims[96];
        nl_scm_raisef(NL_ERR_SHAPE, f->who, "ragged nested list: expected %lld elements at depth %d of shape %s",
                      (long long)f->shape[depth], depth, nl_dims_str(f->ndim, f->shape, dims, sizeof dims));
    }
    for (; !scm_is_null(data); data = scm_cdr(data)) fill_from_list(f, scm_car(data), depth + 1);
}

#define FUNC_NAME "tensor"
static SCM tensor_from_list(SCM data, SCM dtype, SCM device)
{
    nl_dtype dt = nl_scm_to_dtype(dtype, 2, FUNC_NAME);
    nl_device dev = nl_scm_to_device(device, 3, FUNC_NAME);
    int64_t shape[NL_MAX_DIMS], numel;
    int ndim = list_shape(data, shape, FUNC_NAME);
    NL_SCM_CHECK(FUNC_NAME, nl_shape_numel(ndim, shape, &numel));
    list_fill f = {ndim, shape, !nl_dtype_is_float(dt), NULL, NULL, 0, FUNC_NAME};
    void *buf = scm_gc_malloc_pointerless((size_t)(numel ? numel : 1) * 8, "tensor data");
    if (f.integer) f.ival = buf; else f.fval = buf;
    fill_from_list(&f, data, 0);
    nl_tensor *t;
    NL_SCM_CHECK(FUNC_NAME, nl_tensor_from_host(&t, dt, ndim, shape, buf, f.integer ? NL_I64 : NL_F32, dev));
    return nl_scm_take_tensor(t);
}
#undef FUNC_NAME

/* ---- fills, random, ranges ------------------------------------------------ */

/* WHO (optional) names the public procedure in errors: zeros, ones, full. */
static SCM tensor_full(SCM shape_s, SCM value, SCM dtype, SCM device, SCM who_s)
{
    char who[32] = "full";
    if (scm_is_string(who_s)) {
        size_t n = scm_to_locale_stringbuf(who_s, who, sizeof who - 1);
        who[n < sizeof who - 1 ? n : sizeof who - 1] = '\0';
    }
    int64_t shape[NL_MAX_DIMS];
    int ndim = nl_scm_to_shape(shape_s, shape, 1, who);
    double v = nl_scm_to_real(value, 2, who);
    nl_tensor *t;
    NL_SCM_CHECK(who, nl_tensor_full(&t, nl_scm_to_dtype(dtype, 3, who), ndim, shape, v, nl_scm_to_device(device, 4, who)));
    return nl_scm_take_tensor(t);
}

/* Random f32 values converted to dtype; kind is 'uniform (a, b = low, high)
 * or 'normal (a, b = mean, std). */
static SCM tensor_random(SCM kind, SCM shape_s, SCM a, SCM b, SCM dtype, SCM device)
{
    int normal = scm_is_eq(kind, scm_from_utf8_symbol("normal"));
    const char *who = normal ? "randn" : "rand";
    int64_t shape[NL_MAX_DIMS];
    int ndim = nl_scm_to_shape(shape_s, shape, 1, who);
    double x = nl_scm_to_real(a, 2, who), y = nl_scm_to_real(b, 3, who);
    nl_dtype dt = nl_scm_to_dtype(dtype, 5, who);
    nl_device dev = nl_scm_to_device(device, 6, who);
    if (!nl_dtype_is_float(dt)) nl_scm_raisef(NL_ERR_DTYPE, who, "random values need a float dtype, got %s", nl_dtype_name(dt));
    nl_tensor *t, *r;
    NL_SCM_CHECK(who, nl_tensor_empty(&t, NL_F32, ndim, shape, dev));
    nl_status st = normal ? nl_fill_normal(t, x, y, NULL) : nl_fill_uniform(t, x, y, NULL);
    if (st == NL_OK) st = nl_to(&r, t, dt, dev);
    nl_tensor_release(t);
    NL_SCM_CHECK(who, st);
    return nl_scm_take_tensor(r);
}

#define FUNC_NAME "arange"
static SCM tensor_arange(SCM start_s, SCM end_s, SCM step_s, SCM dtype, SCM device)
{
    double start = nl_scm_to_real(start_s, 1, FUNC_NAME), end = nl_scm_to_real(end_s, 2, FUNC_NAME);
    double step = nl_scm_to_real(step_s, 3, FUNC_NAME);
    nl_dtype dt = nl_scm_to_dtype(dtype, 4, FUNC_NAME);
    nl_device dev = nl_scm_to_device(device, 5, FUNC_NAME);
    if (step == 0 || !isfinite(step) || !isfinite(start) || !isfinite(end))
        nl_scm_raisef(NL_ERR_ARG, FUNC_NAME, "start %g, end %g and step %g must be finite with a non-zero step",
                      start, end, step);
    double count = ceil((end - start) / step);
    int64_t n = count > 0 ? (int64_t)count : 0;
    if (count > 1e12) nl_scm_raisef(NL_ERR_OOM, FUNC_NAME, "arange of %g elements is too large", count);
    int integer = !nl_dtype_is_float(dt);
    void *buf = scm_gc_malloc_pointerless((size_t)(n ? n : 1) * 8, "arange data");
    for (int64_t i = 0; i < n; i++) {
        double v = start + (double)i * step;
        if (integer) ((int64_t *)buf)[i] = (int64_t)v;
        else ((float *)buf)[i] = (float)v;
    }
    nl_tensor *t;
    NL_SCM_CHECK(FUNC_NAME, nl_tensor_from_host(&t, dt, 1, &n, buf, integer ? NL_I64 : NL_F32, dev));
    return nl_scm_take_tensor(t);
}
#undef FUNC_NAME

/* ---- bytes ------------------------------------------------------------------ */

#define FUNC_NAME "bytevector->tensor"
static SCM bytes_to_tensor(SCM bv, SCM src_dtype, SCM shape_s, SCM dtype, SCM device)
{
    SCM_VALIDATE_BYTEVECTOR(1, bv);
    nl_dtype st = nl_scm_to_dtype(src_dtype, 2, FUNC_NAME);
    size_t len = SCM_BYTEVECTOR_LENGTH(bv), es = nl_dtype_size(st);
    int64_t shape[NL_MAX_DIMS] = {(int64_t)(len / es)}, numel;
    int ndim = scm_is_false(shape_s) ? 1 : nl_scm_to_shape(shape_s, shape, 3, FUNC_NAME);
    NL_SCM_CHECK(FUNC_NAME, nl_shape_numel(ndim, shape, &numel));
    if ((uint64_t)numel > len || (uint64_t)numel * es != len) {
        char dims[96];
        nl_scm_raisef(NL_ERR_SHAPE, FUNC_NAME, "%zu bytes do not make a %s tensor of %s elements (%llu bytes)",
                      len, nl_dims_str(ndim, shape, dims, sizeof dims), nl_dtype_name(st),
                      (unsigned long long)numel * es);
    }
    nl_tensor *t;
    NL_SCM_CHECK(FUNC_NAME, nl_tensor_from_host(&t, nl_scm_to_dtype(dtype, 4, FUNC_NAME), ndim, shape,
                                                SCM_BYTEVECTOR_CONTENTS(bv), st,
                                                nl_scm_to_device(device, 5, FUNC_NAME)));
    scm_remember_upto_here_1(bv);
    return nl_scm_take_tensor(t);
}
#undef FUNC_NAME

#define FUNC_NAME "tensor->bytevector"
static SCM tensor_to_bytes(SCM obj, SCM dtype)
{
    nl_tensor *t = nl_scm_to_tensor(obj, 1, FUNC_NAME);
    nl_dtype dt = scm_is_false(dtype) ? t->dtype : nl_scm_to_dtype(dtype, 2, FUNC_NAME);
    SCM bv = scm_c_make_bytevector((size_t)nl_tensor_numel(t) * nl_dtype_size(dt));
    NL_SCM_CHECK(FUNC_NAME, nl_tensor_to_host(t, SCM_BYTEVECTOR_CONTENTS(bv), dt));
    scm_remember_upto_here_1(obj);
    return bv;
}
#undef FUNC_NAME

#define FUNC_NAME "tensor->f32vector"
static SCM tensor_to_f32vector(SCM obj)
{
    nl_tensor *t = nl_scm_to_tensor(obj, 1, FUNC_NAME);
    SCM v = scm_make_f32vector(scm_from_int64(nl_tensor_numel(t)), SCM_UNDEFINED);
    scm_t_array_handle h;
    size_t len;
    ssize_t inc;
    float *p = scm_f32vector_writable_elements(v, &h, &len, &inc);
    nl_status st = nl_tensor_to_host(t, p, NL_F32);
    scm_array_handle_release(&h);
    scm_remember_upto_here_1(obj);
    NL_SCM_CHECK(FUNC_NAME, st);
    return v;
}
#undef FUNC_NAME

/* ---- tensor -> Scheme numbers -------------------------------------------- */

static SCM element_value(const nl_tensor *t, double v)
{
    return nl_dtype_is_float(t->dtype) ? scm_from_double(v) : scm_from_int64((int64_t)v);
}

typedef struct {
    const nl_tensor *t;
    const int64_t *ival;
    const float *fval;
    size_t k;
} list_build;

static SCM build_list(list_build *b, int depth)
{
    if (depth == b->t->ndim) return b->ival ? scm_from_int64(b->ival[b->k++]) : scm_from_double(b->fval[b->k++]);
    SCM items = SCM_EOL;
    for (int64_t i = 0; i < b->t->shape[depth]; i++) items = scm_cons(build_list(b, depth + 1), items);
    return scm_reverse_x(items, SCM_EOL);
}

#define FUNC_NAME "tensor->list"
static SCM tensor_to_list(SCM obj)
{
    nl_tensor *t = nl_scm_to_tensor(obj, 1, FUNC_NAME);
    int integer = !nl_dtype_is_float(t->dtype);
    void *buf = scm_gc_malloc_pointerless((size_t)(nl_tensor_numel(t) ? nl_tensor_numel(t) : 1) * 8, "tensor values");
    NL_SCM_CHECK(FUNC_NAME, nl_tensor_to_host(t, buf, integer ? NL_I64 : NL_F32));
    list_build b = {t, integer ? buf : NULL, integer ? NULL : buf, 0};
    SCM l = build_list(&b, 0);
    scm_remember_upto_here_1(obj);
    return l;
}
#undef FUNC_NAME

#define FUNC_NAME "tensor-item"
static SCM tensor_item(SCM obj)
{
    nl_tensor *t = nl_scm_to_tensor(obj, 1, FUNC_NAME);
    if (nl_tensor_numel(t) != 1) {
        char dims[96];
        nl_scm_raisef(NL_ERR_SHAPE, FUNC_NAME, "a tensor of shape %s has %lld elements, not 1 HINT: use tensor-ref or tensor->list",
                      nl_shape_str(t, dims, sizeof dims), (long long)nl_tensor_numel(t));
    }
    int64_t idx[NL_MAX_DIMS] = {0};
    double v;
    NL_SCM_CHECK(FUNC_NAME, nl_tensor_get(t, idx, &v));
    scm_remember_upto_here_1(obj);
    return element_value(t, v);
}
#undef FUNC_NAME

#define FUNC_NAME "tensor-ref"
static SCM tensor_ref(SCM obj, SCM indices)
{
    nl_tensor *t = nl_scm_to_tensor(obj, 1, FUNC_NAME);
    long n = scm_ilength(indices);
    if (n != t->ndim) {
        char dims[96];
        nl_scm_raisef(NL_ERR_SHAPE, FUNC_NAME, "%ld indices for a tensor of shape %s (%d dims)", n,
                      nl_shape_str(t, dims, sizeof dims), t->ndim);
    }
    int64_t idx[NL_MAX_DIMS];
    for (int i = 0; i < n; i++, indices = scm_cdr(indices)) {
        SCM x = scm_car(indices);
        int64_t k = nl_scm_to_i64(x, i + 2, FUNC_NAME);
        if (k < 0) k += t->shape[i];
        if (k < 0 || k >= t->shape[i]) scm_out_of_range_pos(FUNC_NAME, x, scm_from_int(i + 2));
        idx[i] = k;
    }
    double v;
    NL_SCM_CHECK(FUNC_NAME, nl_tensor_get(t, idx, &v));
    scm_remember_upto_here_1(obj);
    return element_value(t, v);
}
#undef FUNC_NAME

/* ---- properties ------------------------------------------------------------ */

static SCM tensor_shape(SCM obj)
{
    nl_tensor *t = nl_scm_to_tensor(obj, 1, "tensor-shape");
    SCM l = nl_scm_from_shape(t->ndim, t->shape);
    scm_remember_upto_here_1(obj);
    return l;
}

static SCM tensor_strides(SCM obj)
{
    nl_tensor *t = nl_scm_to_tensor(obj, 1, "tensor-strides");
    SCM l = nl_scm_from_shape(t->ndim, t->strides);
    scm_remember_upto_here_1(obj);
    return l;
}

static SCM tensor_dtype(SCM obj) { return nl_scm_from_dtype(nl_scm_to_tensor(obj, 1, "tensor-dtype")->dtype); }

static SCM tensor_device(SCM obj)
{
    return nl_scm_from_device(nl_tensor_device(nl_scm_to_tensor(obj, 1, "tensor-device")));
}

static SCM tensor_ndim(SCM obj) { return scm_from_int(nl_scm_to_tensor(obj, 1, "tensor-ndim")->ndim); }

static SCM tensor_numel(SCM obj) { return scm_from_int64(nl_tensor_numel(nl_scm_to_tensor(obj, 1, "tensor-numel"))); }

static SCM tensor_contiguous_p(SCM obj)
{
    return scm_from_bool(nl_tensor_is_contiguous(nl_scm_to_tensor(obj, 1, "tensor-contiguous?")));
}

void nl_scm_init_tensor(void)
{
    static const nl_scm_proc procs[] = {
        {"%nl-tensor-from-list", 3, 0, 0, (scm_t_subr)tensor_from_list,
         "Make a tensor of DTYPE on DEVICE from a nested list of numbers (or a number)."},
        {"%nl-tensor-full", 4, 1, 0, (scm_t_subr)tensor_full,
         "Make a tensor of SHAPE filled with VALUE; WHO names the caller in errors."},
        {"%nl-tensor-random", 6, 0, 0, (scm_t_subr)tensor_random,
         "Make a tensor of SHAPE from the global RNG: KIND 'uniform in [A, B) or 'normal with mean A, std B."},
        {"%nl-tensor-arange", 5, 0, 0, (scm_t_subr)tensor_arange, "Make the 1-d tensor START, START+STEP, ... below END."},
        {"%nl-bytes->tensor", 5, 0, 0, (scm_t_subr)bytes_to_tensor,
         "Make a tensor of SHAPE (#f: 1-d) and DTYPE from the elements of SRC-DTYPE in bytevector BV."},
        {"%nl-tensor->bytevector", 2, 0, 0, (scm_t_subr)tensor_to_bytes,
         "Copy the tensor's elements, converted to DTYPE (#f: its own), into a new bytevector."},
        {"%nl-tensor->f32vector", 1, 0, 0, (scm_t_subr)tensor_to_f32vector, "Copy the tensor's elements into an f32vector."},
        {"%nl-tensor->list", 1, 0, 0, (scm_t_subr)tensor_to_list, "The tensor's values as nested lists."},
        {"%nl-tensor-item", 1, 0, 0, (scm_t_subr)tensor_item, "The value of a one-element tensor."},
        {"%nl-tensor-ref", 1, 0, 1, (scm_t_subr)tensor_ref, "The element at the given indices."},
        {"%nl-tensor-shape", 1, 0, 0, (scm_t_subr)tensor_shape, "The shape as a list of sizes."},
        {"%nl-tensor-strides", 1, 0, 0, (scm_t_subr)tensor_strides, "The strides in elements."},
        {"%nl-tensor-dtype", 1, 0, 0, (scm_t_subr)tensor_dtype, "The dtype symbol."},
        {"%nl-tensor-device", 1, 0, 0, (scm_t_subr)tensor_device, "The device symbol."},
        {"%nl-tensor-ndim", 1, 0, 0, (scm_t_subr)tensor_ndim, "The number of dims."},
        {"%nl-tensor-numel", 1, 0, 0, (scm_t_subr)tensor_numel, "The number of elements."},
        {"%nl-tensor-contiguous?", 1, 0, 0, (scm_t_subr)tensor_contiguous_p, "#t if the layout is row-major contiguous."},
    };
    NL_SCM_DEFINE_ALL(procs);
}
