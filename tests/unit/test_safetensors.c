/* test_safetensors.c — the safetensors reader and writer: round trips of every
 * dtype (0-rank, 0-dim, non-contiguous), a byte-exact hand-built file, every
 * malformed header from BAD-INPUTS.md, and atomic replacement on failed saves.
 * Depends on the runtime and the harness only; files live in a temp dir. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "io/safetensors.h"

static char dir[64];

static const char *path_in(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

/* Write the 8-byte length `len`, then `hdr` (hdr_n bytes), then `data`. */
static void write_raw(const char *path, unsigned long long len, const char *hdr, size_t hdr_n,
                      const void *data, size_t data_n)
{
    FILE *fp = fopen(path, "wb");
    unsigned char le[8];
    for (int k = 0; k < 8; k++) le[k] = (unsigned char)(len >> (8 * k));
    fwrite(le, 1, 8, fp);
    if (hdr_n) fwrite(hdr, 1, hdr_n, fp);
    if (data_n) fwrite(data, 1, data_n, fp);
    fclose(fp);
}

/* A well-formed length prefix for JSON header text, followed by data_n zero bytes. */
static void write_json(const char *path, const char *json, size_t data_n)
{
    static const unsigned char zeros[256];
    write_raw(path, strlen(json), json, strlen(json), zeros, data_n);
}

static void expect_bad(const char *what, const char *path, const char *needle)
{
    nl_safetensors *f = NULL;
    nl_status st = nl_safetensors_open(&f, path);
    h_check(st == NL_ERR_FORMAT && f == NULL, "%s: rejected with format-error (got %s)", what, nl_status_name(st));
    h_check(strstr(nl_last_error(), needle) != NULL && strstr(nl_last_error(), path) != NULL,
            "%s: message names the file and \"%s\": %s", what, needle, nl_last_error());
    nl_safetensors_close(f);
}

static void bad_json(const char *what, const char *json, size_t data_n, const char *needle)
{
    const char *p = path_in("bad.safetensors");
    write_json(p, json, data_n);
    expect_bad(what, p, needle);
}

static void test_bad_framing(void)
{
    const char *p = path_in("bad.safetensors");
    write_raw(p, 0, NULL, 0, NULL, 0);
    FILE *fp = fopen(p, "wb");
    fwrite("abcde", 1, 5, fp);
    fclose(fp);
    expect_bad("5-byte file", p, "shorter than the 8-byte");
    write_raw(p, 0, "{}", 2, NULL, 0);
    expect_bad("header length 0", p, "header length is 0");
    write_raw(p, 100000001ull, "{}", 2, NULL, 0);
    expect_bad("header length > 100 MB", p, "100 MB");
    write_raw(p, ~0ull, "{}", 2, NULL, 0);
    expect_bad("header length 2^64-1", p, "18446744073709551615");
    write_raw(p, 40, "{}      ", 8, NULL, 0);
    expect_bad("header length + 8 beyond the file", p, "past the end");
    bad_json("header not starting with {", " {}", 0, "does not start with '{'");
    bad_json("header starting with [", "[]", 0, "does not start with '{'");
    bad_json("invalid UTF-8 (0xff)", "{\"a\xff\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}", 1,
             "UTF-8");
    bad_json("invalid UTF-8 (overlong /)", "{\"\xc0\xaf\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}",
             1, "UTF-8");
    bad_json("invalid UTF-8 (surrogate)", "{\"\xed\xa0\x80\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}",
             1, "UTF-8");
    bad_json("truncated UTF-8", "{\"x\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}  \xe2\x82", 1,
             "UTF-8");
    bad_json("invalid JSON", "{\"a\":{\"dtype\":\"U8\",\"shape\":[],}", 0, "not a valid JSON");
    bad_json("unterminated JSON", "{\"a\":", 0, "not a valid JSON");
    bad_json("trailing bytes in the header", "{}  x ", 0, "trailing byte 0x78");
    bad_json("trailing newline in the header", "{}\n", 0, "trailing byte 0x0a");
    bad_json("second object in the header", "{}{}", 0, "trailing byte");
}

