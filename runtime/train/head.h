/* head.h — the NoteLLM / NoteLLM-2 embedding head (method notes §3.4, §4.6,
 * §4.7): optional late fusion (CLIP CLS projector + sigmoid gate), the
 * no-bias reduction to d dims, L2 normalisation, and the learnable GCL
 * log-scale tau. Owns its named parameters. Depends on runtime/ops.h and
 * runtime/nn/params.h only. Shapes: B rows, C LLM width, Cv CLIP width, d
 * embedding width. */
#ifndef NL_HEAD_H
#define NL_HEAD_H

#include "ops.h"
#include "params.h"

/* Parameter names (our choice, HF style, in this registration order; the
 * upstream checkpoint keys were not available to check against):
 *   "mm_projector_latefusion.weight" [C,Cv]   late fusion only: Linear(Cv->C, no bias)
 *   "gate.weight"                    [C,2C]   late fusion only: Gate W, Linear(2C->C, no bias)
 *   "dim_reduction.weight"           [d,C]    Linear(C->d, no bias)
 *   "tau"                            [1]      GCL log-scale, exp(tau) multiplies the cosines */
typedef struct nl_head {
    int64_t C, Cv, d;      /* Cv 0: no late fusion */
    nl_params params;
    nl_tensor *proj_w;     /* borrowed from params; NULL without late fusion */
    nl_tensor *gate_w;     /* borrowed; NULL without late fusion */
    nl_tensor *red_w;      /* borrowed */
    nl_tensor *tau;        /* borrowed, [1], init 3.0 */
} nl_head;

#define NL_HEAD_DEFAULT_DIM 64 /* upstream --dim_reduction 64 (the paper says 128) */
#define NL_HEAD_TAU_INIT 3.0
#define NL_HEAD_NORM_EPS 1e-12 /* torch.nn.functional.normalize's default */

/* A head C -> d on dev (d 0 means NL_HEAD_DEFAULT_DIM; Cv 0 means no late
 * fusion). With rng: the projector and the reduction get nn.Linear's default
 * init U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the gate Xavier-normal
 * N(0, 2/(fan_in+fan_out)) = N(0, 2/(3C)); rng NULL leaves them zero for
 * loading. tau is 3.0 either way. Non-positive C, negative Cv or d are
 * NL_ERR_ARG. */
nl_status nl_head_create(nl_head **out, int64_t C, int64_t Cv, int64_t d, nl_device dev, nl_rng *rng);
void nl_head_free(nl_head *h); /* NULL allowed */

/* readout [B,C] (the LLM hidden state, §3.4/§4.5), vis_cls [B,Cv] (the CLIP
 * CLS feature before post-LN; required iff Cv > 0, else NULL) -> *e [B,d]:
 *   v = vis_cls P^T;  z = sigmoid(W [h; v]) (h first);  g = z*h + (1-z)*v;
 *   e = L2norm(g R^T)   (g = h without late fusion).
 * Under mICL call it twice (n^m and n^v) with the same vis_cls: the same v
 * and gate apply to both (§4.6). Shape mismatches are NL_ERR_SHAPE, a
 * missing/unexpected vis_cls NL_ERR_ARG. */
nl_status nl_head_embed(nl_tensor **e, nl_head *h, nl_tensor *readout, nl_tensor *vis_cls);

/* Fill the parameters from PATH (file or checkpoint directory) under
 * file_prefix (NULL or "" for none), strictly; write them with name_prefix. */
nl_status nl_head_load(nl_head *h, const char *path, const char *file_prefix);
nl_status nl_head_save(const nl_head *h, const char *path, const char *name_prefix);

#endif
