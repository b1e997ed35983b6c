/* projector.c — linear / mlp2x_gelu / identity projectors: registration
 * with LLaVA mm_projector names, random init, load/save, forward. */
#include "projector.h"

#include <stdlib.h>
#include <string.h>

#include "autograd.h"

static const char *const kind_names[] = {"identity", "linear", "mlp2x_gelu"};

nl_status nl_projector_kind_parse(nl_projector_kind *out, const char *name)
{
    for (int k = 0; k < 3; k++)
        if (name && strcmp(name, kind_names[k]) == 0) {
            *out = (nl_projector_kind)k;
            return NL_OK;
        }
    return nl_error_set(NL_ERR_ARG, "projector: unknown mm_projector_type \"%s\" (supported: linear, mlp2x_gelu, identity)",
                        name ? name : "(null)");
}

const char *nl_projector_kind_name(nl_projector_kind k)
{
    return (unsigned)k < 3 ? kind_names[k] : "unknown";
}

static nl_status register_params(nl_projector *m, nl_device dev)
{
    int64_t I = m->in_dim, O = m->out_dim;
    if (m->kind == NL_PROJ_LINEAR) {
        NL_TRY(nl_params_new(&m->params, &m->w0, "weight", 2, (const int64_t[]){O, I}, dev));
        NL_TRY(nl_params_new(&m->params, &m->b0, "bias", 1, (const int64_t[]){O}, dev));
    } else if (m->kind == NL_PROJ_MLP2X_GELU) {
        NL_TRY(nl_params_new(&m->params, &m->w0, "0.weight", 2, (const int64_t[]){O, I}, dev));
        NL_TRY(nl_params_new(&m->params, &m->b0, "0.bias", 1, (const int64_t[]){O}, dev));
        NL_TRY(nl_params_new(&m->params, &m->w2, "2.weight", 2, (const int64_t[]){O, O}, dev));
        NL_TRY(nl_params_new(&m->params, &m->b2, "2.bias", 1, (const int64_t[]){O}, dev));
    }
    return NL_OK;
}

nl_status nl_projector_create(nl_projector **out, nl_projector_kind kind, int64_t in_dim, int64_t out_dim,
                              nl_device dev, nl_rng *rng)
{
    *out = NULL;
    if ((unsigned)kind > NL_PROJ_MLP2X_GELU)
        return nl_error_set(NL_ERR_ARG, "projector: unknown kind %d", (int)kind);
    if (in_dim <= 0 || out_dim <= 0)
        return nl_error_set(NL_ERR_ARG, "projector: widths must be positive, got %lld -> %lld", (long long)in_dim,
                            (long long)out_dim);
    if (kind == NL_PROJ_IDENTITY && in_dim != out_dim)
        return nl_error_set(NL_ERR_ARG,
                            "projector: identity maps %lld -> %lld but the widths must be equal "
                            "HINT: use linear or mlp2x_gelu",
                            (long long)in_dim, (long long)out_dim);
    nl_projector *m = calloc(1, sizeof *m);
    if (!m) return nl_error_set(NL_ERR_OOM, "projector: out of memory");
    m->kind = kind, m->in_dim = in_dim, m->out_dim = out_dim;
    nl_status st = register_params(m, dev);
    if (st == NL_OK && rng && m->w0) {
        bool g = nl_grad_set_enabled(false);
        st = nl_fill_normal(m->w0, 0.0, 0.02, rng);
        if (st == NL_OK && m->w2) st = nl_fill_normal(m->w2, 0.0, 0.02, rng);
        nl_grad_set_enabled(g);
    }
    if (st != NL_OK) {
        nl_projector_free(m);
        return st;
    }
    *out = m;
    return NL_OK;
}

void nl_projector_free(nl_projector *m)
{
    if (!m) return;
    nl_params_free(&m->params);
    free(m);
}

nl_status nl_projector_load(nl_projector *m, const char *path, const char *file_prefix)
{
    if (m->kind == NL_PROJ_IDENTITY) return NL_OK;
    return nl_params_load(&m->params, path, file_prefix, true, NULL);
}

nl_status nl_projector_save(const nl_projector *m, const char *path, const char *name_prefix)
{
    static const char *const meta[2] = {"format", "pt"};
    return nl_params_save(&m->params, path, name_prefix, 1, meta);
}

nl_status nl_projector_forward(nl_tensor **out, nl_projector *m, nl_tensor *x)
{
    char a[96];
    *out = NULL;
    if (x->ndim < 1 || x->shape[x->ndim - 1] != m->in_dim)
        return nl_error_set(NL_ERR_SHAPE, "projector (%s %lld -> %lld): input is %s, its last dim must be %lld",
                            nl_projector_kind_name(m->kind), (long long)m->in_dim, (long long)m->out_dim,
                            nl_shape_str(x, a, sizeof a), (long long)m->in_dim);
    if (m->kind == NL_PROJ_IDENTITY) {
        *out = nl_tensor_retain(x);
        return NL_OK;
    }
    if (m->kind == NL_PROJ_LINEAR) return nl_linear(out, x, m->w0, m->b0);
    nl_tensor *h = NULL, *g = NULL;
    nl_status st = nl_linear(&h, x, m->w0, m->b0);
    if (st == NL_OK) st = nl_gelu(&g, h);
    if (st == NL_OK) st = nl_linear(out, g, m->w2, m->b2);
    nl_tensor_release(h);
    nl_tensor_release(g);
    return st;
}
