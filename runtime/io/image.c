/* image.c — image decoding: format sniffing from magic bytes, the pixel limit
 * (checked from the header, before any pixel memory exists), PNG through
 * libpng, JPEG through libjpeg and WebP through libwebp (each library's
 * errors and warnings land in our message, never on stderr), file loading and
 * atomic PNG writing. Preprocessing lives in imgproc.c. Runtime core only. */
#define _GNU_SOURCE
#include "config.h"

#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <png.h>
#ifdef HAVE_JPEG
#include <jpeglib.h>
#include <jerror.h>
#endif
#ifdef HAVE_WEBP
#include <webp/decode.h>
#endif

#include "alloc.h"
#include "atomic.h"

#define IMG_MSG 256

static uint64_t img_max = 64ull << 20;

void nl_image_set_max_pixels(uint64_t n) { __atomic_store_n(&img_max, n ? n : 1, __ATOMIC_RELAXED); }
uint64_t nl_image_max_pixels(void) { return __atomic_load_n(&img_max, __ATOMIC_RELAXED); }

const char *nl_image_formats(void)
{
#if defined(HAVE_JPEG) && defined(HAVE_WEBP)
    return "png jpeg webp";
#elif defined(HAVE_JPEG)
    return "png jpeg";
#elif defined(HAVE_WEBP)
    return "png webp";
#else
    return "png";
#endif
}

void nl_image_free(nl_image *img)
{
    if (!img) return;
    if (img->pixels) nl_host_free(img->pixels, (size_t)img->width * img->height * img->channels);
    memset(img, 0, sizeof *img);
}

/* ---- shared checks -------------------------------------------------------- */

/* Validate a size declared by a file header against the pixel limit. */
static nl_status img_check_size(const char *name, const char *fmt, uint64_t w, uint64_t h)
{
    if (w == 0 || h == 0)
        return nl_error_set(NL_ERR_FORMAT, "image %s: %s declares a size of %llux%llu; width and height must "
                            "be at least 1", name, fmt, (unsigned long long)w, (unsigned long long)h);
    uint64_t max = nl_image_max_pixels();
    if (w > max || h > max || w * h > max)
        return nl_error_set(NL_ERR_FORMAT, "image %s: %s declares %llux%llu = %llu pixels, over the limit of %llu "
                            "HINT: nl_image_set_max_pixels raises the limit for trusted files", name, fmt,
                            (unsigned long long)w, (unsigned long long)h,
                            (unsigned long long)(w * h), (unsigned long long)max);
    return NL_OK;
}

static nl_status img_alloc(nl_image *out, const char *name, int w, int h)
{
    size_t n;
    if (nl_mul_size((size_t)w * 3, (size_t)h, &n) != 0)
        return nl_error_set(NL_ERR_OOM, "image %s: %dx%d RGB overflows size_t", name, w, h);
    void *p = NULL;
    nl_status st = nl_host_alloc(n, &p);
    if (st != NL_OK) return nl_error_prefix(st, name);
    out->width = w;
    out->height = h;
    out->channels = 3;
    out->pixels = p;
    return NL_OK;
}

/* "; <lib> warning: <first warning> (+N more)" or "", for messages. */
static const char *img_warn_suffix(char *dst, size_t n, const char *lib, const char *warn, int n_warn)
{
    if (n_warn == 0) dst[0] = '\0';
    else if (n_warn == 1) snprintf(dst, n, "; %s warning: %s", lib, warn);
    else snprintf(dst, n, "; %s warning: %s (+%d more)", lib, warn, n_warn - 1);
    return dst;
}

/* ---- PNG ------------------------------------------------------------------- */

