/* harness.h — the op conformance harness: seeded inputs (contiguous and
 * non-contiguous), comparison against naive double-precision references,
 * finite-difference gradient checks, guard-byte accounting, and a summary.
 * Every family test (tests/ops/test_<family>.c) is a main() built on this. */
#ifndef NL_TEST_HARNESS_H
#define NL_TEST_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "nl.h"

/* Call first: enables guard bytes around every host buffer, seeds the RNG. */
void h_init(const char *suite);
/* Print the summary; return the process exit status (0 pass, 1 fail). */
int h_finish(void);

/* Tests of the guard mechanism itself corrupt buffers on purpose: declare how many. */
void h_expect_guard_violations(size_t n);

/* Record one check. Returns ok. */
bool h_check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Abort the current case when an nl call failed: prints the message. */
bool h_ok(nl_status st, const char *what);
/* Expect a failure with the given status (bad-input tests). */
bool h_expect_error(nl_status st, nl_status want, const char *what);

/* Uniform [lo, hi) f32 tensor. If noncontig, the result is a permuted view of
 * a larger buffer (same logical shape, non-unit innermost stride). */
nl_tensor *h_rand(int ndim, const int64_t *shape, double lo, double hi, bool noncontig);
/* Integer ids in [0, hi) (dtype i64 or i32). */
nl_tensor *h_randint(int ndim, const int64_t *shape, int64_t hi, nl_dtype dt);
/* f32 tensor from literal values. */
nl_tensor *h_from(int ndim, const int64_t *shape, const float *v);
/* Values of any tensor as a freshly malloc'ed double array (row-major). */
double *h_values(const nl_tensor *t);

/* Compare t with ref (row-major, numel(t) entries):
 * |got - ref| <= atol + rtol * |ref| for every element; NaN must match NaN. */
bool h_close(const char *what, const nl_tensor *t, const double *ref, double atol, double rtol);

/* Golden fixtures (safetensors files of expected values). */
struct nl_safetensors;
/* Tensor NAME of the fixture F as f32 on the CPU (NULL after a failed check). */
nl_tensor *h_load_f32(struct nl_safetensors *f, const char *name);
/* got against the fixture tensor NAME (same shape required):
 * |got - ref| <= atol + tol * max|ref| elementwise. */
bool h_cmp_fixture(struct nl_safetensors *f, const char *name, const nl_tensor *got, double tol, double atol);
/* Two tensors of the same shape equal within atol. */
bool h_same(const char *what, const nl_tensor *a, const nl_tensor *b, double atol);

/* A differentiable function of its inputs for gradcheck. */
typedef nl_status (*h_fn)(nl_tensor **out, nl_tensor **in, void *ctx);

/* Central finite differences against nl_backward for every input with
 * requires_grad set. The scalar is L = sum(out * W) with fixed random W,
 * accumulated in double. Up to max_points coordinates per input are
 * checked (spread evenly). Passes when for each coordinate
 * |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|). */
bool h_gradcheck(const char *what, h_fn fn, int n_in, nl_tensor **in, void *ctx,
                 double eps, double atol, double rtol, int max_points);

#endif
