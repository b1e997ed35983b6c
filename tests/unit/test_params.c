/* test_params.c — named parameter lists: registration, freezing, counting,
 * and loading from one file, a directory and a sharded checkpoint
 * (model.safetensors.index.json), with the model-level bad inputs of
 * BAD-INPUTS.md: missing/extra/mis-shaped weights, a missing shard, a
 * tensor listed twice, an index that misplaces a tensor, NaN/Inf counting. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "params.h"
#include "safetensors.h"

static char dir[64];

static const char *in_dir(const char *name)
{
    static char buf[2][256];
    static int k;
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void write_text(const char *name, const char *text)
{
    FILE *f = fopen(in_dir(name), "w");
    fputs(text, f);
    fclose(f);
}

/* A two-parameter list "a" [2,3] and "b.weight" [4]. */
static void make_params(nl_params *p)
{
    *p = (nl_params){0};
    nl_params_new(p, NULL, "a", 2, (const int64_t[]){2, 3}, NL_CPU_DEVICE);
    nl_params_new(p, NULL, "b.weight", 1, (const int64_t[]){4}, NL_CPU_DEVICE);
}

static void save_tensor(const char *file, int n, const char *const *names, const float *const *vals,
                        const int64_t (*shapes)[2], const int *ndims)
{
    nl_tensor *ts[8];
    for (int i = 0; i < n; i++)
        nl_tensor_from_host(&ts[i], NL_F32, ndims[i], shapes[i], vals[i], NL_F32, NL_CPU_DEVICE);
    h_ok(nl_safetensors_save(in_dir(file), n, names, ts, 0, NULL), file);
    for (int i = 0; i < n; i++) nl_tensor_release(ts[i]);
}

static const float va[6] = {1, 2, 3, 4, 5, 6}, vb[4] = {7, 8, 9, 10};

static void test_basics(void)
{
    nl_params p;
    make_params(&p);
    h_expect_error(nl_params_new(&p, NULL, "a", 1, (const int64_t[]){1}, NL_CPU_DEVICE), NL_ERR_ARG, "duplicate name");
    h_check(nl_params_numel(&p, false) == 10 && nl_params_numel(&p, true) == 10, "10 scalars, all trainable");
    h_check(nl_params_set_trainable(&p, "b.", false) == 1 && nl_params_numel(&p, true) == 6, "freeze by prefix");
    h_check(!nl_params_get(&p, "b.weight")->requires_grad && nl_params_get(&p, "a")->requires_grad,
            "frozen parameter no longer requires grad");
    h_check(nl_params_set_trainable(&p, "", true) == 2, "unfreeze all");
    h_check(nl_params_get(&p, "c") == NULL, "unknown name is NULL");
    nl_params_free(&p);
}

static void test_single_and_dir(void)
{
    const char *names[2] = {"a", "b.weight"};
    const float *vals[2] = {va, vb};
    const int64_t shapes[2][2] = {{2, 3}, {4, 0}};
    const int nd[2] = {2, 1};
    save_tensor("one.safetensors", 2, names, vals, shapes, nd);
    nl_params p;
    make_params(&p);
    int64_t bad = -1;
    if (h_ok(nl_params_load(&p, in_dir("one.safetensors"), NULL, true, &bad), "load file")) {
        double *a = h_values(nl_params_get(&p, "a"));
        h_check(a[5] == 6 && bad == 0, "values loaded, no NaN/Inf");
        free(a);
    }
    /* a directory with model.safetensors, names under a prefix */
    const char *pre[3] = {"m.a", "m.b.weight", "other.x"};
    const float *v3[3] = {va, vb, vb};
    const int64_t s3[3][2] = {{2, 3}, {4, 0}, {4, 0}};
    const int nd3[3] = {2, 1, 1};
    save_tensor("model.safetensors", 3, pre, v3, s3, nd3);
    h_ok(nl_params_load(&p, dir, "m.", true, NULL), "directory, prefix m., other names outside the prefix ignored");
    /* the prefix now also names an unexpected tensor */
    const char *extra[3] = {"m.a", "m.b.weight", "m.zzz"};
    save_tensor("model.safetensors", 3, extra, v3, s3, nd3);
    h_expect_error(nl_params_load(&p, dir, "m.", true, NULL), NL_ERR_FORMAT, "unexpected m.zzz");
    h_check(strstr(nl_last_error(), "m.zzz") != NULL, "names it: %s", nl_last_error());
    h_ok(nl_params_load(&p, dir, "m.", false, NULL), "non-strict accepts it");
    /* a wrong shape */
    const int64_t s_bad[2][2] = {{3, 2}, {4, 0}};
    save_tensor("one.safetensors", 2, names, vals, s_bad, nd);
    h_expect_error(nl_params_load(&p, in_dir("one.safetensors"), NULL, true, NULL), NL_ERR_FORMAT, "shape [3 2]");
    h_check(strstr(nl_last_error(), "[3 2]") && strstr(nl_last_error(), "[2 3]"), "both shapes: %s", nl_last_error());
    /* NaN/Inf are loaded and counted */
    float vn[6] = {1, NAN, 3, INFINITY, 5, 6};
    const float *vals_n[2] = {vn, vb};
    save_tensor("one.safetensors", 2, names, vals_n, shapes, nd);
    int64_t nonfinite = 0;
    h_ok(nl_params_load(&p, in_dir("one.safetensors"), NULL, true, &nonfinite), "load with NaN");
    h_check(nonfinite == 2, "2 non-finite values counted (%lld)", (long long)nonfinite);
    unlink(in_dir("model.safetensors"));
    unlink(in_dir("one.safetensors"));
    nl_params_free(&p);
}

