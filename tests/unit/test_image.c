/* test_image.c — image decoding and CLIP preprocessing against fixtures made
 * by PIL (tests/ref/make_image_fixtures.py): every PNG colour type and depth,
 * JPEG (RGB, grey, progressive, CMYK), WebP, sniffing, the bad inputs of
 * BAD-INPUTS.md, the PIL-exact bicubic pipeline, flip, the zero-image policy
 * and PNG writing. Depends on the runtime and the harness; scratch files live
 * in a temp dir, fixtures in $abs_top_srcdir/tests/fixtures/images (or argv[1]). */
#define _GNU_SOURCE
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "config.h"
#include "harness.h"
#include "io/image.h"
#include "io/safetensors.h"

static char dir[64];
static char fixdir[1024];
static nl_safetensors *expect;

static const char *path_in(const char *name)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

static const char *fixture(const char *name)
{
    static char buf[1200];
    snprintf(buf, sizeof buf, "%s/%s", fixdir, name);
    return buf;
}

/* Whole file into a malloc'ed buffer (NULL when unreadable). */
static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(b, 1, (size_t)n, fp);
    fclose(fp);
    return b;
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (n) fwrite(p, 1, n, fp);
    fclose(fp);
}

/* Expected values of `name` from expected.safetensors as a host buffer. */
static void *expected(const char *name, nl_dtype dt, int *ndim, int64_t *shape)
{
    nl_tensor *t = NULL;
    nl_dtype sdt;
    if (!h_ok(nl_safetensors_shape(expect, nl_safetensors_find(expect, name), &sdt, ndim, shape), name)) return NULL;
    if (!h_ok(nl_safetensors_load(&t, expect, name, dt, NL_CPU_DEVICE), name)) return NULL;
    size_t nb = nl_tensor_nbytes(t);
    void *p = malloc(nb);
    memcpy(p, nl_tensor_host_ptr(t), nb);
    nl_tensor_release(t);
    return p;
}

/* ---- decoding --------------------------------------------------------------- */

static void test_fixture_decodes(void)
{
    int n = nl_safetensors_count(expect), seen = 0;
    for (int i = 0; i < n; i++) {
        const char *name = nl_safetensors_name(expect, i);
        if (strncmp(name, "rgb/", 4) != 0) continue;
        const char *file = name + 4;
        bool jpeg = strstr(file, ".jpg") || strcmp(file, "sniff-noext") == 0;
        jpeg = jpeg && strcmp(file, "png-named.jpg") != 0;
        bool webp = strstr(file, ".webp") != NULL;
#ifndef HAVE_JPEG
        if (jpeg) { printf("note: JPEG not built; skipping %s\n", file); continue; }
#endif
#ifndef HAVE_WEBP
        if (webp) { printf("note: WebP not built; skipping %s\n", file); continue; }
#endif
        (void)webp;
        int nd;
        int64_t sh[NL_MAX_DIMS];
        uint8_t *want = expected(name, NL_U8, &nd, sh);
        if (!want) continue;
        nl_image img;
        if (h_ok(nl_image_load(&img, fixture(file)), file)) {
            bool dims = img.width == sh[1] && img.height == sh[0] && img.channels == 3;
            int maxd = 0;
            if (dims)
                for (int64_t k = 0; k < sh[0] * sh[1] * 3; k++) {
                    int d = abs((int)img.pixels[k] - (int)want[k]);
                    if (d > maxd) maxd = d;
                }
            /* JPEG: PIL links the same libjpeg-turbo here, so we expect 0; a
             * different IDCT build may differ by 1-2 levels. PNG/WebP: exact. */
            h_check(dims && maxd <= (jpeg ? 2 : 0), "%s decodes to PIL's %lldx%lld RGB (got %dx%dx%d, max |diff| %d)",
                    file, (long long)sh[1], (long long)sh[0], img.width, img.height, img.channels, maxd);
            seen++;
        }
        nl_image_free(&img);
        free(want);
    }
    h_check(seen >= 20, "decoded %d fixture files", seen);
}

/* The magic bytes decide, not the name: decode a JPEG buffer called .png and
 * a PNG buffer with no name at all. */
