/* test_gradcache.c — gradient caching equals the full batch: on tiny
 * NoteLLM (GCL + CSFT) and NoteLLM-2 (mICL + late fusion, and Q-Former
 * dropout in training mode) composites, the gradients of every trainable
 * parameter and the loss from nl_gradcache_step with chunks of 1, 3 and B
 * rows match a single full-graph backward to 1e-5; broken dropout replay is
 * caught. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd.h"
#include "gradcache.h"
#include "harness.h"
#include "losses.h"
#include "notellm.h"

enum { P = 4, B = 2 * P, T = 7, V = 40, C = 16, CV = 12, CQ = 8, NQ = 3, S = 16 };
#define TOL 1e-5

static nl_rng rng;

/* ---- tiny composites ---------------------------------------------------------------- */

static nl_llm *small_llm(void)
{
    nl_llm_config c;
    nl_llm_config_preset(&c, "tiny");
    c.vocab_size = V, c.hidden_size = C, c.intermediate_size = 24, c.num_layers = 2, c.num_heads = 2;
    c.num_kv_heads = 1, c.head_dim = C / 2, c.max_positions = 64;
    nl_llm *m = NULL;
    if (!h_ok(nl_llm_create(&m, &c, NL_CPU_DEVICE, &rng), "create llm")) return NULL;
    for (int i = 0; i < m->params.n; i++) /* bigger than HF's 0.02: gradients of a useful size */
        if (m->params.v[i].t->ndim == 2) nl_fill_normal(m->params.v[i].t, 0, 0.3, &rng);
    return m;
}

static nl_notellm *text_model(double alpha)
{
    nl_notellm_config cfg;
    nl_notellm_config_defaults(&cfg, false);
    cfg.dim = 8, cfg.alpha = alpha;
    nl_llm *llm = small_llm();
    nl_notellm *m = NULL;
    if (!llm || !h_ok(nl_notellm_assemble(&m, &cfg, llm, NULL, NULL, NULL, &rng), "assemble NoteLLM")) return NULL;
    return m;
}

static nl_notellm *vision_model(double dropout)
{
    nl_notellm_config cfg;
    nl_notellm_config_defaults(&cfg, true);
    cfg.dim = 8, cfg.qformer_dropout = dropout;
    nl_vit_config vc = {.hidden_size = CV, .intermediate_size = 16, .num_layers = 1, .num_heads = 2,
                        .image_size = S, .patch_size = 8, .num_channels = 3, .layer_norm_eps = 1e-5};
    nl_qformer_config qc = {.hidden_size = CQ, .intermediate_size = 16, .num_layers = 1, .num_heads = 2,
                            .encoder_hidden_size = CV, .num_query_tokens = NQ, .cross_attention_frequency = 1,
                            .layer_norm_eps = 1e-12};
    nl_vit *vit = NULL;
    nl_qformer *qf = NULL;
    nl_projector *pj = NULL;
    nl_llm *llm = small_llm();
    nl_notellm *m = NULL;
    if (llm && h_ok(nl_vit_create(&vit, &vc, NL_CPU_DEVICE, &rng), "create vit") &&
        h_ok(nl_qformer_create(&qf, &qc, NL_CPU_DEVICE, &rng), "create qformer") &&
        h_ok(nl_projector_create(&pj, NL_PROJ_MLP2X_GELU, CQ, C, NL_CPU_DEVICE, &rng), "create projector")) {
        nl_fill_normal(qf->query_tokens, 0, 0.5, &rng);
        if (h_ok(nl_notellm_assemble(&m, &cfg, llm, vit, qf, pj, &rng), "assemble NoteLLM-2")) return m;
    }
    nl_llm_free(llm), nl_vit_free(vit), nl_qformer_free(qf), nl_projector_free(pj);
    return NULL;
}

/* ---- batches kept on the host; any row range becomes a batch of its own ---------------- */

typedef struct host_batch {
    int64_t ids[B * T], mask[B * T], labels[B * T];
    int64_t readout[B], vreadout[B], slot[B];
    float pixels[B * 3 * S * S];
    bool vision;
} host_batch;

