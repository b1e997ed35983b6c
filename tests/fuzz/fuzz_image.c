/* fuzz_image.c — fuzz target for nl_image_decode on an in-memory file (PNG,
 * JPEG, WebP, sniffed from the magic). An accepted image has sane dimensions
 * and readable pixels and converts to a tensor; a rejected one leaves *out
 * zeroed. Seeds: tests/fixtures/images (every colour type, interlacing). */
#include <string.h>

#include "fuzz.h"
#include "io/image.h"

const char *const nl_fuzz_seed_globs[] = {"fixtures:images/*.png", "fixtures:images/*.jpg", "fixtures:images/*.webp",
                                          "fixtures:images/sniff-noext", NULL};
const long nl_fuzz_default_runs = 150000;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_begin();
    nl_image img;
    memset(&img, 0x5a, sizeof img);
    if (!fz_status(nl_image_decode(&img, data, size, "fuzz-input"), "nl_image_decode")) {
        if (img.pixels || img.width || img.height) fz_fail("failed decode left *out set");
        nl_image_free(&img);
        fz_end();
        return 0;
    }
    if (img.width <= 0 || img.height <= 0 || img.channels != 3 || !img.pixels)
        fz_fail("decoded %dx%dx%d image, pixels %p", img.width, img.height, img.channels, (void *)img.pixels);
    if ((uint64_t)img.width * (uint64_t)img.height > nl_image_max_pixels())
        fz_fail("decoded %dx%d over the %llu pixel limit", img.width, img.height,
                (unsigned long long)nl_image_max_pixels());
    const volatile uint8_t *p = img.pixels;
    size_t n = (size_t)img.width * (size_t)img.height * 3;
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc ^= p[i];
    (void)acc;
    nl_image_preproc pp = nl_image_preproc_clip(8);
    pp.flip = size & 1;
    nl_tensor *t = NULL;
    if (!fz_status(nl_image_to_tensor(&t, &img, &pp), "nl_image_to_tensor"))
        fz_fail("a decoded %dx%d image does not convert: %s", img.width, img.height, nl_last_error());
    if (nl_tensor_numel(t) != 3 * 8 * 8) fz_fail("tensor of %lld elements", (long long)nl_tensor_numel(t));
    nl_tensor_release(t);
    nl_image_free(&img);
    if (img.pixels) fz_fail("nl_image_free left pixels set");
    fz_end();
    return 0;
}