static void test_sniff(void)
{
    size_t n;
    uint8_t *b = slurp(fixture("rgb8.png"), &n);
    nl_image img;
    if (h_ok(nl_image_decode(&img, b, n, NULL), "PNG from memory without a name"))
        h_check(img.width == 37 && img.height == 23, "PNG from memory is 37x23");
    nl_image_free(&img);
    free(b);
#ifdef HAVE_JPEG
    b = slurp(fixture("rgb.jpg"), &n);
    if (h_ok(nl_image_decode(&img, b, n, "looks-like.png"), "JPEG bytes named .png"))
        h_check(img.width == 37 && img.height == 23, "JPEG sniffed despite the name");
    nl_image_free(&img);
    free(b);
#endif
    h_check(strstr(nl_image_formats(), "png") != NULL, "formats: %s", nl_image_formats());
}

static void expect_bad(const char *what, const uint8_t *b, size_t n, nl_status want, const char *needle)
{
    nl_image img = {.width = 7};
    nl_status st = nl_image_decode(&img, b, n, "bad-input");
    h_check(st == want && img.pixels == NULL && img.width == 0, "%s: rejected with %s (got %s)", what,
            nl_status_name(want), nl_status_name(st));
    h_check(strstr(nl_last_error(), needle) != NULL && strstr(nl_last_error(), "bad-input") != NULL,
            "%s: message names the input and \"%s\": %s", what, needle, nl_last_error());
    nl_image_free(&img);
}

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* Signature + IHDR (w x h, 8-bit RGB) + IEND, CRCs correct, no pixel data. */
static size_t crafted_png(uint8_t *b, uint32_t w, uint32_t h)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(b, sig, 8);
    put_be32(b + 8, 13);
    memcpy(b + 12, "IHDR", 4);
    put_be32(b + 16, w);
    put_be32(b + 20, h);
    b[24] = 8, b[25] = 2, b[26] = 0, b[27] = 0, b[28] = 0;
    put_be32(b + 29, crc32_of(b + 12, 17));
    put_be32(b + 33, 0);
    memcpy(b + 37, "IEND", 4);
    put_be32(b + 41, crc32_of(b + 37, 4));
    return 45;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void test_bad_inputs(void)
{
    expect_bad("empty buffer", (const uint8_t *)"", 0, NL_ERR_FORMAT, "empty file");
    expect_bad("wrong magic", (const uint8_t *)"hello world", 11, NL_ERR_FORMAT, "first bytes 68 65 6c 6c 6f 20 77 6f");
    expect_bad("GIF", (const uint8_t *)"GIF89a\1\0\1\0", 10, NL_ERR_FORMAT, "GIF images are not supported");
    expect_bad("1 byte", (const uint8_t *)"\xff", 1, NL_ERR_FORMAT, "first bytes ff (1 bytes)");

    size_t n;
    uint8_t *b = slurp(fixture("rgb8.png"), &n);
    size_t cuts[] = {5, 8, 20, 33, 60, n / 2, n - 12, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "PNG truncated to %zu of %zu bytes", cuts[i], n);
        expect_bad(what, b, cuts[i], NL_ERR_FORMAT, "truncated");
    }
    uint8_t bad[64];
    memcpy(bad, b, 64);
    bad[17] ^= 1; /* width byte: IHDR CRC no longer matches */
    expect_bad("PNG with a corrupt IHDR CRC", bad, 64, NL_ERR_FORMAT, "CRC");
    free(b);

    uint8_t png[64];
    expect_bad("PNG 0x23", png, crafted_png(png, 0, 23), NL_ERR_FORMAT, "width");
    expect_bad("PNG 37x0", png, crafted_png(png, 37, 0), NL_ERR_FORMAT, "height");

    /* 100000 x 100000 = 10^10 pixels: rejected from the header, no buffer. */
    nl_mem_stats before, after;
    nl_host_mem_stats(&before);
    double t0 = now();
    expect_bad("PNG declaring 100000x100000", png, crafted_png(png, 100000, 100000), NL_ERR_FORMAT,
               "100000x100000 = 10000000000 pixels, over the limit of 67108864");
    double dt = now() - t0;
    nl_host_mem_stats(&after);
    h_check(after.n_allocs == before.n_allocs && after.peak_bytes == before.peak_bytes,
            "100000x100000 PNG: no pixel buffer allocated (%zu allocs before, %zu after)", before.n_allocs,
            after.n_allocs);
    h_check(dt < 0.5, "100000x100000 PNG: rejected in %.3f s", dt);
    expect_bad("PNG declaring 2^31-1 x 1", png, crafted_png(png, 0x7fffffffu, 1), NL_ERR_FORMAT, "over the limit");

    b = slurp(fixture("rgb8.png"), &n);
    h_check(nl_image_max_pixels() == 64ull << 20, "default limit 64 Mpx (%llu)",
            (unsigned long long)nl_image_max_pixels());
    nl_image_set_max_pixels(850);
    expect_bad("37x23 PNG over a limit of 850 pixels", b, n, NL_ERR_FORMAT, "851 pixels, over the limit of 850");
    nl_image_set_max_pixels(851);
    nl_image img;
    h_ok(nl_image_decode(&img, b, n, "at the limit"), "37x23 PNG at a limit of 851 pixels");
    nl_image_free(&img);
    nl_image_set_max_pixels(64ull << 20);
    free(b);

