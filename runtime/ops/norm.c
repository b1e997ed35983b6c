/* norm.c — front-ends and backward functions of rmsnorm, layernorm, rope and
 * l2-normalize (runtime/ops.h): argument checks, allocation of the results and
 * of the per-row statistics the backward needs, autograd records. All
 * arithmetic is in the kernels (contract: contiguous f32 rows over the last
 * dim, see kernels/cpu/norm.c); no other op family is used. */
#include <math.h>

#include "common.h"

/* ---- checks -------------------------------------------------------------- */

/* x f32 with at least one dim (the normalised one). */
static nl_status check_x(const char *who, const nl_tensor *x)
{
    NL_TRY(nl_check_f32(who, "x", x));
    if (x->ndim >= 1) return NL_OK;
    return nl_error_set(NL_ERR_SHAPE, "%s: x must have at least 1 dim (normalised over the last), got a 0-d tensor"
                        " HINT: reshape it to [1]", who);
}

/* Optional per-channel parameter (weight or bias): NULL, or f32 [C] with C
 * the last dim of x, on x's device. */
static nl_status check_param(const char *who, const char *what, const nl_tensor *p, const nl_tensor *x)
{
    if (!p) return NL_OK;
    NL_TRY(nl_check_f32(who, what, p));
    NL_TRY(nl_check_same_device(who, x, p));
    int64_t C = x->shape[x->ndim - 1];
    if (p->ndim == 1 && p->shape[0] == C) return NL_OK;
    char sp[128], sx[128];
    return nl_error_set(NL_ERR_SHAPE, "%s: %s must be [%lld] (the last dim of x %s), got %s", who, what,
                        (long long)C, nl_shape_str(x, sx, sizeof sx), nl_shape_str(p, sp, sizeof sp));
}

static nl_status check_eps(const char *who, double eps)
{
    if (eps >= 0 && isfinite(eps)) return NL_OK;
    return nl_error_set(NL_ERR_ARG, "%s: eps must be finite and >= 0, got %g", who, eps);
}

/* ---- allocation ---------------------------------------------------------- */

/* f32 tensors on x's device: *y of x's shape and n_stats per-row statistics
 * of x's leading dims. On failure nothing is left allocated. */
static nl_status alloc_outputs(const nl_tensor *x, nl_tensor **y, int n_stats, nl_tensor **stats)
{
    nl_device dev = nl_tensor_device(x);
    nl_status st = nl_tensor_empty(y, NL_F32, x->ndim, x->shape, dev);
    for (int i = 0; i < n_stats; i++) stats[i] = NULL;
    for (int i = 0; i < n_stats && st == NL_OK; i++) st = nl_tensor_empty(&stats[i], NL_F32, x->ndim - 1, x->shape, dev);
    if (st == NL_OK) return NL_OK;
    nl_tensor_release(*y);
    *y = NULL;
    for (int i = 0; i < n_stats; i++) { nl_tensor_release(stats[i]); stats[i] = NULL; }
    return st;
}

/* A new f32 tensor of t's shape on t's device, or NULL (and NL_OK) when t
 * is NULL or wants no gradient. */
static nl_status grad_buffer(nl_tensor **out, const nl_tensor *t)
{
    *out = NULL;
    if (!t || !t->requires_grad) return NL_OK;
    return nl_tensor_empty(out, NL_F32, t->ndim, t->shape, nl_tensor_device(t));
}

/* Run a forward kernel producing y and n_stats statistics, then record the
 * node with the statistics saved. */
static nl_status normalise(nl_tensor **out, nl_op op, int n_in, nl_tensor **ins, int n_stats, const nl_op_params *p,
                           nl_backward_fn backward)
{
    nl_tensor *y = NULL, *outs[NL_OP_MAX_OUT] = {0};
    NL_TRY(alloc_outputs(ins[0], &y, n_stats, outs + 1));
    outs[0] = y;
    nl_status st = nl_run_contiguous(op, n_in, ins, 1 + n_stats, outs, p);
    if (st == NL_OK) st = nl_autograd_record(y, op, n_in, ins, n_stats, outs + 1, p, backward);
    for (int i = 1; i <= n_stats; i++) nl_tensor_release(outs[i]);
    if (st != NL_OK) { nl_tensor_release(y); return st; }
    *out = y;
    return NL_OK;
}

