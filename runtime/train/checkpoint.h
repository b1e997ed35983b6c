/* checkpoint.h — training checkpoints: one directory (weights, optimizer
 * state, step, RNG, data position, run config, metrics) written atomically
 * by a directory swap and validated by checksums on load, so a resumed run
 * continues bit-identically. Owns nl_ckpt_contents. Depends on the runtime
 * core, runtime/io and runtime/nn only (no Guile). */
#ifndef NL_CHECKPOINT_H
#define NL_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "optim.h"
#include "params.h"
#include "rng.h"

#define NL_CKPT_FORMAT "notellm-checkpoint 1"

/* DIR holds:
 *   model.safetensors      every parameter under its HF name (plus config.json,
 *                          the directory is also an HF model directory)
 *   optimizer.safetensors  "exp_avg.<name>", "exp_avg_sq.<name>" (AdamW) or
 *                          "momentum.<name>" (SGD); metadata: kind, step,
 *                          hyper-parameters, the parameter names in order
 *   config.json, run.json  the texts given, verbatim
 *   state.json             format, step, epoch, data position, RNG words (as
 *                          decimal strings), world size and rank, metrics, and
 *                          every other file with its size and FNV-1a-64 sum. */
typedef struct nl_ckpt_contents {
    nl_params *params;       /* required: saved from / loaded into (strict names and shapes) */
    nl_optim *optim;         /* optional; its parameters must be in params */
    nl_rng *rng;             /* optional: saved from / restored into */
    int64_t step, epoch, data_pos; /* saved from / restored into; 0 .. 2^53 */
    int world_size, rank;    /* 0 means 1 and 0; load checks them against the file */
    /* save: written when non-NULL (each must be valid JSON; metrics an object) */
    const char *config_json, *run_json, *metrics_json;
    /* load: malloc'ed texts, NULL when the checkpoint has none; free with
     * nl_ckpt_contents_clear */
    char *loaded_config_json, *loaded_run_json, *loaded_metrics_json;
    bool recovered;          /* load: DIR was missing; an interrupted swap's DIR.old.* was loaded */
} nl_ckpt_contents;

/* Write the checkpoint into a fresh DIR.tmp.XXXXXX next to DIR (each file
 * fsynced, then the directory), move an existing DIR aside to DIR.old.XXXXXX,
 * rename the temporary directory to DIR, fsync the parent and remove the old
 * one. A crash at any point leaves the previous or the new complete
 * checkpoint. Stray DIR.tmp.* / DIR.old.* directories of an earlier
 * interrupted save are cleaned up first (an old one is restored to DIR when
 * DIR is missing). DIR's parent is created if needed (one level). DIR is
 * owned by the checkpoint: other files in it are not carried over. One
 * writer per DIR at a time. */
nl_status nl_checkpoint_save(const char *dir, const nl_ckpt_contents *c);

/* Validate DIR/state.json (format, world, every file's size and checksum),
 * then fill c->params, c->optim (same parameter names and shapes, same kind
 * and hyper-parameters except lr, which is restored), c->rng, step, epoch and
 * data position, and the loaded_* texts. Problems are NL_ERR_FORMAT naming
 * the file or the parameter (NL_ERR_IO when DIR cannot be read). Nothing is
 * modified unless the whole checkpoint validates. */
nl_status nl_checkpoint_load(const char *dir, nl_ckpt_contents *c);

/* Free the loaded_* texts (and set them to NULL). */
void nl_ckpt_contents_clear(nl_ckpt_contents *c);

#endif