#ifdef HAVE_JPEG
    b = slurp(fixture("rgb.jpg"), &n);
    expect_bad("JPEG truncated to 3 bytes", b, 3, NL_ERR_FORMAT, "JPEG");
    expect_bad("JPEG truncated to 100 bytes", b, 100, NL_ERR_FORMAT, "JPEG");
    expect_bad("JPEG truncated to half", b, n / 2, NL_ERR_FORMAT, "truncated");
    /* PIL refuses a JPEG missing only its EOI marker ("image file is truncated"); so do we. */
    expect_bad("JPEG without its EOI marker", b, n - 2, NL_ERR_FORMAT, "truncated");
    /* Patch the SOF0 frame size to 65500 x 65500 (4.3 Gpx). */
    uint8_t *big = malloc(n);
    memcpy(big, b, n);
    size_t sof = 0;
    for (size_t i = 2; i + 9 < n && !sof; i++)
        if (big[i] == 0xFF && big[i + 1] == 0xC0) sof = i;
    if (h_check(sof > 0, "rgb.jpg has an SOF0 marker")) {
        big[sof + 5] = 0xff, big[sof + 6] = 0xdc, big[sof + 7] = 0xff, big[sof + 8] = 0xdc;
        nl_host_mem_stats(&before);
        expect_bad("JPEG declaring 65500x65500", big, n, NL_ERR_FORMAT, "65500x65500 = 4290250000 pixels");
        nl_host_mem_stats(&after);
        h_check(after.n_allocs == before.n_allocs, "65500x65500 JPEG: no pixel buffer allocated");
    }
    free(big);
    free(b);
    b = slurp(fixture("progressive.jpg"), &n);
    expect_bad("progressive JPEG truncated to 2/3", b, n * 2 / 3, NL_ERR_FORMAT, "truncated");
    free(b);
#endif
#ifdef HAVE_WEBP
    b = slurp(fixture("lossless.webp"), &n);
    expect_bad("WebP truncated to half", b, n / 2, NL_ERR_FORMAT, "truncated");
    expect_bad("WebP truncated to 16 bytes", b, 16, NL_ERR_FORMAT, "WebP");
    if (h_check(n > 30 && memcmp(b + 12, "VP8L", 4) == 0, "lossless.webp is a simple VP8L file")) {
        b[21] = 0xff, b[22] = 0xff, b[23] = 0xff, b[24] = (uint8_t)((b[24] & 0xf0) | 0x0f);
        expect_bad("WebP declaring 16384x16384", b, n, NL_ERR_FORMAT, "16384x16384 = 268435456 pixels");
    }
    free(b);
#endif

    nl_status st = nl_image_load(&img, path_in("does-not-exist.png"));
    h_check(st == NL_ERR_IO && strstr(nl_last_error(), "does-not-exist.png"), "missing file: io-error naming it: %s",
            nl_last_error());
    st = nl_image_load(&img, dir);
    h_check(st == NL_ERR_IO, "directory: io-error (%s)", nl_last_error());
    write_file(path_in("empty.png"), "", 0);
    st = nl_image_load(&img, path_in("empty.png"));
    h_check(st == NL_ERR_FORMAT && strstr(nl_last_error(), "empty file"), "empty file: format-error: %s",
            nl_last_error());
}

/* Recompute every PNG chunk CRC so mutations reach zlib and the unfilter
 * code instead of stopping at the CRC check. */
static void fix_png_crcs(uint8_t *b, size_t n)
{
    size_t at = 8;
    while (at + 12 <= n) {
        uint32_t len = (uint32_t)b[at] << 24 | (uint32_t)b[at + 1] << 16 | (uint32_t)b[at + 2] << 8 | b[at + 3];
        if (len > n - at - 12) break;
        put_be32(b + at + 8 + len, crc32_of(b + at + 4, len + 4));
        at += 12 + (size_t)len;
    }
}