/* Run a backward kernel on (g, x, extra...) into gx and the optional
 * parameter gradients of the node's inputs 1.. (those that want one). */
static nl_status run_backward(nl_node *n, nl_op op, int n_in, nl_tensor **ins, int n_params, nl_tensor **gin)
{
    nl_tensor *outs[NL_OP_MAX_OUT] = {0};
    nl_status st = nl_tensor_empty(&outs[0], NL_F32, n->in[0]->ndim, n->in[0]->shape, nl_tensor_device(n->in[0]));
    for (int i = 1; i <= n_params && st == NL_OK; i++) st = grad_buffer(&outs[i], n->in[i]);
    if (st == NL_OK) st = nl_run_contiguous(op, n_in, ins, 1 + n_params, outs, &n->p);
    for (int i = 0; i <= n_params; i++) {
        if (st == NL_OK) gin[i] = outs[i];
        else nl_tensor_release(outs[i]);
    }
    return st;
}

/* ---- rmsnorm ------------------------------------------------------------- */

/* in: x, w; saved[0]: rstd. */
static nl_status rmsnorm_backward(nl_node *n, nl_tensor *g, nl_tensor **gin)
{
    nl_tensor *ins[4] = {g, n->in[0], n->in[1], n->saved[0]};
    return run_backward(n, NL_OP_RMSNORM_BWD, 4, ins, 1, gin);
}

/* x [..., C], w [C] or NULL -> y [..., C] = x * rsqrt(mean(x^2) + eps) * w,
 * computed in f32 with the mean in double (LLaMA / Qwen2 RMSNorm). */
nl_status nl_rmsnorm(nl_tensor **out, nl_tensor *x, nl_tensor *w, double eps)
{
    NL_TRY(check_x("rmsnorm", x));
    NL_TRY(check_param("rmsnorm", "w", w, x));
    NL_TRY(check_eps("rmsnorm", eps));
    nl_op_params p = {.f = {eps}};
    nl_tensor *ins[2] = {x, w};
    return normalise(out, NL_OP_RMSNORM, 2, ins, 1, &p, rmsnorm_backward);
}

/* ---- layernorm ----------------------------------------------------------- */

/* in: x, w, b; saved: mean, rstd. */
static nl_status layernorm_backward(nl_node *n, nl_tensor *g, nl_tensor **gin)
{
    nl_tensor *ins[5] = {g, n->in[0], n->in[1], n->saved[0], n->saved[1]};
    return run_backward(n, NL_OP_LAYERNORM_BWD, 5, ins, 2, gin);
}

/* x [..., C], w [C] or NULL, b [C] or NULL -> (x - mean) / sqrt(var + eps) * w + b
 * over the last dim, biased variance (torch.nn.LayerNorm). */
nl_status nl_layernorm(nl_tensor **out, nl_tensor *x, nl_tensor *w, nl_tensor *b, double eps)
{
    NL_TRY(check_x("layernorm", x));
    NL_TRY(check_param("layernorm", "w", w, x));
    NL_TRY(check_param("layernorm", "b", b, x));
    NL_TRY(check_eps("layernorm", eps));
    nl_op_params p = {.f = {eps}};
    nl_tensor *ins[3] = {x, w, b};
    return normalise(out, NL_OP_LAYERNORM, 3, ins, 2, &p, layernorm_backward);
}

/* ---- l2-normalize -------------------------------------------------------- */

/* in: x; saved[0]: the row norms. */
static nl_status l2_normalize_backward(nl_node *n, nl_tensor *g, nl_tensor **gin)
{
    nl_tensor *ins[3] = {g, n->in[0], n->saved[0]};
    return run_backward(n, NL_OP_L2_NORMALIZE_BWD, 3, ins, 0, gin);
}

/* x [..., C] -> x / max(||x||_2, eps) over the last dim
 * (torch.nn.functional.normalize(x, p=2, dim=-1, eps)). */
