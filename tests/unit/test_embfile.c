/* test_embfile.c — NPY files (runtime/io/npy.c) and embedding tables
 * (runtime/eval/embfile.c): header parsing by hand, files written by numpy
 * (tests/fixtures/npy, from tests/ref/make_npy_fixtures.py) read back and
 * our writer byte-identical to numpy's, round trips of both table formats,
 * and the bad inputs of BAD-INPUTS.md (truncated, wrong dtype, Fortran
 * order, huge or malformed headers, non-unit rows, id count mismatches,
 * duplicate or multi-line ids). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "embfile.h"
#include "harness.h"
#include "npy.h"
#include "safetensors.h"

static char fixdir[900], dir[64];

static const char *fix(const char *name)
{
    static char p[1000];
    snprintf(p, sizeof p, "%s/%s", fixdir, name);
    return p;
}

static const char *tmp(const char *name)
{
    static char p[2][200];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static void put(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(bytes, 1, n, f);
    fclose(f);
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = malloc(1 << 16);
    *n = fread(b, 1, 1 << 16, f);
    fclose(f);
    return b;
}

/* the table of make_npy_fixtures.py: unit rows, exact in f32 up to 0.6/0.8 */
static const float EMB[12] = {0.6f, 0.8f, 0, 0, 0, 0, 1, 0, 0.5f, 0.5f, 0.5f, 0.5f};

static void test_parse_header(void)
{
    nl_npy_header h;
    const char *ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }    \n";
    if (h_ok(nl_npy_parse_header(ok, strlen(ok), &h), "numpy's header"))
        h_check(!strcmp(h.descr, "<f4") && !h.fortran_order && h.ndim == 2 && h.shape[0] == 3 && h.shape[1] == 4,
                "parsed descr/order/shape");
    const char *reordered = "{\"shape\":(7,),\"fortran_order\":True,\"descr\":\"<f8\"}";
    if (h_ok(nl_npy_parse_header(reordered, strlen(reordered), &h), "keys in another order, double quotes"))
        h_check(h.ndim == 1 && h.shape[0] == 7 && h.fortran_order && !strcmp(h.descr, "<f8"), "1-tuple shape");
    const char *scalar = "{'descr': '<f4', 'fortran_order': False, 'shape': (), }";
    if (h_ok(nl_npy_parse_header(scalar, strlen(scalar), &h), "0-d shape")) h_check(h.ndim == 0, "ndim 0");
    const char *bad[] = {
        "'descr': '<f4'}",                                                       /* no brace */
        "{'descr': '<f4', 'fortran_order': False}",                              /* shape missing */
        "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}", /* duplicate */
        "{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}",         /* unknown key */
        "{'descr': '<f4', 'fortran_order': maybe, 'shape': ()}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-3,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3 4)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}", /* 2^64 elements */
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1)}",      /* 9 dims */
        "{'descr': '<f4, 'fortran_order': False, 'shape': ()}",                         /* unterminated */
        "{'descr': '<f4', 'fortran_order': False, 'shape': ()} x",                      /* trailing */
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,",                        /* cut */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char what[160];
        snprintf(what, sizeof what, "bad header %s", bad[i]);
        h_expect_error(nl_npy_parse_header(bad[i], strlen(bad[i]), &h), NL_ERR_FORMAT, what);
    }
}

static void test_numpy_files(void)
{
    nl_tensor *t = NULL;
    if (h_ok(nl_npy_load_f32(&t, fix("emb.npy")), "read numpy's emb.npy")) {
        h_check(t->ndim == 2 && t->shape[0] == 3 && t->shape[1] == 4, "shape [3 4]");
        h_check(!memcmp(nl_tensor_host_ptr(t), EMB, sizeof EMB), "values of emb.npy");
        nl_tensor_release(t);
    }
    /* our writer gives numpy's bytes */
    if (h_ok(nl_npy_save_f32(tmp("ours.npy"), 2, (const int64_t[]){3, 4}, EMB), "write emb.npy")) {
        size_t na = 0, nb = 0;
        char *a = slurp(tmp("ours.npy"), &na), *b = slurp(fix("emb.npy"), &nb);
        h_check(a && b && na == nb && !memcmp(a, b, na), "written file equals numpy's (%zu vs %zu bytes)", na, nb);
        h_check(na % 64 == 48 && a && a[8] + 10 == 128, "header padded to 64 bytes");
        free(a);
        free(b);
    }
    if (h_ok(nl_npy_load_f32(&t, fix("vector.npy")), "1-d array")) {
        h_check(t->ndim == 1 && t->shape[0] == 5 && ((float *)nl_tensor_host_ptr(t))[4] == 4.0f, "arange(5)");
        nl_tensor_release(t);
    }
    h_expect_error(nl_npy_load_f32(&t, fix("fortran.npy")), NL_ERR_FORMAT, "Fortran order");
    h_expect_error(nl_npy_load_f32(&t, fix("f64.npy")), NL_ERR_DTYPE, "float64");
    h_expect_error(nl_npy_load_f32(&t, fix("bigendian.npy")), NL_ERR_DTYPE, "big-endian float32");
    h_check(t == NULL, "no tensor after an error");
}

