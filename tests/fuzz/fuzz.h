/* fuzz.h — shared by the parser fuzz targets (tests/fuzz/fuzz_*.c): runtime
 * set-up with guard bytes, a private temp directory for path-based APIs, and
 * the invariants every call must keep (a known status with a message, no
 * host-buffer leak, no guard-byte overrun). A broken invariant aborts, which
 * both libFuzzer and driver.c report as a crash with the input saved. */
#ifndef NL_FUZZ_H
#define NL_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "nl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Default seeds of a target for driver.c, as glob patterns: "fixtures:" is
 * relative to $NL_FIXTURES, "seeds:" to tests/fuzz/seeds (found through
 * $NL_FUZZ_SEEDS or $abs_top_srcdir). NULL-terminated. */
extern const char *const nl_fuzz_seed_globs[];
/* Mutated runs of a target when NL_FUZZ_RUNS is unset (about 2-5 s). */
extern const long nl_fuzz_default_runs;

/* Counters read by driver.c: inputs whose first checked call (the parse)
 * returned NL_OK, and those it rejected. */
extern unsigned long nl_fuzz_n_ok, nl_fuzz_n_err;

/* Call at the top of LLVMFuzzerTestOneInput: initialises the runtime once
 * (guard mode on) and records the live host bytes. */
void fz_begin(void);
/* Call before returning: aborts when host bytes leaked or guards were hit. */
void fz_end(void);
/* Check a parser's status: NL_OK, or a known error with a non-empty message.
 * Returns st == NL_OK. `what` names the call in the abort text. */
int fz_status(nl_status st, const char *what);
/* Abort with a message (an invariant failed). */
void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A private temp directory, created on first use and removed by fz_end,
 * and file paths in it. */
const char *fz_dir(void); /* $TMPDIR, else /dev/shm, else /tmp */
const char *fz_path(const char *name); /* static buffer; one name at a time */
/* Write data to PATH (replacing it); aborts on OS errors. */
void fz_write(const char *path, const void *data, size_t size);

#endif
