/* attention.c — front-end and backward of scaled dot-product attention
 * (runtime/ops.h nl_attention): validation, the probabilities P saved for
 * backward and returned to probes on request. Masks get no gradient. */
#include <math.h>

#include "common.h"

static nl_status attention_backward(nl_node *n, nl_tensor *g, nl_tensor **gin)
{
    nl_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2];
    nl_tensor *dq = NULL, *dk = NULL, *dv = NULL;
    nl_status st = nl_tensor_empty(&dq, NL_F32, q->ndim, q->shape, nl_tensor_device(q));
    if (st == NL_OK) st = nl_tensor_zeros(&dk, NL_F32, k->ndim, k->shape, nl_tensor_device(k));
    if (st == NL_OK) st = nl_tensor_zeros(&dv, NL_F32, v->ndim, v->shape, nl_tensor_device(v));
    if (st == NL_OK) {
        nl_tensor *in[5] = {g, q, k, v, n->saved[0]}, *out[3] = {dq, dk, dv};
        st = nl_run_contiguous(NL_OP_ATTENTION_BWD, 5, in, 3, out, &n->p);
    }
    if (st != NL_OK) {
        nl_tensor_release(dq); nl_tensor_release(dk); nl_tensor_release(dv);
        return st;
    }
    gin[0] = dq;
    gin[1] = dk;
    gin[2] = dv;
    return NL_OK;
}

static nl_status check_inputs(const nl_tensor *q, const nl_tensor *k, const nl_tensor *v)
{
    char a[96], b[96], c[96];
    NL_TRY(nl_check_f32("attention", "q", q));
    NL_TRY(nl_check_f32("attention", "k", k));
    NL_TRY(nl_check_f32("attention", "v", v));
    NL_TRY(nl_check_same_device("attention", q, k));
    NL_TRY(nl_check_same_device("attention", q, v));
    if (q->ndim != 4 || k->ndim != 4 || v->ndim != 4)
        return nl_error_set(NL_ERR_SHAPE, "attention: q, k, v must be [B NH T HS], got q %s k %s v %s",
                            nl_shape_str(q, a, sizeof a), nl_shape_str(k, b, sizeof b), nl_shape_str(v, c, sizeof c));
    if (!nl_tensor_same_shape(k, v) || k->shape[0] != q->shape[0] || k->shape[3] != q->shape[3])
        return nl_error_set(NL_ERR_SHAPE, "attention: q %s, k %s, v %s disagree (k and v must match; B and HS must equal q's)",
                            nl_shape_str(q, a, sizeof a), nl_shape_str(k, b, sizeof b), nl_shape_str(v, c, sizeof c));
    if (k->shape[1] == 0 || q->shape[1] % k->shape[1] != 0)
        return nl_error_set(NL_ERR_SHAPE, "attention: %lld query heads are not a multiple of %lld kv heads",
                            (long long)q->shape[1], (long long)k->shape[1]);
    if (q->shape[2] > INT32_MAX || k->shape[2] > INT32_MAX || q->shape[3] > INT32_MAX)
        return nl_error_set(NL_ERR_SHAPE, "attention: sequence or head size beyond the BLAS int range");
    return NL_OK;
}

/* The mask as the kernel reads it: u8 [B,Tk] as is (kind 1), or f32
 * expanded to [B,NH,Tq,Tk] (kind 2, a stride-0 view where it broadcasts). */
static nl_status prepare_mask(nl_tensor **out, int *kind, nl_tensor *m, const nl_tensor *q, const nl_tensor *k)
{
    char a[96];
    *kind = 0;
    *out = NULL;
    if (!m) return NL_OK;
    NL_TRY(nl_check_same_device("attention", q, m));
    if (m->dtype == NL_U8) {
        if (m->ndim != 2 || m->shape[0] != q->shape[0] || m->shape[1] != k->shape[2])
            return nl_error_set(NL_ERR_SHAPE, "attention: a u8 key padding mask must be [B Tk] = [%lld %lld], got %s",
                                (long long)q->shape[0], (long long)k->shape[2], nl_shape_str(m, a, sizeof a));
        *kind = 1;
        return nl_contiguous(out, m);
    }
    if (m->dtype != NL_F32)
        return nl_error_set(NL_ERR_DTYPE, "attention: the mask must be u8 (key padding) or f32 (additive), got %s",
                            nl_dtype_name(m->dtype));
    int64_t full[4] = {q->shape[0], q->shape[1], q->shape[2], k->shape[2]};
    nl_status st = nl_expand(out, m, 4, full);
    if (st != NL_OK) {
        char b[96];
        return nl_error_set(NL_ERR_SHAPE, "attention: additive mask %s does not broadcast to [B NH Tq Tk] = %s",
                            nl_shape_str(m, a, sizeof a), nl_dims_str(4, full, b, sizeof b));
    }
    *kind = 2;
    return NL_OK;
}

nl_status nl_attention(nl_tensor **out, nl_tensor *q, nl_tensor *k, nl_tensor *v, const nl_attention_opts *opts)
{
    nl_attention_opts none = {0};
    if (!opts) opts = &none;
    NL_TRY(check_inputs(q, k, v));
    if (!(opts->scale >= 0) || isinf(opts->scale))
        return nl_error_set(NL_ERR_ARG, "attention: scale must be finite and >= 0 (0 means 1/sqrt(HS)), got %g", opts->scale);
    double scale = opts->scale > 0 ? opts->scale : 1.0 / sqrt((double)(q->shape[3] ? q->shape[3] : 1));
    nl_tensor *mask = NULL, *qc = NULL, *kc = NULL, *vc = NULL, *o = NULL, *P = NULL;
    int kind;
    bool was = nl_grad_set_enabled(false);
    nl_status st = prepare_mask(&mask, &kind, opts->mask, q, k);
    if (st == NL_OK) st = nl_contiguous(&qc, q);
    if (st == NL_OK) st = nl_contiguous(&kc, k);
    if (st == NL_OK) st = nl_contiguous(&vc, v);
    nl_grad_set_enabled(was);
    int64_t pshape[4] = {q->shape[0], q->shape[1], q->shape[2], k->shape[2]};
    if (st == NL_OK) st = nl_tensor_empty(&o, NL_F32, 4, q->shape, nl_tensor_device(q));
    if (st == NL_OK) st = nl_tensor_empty(&P, NL_F32, 4, pshape, nl_tensor_device(q));
    nl_op_params p = {.i = {opts->causal, kind}, .f = {scale}};
    if (st == NL_OK) {
        nl_tensor *in[4] = {qc, kc, vc, mask};
        nl_op_args a = {.op = NL_OP_ATTENTION, .n_in = mask ? 4 : 3, .in = in, .n_out = 2, .out = {o, P}, .p = p};
        st = nl_dispatch(&a);
    }
    nl_tensor_release(mask); nl_tensor_release(qc); nl_tensor_release(kc); nl_tensor_release(vc);
    if (st == NL_OK) {
        nl_tensor *in[3] = {q, k, v};
        st = nl_autograd_record(o, NL_OP_ATTENTION, 3, in, 1, &P, &p, attention_backward);
    }
    if (st != NL_OK) { nl_tensor_release(o); nl_tensor_release(P); return st; }
    if (opts->probs) *opts->probs = nl_tensor_retain(P);
    nl_tensor_release(P);
    *out = o;
    return NL_OK;
}
