/* vit.c — CLIP vision encoder: parameter registration in HF order, random
 * init, loading/saving with the "vision_model." prefix, and the forward
 * pass composed from runtime/ops.h and nl_mha (so probes work). */
#include "vit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "autograd.h"

#define CK(x)                                   \
    do {                                        \
        if ((st = (x)) != NL_OK) goto done;     \
    } while (0)

#define VIT_PREFIX "vision_model."

/* Register the parameter named by the printf format, of the given shape. */
static nl_status reg(nl_vit *m, nl_tensor **out, nl_device dev, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static nl_status reg(nl_vit *m, nl_tensor **out, nl_device dev, int ndim, const int64_t *shape, const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof name) return nl_error_set(NL_ERR_ARG, "parameter name too long: %s...", name);
    return nl_params_new(&m->params, out, name, ndim, shape, dev);
}

static nl_status register_params(nl_vit *m, nl_device dev)
{
    const nl_vit_config *c = &m->cfg;
    int64_t C = c->hidden_size, I = c->intermediate_size, p = c->patch_size, nch = c->num_channels;
    int64_t T = 1 + (c->image_size / p) * (c->image_size / p);
    int64_t vC[1] = {C}, vI[1] = {I}, CC[2] = {C, C}, IC[2] = {I, C}, CI[2] = {C, I};
    NL_TRY(reg(m, &m->class_emb, dev, 1, vC, "embeddings.class_embedding"));
    NL_TRY(reg(m, &m->patch_w, dev, 4, (const int64_t[]){C, nch, p, p}, "embeddings.patch_embedding.weight"));
    NL_TRY(reg(m, &m->pos_emb, dev, 2, (const int64_t[]){T, C}, "embeddings.position_embedding.weight"));
    NL_TRY(reg(m, &m->pre_ln_w, dev, 1, vC, "pre_layrnorm.weight"));
    NL_TRY(reg(m, &m->pre_ln_b, dev, 1, vC, "pre_layrnorm.bias"));
    for (long long l = 0; l < c->num_layers; l++) {
        nl_vit_layer *L = &m->layers[l];
        NL_TRY(reg(m, &L->q_w, dev, 2, CC, "encoder.layers.%lld.self_attn.q_proj.weight", l));
        NL_TRY(reg(m, &L->q_b, dev, 1, vC, "encoder.layers.%lld.self_attn.q_proj.bias", l));
        NL_TRY(reg(m, &L->k_w, dev, 2, CC, "encoder.layers.%lld.self_attn.k_proj.weight", l));
        NL_TRY(reg(m, &L->k_b, dev, 1, vC, "encoder.layers.%lld.self_attn.k_proj.bias", l));
        NL_TRY(reg(m, &L->v_w, dev, 2, CC, "encoder.layers.%lld.self_attn.v_proj.weight", l));
        NL_TRY(reg(m, &L->v_b, dev, 1, vC, "encoder.layers.%lld.self_attn.v_proj.bias", l));
        NL_TRY(reg(m, &L->o_w, dev, 2, CC, "encoder.layers.%lld.self_attn.out_proj.weight", l));
        NL_TRY(reg(m, &L->o_b, dev, 1, vC, "encoder.layers.%lld.self_attn.out_proj.bias", l));
        NL_TRY(reg(m, &L->ln1_w, dev, 1, vC, "encoder.layers.%lld.layer_norm1.weight", l));
        NL_TRY(reg(m, &L->ln1_b, dev, 1, vC, "encoder.layers.%lld.layer_norm1.bias", l));
        NL_TRY(reg(m, &L->fc1_w, dev, 2, IC, "encoder.layers.%lld.mlp.fc1.weight", l));
        NL_TRY(reg(m, &L->fc1_b, dev, 1, vI, "encoder.layers.%lld.mlp.fc1.bias", l));
        NL_TRY(reg(m, &L->fc2_w, dev, 2, CI, "encoder.layers.%lld.mlp.fc2.weight", l));
        NL_TRY(reg(m, &L->fc2_b, dev, 1, vC, "encoder.layers.%lld.mlp.fc2.bias", l));
        NL_TRY(reg(m, &L->ln2_w, dev, 1, vC, "encoder.layers.%lld.layer_norm2.weight", l));
        NL_TRY(reg(m, &L->ln2_b, dev, 1, vC, "encoder.layers.%lld.layer_norm2.bias", l));
    }
    NL_TRY(reg(m, &m->post_ln_w, dev, 1, vC, "post_layernorm.weight"));
    NL_TRY(reg(m, &m->post_ln_b, dev, 1, vC, "post_layernorm.bias"));
    return NL_OK;
}