/* Lengths 7,6,7,5,...; 1..4 supervised tokens at the end of each row (an
 * uneven count per row, so a mean of chunk means would be wrong); <IMG> (id
 * 3) at position 1 with vision; visual read-out at 2. */
static void make_host(host_batch *h, bool vision)
{
    static const int lens[B] = {7, 6, 7, 5, 6, 7, 4, 6};
    static const int sup[B] = {2, 1, 4, 3, 1, 2, 3, 4};
    h->vision = vision;
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            int64_t *id = &h->ids[b * T + t];
            *id = t < lens[b] ? 4 + (int)(nl_rng_uniform(&rng) * (V - 4)) : 0;
            h->mask[b * T + t] = t < lens[b];
            h->labels[b * T + t] = t >= lens[b] - sup[b] && t < lens[b] && t > 0 ? *id : NL_IGNORE_INDEX;
        }
        if (vision) h->ids[b * T + 1] = 3;
        h->slot[b] = 1, h->vreadout[b] = 2, h->readout[b] = lens[b] - 1;
    }
    for (int i = 0; i < B * 3 * S * S; i++) h->pixels[i] = nl_rng_normal(&rng);
}

typedef struct view {
    nl_tensor *ids, *mask, *labels, *pixels;
    nl_notellm_batch b;
} view;

/* Rows [r0, r0+n) copied into fresh tensors (independent of the library's slicing). */
static bool build(view *v, const host_batch *h, int64_t r0, int64_t n)
{
    *v = (view){0};
    const int64_t sh[2] = {n, T};
    bool ok = h_ok(nl_tensor_from_host(&v->ids, NL_I64, 2, sh, h->ids + r0 * T, NL_I64, NL_CPU_DEVICE), "ids") &&
              h_ok(nl_tensor_from_host(&v->mask, NL_I64, 2, sh, h->mask + r0 * T, NL_I64, NL_CPU_DEVICE), "mask") &&
              h_ok(nl_tensor_from_host(&v->labels, NL_I64, 2, sh, h->labels + r0 * T, NL_I64, NL_CPU_DEVICE), "labels");
    if (ok && h->vision)
        ok = h_ok(nl_tensor_from_host(&v->pixels, NL_F32, 4, (const int64_t[]){n, 3, S, S},
                                      h->pixels + r0 * 3 * S * S, NL_F32, NL_CPU_DEVICE), "pixels");
    v->b = (nl_notellm_batch){.ids = v->ids, .mask = v->mask, .labels = v->labels, .pixels = v->pixels,
                              .readout = h->readout + r0, .vreadout = h->vreadout + r0, .img_slot = h->slot + r0};
    return ok;
}

static void view_free(view *v)
{
    nl_tensor_release(v->ids), nl_tensor_release(v->mask), nl_tensor_release(v->labels);
    nl_tensor_release(v->pixels);
}

/* ---- gradients of the trainable parameters ------------------------------------------ */

typedef struct grads {
    int n;
    double *g[256];     /* NULL: no gradient */
    int64_t len[256];
} grads;

static void zero_all(nl_params *all)
{
    for (int i = 0; i < all->n; i++) nl_zero_grad(all->v[i].t);
}

static void take(grads *s, nl_params *all)
{
    s->n = 0;
    for (int i = 0; i < all->n && s->n < 256; i++) {
        nl_tensor *t = all->v[i].t;
        if (!t->requires_grad) continue;
        s->g[s->n] = t->grad ? h_values(t->grad) : NULL;
        s->len[s->n++] = nl_tensor_numel(t);
    }
}

static int with_grad(const grads *s)
{
    int n = 0;
    for (int i = 0; i < s->n; i++) n += s->g[i] != NULL;
    return n;
}

static void grads_free(grads *s)
{
    for (int i = 0; i < s->n; i++) free(s->g[i]);
    s->n = 0;
}

/* max |a - ref| over every element of every parameter, relative to max |ref|
 * (a missing gradient counts as zeros). *covered: a has a gradient exactly
 * where ref has one. */