/* Mutation fuzzing of every decoder: random byte changes and truncations of
 * real files must give either a valid image or a format-error, never a crash
 * (run under ASan/valgrind by hand), a leak or a guard violation. */
static void test_fuzz(void)
{
    const char *files[] = {"rgb8.png", "p4-adam7.png", "ga16.png", "rgb.jpg", "progressive.jpg", "cmyk.jpg",
                           "lossless.webp", "lossy.webp"};
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        size_t n;
        uint8_t *orig = slurp(fixture(files[f]), &n);
        uint8_t *b = malloc(n);
        int ok = 0, format = 0, other = 0, bad_ok = 0;
        for (int iter = 0; iter < 300; iter++) {
            memcpy(b, orig, n);
            size_t len = n;
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            int edits = 1 + (int)(x % 8);
            for (int e = 0; e < edits; e++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                size_t at = 8 + (size_t)((x >> 8) % (n - 8)); /* keep the magic */
                b[at] = (x & 3) ? (uint8_t)(x >> 40) : (uint8_t)(b[at] ^ (1u << ((x >> 40) & 7)));
            }
            if (iter % 4 == 3) len = 8 + (size_t)((x >> 20) % (n - 8));
            if (strstr(files[f], ".png")) fix_png_crcs(b, len);
            nl_image img;
            nl_status st = nl_image_decode(&img, b, len, files[f]);
            if (st == NL_OK) {
                ok++;
                bad_ok += img.channels != 3 || img.width < 1 || img.height < 1 || !img.pixels;
            } else if (st == NL_ERR_FORMAT && strstr(nl_last_error(), files[f])) format++;
            else other++;
            nl_image_free(&img);
        }
        h_check(other == 0 && bad_ok == 0, "fuzz %s: 300 mutants -> %d decoded, %d format-errors, %d other", files[f],
                ok, format, other);
        free(b);
        free(orig);
    }
}

/* ---- preprocessing ---------------------------------------------------------- */

/* Compare against PIL + torch. Our resample repeats PIL's fixed-point
 * arithmetic, so the uint8 crop must be identical and the normalisation is the
 * same two f32 operations: the only slack is the f32 rounding of the mean/std
 * constants (Python rounds decimal->double->float), far below 1e-5. One uint8
 * level off would show as >= 1/255/0.2758 = 0.0142. */
static void check_pre(const char *ref, const char *file, int size, bool flip)
{
    char key[64];
    snprintf(key, sizeof key, "pre/%s", ref);
    int nd;
    int64_t sh[NL_MAX_DIMS];
    float *want = expected(key, NL_F32, &nd, sh);
    if (!want) return;
    nl_image img;
    nl_tensor *t = NULL;
    nl_image_preproc p = nl_image_preproc_clip(size);
    p.flip = flip;
    if (h_ok(nl_image_load(&img, fixture(file)), file) && h_ok(nl_image_to_tensor(&t, &img, &p), key)) {
        bool shape = t->ndim == 3 && t->shape[0] == 3 && t->shape[1] == size && t->shape[2] == size &&
                     t->dtype == NL_F32 && sh[1] == size;
        double maxd = 0;
        int off = 0;
        const float *o = nl_tensor_host_ptr(t);
        for (int c = 0; shape && c < 3; c++)
            for (int y = 0; y < size; y++)
                for (int x = 0; x < size; x++) {
                    int xs = flip ? size - 1 - x : x;
                    double d = fabs((double)o[(c * size + y) * size + x] - want[(c * size + y) * size + xs]);
                    if (d > maxd) maxd = d;
                    off += d > 1e-5;
                }
        h_check(shape && maxd <= 1e-5, "%s %s -> [3 %d %d]%s matches PIL/torch (max |diff| %.3g, %d elements "
                "over 1e-5)", ref, file, size, size, flip ? " flipped" : "", maxd, off);
    }
    nl_tensor_release(t);
    nl_image_free(&img);
    free(want);
}

