/* optim.c — AdamW and SGD over parameter lists (runtime/optim.h). State
 * tensors (moments, momentum buffers) are created zeroed next to each
 * parameter; updates are in-place kernels that bump the storage version. */
#include "optim.h"

#include <math.h>
#include <stdlib.h>

#include "autograd.h"
#include "ops.h"

struct nl_optim {
    nl_optim_config cfg;
    int n;
    nl_tensor **params;
    nl_tensor **m, **v;   /* AdamW moments, or SGD momentum buffers in m */
    int64_t steps;
};

static nl_status check_config(const nl_optim_config *c)
{
    if (c->kind != NL_OPTIM_ADAMW && c->kind != NL_OPTIM_SGD) return nl_error_set(NL_ERR_ARG, "optimizer: unknown kind %d", (int)c->kind);
    if (!(c->lr >= 0)) return nl_error_set(NL_ERR_ARG, "optimizer: lr must be >= 0, got %g", c->lr);
    if (!(c->weight_decay >= 0)) return nl_error_set(NL_ERR_ARG, "optimizer: weight decay must be >= 0, got %g", c->weight_decay);
    if (c->kind == NL_OPTIM_ADAMW) {
        if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
            return nl_error_set(NL_ERR_ARG, "adamw: betas must be in [0, 1), got (%g %g)", c->beta1, c->beta2);
        if (!(c->eps > 0)) return nl_error_set(NL_ERR_ARG, "adamw: eps must be > 0, got %g", c->eps);
    } else if (!(c->momentum >= 0)) {
        return nl_error_set(NL_ERR_ARG, "sgd: momentum must be >= 0, got %g", c->momentum);
    }
    return NL_OK;
}

nl_status nl_optim_new(nl_optim **out, const nl_optim_config *cfg, int n, nl_tensor *const *params)
{
    NL_TRY(check_config(cfg));
    for (int i = 0; i < n; i++) {
        const nl_tensor *p = params[i];
        if (p->dtype != NL_F32)
            return nl_error_set(NL_ERR_DTYPE, "optimizer: parameter %d is %s; parameters must be f32", i, nl_dtype_name(p->dtype));
        if (!p->requires_grad || p->node)
            return nl_error_set(NL_ERR_ARG, "optimizer: parameter %d is %s HINT: pass leaf tensors created with requires-grad",
                                i, p->node ? "computed by an op (not a leaf)" : "not requiring grad");
        if (!nl_tensor_is_contiguous(p))
            return nl_error_set(NL_ERR_ARG, "optimizer: parameter %d is a non-contiguous view", i);
    }
    nl_optim *o = calloc(1, sizeof *o);
    if (!o) return nl_error_set(NL_ERR_OOM, "optimizer: out of memory");
    o->cfg = *cfg;
    o->n = n;
    o->params = calloc((size_t)(n ? n : 1), sizeof *o->params);
    o->m = calloc((size_t)(n ? n : 1), sizeof *o->m);
    o->v = calloc((size_t)(n ? n : 1), sizeof *o->v);
    if (!o->params || !o->m || !o->v) { nl_optim_free(o); return nl_error_set(NL_ERR_OOM, "optimizer: out of memory"); }
    for (int i = 0; i < n; i++) o->params[i] = nl_tensor_retain(params[i]);
    *out = o;
    return NL_OK;
}

void nl_optim_free(nl_optim *o)
{
    if (!o) return;
    for (int i = 0; i < o->n; i++) {
        if (o->params) nl_tensor_release(o->params[i]);
        if (o->m) nl_tensor_release(o->m[i]);
        if (o->v) nl_tensor_release(o->v[i]);
    }
    free(o->params);
    free(o->m);
    free(o->v);
    free(o);
}

static nl_status update_one(nl_optim *o, int i)
{
    nl_tensor *p = o->params[i], *g = p->grad, *gc = NULL;
    const nl_optim_config *c = &o->cfg;
    int need_buf = c->kind == NL_OPTIM_ADAMW || c->momentum != 0;
    int first = !o->m[i];
    if (need_buf && !o->m[i]) NL_TRY(nl_tensor_zeros_like(&o->m[i], p));
    if (c->kind == NL_OPTIM_ADAMW && !o->v[i]) NL_TRY(nl_tensor_zeros_like(&o->v[i], p));
    NL_TRY(nl_contiguous(&gc, g));
    nl_tensor *in[4] = {p, gc, need_buf ? o->m[i] : NULL, c->kind == NL_OPTIM_ADAMW ? o->v[i] : NULL};
    nl_op_args a = {.n_in = c->kind == NL_OPTIM_ADAMW ? 4 : 3, .in = in, .n_out = 0};
    if (c->kind == NL_OPTIM_ADAMW) {
        a.op = NL_OP_ADAMW_UPDATE;
        a.p = (nl_op_params){.i = {o->steps}, .f = {c->lr, c->beta1, c->beta2, c->eps, c->weight_decay}};
    } else {
        a.op = NL_OP_SGD_UPDATE;
        a.p = (nl_op_params){.i = {first}, .f = {c->lr, c->momentum, c->weight_decay}};
    }
    nl_status st = nl_dispatch(&a);
    nl_tensor_release(gc);
    if (st == NL_OK) p->storage->version++;
    return st;
}

