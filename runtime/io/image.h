/* image.h — image files for note images: decode PNG (always), JPEG and WebP
 * (when built) to 8-bit RGB with the format sniffed from the magic bytes,
 * size limits checked before allocating, CLIP preprocessing (PIL-exact bicubic
 * resize, center crop, flip, mean/std) to an f32 tensor, and atomic PNG output.
 * Owns: nl_image, nl_image_preproc. Depends on the runtime core only (no Guile). */
#ifndef NL_IMAGE_H
#define NL_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

/* Decoded pixels, row-major, `channels` bytes per pixel (always 3: RGB). */
typedef struct nl_image {
    int width, height, channels;
    uint8_t *pixels; /* width * height * channels bytes; nl_image_free releases */
} nl_image;

/* Decode an in-memory file. The format comes from the magic bytes (PNG
 * "\x89PNG", JPEG "\xFF\xD8\xFF", WebP "RIFF....WEBP"), never from a name;
 * `name` only labels messages (NULL allowed). The result is 8-bit RGB the way
 * PIL's convert("RGB") sees the file: alpha dropped (not composited), grey and
 * palette expanded, 16-bit samples reduced with >>8 (what PIL does for RGB and
 * OpenCV for every type; PIL clips 16-bit grey instead), Adobe CMYK JPEGs
 * converted with PIL's formula. Malformed, truncated or unknown data and
 * formats not built in are NL_ERR_FORMAT; sizes over the pixel limit are
 * NL_ERR_FORMAT before any pixel memory is allocated. On error *out is zeroed. */
nl_status nl_image_decode(nl_image *out, const uint8_t *buf, size_t len, const char *name);
/* Read PATH (NL_ERR_IO when it cannot be read) and decode it. */
nl_status nl_image_load(nl_image *out, const char *path);
void nl_image_free(nl_image *img); /* NULL or zeroed allowed; zeroes *img */

/* Largest width * height accepted by the decoders (default 64 Mpx = 64 << 20).
 * Process-wide; n >= 1. */
void nl_image_set_max_pixels(uint64_t n);
uint64_t nl_image_max_pixels(void);

/* Which decoders this build has ("png jpeg webp" or a subset). */
const char *nl_image_formats(void);

/* The preprocessing of torchvision's Resize(size, BICUBIC) + CenterCrop(size)
 * [+ horizontal flip] + ToTensor + Normalize(mean, std). */
typedef struct nl_image_preproc {
    int size;     /* shorter side after resize and crop edge; 224 for CLIP */
    bool flip;    /* mirror left-right after the crop */
    float mean[3], std[3];
} nl_image_preproc;

/* CLIP statistics, no flip. */
nl_image_preproc nl_image_preproc_clip(int size);

/* img -> f32 [3,size,size] CPU tensor (C,H,W):
 * 1. resize so the shorter side is `size`, the longer int(size*long/short),
 *    bicubic (a = -0.5) exactly as PIL's Image.resize: separable, horizontal
 *    pass then vertical, support widened by the downscale factor, 22-bit
 *    fixed-point weights, rounding to uint8 after each pass;
 * 2. crop size x size at top = round_half_even((h - size) / 2) (left alike);
 * 3. flip if asked; 4. x / 255, then (x - mean) / std in f32.
 * Only the cropped window is computed. NL_ERR_ARG for a bad image or preproc. */
nl_status nl_image_to_tensor(nl_tensor **out, const nl_image *img, const nl_image_preproc *p);

/* All-zero f32 [3,size,size]: the "pad zero" image of the reference pipeline
 * (zero after normalisation, i.e. the dataset-mean colour). */
nl_status nl_image_zero_tensor(nl_tensor **out, int size);

/* Load + decode + nl_image_to_tensor. When the file cannot be read or decoded
 * (NL_ERR_IO or NL_ERR_FORMAT) and zero_on_error is set, *out is the zero
 * tensor, *was_zeroed is set, NL_OK is returned and nl_last_error() still
 * holds the reason (for a "wrong image, pad zero" report). Other errors (bad
 * preproc, out of memory) are always returned. was_zeroed may be NULL. */
nl_status nl_image_load_tensor(nl_tensor **out, const char *path, const nl_image_preproc *p,
                               bool zero_on_error, bool *was_zeroed);

/* Write 8-bit RGB rows (width*3 bytes each) as a PNG. PATH is replaced
 * atomically (temp file, rename); on error it is left untouched. durable:
 * fsync the file and its directory (false for bulk writers that call
 * nl_sync_fs once at the end; see runtime/io/atomic.h). */
nl_status nl_image_write_png(const char *path, const uint8_t *rgb, int width, int height, bool durable);

#endif
