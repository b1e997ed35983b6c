/* lora.c — LoRA adapters: initialisation, the adapted linear map (composed
 * from nl_linear and nl_scale so gradients come from those ops), and merging
 * the low-rank update into the base weight. */
#include "lora.h"

#include <math.h>

#include "autograd.h"
#include "ops.h"

static nl_status check_fit(const nl_tensor *w, const nl_lora *l)
{
    char sw[96], sa[96], sb[96];
    const nl_tensor *A = l->A, *B = l->B;
    if (!A || !B || A->ndim != 2 || B->ndim != 2 || w->ndim != 2 || A->shape[0] != l->rank ||
        B->shape[1] != l->rank || A->shape[1] != w->shape[1] || B->shape[0] != w->shape[0])
        return nl_error_set(NL_ERR_SHAPE, "lora: adapter A %s, B %s (rank %d) does not fit weight %s; need A [r in], "
                            "B [out r]", A ? nl_shape_str(A, sa, sizeof sa) : "(none)",
                            B ? nl_shape_str(B, sb, sizeof sb) : "(none)", l->rank, nl_shape_str(w, sw, sizeof sw));
    return NL_OK;
}

nl_status nl_lora_init(const nl_lora *l, nl_rng *rng)
{
    if (!l->A || !l->B || l->A->ndim != 2) return nl_error_set(NL_ERR_ARG, "lora init: adapter has no A/B tensors");
    double bound = 1.0 / sqrt((double)l->A->shape[1]);
    bool grad = nl_grad_set_enabled(false);
    nl_status st = nl_fill_uniform(l->A, -bound, bound, rng ? rng : nl_rng_global());
    if (st == NL_OK) st = nl_tensor_fill_(l->B, 0.0);
    nl_grad_set_enabled(grad);
    return st;
}

nl_status nl_lora_linear(nl_tensor **out, nl_tensor *x, nl_tensor *w, nl_tensor *b, const nl_lora *l)
{
    *out = NULL;
    if (!l) return nl_linear(out, x, w, b);
    NL_TRY(check_fit(w, l));
    nl_tensor *y = NULL, *xa = NULL, *xab = NULL, *d = NULL;
    nl_status st = nl_linear(&y, x, w, b);
    if (st == NL_OK) st = nl_linear(&xa, x, l->A, NULL);
    if (st == NL_OK) st = nl_linear(&xab, xa, l->B, NULL);
    if (st == NL_OK) st = nl_scale(&d, xab, l->scaling, 0.0);
    if (st == NL_OK) st = nl_add(out, y, d);
    nl_tensor_release(y);
    nl_tensor_release(xa);
    nl_tensor_release(xab);
    nl_tensor_release(d);
    return st;
}

nl_status nl_lora_merge_into(nl_tensor *w, const nl_lora *l)
{
    NL_TRY(check_fit(w, l));
    bool grad = nl_grad_set_enabled(false);
    nl_tensor *ba = NULL, *d = NULL, *sum = NULL;
    nl_status st = nl_matmul(&ba, l->B, l->A, false, false);
    if (st == NL_OK) st = nl_scale(&d, ba, l->scaling, 0.0);
    if (st == NL_OK) st = nl_add(&sum, w, d);
    if (st == NL_OK) st = nl_tensor_copy_(w, sum);
    nl_grad_set_enabled(grad);
    nl_tensor_release(ba);
    nl_tensor_release(d);
    nl_tensor_release(sum);
    return st;
}