static nl_status init_params(nl_vit *m, nl_rng *rng)
{
    NL_TRY(nl_fill_normal(m->class_emb, 0.0, 0.02, rng));
    NL_TRY(nl_fill_normal(m->patch_w, 0.0, 0.02, rng));
    NL_TRY(nl_fill_normal(m->pos_emb, 0.0, 0.02, rng));
    NL_TRY(nl_tensor_fill_(m->pre_ln_w, 1.0));
    NL_TRY(nl_tensor_fill_(m->post_ln_w, 1.0));
    for (int64_t l = 0; l < m->cfg.num_layers; l++) {
        nl_vit_layer *L = &m->layers[l];
        nl_tensor *w[6] = {L->q_w, L->k_w, L->v_w, L->o_w, L->fc1_w, L->fc2_w};
        for (int i = 0; i < 6; i++) NL_TRY(nl_fill_normal(w[i], 0.0, 0.02, rng));
        NL_TRY(nl_tensor_fill_(L->ln1_w, 1.0));
        NL_TRY(nl_tensor_fill_(L->ln2_w, 1.0));
    }
    return NL_OK;
}

nl_status nl_vit_create(nl_vit **out, const nl_vit_config *c, nl_device dev, nl_rng *rng)
{
    *out = NULL;
    if (c->hidden_size <= 0 || c->num_heads <= 0 || c->hidden_size % c->num_heads != 0 || c->patch_size <= 0 ||
        c->image_size % c->patch_size != 0 || c->num_layers <= 0 || c->intermediate_size <= 0 ||
        c->num_channels <= 0)
        return nl_error_set(NL_ERR_ARG,
                            "vit: bad config: hidden %lld, heads %lld, layers %lld, intermediate %lld, image %lld, "
                            "patch %lld, channels %lld",
                            (long long)c->hidden_size, (long long)c->num_heads, (long long)c->num_layers,
                            (long long)c->intermediate_size, (long long)c->image_size, (long long)c->patch_size,
                            (long long)c->num_channels);
    nl_vit *m = calloc(1, sizeof *m);
    if (m) m->layers = calloc((size_t)c->num_layers, sizeof *m->layers);
    if (!m || !m->layers) {
        if (m) free(m);
        return nl_error_set(NL_ERR_OOM, "vit: out of memory for %lld layers", (long long)c->num_layers);
    }
    m->cfg = *c;
    nl_status st = register_params(m, dev);
    if (st == NL_OK && rng) {
        bool g = nl_grad_set_enabled(false);
        st = init_params(m, rng);
        nl_grad_set_enabled(g);
    }
    if (st != NL_OK) {
        nl_vit_free(m);
        return st;
    }
    *out = m;
    return NL_OK;
}

void nl_vit_free(nl_vit *m)
{
    if (!m) return;
    nl_params_free(&m->params);
    free(m->layers);
    free(m);
}

nl_status nl_vit_load(nl_vit **out, const char *dir, nl_device dev)
{
    *out = NULL;
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path)
        return nl_error_set(NL_ERR_ARG, "vit: directory name too long: %s", dir);
    nl_vit_config c;
    NL_TRY(nl_vit_config_load(&c, path));
    nl_vit *m;
    NL_TRY(nl_vit_create(&m, &c, dev, NULL));
    /* Strict within the prefix: a full CLIP checkpoint's text_model.* names
     * fall outside it, the position_ids buffer is skipped by params.c. */
    nl_status st = nl_params_load(&m->params, dir, VIT_PREFIX, true, NULL);
    if (st != NL_OK) {
        nl_vit_free(m);
        return st;
    }
    *out = m;
    return NL_OK;
}

