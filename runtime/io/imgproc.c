/* imgproc.c — CLIP preprocessing of decoded images: PIL's bicubic resample
 * (reproduced to the bit: same coefficients, 22-bit fixed point, uint8 after
 * each pass), torchvision's CenterCrop rounding, flip and mean/std
 * normalisation into an f32 [3,size,size] tensor; the zero-image policy.
 * Depends on the runtime core only (no Guile). */
#include "config.h"

#include "image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define RS_BITS 22 /* PIL's PRECISION_BITS for 8-bit images: 32 - 8 - 2 */
#define RS_MAX_SIZE 16384

nl_image_preproc nl_image_preproc_clip(int size)
{
    nl_image_preproc p = {
        .size = size,
        .flip = false,
        .mean = {0.48145466f, 0.4578275f, 0.40821073f},
        .std = {0.26862954f, 0.26130258f, 0.27577711f},
    };
    return p;
}

/* PIL's bicubic kernel, a = -0.5, support 2. */
static double rs_cubic(double x)
{
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

/* Fixed-point weights of outputs [first, first+count) of a 1-D resize
 * in_size -> out_size: out i reads inputs [bounds[2i], bounds[2i]+bounds[2i+1]). */
typedef struct rs_coeffs {
    int ksize;
    int *bounds;   /* 2 * count */
    int32_t *k;    /* count * ksize */
} rs_coeffs;

static void rs_free(rs_coeffs *c)
{
    free(c->bounds);
    free(c->k);
}

static nl_status rs_precompute(rs_coeffs *c, int in_size, int out_size, int first, int count)
{
    double scale = (double)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * filterscale;
    c->ksize = (int)ceil(support) * 2 + 1;
    c->bounds = malloc(sizeof(int) * 2 * (size_t)count);
    c->k = calloc((size_t)count * c->ksize, sizeof(int32_t));
    double *w = malloc(sizeof(double) * c->ksize);
    if (!c->bounds || !c->k || !w) {
        free(w);
        rs_free(c);
        return nl_error_set(NL_ERR_OOM, "image resize: out of memory for %d x %d weights", count, c->ksize);
    }
    for (int i = 0; i < count; i++) {
        int xx = first + i;
        double center = (xx + 0.5) * scale;
        double ss = 1.0 / filterscale, ww = 0.0;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            w[x] = rs_cubic((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        int32_t *k = c->k + (size_t)i * c->ksize;
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? w[x] / ww : w[x];
            k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << RS_BITS)) : (int32_t)(0.5 + v * (1 << RS_BITS));
        }
        c->bounds[2 * i] = xmin;
        c->bounds[2 * i + 1] = xmax;
    }
    free(w);
    return NL_OK;
}

