/* rng.h — the one seeded random generator: xoshiro256** seeded through
 * splitmix64; uniform floats from the top 24 bits; normals by Box-Muller.
 * State is a value: copy it to replay a stream (dropout in gradient caching). */
#ifndef NL_RNG_H
#define NL_RNG_H

#include <stdint.h>

#include "error.h"

typedef struct nl_rng { uint64_t s[4]; } nl_rng;

void nl_rng_seed(nl_rng *r, uint64_t seed);
uint64_t nl_rng_next(nl_rng *r);
/* A seed for stream `index` of `seed` (a 64-bit finaliser of both): seeding
 * with it gives unrelated streams for neighbouring indices (row-keyed dropout). */
uint64_t nl_rng_mix(uint64_t seed, uint64_t index);
float nl_rng_uniform(nl_rng *r);              /* [0, 1) */
float nl_rng_normal(nl_rng *r);               /* N(0, 1) */
/* The process-wide generator used when callers pass NULL (seeded by --seed). */
nl_rng *nl_rng_global(void);

struct nl_tensor;
/* Fill a contiguous f32 tensor (any device) in place. */
nl_status nl_fill_uniform(struct nl_tensor *t, double lo, double hi, nl_rng *r);
nl_status nl_fill_normal(struct nl_tensor *t, double mean, double std, nl_rng *r);

#endif
