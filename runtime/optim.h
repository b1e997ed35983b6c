/* optim.h — optimizers over a list of parameter tensors: AdamW (decoupled
 * weight decay, bias-corrected) and SGD with momentum; global-norm gradient
 * clipping. State tensors live on each parameter's device. */
#ifndef NL_OPTIM_H
#define NL_OPTIM_H

#include "tensor.h"

typedef enum { NL_OPTIM_ADAMW, NL_OPTIM_SGD } nl_optim_kind;

typedef struct nl_optim_config {
    nl_optim_kind kind;
    double lr;
    double beta1, beta2, eps;  /* AdamW */
    double momentum;           /* SGD */
    double weight_decay;       /* AdamW: decoupled (p -= lr*wd*p); SGD: added to the gradient */
} nl_optim_config;

typedef struct nl_optim nl_optim;

/* Retains the parameters; each must be a float leaf with requires_grad. */
nl_status nl_optim_new(nl_optim **out, const nl_optim_config *cfg, int n, nl_tensor *const *params);
void nl_optim_free(nl_optim *o);
/* One update from the current .grad of each parameter (parameters without a
 * grad are skipped). Increments the step counter. */
nl_status nl_optim_step(nl_optim *o);
void nl_optim_zero_grad(nl_optim *o);
void nl_optim_set_lr(nl_optim *o, double lr);
const nl_optim_config *nl_optim_get_config(const nl_optim *o);
int64_t nl_optim_steps(const nl_optim *o);
int nl_optim_nparams(const nl_optim *o);
nl_tensor *nl_optim_param(const nl_optim *o, int i);

/* Per-parameter state, for checkpoints: AdamW keeps 2 tensors (k = 0
 * "exp_avg", k = 1 "exp_avg_sq"), SGD with momentum 1 ("momentum"), plain
 * SGD none. A state tensor is NULL until the parameter's first update. */
int nl_optim_state_count(const nl_optim *o);
const char *nl_optim_state_name(const nl_optim *o, int k); /* NULL when out of range */
nl_tensor *nl_optim_state_tensor(const nl_optim *o, int i, int k); /* borrowed */
/* Replace state k of parameter i with t (retained and updated in place from
 * then on; NULL restores "never updated"). t must be a contiguous f32 tensor
 * of the parameter's shape on its device. */
nl_status nl_optim_set_state(nl_optim *o, int i, int k, nl_tensor *t);
void nl_optim_set_steps(nl_optim *o, int64_t steps);

/* Scale all grads so their global L2 norm is at most max_norm; *norm gets
 * the norm before clipping. max_norm <= 0 only measures. */
nl_status nl_clip_grad_norm(int n, nl_tensor *const *params, double max_norm, double *norm);

#endif