nl_status nl_optim_step(nl_optim *o)
{
    o->steps++;
    for (int i = 0; i < o->n; i++) {
        nl_tensor *p = o->params[i];
        if (!p->grad) continue;
        if (!nl_tensor_same_shape(p->grad, p) || p->grad->dtype != NL_F32)
            return nl_error_set(NL_ERR_STATE, "optimizer: the gradient of parameter %d does not match it", i);
        NL_TRY(update_one(o, i));
    }
    return NL_OK;
}

void nl_optim_zero_grad(nl_optim *o)
{
    for (int i = 0; i < o->n; i++) nl_zero_grad(o->params[i]);
}

void nl_optim_set_lr(nl_optim *o, double lr) { o->cfg.lr = lr; }
const nl_optim_config *nl_optim_get_config(const nl_optim *o) { return &o->cfg; }
int64_t nl_optim_steps(const nl_optim *o) { return o->steps; }
int nl_optim_nparams(const nl_optim *o) { return o->n; }
nl_tensor *nl_optim_param(const nl_optim *o, int i) { return i >= 0 && i < o->n ? o->params[i] : NULL; }

int nl_optim_state_count(const nl_optim *o)
{
    return o->cfg.kind == NL_OPTIM_ADAMW ? 2 : o->cfg.momentum != 0 ? 1 : 0;
}

const char *nl_optim_state_name(const nl_optim *o, int k)
{
    if (k < 0 || k >= nl_optim_state_count(o)) return NULL;
    return o->cfg.kind == NL_OPTIM_SGD ? "momentum" : k == 0 ? "exp_avg" : "exp_avg_sq";
}

nl_tensor *nl_optim_state_tensor(const nl_optim *o, int i, int k)
{
    if (i < 0 || i >= o->n || k < 0 || k >= nl_optim_state_count(o)) return NULL;
    return k == 0 ? o->m[i] : o->v[i];
}

nl_status nl_optim_set_state(nl_optim *o, int i, int k, nl_tensor *t)
{
    if (i < 0 || i >= o->n || k < 0 || k >= nl_optim_state_count(o))
        return nl_error_set(NL_ERR_ARG, "optimizer: no state %d for parameter %d", k, i);
    nl_tensor *p = o->params[i];
    if (t && (t->dtype != NL_F32 || !nl_tensor_same_shape(t, p) || !nl_tensor_is_contiguous(t) ||
              !nl_device_equal(nl_tensor_device(t), nl_tensor_device(p))))
        return nl_error_set(NL_ERR_ARG, "optimizer: state %s of parameter %d must be a contiguous f32 tensor "
                            "shaped and placed like the parameter", nl_optim_state_name(o, k), i);
    nl_tensor **slot = k == 0 ? &o->m[i] : &o->v[i];
    if (t) nl_tensor_retain(t);
    nl_tensor_release(*slot);
    *slot = t;
    return NL_OK;
}

void nl_optim_set_steps(nl_optim *o, int64_t steps) { o->steps = steps; }

nl_status nl_clip_grad_norm(int n, nl_tensor *const *params, double max_norm, double *norm)
{
    double ss = 0;
    for (int i = 0; i < n; i++) {
        nl_tensor *g = params[i]->grad;
        if (!g) continue;
        int64_t k = nl_tensor_numel(g);
        float *h = malloc((size_t)(k ? k : 1) * sizeof *h);
        if (!h) return nl_error_set(NL_ERR_OOM, "clip-grad-norm: out of memory");
        nl_status st = nl_tensor_to_host(g, h, NL_F32);
        for (int64_t j = 0; st == NL_OK && j < k; j++) ss += (double)h[j] * h[j];
        free(h);
        NL_TRY(st);
    }
    double total = sqrt(ss);
    if (norm) *norm = total;
    if (max_norm <= 0 || !(total > max_norm)) return NL_OK;
    double coef = max_norm / (total + 1e-6);
    for (int i = 0; i < n; i++) {
        nl_tensor *g = params[i]->grad;
        if (!g) continue;
        /* gradients are exclusively owned, contiguous tensors (autograd.c): scale in place */
        nl_tensor *in[1] = {g};
        nl_op_args a = {.op = NL_OP_SCALE, .n_in = 1, .in = in, .n_out = 1, .out = {g}, .p = {.f = {coef, 0}}};
        NL_TRY(nl_dispatch(&a));
    }
    return NL_OK;
}