typedef struct png_ctx {
    const uint8_t *buf;
    size_t len, pos;
    const char *name;
    png_structp png;
    png_infop info;
    nl_image img;        /* pixels owned here until success */
    nl_status st;        /* our own error (size limit, layout), else NL_OK */
    char err[IMG_MSG], warn[IMG_MSG];
    int n_warn;
} png_ctx;

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->err, sizeof c->err, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr(png);
    if (c->n_warn++ == 0) snprintf(c->warn, sizeof c->warn, "%s", msg);
}

static void png_read_mem(png_structp png, png_bytep dst, size_t n)
{
    png_ctx *c = png_get_io_ptr(png);
    if (n > c->len - c->pos) {
        c->pos = c->len;
        png_error(png, "file is truncated (unexpected end of data)");
    }
    memcpy(dst, c->buf + c->pos, n);
    c->pos += n;
}

/* Everything libpng may longjmp out of. State lives in *c, so nothing local
 * to the setjmp caller changes after setjmp. */
static void png_steps(png_ctx *c)
{
    png_structp png = c->png;
    png_infop info = c->info;
    png_set_read_fn(png, c, png_read_mem);
    png_set_user_limits(png, 0x7fffffffu, 0x7fffffffu); /* our pixel limit governs */
    png_read_info(png, info);
    png_uint_32 w, h;
    int depth, ctype, interlace;
    png_get_IHDR(png, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    if ((c->st = img_check_size(c->name, "PNG", w, h)) != NL_OK) return;
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_strip_16(png); /* high byte: x >> 8 */
    png_set_strip_alpha(png);               /* alpha and tRNS dropped, like PIL's convert("RGB") */
    if (ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8 ||
        png_get_rowbytes(png, info) != (size_t)w * 3) {
        c->st = nl_error_set(NL_ERR_FORMAT, "image %s: PNG colour type %d, depth %d did not convert to 8-bit RGB "
                             "(%d channels, depth %d)", c->name, ctype, depth, png_get_channels(png, info),
                             png_get_bit_depth(png, info));
        return;
    }
    if ((c->st = img_alloc(&c->img, c->name, (int)w, (int)h)) != NL_OK) return;
    /* Row by row (no row-pointer array); interlaced passes combine in place. */
    for (int pass = 0; pass < passes; pass++)
        for (png_uint_32 y = 0; y < h; y++) png_read_row(png, c->img.pixels + (size_t)y * w * 3, NULL);
    png_read_end(png, NULL);
}

static int png_guarded(png_ctx *c)
{
    if (setjmp(png_jmpbuf(c->png))) return 1;
    png_steps(c);
    return 0;
}

static nl_status decode_png(nl_image *out, const uint8_t *buf, size_t len, const char *name)
{
    /* The size sits at a fixed place in the first chunk: refuse a huge image
     * before libpng reads anything else. Zero sizes are left to libpng. */
    if (len >= 24 && memcmp(buf + 12, "IHDR", 4) == 0) {
        uint32_t w = (uint32_t)buf[16] << 24 | (uint32_t)buf[17] << 16 | (uint32_t)buf[18] << 8 | buf[19];
        uint32_t h = (uint32_t)buf[20] << 24 | (uint32_t)buf[21] << 16 | (uint32_t)buf[22] << 8 | buf[23];
        if (w && h) NL_TRY(img_check_size(name, "PNG", w, h));
    }
    png_ctx *c = calloc(1, sizeof *c);
    if (!c) return nl_error_set(NL_ERR_OOM, "image %s: out of memory", name);
    c->buf = buf;
    c->len = len;
    c->name = name;
    c->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, c, png_on_error, png_on_warning);
    if (c->png) c->info = png_create_info_struct(c->png);
    nl_status st;
    if (!c->png || !c->info) {
        st = nl_error_set(NL_ERR_OOM, "image %s: libpng could not allocate its state", name);
    } else if (png_guarded(c)) {
        char ws[IMG_MSG + 64];
        st = nl_error_set(NL_ERR_FORMAT, "image %s: PNG decode failed: %s%s", name, c->err,
                          img_warn_suffix(ws, sizeof ws, "libpng", c->warn, c->n_warn));
    } else {
        st = c->st;
    }
    png_destroy_read_struct(c->png ? &c->png : NULL, c->info ? &c->info : NULL, NULL);
    if (st == NL_OK) *out = c->img;
    else nl_image_free(&c->img);
    free(c);
    return st;
}