static void test_bad_files(void)
{
    size_t n = 0;
    char *good = slurp(fix("emb.npy"), &n);
    if (!h_check(good != NULL && n == 176, "fixture emb.npy present")) return;
    nl_tensor *t = NULL;
    put(tmp("x.npy"), good, n - 1);
    h_expect_error(nl_npy_load_f32(&t, tmp("x.npy")), NL_ERR_FORMAT, "data one byte short");
    put(tmp("x.npy"), good, 100);
    h_expect_error(nl_npy_load_f32(&t, tmp("x.npy")), NL_ERR_FORMAT, "cut inside the header");
    put(tmp("x.npy"), good, 5);
    h_expect_error(nl_npy_load_f32(&t, tmp("x.npy")), NL_ERR_FORMAT, "5-byte file");
    put(tmp("x.npy"), "", 0);
    h_expect_error(nl_npy_load_f32(&t, tmp("x.npy")), NL_ERR_FORMAT, "empty file");
    char *b = malloc(n + 8);
    memcpy(b, good, n);
    memset(b + n, 0, 8);
    put(tmp("x.npy"), b, n + 4);
    h_expect_error(nl_npy_load_f32(&t, tmp("x.npy")), NL_ERR_FORMAT, "trailing bytes");
    memcpy(b, good, n);
    b[0] = 'X';
    put(tmp("x.npy"), b, n);
    h_expect_error(nl_npy_load_f32(&t, tmp("x.npy")), NL_ERR_FORMAT, "wrong magic");
    memcpy(b, good, n);
    b[6] = 4;
    put(tmp("x.npy"), b, n);
    h_expect_error(nl_npy_load_f32(&t, tmp("x.npy")), NL_ERR_FORMAT, "version 4.0");
    memcpy(b, good, n);
    b[8] = (char)0xff, b[9] = (char)0xff; /* v1 header length 65535 > file */
    put(tmp("x.npy"), b, n);
    h_expect_error(nl_npy_load_f32(&t, tmp("x.npy")), NL_ERR_FORMAT, "header length past the end");
    /* v2 with a 4 GiB header length: refused before any allocation */
    unsigned char v2[16] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0xff, 0xff, 0xff, 0xff, '{', '}', ' ', '\n'};
    put(tmp("x.npy"), v2, sizeof v2);
    h_expect_error(nl_npy_load_f32(&t, tmp("x.npy")), NL_ERR_FORMAT, "huge v2 header length");
    /* shape claims 2^40 elements: refused by size, no allocation */
    const char *hd = "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }";
    size_t hl = 118;
    memset(b, ' ', 128);
    memcpy(b, good, 8);
    b[8] = (char)hl, b[9] = 0;
    memcpy(b + 10, hd, strlen(hd));
    b[127] = '\n';
    put(tmp("x.npy"), b, 128);
    h_expect_error(nl_npy_load_f32(&t, tmp("x.npy")), NL_ERR_FORMAT, "shape far beyond the data");
    memcpy(b, good, n);
    b[20] = (char)0xc3; /* non-ASCII in a v1 header */
    put(tmp("x.npy"), b, n);
    h_expect_error(nl_npy_load_f32(&t, tmp("x.npy")), NL_ERR_FORMAT, "non-ASCII header byte");
    h_expect_error(nl_npy_load_f32(&t, tmp("missing.npy")), NL_ERR_IO, "missing file");
    h_expect_error(nl_npy_load_f32(&t, dir), NL_ERR_IO, "a directory");
    h_expect_error(nl_npy_save_f32(tmp("y.npy"), 2, (const int64_t[]){-1, 4}, EMB), NL_ERR_ARG, "negative dim");
    free(b);
    free(good);
}

