/* rng.c — xoshiro256** (Blackman & Vigna) seeded by splitmix64; fills run on
 * the host in element order so a seed gives the same values on every device. */
#include "rng.h"

#include <math.h>
#include <stdlib.h>

#include "alloc.h"
#include "tensor.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void nl_rng_seed(nl_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

uint64_t nl_rng_mix(uint64_t seed, uint64_t index)
{
    uint64_t x = seed ^ (index * 0x9e3779b97f4a7c15ull + 0x2545f4914f6cdd1dull);
    x ^= x >> 33, x *= 0xff51afd7ed558ccdull, x ^= x >> 33, x *= 0xc4ceb9fe1a85ec53ull, x ^= x >> 33;
    return x;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t nl_rng_next(nl_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float nl_rng_uniform(nl_rng *r) { return (float)(nl_rng_next(r) >> 40) * (1.0f / 16777216.0f); }

float nl_rng_normal(nl_rng *r)
{
    /* Box-Muller, one value per call (the pair's second value is discarded so
     * the stream position depends only on the number of draws). */
    double u1 = ((double)(nl_rng_next(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0); /* (0,1] */
    double u2 = (double)(nl_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

static nl_rng global_rng = {{0x853c49e6748fea9bull, 0xda3e39cb94b95bdbull, 0x1ull, 0x2ull}};
nl_rng *nl_rng_global(void) { return &global_rng; }

static nl_status fill(nl_tensor *t, double a, double b, nl_rng *r, int normal)
{
    if (t->dtype != NL_F32 || !nl_tensor_is_contiguous(t))
        return nl_error_set(NL_ERR_DTYPE, "random fill needs a contiguous f32 tensor, got %s",
                            nl_dtype_name(t->dtype));
    if (!r) r = nl_rng_global();
    int64_t n = nl_tensor_numel(t);
    float *buf;
    NL_TRY(nl_host_alloc((size_t)n * sizeof(float), (void **)&buf));
    for (int64_t i = 0; i < n; i++)
        buf[i] = normal ? (float)(a + b * nl_rng_normal(r)) : (float)(a + (b - a) * nl_rng_uniform(r));
    nl_tensor *src = NULL;
    int64_t shape[1] = {n};
    nl_status st = nl_tensor_from_host(&src, NL_F32, 1, shape, buf, NL_F32, nl_tensor_device(t));
    nl_host_free(buf, (size_t)n * sizeof(float));
    if (st != NL_OK) return st;
    nl_tensor *flat = NULL;
    st = nl_reshape(&flat, t, 1, shape);
    if (st == NL_OK) st = nl_tensor_copy_(flat, src);
    nl_tensor_release(flat);
    nl_tensor_release(src);
    return st;
}

nl_status nl_fill_uniform(nl_tensor *t, double lo, double hi, nl_rng *r) { return fill(t, lo, hi, r, 0); }
nl_status nl_fill_normal(nl_tensor *t, double mean, double std, nl_rng *r) { return fill(t, mean, std, r, 1); }