/* ---- JPEG ------------------------------------------------------------------ */
#ifdef HAVE_JPEG

typedef struct jpg_ctx {
    struct jpeg_decompress_struct ci;
    struct jpeg_error_mgr jerr;
    jmp_buf jb;
    bool created, eof;
    const uint8_t *buf;
    size_t len;
    const char *name;
    nl_image img;
    uint8_t *row;        /* CMYK scanline */
    nl_status st;
    char err[JMSG_LENGTH_MAX], warn[JMSG_LENGTH_MAX];
    int n_warn;
} jpg_ctx;

static jpg_ctx *jpg_of(j_common_ptr ci) { return (jpg_ctx *)((char *)ci->err - offsetof(jpg_ctx, jerr)); }

static void jpg_on_error(j_common_ptr ci)
{
    jpg_ctx *c = jpg_of(ci);
    ci->err->format_message(ci, c->err);
    longjmp(c->jb, 1);
}

static void jpg_on_message(j_common_ptr ci, int level)
{
    if (level >= 0) return; /* trace messages */
    jpg_ctx *c = jpg_of(ci);
    if (ci->err->msg_code == JWRN_JPEG_EOF) c->eof = true;
    if (c->n_warn++ == 0) ci->err->format_message(ci, c->warn);
    ci->err->num_warnings++;
}

static void jpg_silent(j_common_ptr ci) { (void)ci; }

/* PIL's CMYK -> RGB on libjpeg's Adobe (inverted) samples: with PIL's
 * C = 255 - c and nk = 255 - K = k, R = nk - round(C * nk / 255). */
static uint8_t jpg_cmyk1(int inv_c, int k)
{
    int t = (255 - inv_c) * k + 128;
    int r = k - (((t >> 8) + t) >> 8);
    return (uint8_t)(r < 0 ? 0 : r);
}

static void jpg_steps(jpg_ctx *c)
{
    jpeg_create_decompress(&c->ci);
    c->created = true;
    jpeg_mem_src(&c->ci, (unsigned char *)c->buf, (unsigned long)c->len);
    jpeg_read_header(&c->ci, TRUE);
    if ((c->st = img_check_size(c->name, "JPEG", c->ci.image_width, c->ci.image_height)) != NL_OK) return;
    bool cmyk = c->ci.jpeg_color_space == JCS_CMYK || c->ci.jpeg_color_space == JCS_YCCK;
    c->ci.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&c->ci);
    int w = (int)c->ci.output_width, h = (int)c->ci.output_height;
    if (c->ci.output_components != (cmyk ? 4 : 3) || w != (int)c->ci.image_width || h != (int)c->ci.image_height) {
        c->st = nl_error_set(NL_ERR_FORMAT, "image %s: JPEG decodes to %d components %dx%d, expected %d at %ux%u",
                             c->name, c->ci.output_components, w, h, cmyk ? 4 : 3, c->ci.image_width,
                             c->ci.image_height);
        return;
    }
    if ((c->st = img_alloc(&c->img, c->name, w, h)) != NL_OK) return;
    if (cmyk && !(c->row = malloc((size_t)w * 4))) {
        c->st = nl_error_set(NL_ERR_OOM, "image %s: out of memory for a %d-pixel CMYK row", c->name, w);
        return;
    }
    while (c->ci.output_scanline < (JDIMENSION)h && !c->eof) {
        uint8_t *dst = c->img.pixels + (size_t)c->ci.output_scanline * w * 3;
        JSAMPROW r = cmyk ? c->row : dst;
        jpeg_read_scanlines(&c->ci, &r, 1);
        if (cmyk)
            for (int x = 0; x < w; x++) {
                const uint8_t *s = c->row + 4 * x;
                dst[3 * x] = jpg_cmyk1(s[0], s[3]);
                dst[3 * x + 1] = jpg_cmyk1(s[1], s[3]);
                dst[3 * x + 2] = jpg_cmyk1(s[2], s[3]);
            }
    }
    if (!c->eof) jpeg_finish_decompress(&c->ci);
    /* libjpeg pads missing data with grey and only warns; like PIL we refuse
     * (even when only the EOI marker is missing). */
    if (c->eof)
        c->st = nl_error_set(NL_ERR_FORMAT, "image %s: JPEG file is truncated (premature end of data at row %u "
                             "of %d)", c->name, c->ci.output_scanline, h);
}

