/* io.c — safetensors from Scheme: load a file into an alist of
 * (name . tensor), read its metadata, save an alist atomically. Strings and
 * runtime handles are released on every exit path (dynwind). */
#include "glue.h"

#include "safetensors.h"

static void close_st(void *f) { nl_safetensors_close(f); }

/* Open FILE inside the current dynwind context (closed on exit). */
static nl_safetensors *open_st(SCM file, const char *who)
{
    char *path = scm_to_utf8_string(file);
    scm_dynwind_free(path);
    nl_safetensors *f;
    NL_SCM_CHECK(who, nl_safetensors_open(&f, path));
    scm_dynwind_unwind_handler(close_st, f, SCM_F_WIND_EXPLICITLY);
    return f;
}

#define FUNC_NAME "load-safetensors"
static SCM load_safetensors(SCM file, SCM dtype, SCM device)
{
    SCM_VALIDATE_STRING(1, file);
    scm_dynwind_begin(0);
    nl_safetensors *f = open_st(file, FUNC_NAME);
    nl_device dev = nl_scm_to_device(device, 3, FUNC_NAME);
    bool keep = scm_is_false(dtype);
    nl_dtype want = keep ? NL_F32 : nl_scm_to_dtype(dtype, 2, FUNC_NAME);
    SCM out = SCM_EOL;
    for (int i = 0, n = nl_safetensors_count(f); i < n; i++) {
        const char *name = nl_safetensors_name(f, i);
        if (keep) {
            int nd;
            int64_t sh[NL_MAX_DIMS];
            NL_SCM_CHECK(FUNC_NAME, nl_safetensors_shape(f, i, &want, &nd, sh));
        }
        nl_tensor *t;
        NL_SCM_CHECK(FUNC_NAME, nl_safetensors_load(&t, f, name, want, dev));
        out = scm_cons(scm_cons(scm_from_utf8_string(name), nl_scm_take_tensor(t)), out);
    }
    scm_dynwind_end();
    return scm_reverse_x(out, SCM_EOL);
}
#undef FUNC_NAME

#define FUNC_NAME "safetensors-metadata"
static SCM safetensors_metadata(SCM file)
{
    SCM_VALIDATE_STRING(1, file);
    scm_dynwind_begin(0);
    nl_safetensors *f = open_st(file, FUNC_NAME);
    SCM out = SCM_EOL;
    for (int i = nl_safetensors_metadata_count(f) - 1; i >= 0; i--) {
        const char *k = nl_safetensors_metadata_key(f, i);
        out = scm_acons(scm_from_utf8_string(k), scm_from_utf8_string(nl_safetensors_metadata(f, k)), out);
    }
    scm_dynwind_end();
    return out;
}
#undef FUNC_NAME

/* A list of strings -> GC-managed array of C strings (each freed by dynwind). */
static const char **utf8_array(SCM lst, int n, int pos, const char *who)
{
    const char **v = scm_gc_malloc(sizeof *v * (size_t)(n ? n : 1), "strings");
    for (int i = 0; i < n; i++, lst = scm_cdr(lst)) {
        SCM s = scm_car(lst);
        if (!scm_is_string(s)) scm_wrong_type_arg_msg(who, pos, s, "string");
        char *c = scm_to_utf8_string(s);
        scm_dynwind_free(c);
        v[i] = c;
    }
    return v;
}

#define FUNC_NAME "save-safetensors"
static SCM save_safetensors(SCM file, SCM names, SCM tensors, SCM meta_keys, SCM meta_vals)
{
    SCM_VALIDATE_STRING(1, file);
    long n = scm_ilength(names), nm = scm_ilength(meta_keys);
    if (n < 0) scm_wrong_type_arg_msg(FUNC_NAME, 2, names, "list of names");
    if (nm < 0 || scm_ilength(meta_vals) != nm) scm_wrong_type_arg_msg(FUNC_NAME, 4, meta_keys, "metadata alist");
    int nt;
    nl_tensor **ts = nl_scm_to_tensor_array(tensors, &nt, 3, FUNC_NAME);
    if (nt != n) scm_wrong_type_arg_msg(FUNC_NAME, 3, tensors, "one tensor per name");
    scm_dynwind_begin(0);
    char *path = scm_to_utf8_string(file);
    scm_dynwind_free(path);
    const char **nv = utf8_array(names, (int)n, 2, FUNC_NAME);
    const char **kv = scm_gc_malloc(sizeof *kv * (size_t)(2 * nm + 1), "metadata");
    const char **ks = utf8_array(meta_keys, (int)nm, 4, FUNC_NAME), **vs = utf8_array(meta_vals, (int)nm, 4, FUNC_NAME);
    for (long i = 0; i < nm; i++) kv[2 * i] = ks[i], kv[2 * i + 1] = vs[i];
    NL_SCM_CHECK(FUNC_NAME, nl_safetensors_save(path, (int)n, nv, ts, (int)nm, kv));
    scm_dynwind_end();
    scm_remember_upto_here_1(tensors);
    return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

void nl_scm_init_io(void)
{
    static const nl_scm_proc procs[] = {
        {"%nl-load-safetensors", 3, 0, 0, (scm_t_subr)load_safetensors,
         "Load every tensor of FILE as DTYPE (#f: as stored) on DEVICE: an alist (name . tensor) in file order."},
        {"%nl-safetensors-metadata", 1, 0, 0, (scm_t_subr)safetensors_metadata,
         "The __metadata__ of FILE as an alist of strings."},
        {"%nl-save-safetensors", 5, 0, 0, (scm_t_subr)save_safetensors,
         "Write TENSORS under NAMES to FILE (atomically) with metadata KEYS -> VALUES."},
    };
    NL_SCM_DEFINE_ALL(procs);
}