static void test_preprocess(void)
{
    check_pre("up", "rgb8.png", 32, false);
    check_pre("down", "tall.png", 16, false);
    check_pre("same", "rgb8.png", 23, false);
    check_pre("up", "rgb8.png", 32, true);
    check_pre("down", "tall.png", 16, true);

    nl_image_preproc p = nl_image_preproc_clip(224);
    h_check(p.size == 224 && !p.flip && p.mean[0] == 0.48145466f && p.std[2] == 0.27577711f,
            "nl_image_preproc_clip(224): CLIP mean/std, no flip");
    nl_image img;
    nl_tensor *t = NULL;
    if (h_ok(nl_image_load(&img, fixture("rgb8.png")), "rgb8.png") && h_ok(nl_image_to_tensor(&t, &img, &p), "224")) {
        const float *o = nl_tensor_host_ptr(t);
        bool in_range = true;
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < 224 * 224; k++) {
                float v = o[c * 224 * 224 + k];
                in_range &= v >= (0 - p.mean[c]) / p.std[c] - 1e-6f && v <= (1 - p.mean[c]) / p.std[c] + 1e-6f;
            }
        h_check(t->shape[0] == 3 && t->shape[1] == 224 && t->shape[2] == 224 && in_range,
                "37x23 -> CLIP [3 224 224], every value within [(0-mean)/std, (1-mean)/std]");
    }
    nl_tensor_release(t);
    t = NULL;

    nl_image_preproc bad = p;
    bad.size = 0;
    h_expect_error(nl_image_to_tensor(&t, &img, &bad), NL_ERR_ARG, "size 0");
    bad = p;
    bad.std[1] = 0;
    h_expect_error(nl_image_to_tensor(&t, &img, &bad), NL_ERR_ARG, "std 0");
    nl_image none = {0};
    h_expect_error(nl_image_to_tensor(&t, &none, &p), NL_ERR_ARG, "undecoded image");
    nl_image_free(&img);

    /* An extreme aspect ratio: 3x2000 -> shorter side 224 gives 224x149333;
     * only the crop window is resampled, so this is quick and small. */
    nl_image thin = {.width = 3, .height = 2000, .channels = 3};
    void *px = NULL;
    if (h_ok(nl_host_alloc(3 * 2000 * 3, &px), "alloc")) {
        thin.pixels = px;
        for (int k = 0; k < 3 * 2000 * 3; k++) thin.pixels[k] = (uint8_t)(k * 7);
        nl_mem_stats before, after;
        nl_host_mem_reset_peak();
        nl_host_mem_stats(&before);
        if (h_ok(nl_image_to_tensor(&t, &thin, &p), "3x2000 to 224"))
            h_check(t->shape[1] == 224 && t->shape[2] == 224, "3x2000 -> [3 224 224]");
        nl_host_mem_stats(&after);
        h_check(after.peak_bytes - before.live_bytes < 4u << 20, "3x2000 -> 224: peak %zu bytes above the start",
                after.peak_bytes - before.live_bytes);
        nl_tensor_release(t);
        t = NULL;
        nl_image_free(&thin);
    }
}

static void test_zero_policy(void)
{
    nl_image_preproc p = nl_image_preproc_clip(8);
    nl_tensor *t = NULL;
    bool zeroed = true;
    nl_status st = nl_image_load_tensor(&t, fixture("rgb8.png"), &p, true, &zeroed);
    if (h_ok(st, "load_tensor rgb8.png"))
        h_check(!zeroed && t->shape[1] == 8, "a good file is not zeroed");
    nl_tensor_release(t);
    t = NULL;

    st = nl_image_load_tensor(&t, path_in("missing.jpg"), &p, false, &zeroed);
    h_check(st == NL_ERR_IO && t == NULL && !zeroed, "missing file without the policy: io-error (%s)",
            nl_status_name(st));
    st = nl_image_load_tensor(&t, path_in("missing.jpg"), &p, true, &zeroed);
    if (h_check(st == NL_OK && zeroed && t, "missing file with the policy: a zero image, was_zeroed set")) {
        double *v = h_values(t);
        bool zero = t->shape[0] == 3 && t->shape[1] == 8 && t->shape[2] == 8;
        for (int k = 0; zero && k < 3 * 8 * 8; k++) zero = v[k] == 0.0;
        free(v);
        h_check(zero, "the zero image is [3 8 8] of zeros");
        h_check(strstr(nl_last_error(), "missing.jpg") != NULL, "the reason stays in nl_last_error: %s",
                nl_last_error());
    }
    nl_tensor_release(t);
    t = NULL;
    write_file(path_in("junk.png"), "not an image", 12);
    st = nl_image_load_tensor(&t, path_in("junk.png"), &p, true, &zeroed);
    h_check(st == NL_OK && zeroed && strstr(nl_last_error(), "unknown image format"),
            "undecodable file with the policy: zeroed, reason kept: %s", nl_last_error());
    nl_tensor_release(t);
    t = NULL;
    nl_image_preproc bad = p;
    bad.size = -1;
    st = nl_image_load_tensor(&t, path_in("junk.png"), &bad, true, &zeroed);
    h_check(st == NL_ERR_ARG && !zeroed && !t, "a bad preproc is an error even with the policy (%s)",
            nl_status_name(st));
    h_expect_error(nl_image_zero_tensor(&t, 0), NL_ERR_ARG, "zero tensor of size 0");
}

