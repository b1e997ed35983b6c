/* losses.c — GCL, CSFT generation, combined and mICL losses and the
 * differentiable read-out (runtime/train/losses.h). Everything is composed
 * from runtime/ops.h front-ends, so autograd comes from those ops; the only
 * host work is building index tensors (GCL partners, shifted labels,
 * read-out rows). Depends on runtime/ops and the tensor core only. */
#include "losses.h"

#include <math.h>
#include <stdlib.h>

/* An i64 [n] tensor on dev holding v (host values). */
static nl_status i64_tensor(nl_tensor **out, const int64_t *v, int64_t n, nl_device dev)
{
    return nl_tensor_from_host(out, NL_I64, 1, (const int64_t[]){n}, v, NL_I64, dev);
}

/* ---- GCL -------------------------------------------------------------------- */

static nl_status gcl_check(const nl_tensor *emb, const nl_tensor *tau)
{
    char a[96], b[96];
    if (emb->dtype != NL_F32 || tau->dtype != NL_F32)
        return nl_error_set(NL_ERR_DTYPE, "gcl-loss: emb and tau must be f32");
    if (emb->ndim != 2 || emb->shape[0] < 2 || emb->shape[0] % 2 != 0 || emb->shape[1] < 1)
        return nl_error_set(NL_ERR_SHAPE, "gcl-loss: emb is %s, want [2N d] with N >= 1 (an even row count)"
                            " HINT: the batch is [first notes; second notes] of N pairs",
                            nl_shape_str(emb, a, sizeof a));
    if (nl_tensor_numel(tau) != 1 || tau->ndim > 1)
        return nl_error_set(NL_ERR_SHAPE, "gcl-loss: tau is %s, want one element (0-d or [1])",
                            nl_shape_str(tau, b, sizeof b));
    if (nl_tensor_device(emb).type != nl_tensor_device(tau).type ||
        nl_tensor_device(emb).index != nl_tensor_device(tau).index)
        return nl_error_set(NL_ERR_DEVICE, "gcl-loss: emb and tau are on different devices");
    return NL_OK;
}

nl_status nl_gcl_loss(nl_tensor **loss, nl_tensor *emb, nl_tensor *tau)
{
    *loss = NULL;
    NL_TRY(gcl_check(emb, tau));
    int64_t R = emb->shape[0], N = R / 2;
    nl_device dev = nl_tensor_device(emb);
    nl_tensor *sim = NULL, *scale = NULL, *s = NULL, *sm = NULL;
    nl_tensor *eye = NULL, *eye_d = NULL, *tg = NULL;
    int64_t *part = malloc((size_t)R * sizeof *part);
    uint8_t *diag = calloc((size_t)(R * R), 1);
    nl_status st = part && diag ? NL_OK : nl_error_set(NL_ERR_OOM, "gcl-loss: out of memory for %lld rows", (long long)R);
    if (st == NL_OK) {
        for (int64_t k = 0; k < R; k++) {
            part[k] = k < N ? k + N : k - N; /* the other note of the same pair */
            diag[k * R + k] = 1;
        }
        st = i64_tensor(&tg, part, R, dev);
    }
    if (st == NL_OK) st = nl_tensor_from_host(&eye, NL_U8, 2, (const int64_t[]){R, R}, diag, NL_U8, NL_CPU_DEVICE);
    if (st == NL_OK) st = nl_to(&eye_d, eye, NL_U8, dev);
    if (st == NL_OK) st = nl_matmul(&sim, emb, emb, false, true); /* [R,R] cosines */
    if (st == NL_OK) st = nl_exp(&scale, tau);                      /* logit scale exp(tau) */
    if (st == NL_OK) st = nl_mul(&s, sim, scale);                   /* [R,R] */
    /* mask after scaling: -inf * anything would leave NaN in the tau gradient */
    if (st == NL_OK) st = nl_masked_fill(&sm, s, eye_d, -INFINITY);
    if (st == NL_OK) st = nl_cross_entropy(loss, sm, tg, NL_IGNORE_INDEX); /* mean over R rows */
    free(part);
    free(diag);
    nl_tensor_release(sim); nl_tensor_release(scale); nl_tensor_release(s); nl_tensor_release(sm);
    nl_tensor_release(eye); nl_tensor_release(eye_d); nl_tensor_release(tg);
    return st;
}

/* ---- CSFT generation loss ---------------------------------------------------- */