static void test_sharded(void)
{
    const char *n1[1] = {"a"}, *n2[1] = {"b.weight"};
    const float *v1[1] = {va}, *v2[1] = {vb};
    const int64_t s1[1][2] = {{2, 3}}, s2[1][2] = {{4, 0}};
    const int d1[1] = {2}, d2[1] = {1};
    save_tensor("model-00001-of-00002.safetensors", 1, n1, v1, s1, d1);
    save_tensor("model-00002-of-00002.safetensors", 1, n2, v2, s2, d2);
    write_text("model.safetensors.index.json",
               "{\"metadata\": {\"total_size\": 40}, \"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\","
               " \"b.weight\": \"model-00002-of-00002.safetensors\"}}");
    nl_params p;
    make_params(&p);
    if (h_ok(nl_params_load(&p, dir, NULL, true, NULL), "sharded load")) {
        double *b = h_values(nl_params_get(&p, "b.weight"));
        h_check(b[0] == 7 && b[3] == 10, "value from the second shard");
        free(b);
    }
    write_text("model.safetensors.index.json",
               "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\", \"b.weight\": \"gone.safetensors\"}}");
    h_expect_error(nl_params_load(&p, dir, NULL, true, NULL), NL_ERR_IO, "missing shard");
    h_check(strstr(nl_last_error(), "gone.safetensors") != NULL, "names the shard: %s", nl_last_error());
    write_text("model.safetensors.index.json",
               "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\", \"a\": \"model-00002-of-00002.safetensors\","
               " \"b.weight\": \"model-00002-of-00002.safetensors\"}}");
    h_expect_error(nl_params_load(&p, dir, NULL, true, NULL), NL_ERR_FORMAT, "tensor listed twice");
    h_check(strstr(nl_last_error(), "twice") != NULL, "says twice: %s", nl_last_error());
    write_text("model.safetensors.index.json",
               "{\"weight_map\": {\"a\": \"model-00002-of-00002.safetensors\", \"b.weight\": \"model-00002-of-00002.safetensors\"}}");
    h_expect_error(nl_params_load(&p, dir, NULL, true, NULL), NL_ERR_FORMAT, "index puts a in the wrong shard");
    write_text("model.safetensors.index.json", "{\"weight_map\": {\"a\": \"../etc/passwd\"}}");
    h_expect_error(nl_params_load(&p, dir, NULL, true, NULL), NL_ERR_FORMAT, "shard outside the directory");
    write_text("model.safetensors.index.json", "{\"weight_map\": [1, 2]");
    h_expect_error(nl_params_load(&p, dir, NULL, true, NULL), NL_ERR_FORMAT, "truncated index");
    write_text("model.safetensors.index.json", "{\"metadata\": {}}");
    h_expect_error(nl_params_load(&p, dir, NULL, true, NULL), NL_ERR_FORMAT, "index without weight_map");
    unlink(in_dir("model.safetensors.index.json"));
    unlink(in_dir("model-00001-of-00002.safetensors"));
    unlink(in_dir("model-00002-of-00002.safetensors"));
    h_expect_error(nl_params_load(&p, dir, NULL, true, NULL), NL_ERR_IO, "empty directory");
    nl_params_free(&p);
}

int main(void)
{
    h_init("params");
    snprintf(dir, sizeof dir, "/tmp/nl_params_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    test_basics();
    test_single_and_dir();
    test_sharded();
    rmdir(dir);
    return h_finish();
}