static int jpg_guarded(jpg_ctx *c)
{
    if (setjmp(c->jb)) return 1;
    jpg_steps(c);
    return 0;
}

static nl_status decode_jpeg(nl_image *out, const uint8_t *buf, size_t len, const char *name)
{
    jpg_ctx *c = calloc(1, sizeof *c);
    if (!c) return nl_error_set(NL_ERR_OOM, "image %s: out of memory", name);
    c->buf = buf;
    c->len = len;
    c->name = name;
    c->ci.err = jpeg_std_error(&c->jerr);
    c->jerr.error_exit = jpg_on_error;
    c->jerr.emit_message = jpg_on_message;
    c->jerr.output_message = jpg_silent;
    nl_status st;
    if (jpg_guarded(c)) {
        char ws[IMG_MSG + 64];
        st = nl_error_set(NL_ERR_FORMAT, "image %s: JPEG %s: %s%s", name,
                          c->eof ? "file is truncated" : "decode failed", c->err,
                          img_warn_suffix(ws, sizeof ws, "libjpeg", c->warn, c->n_warn));
    } else {
        st = c->st;
    }
    if (c->created) jpeg_destroy_decompress(&c->ci);
    free(c->row);
    if (st == NL_OK) *out = c->img;
    else nl_image_free(&c->img);
    free(c);
    return st;
}
#endif /* HAVE_JPEG */

/* ---- WebP ------------------------------------------------------------------ */
#ifdef HAVE_WEBP
static const char *webp_status(VP8StatusCode s)
{
    switch (s) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "file is truncated (not enough data)";
    default: return "unknown error";
    }
}

static nl_status decode_webp(nl_image *out, const uint8_t *buf, size_t len, const char *name)
{
    WebPBitstreamFeatures f;
    VP8StatusCode s = WebPGetFeatures(buf, len, &f);
    if (s != VP8_STATUS_OK)
        return nl_error_set(NL_ERR_FORMAT, "image %s: WebP header: %s", name, webp_status(s));
    if (f.has_animation)
        return nl_error_set(NL_ERR_FORMAT, "image %s: animated WebP is not supported HINT: extract the first "
                            "frame (e.g. with webpmux -get frame 1)", name);
    NL_TRY(img_check_size(name, "WebP", f.width > 0 ? (uint64_t)f.width : 0, f.height > 0 ? (uint64_t)f.height : 0));
    nl_image img = {0};
    NL_TRY(img_alloc(&img, name, f.width, f.height));
    size_t n = (size_t)f.width * f.height * 3;
    if (!WebPDecodeRGBInto(buf, len, img.pixels, n, f.width * 3)) {
        nl_image_free(&img);
        /* Tell truncation apart: the data ends before the RIFF size says. */
        uint32_t riff = (uint32_t)buf[4] | (uint32_t)buf[5] << 8 | (uint32_t)buf[6] << 16 | (uint32_t)buf[7] << 24;
        if ((uint64_t)riff + 8 > len)
            return nl_error_set(NL_ERR_FORMAT, "image %s: WebP file is truncated (%zu of %llu bytes)", name, len,
                                (unsigned long long)riff + 8);
        return nl_error_set(NL_ERR_FORMAT, "image %s: WebP decode failed (corrupt data)", name);
    }
    *out = img;
    return NL_OK;
}
#endif /* HAVE_WEBP */