static void test_bad_entries(void)
{
    bad_json("duplicate names, same range",
             "{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
             "\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, "duplicate tensor name \"w\"");
    bad_json("duplicate names, different ranges",
             "{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
             "\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}", 4, "duplicate tensor name \"w\"");
    bad_json("empty name", "{\"\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "empty name");
    bad_json("__metadata__ with a number", "{\"__metadata__\":{\"format\":\"pt\",\"step\":3}}", 0,
             "value of \"step\" is not a string");
    bad_json("__metadata__ not an object", "{\"__metadata__\":\"pt\"}", 0, "not an object of strings");
    bad_json("entry not an object", "{\"w\":[1,2]}", 0, "\"w\": entry is not an object");
    bad_json("unknown dtype", "{\"w\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
             "unknown or unsupported dtype \"Q7\"");
    bad_json("F64 dtype", "{\"w\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "F64");
    bad_json("missing dtype", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "\"dtype\" missing");
    bad_json("negative dim", "{\"w\":{\"dtype\":\"U8\",\"shape\":[2,-1],\"data_offsets\":[0,2]}}", 2,
             "dim 1 is -1");
    bad_json("fractional dim", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1.5],\"data_offsets\":[0,2]}}", 2,
             "dim 0 is 1.5");
    bad_json("dims overflowing 64 bits",
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
             "shape [4294967296 4294967296] overflows");
    bad_json("9 dims", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
             "9 dims");
    bad_json("data_offsets with 1 element", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1]}}", 1,
             "exactly 2 integers (got 1");
    bad_json("data_offsets with 3 elements", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,1]}}",
             1, "exactly 2 integers (got 3");
    bad_json("data_offsets negative", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}}", 1,
             "not non-negative integers");
    bad_json("begin > end", "{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[2,1]}}", 2,
             "[2 1] begin > end");
    bad_json("end past the buffer", "{\"w\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 3,
             "end past the data buffer of 3 bytes");
    bad_json("span != shape x dtype size", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
             "byte span 4 of data_offsets [0 4] != 8 bytes for F32 shape [2]");
    bad_json("overlapping ranges",
             "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
             "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}", 6, "\"b\" [2 6] overlaps tensor \"a\"");
    bad_json("gap between ranges",
             "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
             "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[3,5]}}", 5, "gap of 1 unused bytes [2 3]");
    bad_json("gap at the start", "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}", 3,
             "gap of 1 unused bytes [0 1] before tensor \"a\"");
    bad_json("trailing bytes after the last tensor",
             "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 5,
             "3 trailing bytes after the last tensor");
    bad_json("buffer bytes with no tensors", "{}", 1, "1 trailing bytes");
}

/* A file built byte by byte from the spec, entries listed out of order, an
 * unaligned f32 after an odd-sized u8, BOOL, BF16, F16, a scalar and a 0-dim. */