nl_status nl_vit_save(const nl_vit *m, const char *dir)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path)
        return nl_error_set(NL_ERR_ARG, "vit: directory name too long: %s", dir);
    NL_TRY(nl_ensure_dir(dir));
    NL_TRY(nl_vit_config_save(&m->cfg, path));
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    static const char *const meta[2] = {"format", "pt"};
    return nl_params_save(&m->params, path, VIT_PREFIX, 1, meta);
}

/* pixels [B,NCH,S,S] -> [B,T,C]: patches @ W^T, class token, positions, pre_layrnorm. */
static nl_status embed(nl_tensor **out, nl_vit *m, nl_tensor *pixels)
{
    const nl_vit_config *c = &m->cfg;
    int64_t B = pixels->shape[0], NCH = c->num_channels, p = c->patch_size, g = c->image_size / p;
    int64_t C = c->hidden_size;
    nl_tensor *x6 = NULL, *xp = NULL, *flat = NULL, *w2 = NULL, *patches = NULL, *cls = NULL, *clsb = NULL;
    nl_tensor *cat = NULL, *x = NULL;
    nl_status st;
    CK(nl_reshape(&x6, pixels, 6, (const int64_t[]){B, NCH, g, p, g, p}));
    CK(nl_permute(&xp, x6, (const int[]){0, 2, 4, 1, 3, 5}));                     /* [B,g,g,NCH,p,p] */
    CK(nl_reshape(&flat, xp, 3, (const int64_t[]){B, g * g, NCH * p * p}));     /* [B,P,NCH*p*p] */
    CK(nl_reshape(&w2, m->patch_w, 2, (const int64_t[]){C, NCH * p * p}));
    CK(nl_linear(&patches, flat, w2, NULL));                                    /* [B,P,C] */
    CK(nl_reshape(&cls, m->class_emb, 3, (const int64_t[]){1, 1, C}));
    CK(nl_expand(&clsb, cls, 3, (const int64_t[]){B, 1, C}));
    CK(nl_concat(&cat, 2, (nl_tensor *const[]){clsb, patches}, 1));             /* [B,T,C] */
    CK(nl_add(&x, cat, m->pos_emb));
    CK(nl_layernorm(out, x, m->pre_ln_w, m->pre_ln_b, c->layer_norm_eps));
done:
    nl_tensor_release(x6); nl_tensor_release(xp); nl_tensor_release(flat); nl_tensor_release(w2);
    nl_tensor_release(patches); nl_tensor_release(cls); nl_tensor_release(clsb); nl_tensor_release(cat);
    nl_tensor_release(x);
    return st;
}

/* x [B,T,C] -> x + out_proj(attn(layer_norm1(x))) then + fc2(quick_gelu(fc1(layer_norm2(.)))). */
static nl_status layer_forward(nl_tensor **out, nl_vit *m, int l, nl_tensor *x, nl_attn_probe *probe)
{
    const nl_vit_layer *L = &m->layers[l];
    int64_t NH = m->cfg.num_heads;
    double eps = m->cfg.layer_norm_eps;
    nl_tensor *h = NULL, *q = NULL, *k = NULL, *v = NULL, *qh = NULL, *kh = NULL, *vh = NULL, *a = NULL;
    nl_tensor *am = NULL, *o = NULL, *x1 = NULL, *h2 = NULL, *f1 = NULL, *g = NULL, *f2 = NULL;
    nl_status st;
    CK(nl_layernorm(&h, x, L->ln1_w, L->ln1_b, eps));
    CK(nl_linear(&q, h, L->q_w, L->q_b));
    CK(nl_linear(&k, h, L->k_w, L->k_b));
    CK(nl_linear(&v, h, L->v_w, L->v_b));
    CK(nl_heads_split(&qh, q, NH));
    CK(nl_heads_split(&kh, k, NH));
    CK(nl_heads_split(&vh, v, NH));
    CK(nl_mha(&a, qh, kh, vh, NULL, probe, l));                                 /* [B,NH,T,HS] */
    CK(nl_heads_merge(&am, a));
    CK(nl_linear(&o, am, L->o_w, L->o_b));
    CK(nl_add(&x1, x, o));
    CK(nl_layernorm(&h2, x1, L->ln2_w, L->ln2_b, eps));
    CK(nl_linear(&f1, h2, L->fc1_w, L->fc1_b));
    CK(nl_quick_gelu(&g, f1));
    CK(nl_linear(&f2, g, L->fc2_w, L->fc2_b));
    CK(nl_add(out, x1, f2));
done:
    nl_tensor_release(h); nl_tensor_release(q); nl_tensor_release(k); nl_tensor_release(v);
    nl_tensor_release(qh); nl_tensor_release(kh); nl_tensor_release(vh); nl_tensor_release(a);
    nl_tensor_release(am); nl_tensor_release(o); nl_tensor_release(x1); nl_tensor_release(h2);
    nl_tensor_release(f1); nl_tensor_release(g); nl_tensor_release(f2);
    return st;
}

