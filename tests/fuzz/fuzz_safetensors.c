/* fuzz_safetensors.c — fuzz target for nl_safetensors_open (the input is the
 * whole file): a malformed file is rejected with a message; an accepted one
 * lists consistent names, shapes and metadata, and every tensor loads (as
 * stored and as f32) with no leak. Seeds: the model fixtures. */
#include <string.h>

#include "fuzz.h"
#include "io/safetensors.h"

const char *const nl_fuzz_seed_globs[] = {"fixtures:models/*/model.safetensors", "fixtures:losses/head.safetensors",
                                          "seeds:*.safetensors", NULL};
const long nl_fuzz_default_runs = 25000;

/* Touch every byte of t so a short buffer shows under ASan. */
static void touch(const nl_tensor *t)
{
    const volatile uint8_t *p = nl_tensor_host_ptr(t);
    size_t n = nl_tensor_nbytes(t);
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc ^= p[i];
    (void)acc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_begin();
    const char *path = fz_path("in.safetensors");
    fz_write(path, data, size);
    nl_safetensors *f = NULL;
    if (!fz_status(nl_safetensors_open(&f, path), "nl_safetensors_open")) {
        if (f) fz_fail("nl_safetensors_open failed but set *out");
        fz_end();
        return 0;
    }
    int n = nl_safetensors_count(f);
    if (n < 0) fz_fail("negative tensor count %d", n);
    if (nl_safetensors_name(f, n) || nl_safetensors_name(f, -1)) fz_fail("name() out of range is not NULL");
    for (int i = 0; i < n; i++) {
        const char *name = nl_safetensors_name(f, i);
        if (!name) fz_fail("tensor %d has no name", i);
        if (nl_safetensors_find(f, name) != i) fz_fail("find(\"%s\") is not %d", name, i);
        nl_dtype dt;
        int ndim;
        int64_t shape[NL_MAX_DIMS];
        if (!fz_status(nl_safetensors_shape(f, i, &dt, &ndim, shape), "nl_safetensors_shape"))
            fz_fail("shape of a listed tensor failed: %s", nl_last_error());
        if (ndim < 0 || ndim > NL_MAX_DIMS) fz_fail("tensor %s: rank %d", name, ndim);
        for (int d = 0; d < ndim; d++)
            if (shape[d] < 0) fz_fail("tensor %s: dim %d is %lld", name, d, (long long)shape[d]);
        nl_dtype wants[2] = {dt, NL_F32};
        for (int w = 0; w < 2; w++) {
            nl_tensor *t = NULL;
            if (fz_status(nl_safetensors_load(&t, f, name, wants[w], NL_CPU_DEVICE), "nl_safetensors_load")) {
                if (!t) fz_fail("load of %s returned no tensor", name);
                touch(t);
                nl_tensor_release(t);
            } else if (t) {
                fz_fail("failed load of %s set *out", name);
            }
        }
    }
    nl_tensor *t = NULL;
    if (fz_status(nl_safetensors_load(&t, f, "\x01no such tensor", NL_F32, NL_CPU_DEVICE), "load missing"))
        fz_fail("a missing tensor loaded");
    int m = nl_safetensors_metadata_count(f);
    for (int i = 0; i < m; i++) {
        const char *k = nl_safetensors_metadata_key(f, i);
        if (!k || !nl_safetensors_metadata(f, k)) fz_fail("metadata entry %d has no key or value", i);
        (void)strlen(nl_safetensors_metadata(f, k));
    }
    nl_safetensors_close(f);
    fz_end();
    return 0;
}