static double rel_diff(const grads *a, const grads *ref, bool *covered)
{
    double scale = 0, diff = 0;
    *covered = a->n == ref->n;
    for (int i = 0; i < ref->n && i < a->n; i++) {
        *covered = *covered && (a->g[i] != NULL) == (ref->g[i] != NULL);
        for (int64_t j = 0; j < ref->len[i]; j++) {
            double r = ref->g[i] ? ref->g[i][j] : 0, x = a->g[i] ? a->g[i][j] : 0;
            scale = fmax(scale, fabs(r));
            diff = fmax(diff, fabs(x - r));
        }
    }
    return scale > 0 ? diff / scale : diff;
}

/* ---- references: one graph over the whole batch -------------------------------------- */

/* nl_notellm_loss + nl_backward over the full batch (rng: the dropout stream). */
static bool ref_model(nl_notellm *m, nl_params *all, const host_batch *h, bool train, nl_rng *r,
                      nl_notellm_out *parts, grads *g)
{
    view v;
    bool ok = build(&v, h, 0, B);
    v.b.train = train, v.b.rng = r;
    zero_all(all);
    *parts = (nl_notellm_out){0};
    ok = ok && h_ok(nl_notellm_loss(parts, m, &v.b), "full-batch loss") &&
         h_ok(nl_backward(parts->loss, NULL, false), "full-batch backward");
    if (ok) take(g, all);
    view_free(&v);
    return ok;
}

/* Training mode with chunked dropout streams: each chunk's rows are embedded
 * with the graph from their chunk's stream, the embeddings concatenated
 * (graph kept) and the loss back-propagated once. */
static bool ref_concat(nl_notellm *m, nl_params *all, const host_batch *h, int64_t rows, uint64_t seed,
                       double *loss, grads *g)
{
    int64_t n = (B + rows - 1) / rows;
    nl_tensor *es[B] = {0}, *evs[B] = {0}, *E = NULL, *Ev = NULL, *l1 = NULL, *l2 = NULL, *l = NULL;
    bool ok = true;
    zero_all(all);
    for (int64_t k = 0; k < n && ok; k++) {
        int64_t r0 = k * rows, nr = B - r0 < rows ? B - r0 : rows;
        view v;
        nl_rng r;
        nl_gradcache_chunk_rng(&r, seed, k);
        ok = build(&v, h, r0, nr);
        v.b.train = true, v.b.rng = &r;
        nl_notellm_out o;
        if (ok && (ok = h_ok(nl_notellm_embed(&o, m, &v.b, NULL), "chunk embed with graph"))) {
            es[k] = nl_tensor_retain(o.e), evs[k] = nl_tensor_retain(o.e_v);
            nl_notellm_out_clear(&o);
        }
        view_free(&v);
    }
    ok = ok && h_ok(nl_concat(&E, (int)n, es, 0), "concat e") && h_ok(nl_concat(&Ev, (int)n, evs, 0), "concat e_v") &&
         h_ok(nl_gcl_loss(&l1, E, m->head->tau), "gcl e") && h_ok(nl_gcl_loss(&l2, Ev, m->head->tau), "gcl e_v") &&
         h_ok(nl_micl_loss(&l, l1, l2, m->cfg.w_t, m->cfg.w_v), "micl") && h_ok(nl_backward(l, NULL, false), "backward");
    if (ok) {
        nl_tensor_get(l, (const int64_t[]){0}, loss);
        take(g, all);
    }
    for (int k = 0; k < B; k++) nl_tensor_release(es[k]), nl_tensor_release(evs[k]);
    nl_tensor_release(E), nl_tensor_release(Ev), nl_tensor_release(l1), nl_tensor_release(l2), nl_tensor_release(l);
    return ok;
}

/* nl_gradcache_step on the full batch; step_seed seeds the batch rng. */
static bool cached(nl_notellm *m, nl_params *all, const host_batch *h, int64_t rows, bool train, uint64_t step_seed,
                   nl_gradcache_out *out, grads *g)
{
    view v;
    nl_rng r;
    nl_rng_seed(&r, step_seed);
    bool ok = build(&v, h, 0, B);
    v.b.train = train, v.b.rng = &r;
    zero_all(all);
    ok = ok && h_ok(nl_gradcache_step(m, &v.b, rows, out), "gradcache step");
    if (ok) take(g, all);
    view_free(&v);
    return ok;
}