/* ---- writing ---------------------------------------------------------------- */

static void test_write_png(void)
{
    enum { W = 13, H = 7 };
    uint8_t px[W * H * 3];
    for (int k = 0; k < W * H * 3; k++) px[k] = (uint8_t)(k * 37 + (k >> 3));
    char p[512];
    snprintf(p, sizeof p, "%s", path_in("out.png"));
    write_file(p, "old contents", 12);
    nl_image img;
    if (h_ok(nl_image_write_png(p, px, W, H, true), "write 13x7 PNG over an existing file") &&
        h_ok(nl_image_load(&img, p), "read it back")) {
        h_check(img.width == W && img.height == H && memcmp(img.pixels, px, sizeof px) == 0,
                "write_png -> load round trip is exact");
        nl_image_free(&img);
    }
    nl_status st = nl_image_write_png(path_in("no-such-dir/out.png"), px, W, H, true);
    h_check(st == NL_ERR_IO, "write into a missing directory: io-error (%s)", nl_last_error());
    h_expect_error(nl_image_write_png(p, px, 0, H, true), NL_ERR_ARG, "write width 0");
    h_expect_error(nl_image_write_png(p, NULL, W, H, true), NL_ERR_ARG, "write NULL pixels");
    if (h_ok(nl_image_load(&img, p), "file intact after failed writes")) {
        h_check(memcmp(img.pixels, px, sizeof px) == 0, "previous PNG unchanged");
        nl_image_free(&img);
    }
    DIR *d = opendir(dir);
    int temps = 0;
    for (struct dirent *de; (de = readdir(d));) temps += strstr(de->d_name, ".tmp.") != NULL;
    closedir(d);
    h_check(temps == 0, "no temp file left behind (%d)", temps);

    /* PIL reads what we write (skipped without python3 + PIL). */
    if (system("/usr/bin/python3 -c 'import PIL' >/dev/null 2>&1") != 0) {
        printf("note: python3 with PIL not available; skipping the PIL cross-check\n");
        return;
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c 'import sys; from PIL import Image; im = Image.open(sys.argv[1]); "
             "sys.stdout.buffer.write(im.mode.encode() + b\":\" + im.tobytes())' %s", p);
    FILE *fp = popen(cmd, "r");
    uint8_t got[4 + sizeof px];
    size_t n = fp ? fread(got, 1, sizeof got, fp) : 0;
    if (fp) pclose(fp);
    h_check(n == sizeof got && memcmp(got, "RGB:", 4) == 0 && memcmp(got + 4, px, sizeof px) == 0,
            "PIL reads our PNG as the same RGB pixels");
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

int main(int argc, char **argv)
{
    h_init("image");
    const char *top = getenv("abs_top_srcdir");
    const char *srcdir = getenv("srcdir");
    if (argc > 1) snprintf(fixdir, sizeof fixdir, "%s", argv[1]);
    else if (top) snprintf(fixdir, sizeof fixdir, "%s/tests/fixtures/images", top);
    else if (srcdir) snprintf(fixdir, sizeof fixdir, "%s/tests/fixtures/images", srcdir);
    else snprintf(fixdir, sizeof fixdir, "tests/fixtures/images");
    snprintf(dir, sizeof dir, "/tmp/nl_img_XXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    if (!h_ok(nl_safetensors_open(&expect, fixture("expected.safetensors")), "open the fixtures")) {
        printf("HINT: run from make check, or pass the fixture directory as argv[1]\n");
        cleanup();
        return h_finish();
    }
    nl_mem_stats start, end;
    nl_host_mem_stats(&start);
    test_fixture_decodes();
    test_sniff();
    test_bad_inputs();
    test_fuzz();
    test_preprocess();
    test_zero_policy();
    test_write_png();
    nl_host_mem_stats(&end);
    h_check(end.live_bytes == start.live_bytes, "no leaked host buffers (%zu live bytes before, %zu after)",
            start.live_bytes, end.live_bytes);
    nl_safetensors_close(expect);
    cleanup();
    return h_finish();
}