/* ---- sniffing -------------------------------------------------------------- */

static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

#if !defined(HAVE_JPEG) || !defined(HAVE_WEBP)
static nl_status not_built(const char *name, const char *fmt, const char *pkg, const char *opt)
{
    return nl_error_set(NL_ERR_FORMAT, "image %s: %s support is not built into this notellm (formats: %s) "
                        "HINT: install %s and re-run configure (%s)", name, fmt, nl_image_formats(), pkg, opt);
}
#endif

nl_status nl_image_decode(nl_image *out, const uint8_t *buf, size_t len, const char *name)
{
    memset(out, 0, sizeof *out);
    if (!name) name = "<memory>";
    if (!buf || len == 0) return nl_error_set(NL_ERR_FORMAT, "image %s: empty file (0 bytes)", name);
    if (len >= 8 && memcmp(buf, png_sig, 8) == 0) return decode_png(out, buf, len, name);
    if (len < 8 && memcmp(buf, png_sig, len) == 0)
        return nl_error_set(NL_ERR_FORMAT, "image %s: PNG file is truncated (%zu bytes, inside the signature)",
                            name, len);
    if (len >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF) {
#ifdef HAVE_JPEG
        return decode_jpeg(out, buf, len, name);
#else
        return not_built(name, "JPEG", "libjpeg62-turbo-dev (or libjpeg-dev)", "--with-jpeg");
#endif
    }
    if (len >= 12 && memcmp(buf, "RIFF", 4) == 0 && memcmp(buf + 8, "WEBP", 4) == 0) {
#ifdef HAVE_WEBP
        return decode_webp(out, buf, len, name);
#else
        return not_built(name, "WebP", "libwebp-dev", "--with-webp");
#endif
    }
    const char *other = NULL;
    if (len >= 6 && (memcmp(buf, "GIF87a", 6) == 0 || memcmp(buf, "GIF89a", 6) == 0)) other = "GIF";
    else if (len >= 2 && buf[0] == 'B' && buf[1] == 'M') other = "BMP";
    else if (len >= 4 && (memcmp(buf, "II*\0", 4) == 0 || memcmp(buf, "MM\0*", 4) == 0)) other = "TIFF";
    char hex[3 * 8 + 1] = "";
    for (size_t i = 0, at = 0; i < len && i < 8; i++) at += snprintf(hex + at, sizeof hex - at, &" %02x"[!i], buf[i]);
    if (other)
        return nl_error_set(NL_ERR_FORMAT, "image %s: %s images are not supported (first bytes %s) HINT: convert "
                            "it to PNG", name, other, hex);
    return nl_error_set(NL_ERR_FORMAT, "image %s: unknown image format: first bytes %s (%zu bytes); expected PNG "
                        "(89 50 4e 47), JPEG (ff d8 ff) or WebP (RIFF....WEBP)", name, hex, len);
}