nl_status nl_l2_normalize(nl_tensor **out, nl_tensor *x, double eps)
{
    NL_TRY(check_x("l2-normalize", x));
    NL_TRY(check_eps("l2-normalize", eps));
    nl_op_params p = {.f = {eps}};
    return normalise(out, NL_OP_L2_NORMALIZE, 1, &x, 1, &p, l2_normalize_backward);
}

/* ---- rope ---------------------------------------------------------------- */

/* pos: index dtype, on x's device, [T], or [B, T] / [1, T] for x [B, NH, T, HS]. */
static nl_status check_pos(const nl_tensor *x, const nl_tensor *pos)
{
    NL_TRY(nl_check_index("rope", "pos", pos));
    NL_TRY(nl_check_same_device("rope", x, pos));
    int64_t B = x->shape[0], T = x->shape[2];
    if (pos->ndim == 1 && pos->shape[0] == T) return NL_OK;
    if (pos->ndim == 2 && (pos->shape[0] == B || pos->shape[0] == 1) && pos->shape[1] == T) return NL_OK;
    char sp[128], sx[128];
    return nl_error_set(NL_ERR_SHAPE, "rope: pos must be [%lld] or [%lld %lld] for x %s [B NH T HS], got %s"
                        " HINT: one position per time step (per batch row for [B T])",
                        (long long)T, (long long)B, (long long)T, nl_shape_str(x, sx, sizeof sx),
                        nl_shape_str(pos, sp, sizeof sp));
}

/* rotary_dim 0 means HS; otherwise even, in [0, HS]. */
static nl_status resolve_rotary_dim(int64_t rotary_dim, int64_t HS, int64_t *rd)
{
    *rd = rotary_dim == 0 ? HS : rotary_dim;
    if (*rd >= 0 && *rd <= HS && *rd % 2 == 0) return NL_OK;
    return nl_error_set(NL_ERR_ARG, "rope: rotary_dim %lld (head size %lld) must be even and <= the head size"
                        " HINT: 0 rotates the whole head", (long long)rotary_dim, (long long)HS);
}

static nl_status rope_run(nl_tensor **out, nl_tensor *x, nl_tensor *pos, const nl_op_params *p)
{
    nl_tensor *y = NULL, *ins[2] = {x, pos};
    NL_TRY(nl_tensor_empty(&y, NL_F32, x->ndim, x->shape, nl_tensor_device(x)));
    nl_status st = nl_run_contiguous(NL_OP_ROPE, 2, ins, 1, &y, p);
    if (st != NL_OK) { nl_tensor_release(y); return st; }
    *out = y;
    return NL_OK;
}

/* in: x, pos. The gradient is the inverse rotation of g; pos gets none. */
static nl_status rope_backward(nl_node *n, nl_tensor *g, nl_tensor **gin)
{
    nl_op_params p = n->p;
    p.i[1] = 1;
    return rope_run(&gin[0], g, n->in[1], &p);
}

/* x [B, NH, T, HS], pos [T], [1, T] or [B, T] (i64/i32, any values) -> rotated x. */
nl_status nl_rope(nl_tensor **out, nl_tensor *x, nl_tensor *pos, double theta, int64_t rotary_dim)
{
    NL_TRY(nl_check_f32("rope", "x", x));
    NL_TRY(nl_check_ndim("rope", "x [B NH T HS]", x, 4));
    NL_TRY(check_pos(x, pos));
    if (!(theta > 0 && isfinite(theta)))
        return nl_error_set(NL_ERR_ARG, "rope: theta must be finite and > 0, got %g HINT: LLaMA uses 10000", theta);
    nl_op_params p = {.f = {theta}};
    NL_TRY(resolve_rotary_dim(rotary_dim, x->shape[3], &p.i[0]));
    nl_tensor *y = NULL, *ins[2] = {x, pos};
    NL_TRY(rope_run(&y, x, pos, &p));
    nl_status st = nl_autograd_record(y, NL_OP_ROPE, 2, ins, 0, NULL, &p, rope_backward);
    if (st != NL_OK) { nl_tensor_release(y); return st; }
    *out = y;
    return NL_OK;
}
