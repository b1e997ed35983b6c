/* loss.c — front-end and backward of the cross-entropy loss (runtime/ops.h).
 * Validates targets on the host before any kernel indexes with them, counts
 * the supervised rows, and saves the per-row log-sum-exp for the backward.
 * Depends on the CROSS_ENTROPY kernel contract (kernels/cpu/loss.c). */
#include <stdlib.h>

#include "common.h"

/* Count rows whose target is not ignore_index; NL_ERR_ARG on the first
 * target outside [0, V) that is not ignore_index. */
static nl_status check_targets(const nl_tensor *targets, int64_t V, int64_t ignore, int64_t *nsup)
{
    int64_t N = nl_tensor_numel(targets);
    *nsup = 0;
    if (N == 0) return NL_OK;
    int64_t *v = malloc((size_t)N * sizeof *v);
    if (!v) return nl_error_set(NL_ERR_OOM, "cross-entropy: out of memory reading %lld targets", (long long)N);
    nl_status st = nl_tensor_to_host(targets, v, NL_I64);
    for (int64_t r = 0; st == NL_OK && r < N; r++) {
        if (v[r] == ignore) continue;
        if (v[r] >= 0 && v[r] < V) (*nsup)++;
        else st = nl_error_set(NL_ERR_ARG, "cross-entropy: target %lld at row %lld is out of range for V = %lld"
                               " (targets must be in [0, %lld) or the ignore index %lld)",
                               (long long)v[r], (long long)r, (long long)V, (long long)V, (long long)ignore);
    }
    free(v);
    return st;
}

static nl_status check_args(const nl_tensor *logits, const nl_tensor *targets)
{
    char sl[128], st[128];
    NL_TRY(nl_check_f32("cross-entropy", "logits", logits));
    NL_TRY(nl_check_index("cross-entropy", "targets", targets));
    NL_TRY(nl_check_same_device("cross-entropy", logits, targets));
    if (logits->ndim != 2 || targets->ndim != 1 || targets->shape[0] != logits->shape[0])
        return nl_error_set(NL_ERR_SHAPE, "cross-entropy: logits is %s, targets is %s (want logits [N V], targets [N])"
                            " HINT: reshape [B T V] logits to [B*T V] and targets to [B*T]",
                            nl_shape_str(logits, sl, sizeof sl), nl_shape_str(targets, st, sizeof st));
    return NL_OK;
}

/* in: logits, targets; saved[0]: lse [N]; p: i[0] ignore index, i[1] supervised rows. */
static nl_status cross_entropy_backward(nl_node *n, nl_tensor *g, nl_tensor **gin)
{
    nl_tensor *logits = n->in[0];
    if (!logits->requires_grad) return NL_OK;
    nl_tensor *gx;
    NL_TRY(nl_tensor_empty(&gx, NL_F32, 2, logits->shape, nl_tensor_device(logits)));
    nl_tensor *ins[4] = {logits, n->in[1], n->saved[0], g};
    nl_status st = nl_run_contiguous(NL_OP_CROSS_ENTROPY_BWD, 4, ins, 1, &gx, &n->p);
    if (st != NL_OK) { nl_tensor_release(gx); return st; }
    gin[0] = gx;
    return NL_OK;
}

/* logits [N, V], targets [N] -> 0-d mean of -log softmax(logits)[target] over supervised rows */
nl_status nl_cross_entropy(nl_tensor **out, nl_tensor *logits, nl_tensor *targets, int64_t ignore_index)
{
    NL_TRY(check_args(logits, targets));
    nl_op_params p = {{ignore_index}};
    NL_TRY(check_targets(targets, logits->shape[1], ignore_index, &p.i[1]));
    nl_device dev = nl_tensor_device(logits);
    nl_tensor *ins[2] = {logits, targets}, *loss = NULL, *lse = NULL;
    nl_status st = nl_tensor_empty(&loss, NL_F32, 0, NULL, dev);
    if (st == NL_OK) st = nl_tensor_empty(&lse, NL_F32, 1, logits->shape, dev);
    if (st == NL_OK) {
        nl_tensor *outs[2] = {loss, lse};
        st = nl_run_contiguous(NL_OP_CROSS_ENTROPY, 2, ins, 2, outs, &p);
    }
    if (st == NL_OK) st = nl_autograd_record(loss, NL_OP_CROSS_ENTROPY, 2, ins, 1, &lse, &p, cross_entropy_backward);
    nl_tensor_release(lse);
    if (st != NL_OK) { nl_tensor_release(loss); return st; }
    *out = loss;
    return NL_OK;
}
