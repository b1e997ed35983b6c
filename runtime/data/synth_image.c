/* synth_image.c — renders a synthetic note image into an RGB buffer: one
 * large shape (8 kinds) in a palette colour with a texture at one of five
 * positions over the category's background, with per-image jitter, scale,
 * rotation, colour shift, gradient and pixel noise drawn from the caller's
 * generator. Pure arithmetic: no files, no allocation; depends on synth.h. */
#include <math.h>

#include "synth.h"

static const float palette[NL_SYNTH_COLOURS][3] = {
    {220, 40, 40}, {40, 180, 60}, {40, 80, 220}, {240, 210, 40},
    {210, 50, 200}, {40, 200, 210}, {245, 140, 30}, {245, 245, 245}};

static const float centres[NL_SYNTH_POSITIONS][2] = {
    {0.5f, 0.5f}, {0.3f, 0.3f}, {0.7f, 0.3f}, {0.3f, 0.7f}, {0.7f, 0.7f}};

/* Muted background of a category: hues spread so neighbours differ. */
static void category_bg(int c, float out[3])
{
    float h = (float)((c * 7) % NL_SYNTH_CATEGORIES) / NL_SYNTH_CATEGORIES * 6.0f;
    float s = 0.3f, v = 0.35f + 0.1f * (float)(c % 3);
    int i = (int)h;
    float f = h - (float)i, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    float rgb[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
    for (int k = 0; k < 3; k++) out[k] = 255.0f * rgb[i % 6][k];
}

/* Is the local point (u, v) (shape radius 1, y down) inside SHAPE? */
static int inside(int shape, float u, float v)
{
    float au = fabsf(u), av = fabsf(v), r2 = u * u + v * v;
    switch (shape) {
    case 0: return r2 <= 0.9f;                                      /* circle */
    case 1: return au <= 0.8f && av <= 0.8f;                         /* square */
    case 2: return v <= 0.5f && 1.7320508f * u - v <= 1.0f &&       /* triangle */
                   -1.7320508f * u - v <= 1.0f;
    case 3: {                                                        /* star */
        if (r2 > 1.0f) return 0;
        if (r2 < 0.16f) return 1;
        float t = (atan2f(v, u) + 1.5707963f) / 1.2566371f + 100.0f;
        t -= floorf(t);
        float d = 2.0f * (t < 1 - t ? t : 1 - t);
        float rr = 1.0f - 0.6f * d;
        return r2 <= rr * rr;
    }
    case 4: return (au <= 0.32f && av <= 0.95f) || (av <= 0.32f && au <= 0.95f); /* cross */
    case 5: return r2 <= 1.0f && r2 >= 0.3f;                          /* ring */
    case 6: return au + av <= 1.0f;                                   /* diamond */
    default: {                                                        /* crescent */
        float du = u - 0.45f, dv = v + 0.1f;
        return r2 <= 1.0f && du * du + dv * dv > 0.5f;
    }
    }
}

/* Texture mask at local (u, v): 1 where the second colour shows. */
static int texture(int tex, float u, float v, float ph)
{
    switch (tex) {
    case 1: return ((int)floorf((u + v) * 2.2f + ph)) & 1;
    case 2: {
        float fu = u * 2.5f + ph, fv = v * 2.5f + ph;
        fu -= floorf(fu) + 0.5f;
        fv -= floorf(fv) + 0.5f;
        return fu * fu + fv * fv < 0.09f;
    }
    case 3: return ((int)floorf(u * 2.5f + ph) + (int)floorf(v * 2.5f + ph)) & 1;
    default: return 0;
    }
}

static uint8_t clamp8(float x) { return x <= 0 ? 0 : x >= 255 ? 255 : (uint8_t)(x + 0.5f); }

void nl_synth_render(uint8_t *rgb, int size, const nl_synth_look *lk, nl_rng *r)
{
    float S = (float)size, bg[3], fg[3], fg2[3];
    category_bg(lk->category, bg);
    float bright = (nl_rng_uniform(r) - 0.5f) * 40.0f;
    for (int k = 0; k < 3; k++) bg[k] += bright + (nl_rng_uniform(r) - 0.5f) * 24.0f;
    float ga = nl_rng_uniform(r) * 6.2831853f, gs = nl_rng_uniform(r) * 40.0f;
    float gx = cosf(ga) * gs / S, gy = sinf(ga) * gs / S;

    const float *c = centres[lk->position];
    float cx = c[0] * S + (nl_rng_uniform(r) - 0.5f) * 0.08f * S;
    float cy = c[1] * S + (nl_rng_uniform(r) - 0.5f) * 0.08f * S;
    float rad = (lk->position == 0 ? 0.28f : 0.2f) * S * (0.85f + 0.3f * nl_rng_uniform(r));
    float rot = (nl_rng_uniform(r) - 0.5f) * 0.6f, cr = cosf(rot), sr = sinf(rot);
    float ph = nl_rng_uniform(r);
    for (int k = 0; k < 3; k++) {
        fg[k] = palette[lk->colour][k] + (nl_rng_uniform(r) - 0.5f) * 40.0f;
        fg2[k] = fg[k] * 0.4f;
    }
    float noise = 4.0f + 10.0f * nl_rng_uniform(r);

    for (int py = 0; py < size; py++)
        for (int px = 0; px < size; px++) {
            float x = ((float)px + 0.5f - cx) / rad, y = ((float)py + 0.5f - cy) / rad;
            float u = cr * x + sr * y, v = -sr * x + cr * y;
            const float *col = bg;
            float grad = 0;
            if (inside(lk->shape, u, v)) col = texture(lk->texture, u, v, ph) ? fg2 : fg;
            else grad = gx * ((float)px - S / 2) + gy * ((float)py - S / 2);
            uint64_t bits = nl_rng_next(r);
            uint8_t *o = rgb + 3 * ((size_t)py * size + px);
            for (int k = 0; k < 3; k++) {
                float n = ((float)((bits >> (16 * k)) & 0xffff) / 65535.0f * 2.0f - 1.0f) * noise;
                o[k] = clamp8(col[k] + grad + n);
            }
        }
}
