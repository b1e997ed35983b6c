/* train_steady.c — the training step of bench/train.scm's runs from C, for
 * steady-state numbers and profiling (perf record) without Guile: the same
 * synthetic data (200 items, seed 5, 64 px), a 4096-id BPE, method METHOD,
 * model "tiny", 16 pairs, max_note_tokens 140, seed 11. Runs 2 + STEPS steps
 * and prints each step's wall and CPU seconds and host-cache misses, then
 * the medians of the last STEPS.
 * Usage: bench/train-steady [BUILD] [METHOD] [STEPS] [GRAD_CACHE_CHUNK]
 * (build and run through that script; DATA in $TMPDIR/nl-train-steady). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "alloc.h"
#include "bpe_train.h"
#include "profile.h"
#include "run.h"
#include "runtime.h"
#include "synth.h"

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int fail(const char *what)
{
    fprintf(stderr, "train_steady: %s: %s\n", what, nl_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp/nl-train-steady";
    const char *method = argc > 2 ? argv[2] : "notellm2";
    int steps = argc > 3 ? atoi(argv[3]) : 10;
    int64_t chunk = argc > 4 ? atoll(argv[4]) : 0;
    if (steps < 1 || steps > 1000) steps = 10;
    nl_runtime_init();
    char data[1024], tok[1024], notes[1100];
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(tok, sizeof tok, "%s/tok.json", dir);
    struct stat sb;
    if (stat(tok, &sb) != 0) {
        nl_synth_opts o;
        nl_synth_defaults(&o);
        o.items = 200, o.seed = 5, o.image_size = 64;
        if (nl_synth_write(data, &o, NULL) != NL_OK) return fail("synthetic data");
        snprintf(notes, sizeof notes, "%s/notes_train.csv", data);
        const char *files[1] = {notes};
        nl_bpe_train_opts bo;
        nl_bpe_train_opts_init(&bo);
        bo.vocab_size = 4096;
        if (nl_bpe_train_files(files, 1, &bo, tok) != NL_OK) return fail("tokenizer");
    }
    nl_run_config c;
    nl_run_config_defaults(&c);
    snprintf(c.method, sizeof c.method, "%s", method);
    snprintf(c.data_dir, sizeof c.data_dir, "%s", data);
    snprintf(c.tokenizer, sizeof c.tokenizer, "%s", tok);
    snprintf(c.lang, sizeof c.lang, "en");
    c.pairs_per_batch = 16, c.max_note_tokens = 140, c.max_steps = 1000, c.seed = 11, c.grad_cache_chunk = chunk;
    nl_run *r = NULL;
    if (nl_run_create(&r, &c) != NL_OK) return fail("make run");
    double *wall = calloc((size_t)steps, sizeof *wall), *cpu = calloc((size_t)steps, sizeof *cpu);
    if (!wall || !cpu) return 1;
    int64_t notes_per_step = 0;
    size_t misses = 0;
    const char *prof = getenv("NOTELLM_PROFILE");
    for (int i = 0; i < 2 + steps; i++) {
        if (i == 2 && prof && *prof) nl_profile_enable(1);
        double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        nl_run_metrics m;
        if (nl_run_step(r, &m) != NL_OK) return fail("step");
        double w = clock_s(CLOCK_MONOTONIC) - w0, u = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        nl_mem_stats ms;
        nl_host_mem_stats(&ms);
        printf("step %2d  wall %.3f s  cpu %.3f s  loss %.5f  cache misses %zu\n", i, w, u, m.loss,
               ms.cache_misses - misses);
        misses = ms.cache_misses, notes_per_step = m.notes;
        if (i >= 2) wall[i - 2] = w, cpu[i - 2] = u;
    }
    qsort(wall, (size_t)steps, sizeof *wall, cmp);
    qsort(cpu, (size_t)steps, sizeof *cpu, cmp);
    nl_mem_stats ms;
    nl_host_mem_stats(&ms);
    printf("%s: median of %d steps: wall %.4f s (%.2f notes/s), cpu %.4f s; peak live %.0f MB, cached %.0f MB\n",
           method, steps, wall[steps / 2], (double)notes_per_step / wall[steps / 2], cpu[steps / 2],
           (double)ms.peak_bytes / 1e6, (double)ms.cached_bytes / 1e6);
    if (nl_profile_enabled()) {
        printf("kernel time over the %d timed steps (NOTELLM_PROFILE):\n", steps);
        nl_profile_print(stdout);
    }
    free(wall);
    free(cpu);
    nl_run_free(r);
    return 0;
}