nl_status nl_image_load(nl_image *out, const char *path)
{
    memset(out, 0, sizeof *out);
    if (!path) return nl_error_set(NL_ERR_ARG, "image load: path is NULL");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nl_error_set(NL_ERR_IO, "image %s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    nl_status st = NL_OK;
    if (fstat(fd, &sb) != 0) st = nl_error_set(NL_ERR_IO, "image %s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode)) st = nl_error_set(NL_ERR_IO, "image %s: not a regular file", path);
    else if (sb.st_size == 0) st = nl_error_set(NL_ERR_FORMAT, "image %s: empty file (0 bytes)", path);
    if (st == NL_OK) {
        size_t n = (size_t)sb.st_size;
        void *map = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED)
            st = nl_error_set(NL_ERR_IO, "image %s: cannot mmap %zu bytes: %s", path, n, strerror(errno));
        else {
            st = nl_image_decode(out, map, n, path);
            munmap(map, n);
        }
    }
    close(fd);
    return st;
}

/* ---- PNG writer ------------------------------------------------------------ */

typedef struct pngw_ctx {
    png_structp png;
    png_infop info;
    nl_atomic_file af;
    bool io_failed;      /* nl_atomic_write failed: its message is current */
    const uint8_t *rgb;
    int w, h;
    char err[IMG_MSG];
    size_t n_buf;        /* libpng writes in pieces of a few bytes: batch them */
    uint8_t buf[1 << 16];
} pngw_ctx;

static void pngw_on_error(png_structp png, png_const_charp msg)
{
    pngw_ctx *c = png_get_error_ptr(png);
    snprintf(c->err, sizeof c->err, "%s", msg);
    png_longjmp(png, 1);
}

static void pngw_on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

static void pngw_flush(png_structp png)
{
    pngw_ctx *c = png_get_io_ptr(png);
    if (c->n_buf && nl_atomic_write(&c->af, c->buf, c->n_buf) != NL_OK) {
        c->io_failed = true;
        png_error(png, "write failed");
    }
    c->n_buf = 0;
}

static void pngw_write(png_structp png, png_bytep p, size_t n)
{
    pngw_ctx *c = png_get_io_ptr(png);
    if (n > sizeof c->buf - c->n_buf) pngw_flush(png);
    if (n > sizeof c->buf) {
        if (nl_atomic_write(&c->af, p, n) != NL_OK) {
            c->io_failed = true;
            png_error(png, "write failed");
        }
        return;
    }
    memcpy(c->buf + c->n_buf, p, n);
    c->n_buf += n;
}

static int pngw_guarded(pngw_ctx *c)
{
    if (setjmp(png_jmpbuf(c->png))) return 1;
    png_set_write_fn(c->png, c, pngw_write, pngw_flush);
    png_set_IHDR(c->png, c->info, (png_uint_32)c->w, (png_uint_32)c->h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(c->png, c->info);
    for (int y = 0; y < c->h; y++) png_write_row(c->png, c->rgb + (size_t)y * c->w * 3);
    png_write_end(c->png, NULL);
    pngw_flush(c->png);
    return 0;
}

nl_status nl_image_write_png(const char *path, const uint8_t *rgb, int width, int height, bool durable)
{
    if (!path || !rgb)
        return nl_error_set(NL_ERR_ARG, "image save: %s is NULL", path ? "the pixel buffer" : "the path");
    if (width < 1 || height < 1 || (uint64_t)width * height > (1ull << 40))
        return nl_error_set(NL_ERR_ARG, "image save %s: size %dx%d is not a positive PNG size", path, width, height);
    pngw_ctx *c = calloc(1, sizeof *c);
    if (!c) return nl_error_set(NL_ERR_OOM, "image save %s: out of memory", path);
    nl_status st = nl_atomic_open(&c->af, path);
    if (st == NL_OK) {
        c->af.durable = durable;
        c->rgb = rgb;
        c->w = width;
        c->h = height;
        c->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, c, pngw_on_error, pngw_on_warning);
        if (c->png) c->info = png_create_info_struct(c->png);
        if (!c->png || !c->info) st = nl_error_set(NL_ERR_OOM, "image save %s: libpng could not allocate", path);
        else if (pngw_guarded(c))
            st = c->io_failed ? nl_last_status() : nl_error_set(NL_ERR_IO, "image save %s: libpng: %s", path, c->err);
        png_destroy_write_struct(c->png ? &c->png : NULL, c->info ? &c->info : NULL);
        if (st == NL_OK) st = nl_atomic_commit(&c->af);
        else nl_atomic_abort(&c->af);
    }
    free(c);
    return st;
}
