/* head.c — the embedding head (runtime/train/head.h): parameter
 * registration and init, the late-fusion gate, reduction and L2 norm,
 * load/save. Composed from runtime/ops.h front-ends; autograd comes from
 * those ops. */
#include "head.h"

#include <math.h>
#include <stdlib.h>

#include "autograd.h"

static nl_status register_params(nl_head *h, nl_device dev)
{
    int64_t C = h->C, Cv = h->Cv, d = h->d;
    if (Cv > 0) {
        NL_TRY(nl_params_new(&h->params, &h->proj_w, "mm_projector_latefusion.weight", 2, (const int64_t[]){C, Cv}, dev));
        NL_TRY(nl_params_new(&h->params, &h->gate_w, "gate.weight", 2, (const int64_t[]){C, 2 * C}, dev));
    }
    NL_TRY(nl_params_new(&h->params, &h->red_w, "dim_reduction.weight", 2, (const int64_t[]){d, C}, dev));
    NL_TRY(nl_params_new(&h->params, &h->tau, "tau", 1, (const int64_t[]){1}, dev));
    return NL_OK;
}

static nl_status init_params(nl_head *h, nl_rng *rng)
{
    bool g = nl_grad_set_enabled(false);
    nl_status st = nl_tensor_fill_(h->tau, NL_HEAD_TAU_INIT);
    if (st == NL_OK && rng) {
        double br = 1.0 / sqrt((double)h->C); /* nn.Linear default: kaiming_uniform(a=sqrt(5)) */
        st = nl_fill_uniform(h->red_w, -br, br, rng);
        if (st == NL_OK && h->proj_w) {
            double bp = 1.0 / sqrt((double)h->Cv);
            st = nl_fill_uniform(h->proj_w, -bp, bp, rng);
        }
        if (st == NL_OK && h->gate_w) /* xavier_normal_: fan_in 2C, fan_out C */
            st = nl_fill_normal(h->gate_w, 0.0, sqrt(2.0 / (3.0 * (double)h->C)), rng);
    }
    nl_grad_set_enabled(g);
    return st;
}

nl_status nl_head_create(nl_head **out, int64_t C, int64_t Cv, int64_t d, nl_device dev, nl_rng *rng)
{
    *out = NULL;
    if (d == 0) d = NL_HEAD_DEFAULT_DIM;
    if (C <= 0 || Cv < 0 || d < 0)
        return nl_error_set(NL_ERR_ARG, "head: widths C = %lld, Cv = %lld, d = %lld must be C > 0, Cv >= 0, d >= 0"
                            " HINT: Cv 0 means no late fusion, d 0 the default %d",
                            (long long)C, (long long)Cv, (long long)d, NL_HEAD_DEFAULT_DIM);
    nl_head *h = calloc(1, sizeof *h);
    if (!h) return nl_error_set(NL_ERR_OOM, "head: out of memory");
    h->C = C, h->Cv = Cv, h->d = d;
    nl_status st = register_params(h, dev);
    if (st == NL_OK) st = init_params(h, rng);
    if (st != NL_OK) {
        nl_head_free(h);
        return st;
    }
    *out = h;
    return NL_OK;
}

void nl_head_free(nl_head *h)
{
    if (!h) return;
    nl_params_free(&h->params);
    free(h);
}

nl_status nl_head_load(nl_head *h, const char *path, const char *file_prefix)
{
    return nl_params_load(&h->params, path, file_prefix, true, NULL);
}

nl_status nl_head_save(const nl_head *h, const char *path, const char *name_prefix)
{
    static const char *const meta[2] = {"format", "pt"};
    return nl_params_save(&h->params, path, name_prefix, 1, meta);
}

/* h [B,C], vis [B,Cv] -> *out [B,C] = z*h + (1-z)*v = v + z*(h - v), z = sigmoid(W [h; v]). */
static nl_status late_fusion(nl_tensor **out, nl_head *m, nl_tensor *h, nl_tensor *vis)
{
    nl_tensor *v = NULL, *hv = NULL, *zl = NULL, *z = NULL, *d = NULL, *zd = NULL;
    nl_status st = nl_linear(&v, vis, m->proj_w, NULL);                 /* [B,C] */
    if (st == NL_OK) st = nl_concat(&hv, 2, (nl_tensor *const[]){h, v}, 1); /* [B,2C], h first */
    if (st == NL_OK) st = nl_linear(&zl, hv, m->gate_w, NULL);          /* [B,C] */
    if (st == NL_OK) st = nl_sigmoid(&z, zl);
    if (st == NL_OK) st = nl_sub(&d, h, v);
    if (st == NL_OK) st = nl_mul(&zd, z, d);
    if (st == NL_OK) st = nl_add(out, v, zd);
    nl_tensor_release(v); nl_tensor_release(hv); nl_tensor_release(zl);
    nl_tensor_release(z); nl_tensor_release(d); nl_tensor_release(zd);
    return st;
}

nl_status nl_head_embed(nl_tensor **e, nl_head *m, nl_tensor *readout, nl_tensor *vis_cls)
{
    char a[96], b[96];
    *e = NULL;
    if (readout->ndim != 2 || readout->shape[1] != m->C)
        return nl_error_set(NL_ERR_SHAPE, "head: readout is %s, want [B %lld]", nl_shape_str(readout, a, sizeof a),
                            (long long)m->C);
    if (m->Cv > 0 && !vis_cls)
        return nl_error_set(NL_ERR_ARG, "head: late fusion (Cv = %lld) needs the CLIP CLS feature [B %lld]",
                            (long long)m->Cv, (long long)m->Cv);
    if (m->Cv == 0 && vis_cls)
        return nl_error_set(NL_ERR_ARG, "head: a CLIP feature was given but the head has no late fusion"
                            " HINT: create the head with Cv > 0");
    if (vis_cls && (vis_cls->ndim != 2 || vis_cls->shape[0] != readout->shape[0] || vis_cls->shape[1] != m->Cv))
        return nl_error_set(NL_ERR_SHAPE, "head: vis_cls is %s for readout %s, want [%lld %lld]",
                            nl_shape_str(vis_cls, a, sizeof a), nl_shape_str(readout, b, sizeof b),
                            (long long)readout->shape[0], (long long)m->Cv);
    nl_tensor *g = NULL, *r = NULL;
    nl_status st = NL_OK;
    if (vis_cls) st = late_fusion(&g, m, readout, vis_cls);
    else g = nl_tensor_retain(readout);
    if (st == NL_OK) st = nl_linear(&r, g, m->red_w, NULL);       /* [B,d] */
    if (st == NL_OK) st = nl_l2_normalize(e, r, NL_HEAD_NORM_EPS); /* [B,d] */
    nl_tensor_release(g);
    nl_tensor_release(r);
    return st;
}