static const int64_t chunk_sizes[] = {1, 3, B};

/* ---- cases ------------------------------------------------------------------------ */

/* No dropout: every chunk size against nl_notellm_loss + nl_backward. */
static void check_eval(const char *what, nl_notellm *m, const host_batch *h)
{
    nl_params all;
    if (!h_ok(nl_notellm_params(m, &all), "params")) return;
    grads ref = {0}, got = {0};
    nl_notellm_out parts;
    if (ref_model(m, &all, h, false, NULL, &parts, &ref)) {
        double L = 0;
        nl_tensor_get(parts.loss, (const int64_t[]){0}, &L);
        for (size_t i = 0; i < sizeof chunk_sizes / sizeof *chunk_sizes; i++) {
            int64_t rows = chunk_sizes[i];
            nl_gradcache_out o;
            if (!cached(m, &all, h, rows, false, 1, &o, &got)) break;
            bool covered;
            double d = rel_diff(&got, &ref, &covered);
            printf("  %s, chunk %lld: max |grad diff| / max |grad| = %.3g over %d trainable tensors (%d with a "
                   "gradient)\n", what, (long long)rows, d, ref.n, with_grad(&ref));
            h_check(covered && d <= TOL, "%s, chunk %lld: gradients of all %d trainable tensors equal the full "
                    "batch's (%.3g)", what, (long long)rows, ref.n, d);
            h_check(fabs(o.loss - L) <= TOL * fabs(L) && fabs(o.l_cl - parts.l_cl) <= TOL * fabs(parts.l_cl) &&
                        fabs(o.l_v - parts.l_v) <= TOL * fabs(parts.l_v) + 1e-12 &&
                        fabs(o.l_gen - parts.l_gen) <= TOL * fabs(parts.l_gen) + 1e-12,
                    "%s, chunk %lld: loss %.8f (cl %.6f v %.6f gen %.6f) = full batch %.8f (cl %.6f v %.6f gen %.6f)",
                    what, (long long)rows, o.loss, o.l_cl, o.l_v, o.l_gen, L, parts.l_cl, parts.l_v, parts.l_gen);
            h_check(o.chunks == (B + rows - 1) / rows && o.e && o.e->shape[0] == B && (o.e_v != NULL) == m->cfg.micl,
                    "%s, chunk %lld: %lld chunks, embeddings returned", what, (long long)rows, (long long)o.chunks);
            nl_gradcache_out_clear(&o);
            grads_free(&got);
        }
        nl_notellm_out_clear(&parts);
    }
    grads_free(&ref);
    zero_all(&all);
    nl_params_free(&all);
}

static void test_text_csft(void)
{
    host_batch *h = malloc(sizeof *h);
    make_host(h, false);
    const double alphas[2] = {0.01, 1.0}; /* the default, and one that makes L_gen weigh as much as L_cl */
    for (int i = 0; i < 2; i++) {
        nl_notellm *m = text_model(alphas[i]);
        if (!m) break;
        char what[64];
        snprintf(what, sizeof what, "NoteLLM GCL + CSFT (alpha %g)", alphas[i]);
        check_eval(what, m, h);
        nl_notellm_free(m);
    }
    free(h);
}

static void test_micl(void)
{
    host_batch *h = malloc(sizeof *h);
    make_host(h, true);
    nl_notellm *m = vision_model(0.1); /* eval batches: the dropout setting is not used */
    if (m) {
        check_eval("NoteLLM-2 mICL + late fusion", m, h);
        nl_notellm_free(m);
    }
    free(h);
}

/* Q-Former dropout 0.1 in training mode: the same dropout streams give the
 * same gradients; chunk B is nl_notellm_loss itself on chunk 0's stream. */