static void test_tables(void)
{
    const char *ids[3] = {"n1", "note-二", "n3"};
    nl_tensor *e = h_from(2, (const int64_t[]){3, 4}, EMB), *got = NULL;
    char **gid = NULL;
    int64_t n = 0;
    /* numpy + text file, as a FAISS user would write them */
    if (h_ok(nl_emb_load(fix("emb.npy"), &got, &gid, &n), "load fixture emb.npy + emb.ids.txt")) {
        h_check(n == 3 && !strcmp(gid[0], "n1") && !strcmp(gid[1], "note-二") && !strcmp(gid[2], "n3"), "ids");
        h_check(!memcmp(nl_tensor_host_ptr(got), EMB, sizeof EMB), "values");
        nl_tensor_release(got);
        nl_emb_ids_free(gid, n);
    }
    const char *names[] = {"t.safetensors", "t.npy"};
    for (int k = 0; k < 2; k++) {
        if (!h_ok(nl_emb_save(tmp(names[k]), e, ids, 3), names[k])) continue;
        if (h_ok(nl_emb_load(tmp(names[k]), &got, &gid, &n), "load it back")) {
            h_check(n == 3 && got->shape[0] == 3 && got->shape[1] == 4, "%s: shape", names[k]);
            h_check(!memcmp(nl_tensor_host_ptr(got), EMB, sizeof EMB), "%s: values", names[k]);
            for (int i = 0; i < 3; i++) h_check(!strcmp(gid[i], ids[i]), "%s: id %d", names[k], i);
            nl_tensor_release(got);
            nl_emb_ids_free(gid, n);
        }
    }
    size_t len = 0;
    char *txt = slurp(tmp("t.ids.txt"), &len);
    h_check(txt && len == strlen("n1\nnote-二\nn3\n") && !memcmp(txt, "n1\nnote-二\nn3\n", len), "ids file content");
    free(txt);
    /* CRLF and no final newline are read */
    put(tmp("t.ids.txt"), "n1\r\nnote-二\r\nn3", strlen("n1\r\nnote-二\r\nn3"));
    if (h_ok(nl_emb_load(tmp("t.npy"), &got, &gid, &n), "CRLF ids file")) {
        h_check(n == 3 && !strcmp(gid[1], "note-二") && !strcmp(gid[2], "n3"), "CRLF ids");
        nl_tensor_release(got);
        nl_emb_ids_free(gid, n);
    }
    /* bad tables */
    put(tmp("t.ids.txt"), "n1\nn2\n", 6);
    h_expect_error(nl_emb_load(tmp("t.npy"), &got, &gid, &n), NL_ERR_FORMAT, "2 ids for 3 rows");
    put(tmp("t.ids.txt"), "n1\n\nn3\n", 7);
    h_expect_error(nl_emb_load(tmp("t.npy"), &got, &gid, &n), NL_ERR_FORMAT, "empty id line");
    put(tmp("t.ids.txt"), "n1\nn1\nn3\n", 9);
    h_expect_error(nl_emb_load(tmp("t.npy"), &got, &gid, &n), NL_ERR_FORMAT, "duplicate id in the file");
    unlink(tmp("t.ids.txt"));
    h_expect_error(nl_emb_load(tmp("t.npy"), &got, &gid, &n), NL_ERR_IO, "no ids file");
    h_check(got == NULL && gid == NULL && n == 0, "outputs cleared after an error");
    const float half[12] = {0.5f, 0, 0, 0, 0, 0, 1, 0, 0.5f, 0.5f, 0.5f, 0.5f};
    nl_npy_save_f32(tmp("t.npy"), 2, (const int64_t[]){3, 4}, half);
    put(tmp("t.ids.txt"), "n1\nn2\nn3\n", 9);
    h_expect_error(nl_emb_load(tmp("t.npy"), &got, &gid, &n), NL_ERR_FORMAT, "row 0 of norm 0.5");
    h_check(strstr(nl_last_error(), "row 0") && strstr(nl_last_error(), "0.5"), "message names the row and norm: %s",
            nl_last_error());
    nl_npy_save_f32(tmp("t.npy"), 1, (const int64_t[]){3}, EMB);
    h_expect_error(nl_emb_load(tmp("t.npy"), &got, &gid, &n), NL_ERR_FORMAT, "1-d array");
    nl_tensor *h = h_from(2, (const int64_t[]){3, 4}, half);
    h_expect_error(nl_emb_save(tmp("u.npy"), h, ids, 3), NL_ERR_FORMAT, "save a non-unit row");
    h_check(access(tmp("u.npy"), F_OK) != 0, "nothing written");
    nl_tensor_release(h);
    const char *dup[3] = {"a", "b", "a"}, *nl[3] = {"a", "b\nc", "d"}, *empty[3] = {"a", "", "c"};
    h_expect_error(nl_emb_save(tmp("u.safetensors"), e, dup, 3), NL_ERR_ARG, "duplicate ids");
    h_expect_error(nl_emb_save(tmp("u.safetensors"), e, nl, 3), NL_ERR_ARG, "id with a newline");
    h_expect_error(nl_emb_save(tmp("u.safetensors"), e, empty, 3), NL_ERR_ARG, "empty id");
    h_expect_error(nl_emb_save(tmp("u.safetensors"), e, ids, 2), NL_ERR_SHAPE, "2 ids for 3 rows");
    h_expect_error(nl_emb_save(tmp("u.csv"), e, ids, 3), NL_ERR_ARG, "unknown extension");
    /* a safetensors file without the id metadata (e.g. written by hand) */
    const char *nm[] = {"embeddings"};
    nl_safetensors_save(tmp("v.safetensors"), 1, nm, &e, 0, NULL);
    h_expect_error(nl_emb_load(tmp("v.safetensors"), &got, &gid, &n), NL_ERR_FORMAT, "no note_ids metadata");
    const char *meta2[] = {"note_ids", "[\"a\",\"b\"]"};
    nl_safetensors_save(tmp("v.safetensors"), 1, nm, &e, 1, meta2);
    h_expect_error(nl_emb_load(tmp("v.safetensors"), &got, &gid, &n), NL_ERR_FORMAT, "2 ids in metadata, 3 rows");
    const char *meta3[] = {"note_ids", "[\"a\",\"b\",3]"};
    nl_safetensors_save(tmp("v.safetensors"), 1, nm, &e, 1, meta3);
    h_expect_error(nl_emb_load(tmp("v.safetensors"), &got, &gid, &n), NL_ERR_FORMAT, "a number among the ids");
    const char *meta4[] = {"note_ids", "{not json"};
    nl_safetensors_save(tmp("v.safetensors"), 1, nm, &e, 1, meta4);
    h_expect_error(nl_emb_load(tmp("v.safetensors"), &got, &gid, &n), NL_ERR_FORMAT, "ids not JSON");
    const char *other[] = {"weights"}, *meta5[] = {"note_ids", "[\"a\",\"b\",\"c\"]"};
    nl_safetensors_save(tmp("v.safetensors"), 1, other, &e, 1, meta5);
    h_expect_error(nl_emb_load(tmp("v.safetensors"), &got, &gid, &n), NL_ERR_FORMAT, "no embeddings tensor");
    nl_tensor_release(e);
}

int main(int argc, char **argv)
{
    h_init("embfile");
    const char *top = getenv("NL_FIXTURES");
    if (argc > 1) snprintf(fixdir, sizeof fixdir, "%s", argv[1]);
    else snprintf(fixdir, sizeof fixdir, "%s/npy", top ? top : "tests/fixtures");
    snprintf(dir, sizeof dir, "/tmp/nl_emb_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_parse_header();
    test_numpy_files();
    test_bad_files();
    test_tables();
    const char *left[] = {"ours.npy", "x.npy", "t.safetensors", "t.npy", "t.ids.txt", "v.safetensors", "u.ids.txt"};
    for (size_t i = 0; i < sizeof left / sizeof *left; i++) unlink(tmp(left[i]));
    rmdir(dir);
    return h_finish();
}