nl_status nl_vit_forward(nl_tensor **hidden, nl_vit *m, nl_tensor *pixels, nl_tensor **all_hidden,
                         nl_attn_probe *probe)
{
    const nl_vit_config *c = &m->cfg;
    char a[96];
    *hidden = NULL;
    if (pixels->ndim != 4 || pixels->shape[1] != c->num_channels || pixels->shape[2] != c->image_size ||
        pixels->shape[3] != c->image_size)
        return nl_error_set(NL_ERR_SHAPE, "vit: pixels are %s but the model needs [B %lld %lld %lld]%s",
                            nl_shape_str(pixels, a, sizeof a), (long long)c->num_channels,
                            (long long)c->image_size, (long long)c->image_size,
                            pixels->ndim == 4 && pixels->shape[1] == c->num_channels
                                ? " HINT: resize the image to image_size first"
                                : "");
    if (pixels->dtype != NL_F32)
        return nl_error_set(NL_ERR_DTYPE, "vit: pixels must be f32, got %s", nl_dtype_name(pixels->dtype));
    if (probe && probe->enabled && probe->n_layers < c->num_layers)
        return nl_error_set(NL_ERR_ARG, "vit: the probe has %d layers but the model has %lld", probe->n_layers,
                            (long long)c->num_layers);
    if (all_hidden)
        for (int64_t l = 0; l <= c->num_layers; l++) all_hidden[l] = NULL;
    nl_tensor *x = NULL;
    NL_TRY(embed(&x, m, pixels));
    if (all_hidden) all_hidden[0] = nl_tensor_retain(x);
    for (int l = 0; l < c->num_layers; l++) {
        nl_tensor *y = NULL;
        nl_status st = layer_forward(&y, m, l, x, probe);
        nl_tensor_release(x);
        if (st != NL_OK) {
            if (all_hidden)
                for (int64_t i = 0; i <= c->num_layers; i++) {
                    nl_tensor_release(all_hidden[i]);
                    all_hidden[i] = NULL;
                }
            return st;
        }
        x = y;
        if (all_hidden) all_hidden[l + 1] = nl_tensor_retain(x);
    }
    *hidden = x;
    return NL_OK;
}

nl_status nl_vit_pooled(nl_tensor **out, nl_vit *m, nl_tensor *hidden)
{
    char a[96];
    if (hidden->ndim != 3 || hidden->shape[1] < 1 || hidden->shape[2] != m->cfg.hidden_size)
        return nl_error_set(NL_ERR_SHAPE, "vit pooled: hidden is %s, expected [B T %lld] with T >= 1",
                            nl_shape_str(hidden, a, sizeof a), (long long)m->cfg.hidden_size);
    nl_tensor *t0 = NULL, *s = NULL;
    nl_status st;
    CK(nl_narrow(&t0, hidden, 1, 0, 1));
    CK(nl_squeeze(&s, t0, 1));                                                  /* [B,C] */
    CK(nl_layernorm(out, s, m->post_ln_w, m->post_ln_b, m->cfg.layer_norm_eps));
done:
    nl_tensor_release(t0);
    nl_tensor_release(s);
    return st;
}