nl_status nl_gen_loss(nl_tensor **loss, nl_tensor *hidden, nl_tensor *lm_head, nl_tensor *labels)
{
    char a[96], b[96];
    *loss = NULL;
    if (hidden->ndim != 3 || labels->ndim != 2 || labels->shape[0] != hidden->shape[0] ||
        labels->shape[1] != hidden->shape[1])
        return nl_error_set(NL_ERR_SHAPE, "gen-loss: %s is %s, labels is %s (want [B T %s], labels [B T])",
                            lm_head ? "hidden" : "logits", nl_shape_str(hidden, a, sizeof a),
                            nl_shape_str(labels, b, sizeof b), lm_head ? "C" : "V");
    if (lm_head && (lm_head->ndim != 2 || lm_head->shape[1] != hidden->shape[2]))
        return nl_error_set(NL_ERR_SHAPE, "gen-loss: LM head is %s for hidden %s (want [V C])",
                            nl_shape_str(lm_head, a, sizeof a), nl_shape_str(hidden, b, sizeof b));
    if (labels->dtype != NL_I64 && labels->dtype != NL_I32)
        return nl_error_set(NL_ERR_DTYPE, "gen-loss: labels must be i64 or i32 token ids");
    int64_t B = hidden->shape[0], T = hidden->shape[1], D = hidden->shape[2], n = B * T;
    int64_t V = lm_head ? lm_head->shape[0] : D;
    int64_t *lab = malloc((size_t)(n ? n : 1) * sizeof *lab), *pos = malloc((size_t)(n ? n : 1) * sizeof *pos),
            *tgt = malloc((size_t)(n ? n : 1) * sizeof *tgt);
    nl_tensor *flat = NULL, *ids = NULL, *sel = NULL, *logits = NULL, *tg = NULL;
    nl_status st = lab && pos && tgt ? NL_OK : nl_error_set(NL_ERR_OOM, "gen-loss: out of memory for %lld labels", (long long)n);
    if (st == NL_OK) st = nl_tensor_to_host(labels, lab, NL_I64);
    for (int64_t i = 0; st == NL_OK && i < n; i++)
        if (lab[i] != NL_IGNORE_INDEX && (lab[i] < 0 || lab[i] >= V))
            st = nl_error_set(NL_ERR_ARG, "gen-loss: label %lld at [%lld %lld] is out of range for V = %lld"
                              " (labels must be in [0, %lld) or %d = not supervised)", (long long)lab[i],
                              (long long)(i / T), (long long)(i % T), (long long)V, (long long)V, NL_IGNORE_INDEX);
    int64_t m = 0;
    if (st == NL_OK && n > 0) {
        /* position (b,t) predicts labels[b, t+1]; only those rows get logits */
        for (int64_t bi = 0; bi < B; bi++)
            for (int64_t t = 0; t + 1 < T; t++)
                if (lab[bi * T + t + 1] != NL_IGNORE_INDEX) pos[m] = bi * T + t, tgt[m++] = lab[bi * T + t + 1];
        if (m == 0) pos[m] = 0, tgt[m++] = NL_IGNORE_INDEX; /* one ignored row: loss 0, zero gradient */
    }
    if (st == NL_OK && n == 0) st = nl_error_set(NL_ERR_SHAPE, "gen-loss: empty batch %s", nl_shape_str(hidden, a, sizeof a));
    nl_device dev = nl_tensor_device(hidden);
    if (st == NL_OK) st = nl_reshape(&flat, hidden, 2, (const int64_t[]){n, D});
    if (st == NL_OK) st = i64_tensor(&ids, pos, m, dev);
    if (st == NL_OK) st = nl_index_select(&sel, flat, 0, ids);
    if (st == NL_OK) st = lm_head ? nl_linear(&logits, sel, lm_head, NULL) : (logits = nl_tensor_retain(sel), NL_OK);
    if (st == NL_OK) st = i64_tensor(&tg, tgt, m, dev);
    if (st == NL_OK) st = nl_cross_entropy(loss, logits, tg, NL_IGNORE_INDEX);
    if (st != NL_OK && st != NL_ERR_OOM) nl_error_prefix(st, "gen-loss");
    free(lab);
    free(pos);
    free(tgt);
    nl_tensor_release(flat); nl_tensor_release(ids); nl_tensor_release(sel);
    nl_tensor_release(logits); nl_tensor_release(tg);
    return st;
}