static void test_hand_built(void)
{
    const char *json =
        "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"\\u00e9t\\u00e9\"},"
        "\"f\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[3,11]},"
        "\"u\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
        "\"i\":{\"dtype\":\"I64\",\"shape\":[1,1],\"data_offsets\":[11,19]},"
        "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[19,19]},"
        "\"s\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[19,21]},"
        "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[21,25]},"
        "\"b\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[25,27]},"
        "\"n\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[27,31]}}   ";
    const unsigned char data[31] = {
        7, 200, 255,                                     /* u: 7 200 255 */
        0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0xc0,  /* f: 1.5 -2 */
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40,  /* i: 2^62 + 1 */
        0x20, 0x40,                                      /* s: bf16 2.5 */
        0x00, 0x3c, 0x00, 0xc1,                          /* h: f16 1 -2.5 */
        1, 0,                                            /* b: true false */
        0xfd, 0xff, 0xff, 0xff,                          /* n: -3 */
    };
    const char *p = path_in("hand.safetensors");
    write_raw(p, strlen(json), json, strlen(json), data, sizeof data);
    nl_safetensors *f = NULL;
    if (!h_ok(nl_safetensors_open(&f, p), "open the hand-built file")) return;
    h_check(nl_safetensors_count(f) == 8, "8 tensors (got %d)", nl_safetensors_count(f));
    h_check(strcmp(nl_safetensors_name(f, 0), "f") == 0 && strcmp(nl_safetensors_name(f, 7), "n") == 0,
            "names in header order");
    h_check(nl_safetensors_name(f, 8) == NULL && nl_safetensors_find(f, "zz") == -1, "out of range / absent");
    h_check(nl_safetensors_find(f, "b") == 6, "find b -> 6");
    const char *fmt = nl_safetensors_metadata(f, "format"), *note = nl_safetensors_metadata(f, "note");
    h_check(fmt && strcmp(fmt, "pt") == 0, "metadata format = pt");
    h_check(note && strcmp(note, "\xc3\xa9t\xc3\xa9") == 0, "metadata unicode escapes decoded");
    h_check(nl_safetensors_metadata(f, "nope") == NULL, "absent metadata key");
    nl_dtype dt;
    int nd;
    int64_t sh[NL_MAX_DIMS];
    h_ok(nl_safetensors_shape(f, nl_safetensors_find(f, "empty"), &dt, &nd, sh), "shape of empty");
    h_check(dt == NL_F32 && nd == 2 && sh[0] == 0 && sh[1] == 3, "empty is F32 [0 3]");
    h_ok(nl_safetensors_shape(f, nl_safetensors_find(f, "b"), &dt, &nd, sh), "shape of b");
    h_check(dt == NL_U8 && nd == 1 && sh[0] == 2, "BOOL reports u8 [2]");
    h_expect_error(nl_safetensors_shape(f, 8, &dt, &nd, sh), NL_ERR_ARG, "shape of index 8");

    struct { const char *name; nl_dtype want; double ref[3]; } cases[] = {
        {"u", NL_U8, {7, 200, 255}},   {"f", NL_F32, {1.5, -2}}, {"s", NL_F32, {2.5}},
        {"h", NL_F32, {1, -2.5}},      {"b", NL_U8, {1, 0}},     {"n", NL_I32, {-3}},
        {"u", NL_F32, {7, 200, 255}},  {"f", NL_I32, {1, -2}},   {"h", NL_BF16, {1, -2.5}},
        {"empty", NL_F16, {0}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        nl_tensor *t = NULL;
        if (!h_ok(nl_safetensors_load(&t, f, cases[c].name, cases[c].want, NL_CPU_DEVICE), cases[c].name)) continue;
        h_check(t->dtype == cases[c].want && nl_tensor_is_contiguous(t), "%s loads as %s", cases[c].name,
                nl_dtype_name(cases[c].want));
        h_close(cases[c].name, t, cases[c].ref, 0, 0);
        nl_tensor_release(t);
    }
    nl_tensor *t = NULL;
    if (h_ok(nl_safetensors_load(&t, f, "i", NL_I64, NL_CPU_DEVICE), "load i")) {
        int64_t v = 0;
        nl_tensor_to_host(t, &v, NL_I64);
        h_check(t->ndim == 2 && v == (1ll << 62) + 1, "i64 2^62+1 exact (got %lld)", (long long)v);
        nl_tensor_release(t);
    }
    if (h_ok(nl_safetensors_load(&t, f, "s", NL_BF16, NL_CPU_DEVICE), "load s")) {
        h_check(t->ndim == 0 && nl_tensor_numel(t) == 1, "scalar stays 0-rank");
        nl_tensor_release(t);
    }
    h_expect_error(nl_safetensors_load(&t, f, "emtpy", NL_F32, NL_CPU_DEVICE), NL_ERR_ARG, "misspelt name");
    h_check(strstr(nl_last_error(), "did you mean \"empty\"") != NULL, "hint names the close name: %s",
            nl_last_error());
    h_expect_error(nl_safetensors_load(&t, f, "weight.q_proj", NL_F32, NL_CPU_DEVICE), NL_ERR_ARG, "unknown name");
    nl_safetensors_close(f);

    h_expect_error(nl_safetensors_open(&f, path_in("missing.safetensors")), NL_ERR_IO, "missing file");
    write_json(path_in("empty.safetensors"), "{}      ", 0);
    if (h_ok(nl_safetensors_open(&f, path_in("empty.safetensors")), "a file with no tensors")) {
        h_check(nl_safetensors_count(f) == 0, "no tensors");
        nl_safetensors_close(f);
    }
}

static nl_tensor *convert(nl_tensor *t, nl_dtype dt)
{
    nl_tensor *o = NULL;
    h_ok(nl_to(&o, t, dt, NL_CPU_DEVICE), "convert");
    nl_tensor_release(t);
    return o;
}

static void test_round_trip(void)
{
    int64_t s34[2] = {3, 4}, s5[1] = {5}, s213[3] = {2, 1, 3}, s03[2] = {0, 3};
    uint8_t bytes[5] = {0, 1, 127, 128, 255};
    nl_tensor *u8 = NULL, *scalar = NULL, *zero = NULL;
    nl_tensor_from_host(&u8, NL_U8, 1, s5, bytes, NL_U8, NL_CPU_DEVICE);
    nl_tensor_scalar(&scalar, -0.125, NL_F32, NL_CPU_DEVICE);
    nl_tensor_empty(&zero, NL_I32, 2, s03, NL_CPU_DEVICE);
    nl_tensor *ts[] = {
        h_rand(2, s34, -2, 2, true),                       /* f32, non-contiguous */
        convert(h_rand(3, s213, -4, 4, true), NL_BF16),
        convert(h_rand(2, s34, -1, 1, false), NL_F16),
        h_randint(2, s34, 1000, NL_I32),
        h_randint(1, s5, 1 << 30, NL_I64),
        u8, scalar, zero,
    };
    const char *names[] = {"model.layers.0.w", "bf16", "f16", "ids32", "ids64", "bytes", "scalar", "zero"};
    const char *meta[] = {"format", "pt", "quote\"key", "back\\slash\nline"};
    int n = (int)(sizeof ts / sizeof ts[0]);
    const char *p = path_in("rt.safetensors");
    if (!h_ok(nl_safetensors_save(p, n, names, ts, 2, meta), "save every dtype")) goto out;
    nl_safetensors *f = NULL;
    if (!h_ok(nl_safetensors_open(&f, p), "reopen")) goto out;
    h_check(nl_safetensors_count(f) == n, "count %d", nl_safetensors_count(f));
    const char *m1 = nl_safetensors_metadata(f, "quote\"key");
    h_check(m1 && strcmp(m1, "back\\slash\nline") == 0, "escaped metadata round-trips");
    for (int i = 0; i < n; i++) {
        h_check(strcmp(nl_safetensors_name(f, i), names[i]) == 0, "name %d in the given order", i);
        nl_tensor *t = NULL;
        if (!h_ok(nl_safetensors_load(&t, f, names[i], ts[i]->dtype, NL_CPU_DEVICE), names[i])) continue;
        h_check(t->dtype == ts[i]->dtype && nl_tensor_same_shape(t, ts[i]), "%s keeps dtype and shape", names[i]);
        double *ref = h_values(ts[i]);
        h_close(names[i], t, ref, 0, 0);
        free(ref);
        nl_tensor_release(t);
    }
    nl_safetensors_close(f);
    FILE *fp = fopen(p, "rb");
    unsigned char le[8];
    h_check(fread(le, 1, 8, fp) == 8, "read the length");
    fclose(fp);
    unsigned long long len = 0;
    for (int k = 7; k >= 0; k--) len = (len << 8) | le[k];
    h_check((8 + len) % 8 == 0, "data starts at a multiple of 8 (header %llu bytes)", len);

    h_expect_error(nl_safetensors_save(p, 2, (const char *[]){"a", "a"}, ts, 0, NULL), NL_ERR_ARG,
                   "save duplicate names");
    h_expect_error(nl_safetensors_save(p, 1, (const char *[]){""}, ts, 0, NULL), NL_ERR_ARG, "save empty name");
    h_expect_error(nl_safetensors_save(path_in("no/such/dir.st"), 1, names, ts, 0, NULL), NL_ERR_IO,
                   "save into a missing directory");
out:
    for (int i = 0; i < n; i++) nl_tensor_release(ts[i]);
}

/* A save that fails on its second tensor leaves the old file intact and no temp file. */
static void test_atomic_save(void)
{
    int64_t s2[1] = {2};
    float v[2] = {3, 4};
    nl_tensor *good = h_from(1, s2, v);
    const char *p = path_in("keep.safetensors");
    const char *names[] = {"good", "unreadable"};
    if (!h_ok(nl_safetensors_save(p, 1, names, &good, 0, NULL), "first save")) { nl_tensor_release(good); return; }
    /* A tensor claiming to live on a CUDA device in a build without CUDA cannot be read. */
    nl_storage fake_storage = *good->storage;
    fake_storage.device = (nl_device){NL_DEV_CUDA, 0};
    fake_storage.refcount = 1 << 20;
    nl_tensor fake = *good;
    fake.refcount = 1 << 20;
    fake.storage = &fake_storage;
    nl_tensor *ts[2] = {good, &fake};
    nl_status st = nl_safetensors_save(p, 2, names, ts, 0, NULL);
    h_check(st != NL_OK, "save with an unreadable tensor fails (%s: %s)", nl_status_name(st), nl_last_error());
    h_check(strstr(nl_last_error(), "unreadable") != NULL, "message names the tensor");
    nl_safetensors *f = NULL;
    if (h_ok(nl_safetensors_open(&f, p), "old file still opens")) {
        nl_tensor *t = NULL;
        h_check(nl_safetensors_count(f) == 1, "old file has its one tensor");
        if (h_ok(nl_safetensors_load(&t, f, "good", NL_F32, NL_CPU_DEVICE), "load old"))
            h_close("old values", t, (double[]){3, 4}, 0, 0);
        nl_tensor_release(t);
        nl_safetensors_close(f);
    }
    DIR *d = opendir(dir);
    int temps = 0;
    for (struct dirent *de; (de = readdir(d));) temps += strstr(de->d_name, ".tmp.") != NULL;
    closedir(d);
    h_check(temps == 0, "no temp file left behind (%d)", temps);
    nl_tensor_release(good);
}

/* Optional cross-check against PyTorch's own byte layout (the `safetensors`
 * Python package is used when present; otherwise the check is skipped). */
static void test_python(void)
{
    if (system("/usr/bin/python3 -c 'import torch, safetensors' >/dev/null 2>&1") != 0) {
        printf("note: python3 with torch and safetensors not available; skipping the Python cross-check\n");
        return;
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import torch; from safetensors.torch import save_file; "
             "save_file({\"w\": torch.arange(6, dtype=torch.float32).reshape(2, 3), "
             "\"b\": torch.tensor([1.5], dtype=torch.bfloat16)}, \"%s\", metadata={\"k\": \"v\"})'",
             path_in("py.safetensors"));
    if (!h_check(system(cmd) == 0, "python wrote a file")) return;
    nl_safetensors *f = NULL;
    if (!h_ok(nl_safetensors_open(&f, path_in("py.safetensors")), "open the Python file")) return;
    nl_tensor *t = NULL;
    if (h_ok(nl_safetensors_load(&t, f, "w", NL_F32, NL_CPU_DEVICE), "load w"))
        h_close("python w", t, (double[]){0, 1, 2, 3, 4, 5}, 0, 0);
    nl_tensor_release(t);
    nl_safetensors_close(f);
}

static void cleanup(void)
{
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *de; (de = readdir(d));)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) unlink(path_in(de->d_name));
    closedir(d);
    rmdir(dir);
}

int main(void)
{
    h_init("safetensors");
    snprintf(dir, sizeof dir, "/tmp/nl_st_XXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    test_bad_framing();
    test_bad_entries();
    test_hand_built();
    test_round_trip();
    test_atomic_save();
    test_python();
    cleanup();
    return h_finish();
}