static void test_dropout(void)
{
    host_batch *h = malloc(sizeof *h);
    make_host(h, true);
    nl_notellm *m = vision_model(0.1);
    nl_params all;
    if (!m || !h_ok(nl_notellm_params(m, &all), "params")) {
        nl_notellm_free(m);
        free(h);
        return;
    }
    const uint64_t step_seed = 77;
    nl_rng r;
    nl_rng_seed(&r, step_seed);
    uint64_t seed = nl_rng_next(&r); /* what the step draws from the batch rng */
    grads ref = {0}, got = {0}, eval = {0};
    for (size_t i = 0; i < sizeof chunk_sizes / sizeof *chunk_sizes; i++) {
        int64_t rows = chunk_sizes[i];
        double L = 0;
        bool ok;
        if (rows == B) {
            nl_rng c0;
            nl_gradcache_chunk_rng(&c0, seed, 0);
            nl_notellm_out parts;
            ok = ref_model(m, &all, h, true, &c0, &parts, &ref);
            if (ok) nl_tensor_get(parts.loss, (const int64_t[]){0}, &L), nl_notellm_out_clear(&parts);
        } else {
            ok = ref_concat(m, &all, h, rows, seed, &L, &ref);
        }
        nl_gradcache_out o;
        if (!ok || !cached(m, &all, h, rows, true, step_seed, &o, &got)) break;
        bool covered;
        double d = rel_diff(&got, &ref, &covered);
        printf("  NoteLLM-2 dropout 0.1 train, chunk %lld: max |grad diff| / max |grad| = %.3g\n", (long long)rows, d);
        h_check(covered && d <= TOL && o.seed == seed,
                "dropout 0.1, chunk %lld: replayed masks give the full-graph gradients (%.3g)", (long long)rows, d);
        h_check(fabs(o.loss - L) <= TOL * fabs(L), "dropout 0.1, chunk %lld: loss %.8f = %.8f", (long long)rows,
                o.loss, L);
        nl_gradcache_out_clear(&o);
        if (rows == 3) {
            /* dropout is really on: eval-mode gradients differ */
            bool covered2;
            if (cached(m, &all, h, rows, false, step_seed, &o, &eval)) {
                double de = rel_diff(&eval, &ref, &covered2);
                h_check(de > 1e-3, "dropout changes the gradients (eval vs train: %.3g)", de);
                nl_gradcache_out_clear(&o);
                grads_free(&eval);
            }
            /* broken replay (another stream on the re-run) is caught */
            grads_free(&got);
            nl_gradcache_replay_salt = 0x5eed;
            if (cached(m, &all, h, rows, true, step_seed, &o, &got)) {
                double db = rel_diff(&got, &ref, &covered2);
                printf("  broken replay, chunk 3: max |grad diff| / max |grad| = %.3g\n", db);
                h_check(db > 100 * TOL, "a re-run with other dropout masks is detected (%.3g > %g)", db, 100 * TOL);
                nl_gradcache_out_clear(&o);
            }
            nl_gradcache_replay_salt = 0;
        }
        grads_free(&ref);
        grads_free(&got);
    }
    grads_free(&ref);
    grads_free(&got);
    zero_all(&all);
    nl_params_free(&all);
    nl_notellm_free(m);
    free(h);
}

static void test_errors(void)
{
    host_batch *h = malloc(sizeof *h);
    make_host(h, false);
    nl_notellm *m = text_model(0.01);
    view v;
    if (m && build(&v, h, 0, B)) {
        nl_gradcache_out o;
        h_expect_error(nl_gradcache_step(m, &v.b, 0, &o), NL_ERR_ARG, "chunk_rows 0");
        nl_tensor *odd = NULL;
        if (h_ok(nl_narrow(&odd, v.ids, 0, 0, B - 1), "narrow")) {
            nl_tensor *lab = NULL;
            nl_narrow(&lab, v.labels, 0, 0, B - 1);
            nl_notellm_batch bb = v.b;
            bb.ids = odd, bb.labels = lab, bb.mask = NULL;
            h_expect_error(nl_gradcache_step(m, &bb, 2, &o), NL_ERR_SHAPE, "odd row count");
            nl_tensor_release(lab);
            nl_tensor_release(odd);
        }
        nl_params all;
        if (h_ok(nl_notellm_params(m, &all), "params")) zero_all(&all), nl_params_free(&all);
        view_free(&v);
    }
    nl_notellm_free(m);
    free(h);
}

int main(void)
{
    h_init("gradcache");
    nl_rng_seed(&rng, 5);
    test_text_csft();
    test_micl();
    test_dropout();
    test_errors();
    return h_finish();
}