/* ---- combinations --------------------------------------------------------------- */

/* a*x + b*y for 0-d (or any same-shape) losses. */
static nl_status weighted_sum(nl_tensor **out, nl_tensor *x, double a, nl_tensor *y, double b)
{
    nl_tensor *xs = NULL, *ys = NULL;
    nl_status st = nl_scale(&xs, x, a, 0.0);
    if (st == NL_OK) st = nl_scale(&ys, y, b, 0.0);
    if (st == NL_OK) st = nl_add(out, xs, ys);
    nl_tensor_release(xs);
    nl_tensor_release(ys);
    return st;
}

nl_status nl_csft_loss(nl_tensor **loss, nl_tensor *l_cl, nl_tensor *l_gen, double alpha, bool contrastive)
{
    *loss = NULL;
    if (!(alpha >= 0) || isinf(alpha))
        return nl_error_set(NL_ERR_ARG, "notellm-loss: alpha must be finite and >= 0, got %g", alpha);
    if (!contrastive) {
        if (!l_gen) return nl_error_set(NL_ERR_ARG, "notellm-loss: without GCL the loss is alpha*L_gen but L_gen is NULL");
        return nl_scale(loss, l_gen, alpha, 0.0);
    }
    if (!l_cl) return nl_error_set(NL_ERR_ARG, "notellm-loss: L_cl is NULL HINT: pass contrastive=false for w/o GCL");
    if (alpha == 0) return nl_scale(loss, l_cl, 1.0, 0.0); /* w/o CSFT */
    if (!l_gen) return nl_error_set(NL_ERR_ARG, "notellm-loss: alpha is %g but L_gen is NULL", alpha);
    return weighted_sum(loss, l_cl, 1.0 / (1.0 + alpha), l_gen, alpha / (1.0 + alpha));
}

nl_status nl_micl_loss(nl_tensor **loss, nl_tensor *l_m, nl_tensor *l_v, double w_t, double w_v)
{
    *loss = NULL;
    if (!(w_t >= 0 && w_v >= 0 && w_t + w_v > 0) || isinf(w_t) || isinf(w_v))
        return nl_error_set(NL_ERR_ARG, "micl-loss: weights w_t = %g, w_v = %g must be finite, >= 0, with a positive sum"
                            " HINT: the NoteLLM-2 runs use w_t = 9, w_v = 1", w_t, w_v);
    if (!l_m || !l_v) return nl_error_set(NL_ERR_ARG, "micl-loss: L_m and L_v are both needed");
    return weighted_sum(loss, l_m, w_t / (w_t + w_v), l_v, w_v / (w_t + w_v));
}

/* ---- read-out -------------------------------------------------------------------- */

nl_status nl_readout(nl_tensor **out, nl_tensor *hidden, const int64_t *pos)
{
    char a[96];
    *out = NULL;
    if (hidden->ndim != 3)
        return nl_error_set(NL_ERR_SHAPE, "readout: hidden is %s, want [B T C]", nl_shape_str(hidden, a, sizeof a));
    int64_t B = hidden->shape[0], T = hidden->shape[1], C = hidden->shape[2];
    if (B > 0 && !pos) return nl_error_set(NL_ERR_ARG, "readout: no positions for %lld rows", (long long)B);
    for (int64_t b = 0; b < B; b++)
        if (pos[b] < 0 || pos[b] >= T)
            return nl_error_set(NL_ERR_ARG, "readout: position %lld of row %lld is out of range for T = %lld"
                                " (positions must be in [0, %lld))",
                                (long long)pos[b], (long long)b, (long long)T, (long long)T);
    int64_t *rows = malloc((size_t)(B ? B : 1) * sizeof *rows);
    if (!rows) return nl_error_set(NL_ERR_OOM, "readout: out of memory");
    for (int64_t b = 0; b < B; b++) rows[b] = b * T + pos[b];
    nl_tensor *flat = NULL, *ids = NULL;
    nl_status st = i64_tensor(&ids, rows, B, nl_tensor_device(hidden));
    if (st == NL_OK) st = nl_reshape(&flat, hidden, 2, (const int64_t[]){B * T, C}); /* [B*T,C] */
    if (st == NL_OK) st = nl_index_select(out, flat, 0, ids);                      /* [B,C] */
    free(rows);
    nl_tensor_release(flat);
    nl_tensor_release(ids);
    return st;
}