static inline uint8_t rs_clip8(int64_t acc)
{
    int64_t v = acc >> RS_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Horizontal pass over rows [y0, y1) of src (width sw, RGB) into dst (cols
 * outputs per row, RGB). */
static void rs_horizontal(uint8_t *dst, const uint8_t *src, int sw, int y0, int y1, const rs_coeffs *c, int cols)
{
    for (int y = y0; y < y1; y++) {
        const uint8_t *row = src + (size_t)y * sw * 3;
        uint8_t *out = dst + (size_t)(y - y0) * cols * 3;
        for (int i = 0; i < cols; i++) {
            int xmin = c->bounds[2 * i], n = c->bounds[2 * i + 1];
            const int32_t *k = c->k + (size_t)i * c->ksize;
            int64_t r = 1 << (RS_BITS - 1), g = r, b = r;
            for (int x = 0; x < n; x++) {
                const uint8_t *p = row + (size_t)(xmin + x) * 3;
                r += (int64_t)p[0] * k[x];
                g += (int64_t)p[1] * k[x];
                b += (int64_t)p[2] * k[x];
            }
            out[3 * i] = rs_clip8(r);
            out[3 * i + 1] = rs_clip8(g);
            out[3 * i + 2] = rs_clip8(b);
        }
    }
}

/* Vertical pass: rows of c (bounds relative to src row y0) into dst rows. */
static void rs_vertical(uint8_t *dst, const uint8_t *src, int y0, int cols, const rs_coeffs *c, int rows)
{
    size_t stride = (size_t)cols * 3;
    for (int i = 0; i < rows; i++) {
        int ymin = c->bounds[2 * i] - y0, n = c->bounds[2 * i + 1];
        const int32_t *k = c->k + (size_t)i * c->ksize;
        uint8_t *out = dst + i * stride;
        for (size_t x = 0; x < stride; x++) {
            int64_t acc = 1 << (RS_BITS - 1);
            for (int y = 0; y < n; y++) acc += (int64_t)src[(size_t)(ymin + y) * stride + x] * k[y];
            out[x] = rs_clip8(acc);
        }
    }
}

/* Python's round() of d / 2 for d >= 0: halves go to the even neighbour. */
static int round_half_even_half(int64_t d)
{
    int64_t q = d / 2;
    if (d % 2 && q % 2) q++;
    return (int)q;
}

/* The size x size RGB window of PIL's resize to (nw, nh) at (left, top). */
static nl_status rs_crop(uint8_t *dst, const nl_image *img, int nw, int nh, int left, int top, int size)
{
    int w = img->width, h = img->height;
    rs_coeffs ch = {0}, cv = {0};
    uint8_t *tmp = NULL;
    nl_status st = NL_OK;
    /* Rows of the source the vertical pass reads. */
    int y0 = top, y1 = top + size;
    if (nh != h) {
        NL_TRY(rs_precompute(&cv, h, nh, top, size));
        y0 = h, y1 = 0;
        for (int i = 0; i < size; i++) {
            if (cv.bounds[2 * i] < y0) y0 = cv.bounds[2 * i];
            if (cv.bounds[2 * i] + cv.bounds[2 * i + 1] > y1) y1 = cv.bounds[2 * i] + cv.bounds[2 * i + 1];
        }
        if (y1 <= y0) y1 = y0 + 1; /* cannot happen for size >= 1; keeps tmp non-empty */
    }
    size_t tn = (size_t)(y1 - y0) * size * 3;
    tmp = malloc(tn);
    if (!tmp) {
        st = nl_error_set(NL_ERR_OOM, "image resize: out of memory for %zu bytes", tn);
        goto done;
    }
    if (nw != w) {
        if ((st = rs_precompute(&ch, w, nw, left, size)) != NL_OK) goto done;
        rs_horizontal(tmp, img->pixels, w, y0, y1, &ch, size);
    } else {
        for (int y = y0; y < y1; y++)
            memcpy(tmp + (size_t)(y - y0) * size * 3, img->pixels + ((size_t)y * w + left) * 3, (size_t)size * 3);
    }
    if (nh != h) rs_vertical(dst, tmp, y0, size, &cv, size);
    else memcpy(dst, tmp, (size_t)size * size * 3);
done:
    free(tmp);
    rs_free(&ch);
    rs_free(&cv);
    return st;
}

static nl_status check_preproc(const nl_image_preproc *p)
{
    if (!p) return nl_error_set(NL_ERR_ARG, "image preprocess: preproc is NULL");
    if (p->size < 1 || p->size > RS_MAX_SIZE)
        return nl_error_set(NL_ERR_ARG, "image preprocess: size %d out of range [1, %d]", p->size, RS_MAX_SIZE);
    for (int c = 0; c < 3; c++)
        if (!isfinite(p->mean[c]) || !isfinite(p->std[c]) || p->std[c] == 0.0f)
            return nl_error_set(NL_ERR_ARG, "image preprocess: channel %d has mean %g, std %g; both must be finite "
                                "and std non-zero", c, p->mean[c], p->std[c]);
    return NL_OK;
}

nl_status nl_image_to_tensor(nl_tensor **out, const nl_image *img, const nl_image_preproc *p)
{
    *out = NULL;
    NL_TRY(check_preproc(p));
    if (!img || !img->pixels || img->channels != 3 || img->width < 1 || img->height < 1)
        return nl_error_set(NL_ERR_ARG, "image preprocess: not a decoded RGB image (%dx%d, %d channels)",
                            img ? img->width : 0, img ? img->height : 0, img ? img->channels : 0);
    int w = img->width, h = img->height, size = p->size;
    /* torchvision Resize(size): shorter side -> size, longer int(size * long / short). */
    int64_t nw, nh;
    if (w <= h) nw = size, nh = (int64_t)size * h / w;
    else nh = size, nw = (int64_t)size * w / h;
    if (nw > INT32_MAX || nh > INT32_MAX)
        return nl_error_set(NL_ERR_ARG, "image preprocess: resizing %dx%d to shorter side %d gives %lldx%lld, too "
                            "large", w, h, size, (long long)nw, (long long)nh);
    int left = round_half_even_half(nw - size), top = round_half_even_half(nh - size);
    size_t n = (size_t)size * size * 3;
    uint8_t *crop = malloc(n);
    if (!crop) return nl_error_set(NL_ERR_OOM, "image preprocess: out of memory for %zu bytes", n);
    nl_status st = rs_crop(crop, img, (int)nw, (int)nh, left, top, size);
    nl_tensor *t = NULL;
    int64_t shape[3] = {3, size, size};
    if (st == NL_OK) st = nl_tensor_empty(&t, NL_F32, 3, shape, NL_CPU_DEVICE);
    if (st == NL_OK) {
        float *o = nl_tensor_host_ptr(t);
        for (int c = 0; c < 3; c++) {
            float mean = p->mean[c], std = p->std[c];
            for (int y = 0; y < size; y++)
                for (int x = 0; x < size; x++) {
                    int xs = p->flip ? size - 1 - x : x;
                    float v = (float)crop[((size_t)y * size + xs) * 3 + c] / 255.0f;
                    o[((size_t)c * size + y) * size + x] = (v - mean) / std;
                }
        }
        *out = t;
    }
    free(crop);
    return st;
}

nl_status nl_image_zero_tensor(nl_tensor **out, int size)
{
    *out = NULL;
    if (size < 1 || size > RS_MAX_SIZE)
        return nl_error_set(NL_ERR_ARG, "image zero tensor: size %d out of range [1, %d]", size, RS_MAX_SIZE);
    int64_t shape[3] = {3, size, size};
    return nl_tensor_zeros(out, NL_F32, 3, shape, NL_CPU_DEVICE);
}

nl_status nl_image_load_tensor(nl_tensor **out, const char *path, const nl_image_preproc *p, bool zero_on_error,
                               bool *was_zeroed)
{
    *out = NULL;
    if (was_zeroed) *was_zeroed = false;
    NL_TRY(check_preproc(p));
    nl_image img;
    nl_status st = nl_image_load(&img, path);
    if (st == NL_OK) {
        st = nl_image_to_tensor(out, &img, p);
        nl_image_free(&img);
        return st;
    }
    if (!zero_on_error || (st != NL_ERR_IO && st != NL_ERR_FORMAT)) return st;
    /* Keep the decode message for the caller's "pad zero" report. */
    char *why = strdup(nl_last_error());
    nl_status zst = nl_image_zero_tensor(out, p->size);
    if (zst != NL_OK) {
        free(why);
        return zst;
    }
    if (why) nl_error_set(st, "%s", why);
    free(why);
    if (was_zeroed) *was_zeroed = true;
    return NL_OK;
}
