/* gradcache.c — gradient caching for the NoteLLM composite: a no-grad
 * embedding pass over chunks, the contrastive loss on detached leaves, and a
 * replayed per-chunk pass that back-propagates the cached embedding
 * gradients (plus the chunk's share of the CSFT token mean). */
#include "gradcache.h"

#include <stdlib.h>
#include <string.h>

#include "autograd.h"
#include "losses.h"

_Thread_local uint64_t nl_gradcache_replay_salt = 0;

void nl_gradcache_out_clear(nl_gradcache_out *o)
{
    nl_tensor_release(o->e);
    nl_tensor_release(o->e_v);
    *o = (nl_gradcache_out){0};
}

/* A 64-bit finaliser (murmur3's): neighbouring inputs give unrelated outputs. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

void nl_gradcache_chunk_rng(nl_rng *r, uint64_t seed, int64_t chunk)
{
    nl_rng_seed(r, mix64(seed ^ mix64((uint64_t)chunk + 0x632be59bd9b4e019ULL)));
}

/* Rows [r0, r0+n) of b as a batch of its own (views; positions offset). */
static nl_status slice(nl_notellm_batch *s, nl_tensor **own, const nl_notellm_batch *b, int64_t r0, int64_t n)
{
    *s = *b;
    own[0] = own[1] = own[2] = own[3] = NULL;
    nl_status st = nl_narrow(&own[0], b->ids, 0, r0, n);
    if (st == NL_OK && b->mask) st = nl_narrow(&own[1], b->mask, 0, r0, n);
    if (st == NL_OK && b->labels) st = nl_narrow(&own[2], b->labels, 0, r0, n);
    if (st == NL_OK && b->pixels) st = nl_narrow(&own[3], b->pixels, 0, r0, n);
    s->ids = own[0], s->mask = own[1], s->labels = own[2], s->pixels = own[3];
    s->readout = b->readout ? b->readout + r0 : NULL;
    s->vreadout = b->vreadout ? b->vreadout + r0 : NULL;
    s->img_slot = b->img_slot ? b->img_slot + r0 : NULL;
    s->rng = NULL;
    s->row0 = b->row0 + r0; /* row-keyed dropout: the same masks as in the whole batch */
    return st;
}

static void release4(nl_tensor **own)
{
    for (int i = 0; i < 4; i++) nl_tensor_release(own[i]);
}

/* Supervised tokens of each chunk as nl_gen_loss counts them: labels[:, t]
 * for t >= 1 that are not NL_IGNORE_INDEX. Returns the batch total. */
static nl_status count_supervised(int64_t *per_chunk, int64_t *total, nl_tensor *labels, int64_t B_rows,
                                  int64_t chunk_rows)
{
    if (labels->ndim != 2 || labels->shape[0] != B_rows)
        return nl_error_set(NL_ERR_SHAPE, "gradcache: labels must be [B T] with B = %lld", (long long)B_rows);
    int64_t B = labels->shape[0], T = labels->shape[1];
    int64_t *h = malloc((size_t)(B * T) * sizeof *h);
    if (!h) return nl_error_set(NL_ERR_OOM, "gradcache: out of memory for %lld labels", (long long)(B * T));
    nl_status st = nl_tensor_to_host(labels, h, NL_I64);
    *total = 0;
    for (int64_t b = 0; st == NL_OK && b < B; b++)
        for (int64_t t = 1; t < T; t++)
            if (h[b * T + t] != NL_IGNORE_INDEX) per_chunk[b / chunk_rows]++, (*total)++;
    free(h);
    return st;
}

static double value(nl_tensor *t)
{
    double v = 0;
    if (t) nl_tensor_get(t, (const int64_t[]){0}, &v);
    return v;
}

/* acc += x (acc NULL: acc = x); consumes x. */
static nl_status add_into(nl_tensor **acc, nl_tensor *x)
{
    if (!*acc) {
        *acc = x;
        return NL_OK;
    }
    nl_tensor *s = NULL;
    nl_status st = nl_add(&s, *acc, x);
    nl_tensor_release(x);
    nl_tensor_release(*acc);
    *acc = s;
    return st;
}

/* sum(e * g[r0 : r0+n]) as a 0-d tensor with e's graph. */
static nl_status dot_rows(nl_tensor **out, nl_tensor *e, nl_tensor *g, int64_t r0, int64_t n)
{
    nl_tensor *gk = NULL, *p = NULL;
    nl_status st = nl_narrow(&gk, g, 0, r0, n);
    if (st == NL_OK) st = nl_mul(&p, e, gk);
    if (st == NL_OK) st = nl_sum_all(out, p);
    nl_tensor_release(gk);
    nl_tensor_release(p);
    return st;
}

typedef struct step {
    nl_notellm *m;
    const nl_notellm_batch *b;
    int64_t B, rows, n;      /* batch rows, chunk rows, chunks */
    bool train;
    uint64_t seed;
    int64_t *sup, sup_total; /* CSFT supervised tokens per chunk and in all */
} step;

/* Pass 1: embeddings of every chunk without a graph, concatenated. */
static nl_status embed_all(step *s, nl_tensor **E, nl_tensor **Ev)
{
    nl_tensor **es = calloc((size_t)s->n, sizeof *es), **evs = calloc((size_t)s->n, sizeof *evs);
    nl_status st = es && evs ? NL_OK : nl_error_set(NL_ERR_OOM, "gradcache: out of memory");
    bool grad = nl_grad_set_enabled(false);
    for (int64_t k = 0; k < s->n && st == NL_OK; k++) {
        int64_t r0 = k * s->rows, nr = s->B - r0 < s->rows ? s->B - r0 : s->rows;
        nl_notellm_batch sb;
        nl_tensor *own[4];
        nl_rng r;
        st = slice(&sb, own, s->b, r0, nr);
        if (s->train && !sb.row_dropout) nl_gradcache_chunk_rng(&r, s->seed, k), sb.rng = &r;
        nl_notellm_out o;
        if (st == NL_OK) st = nl_notellm_embed(&o, s->m, &sb, NULL);
        if (st == NL_OK) {
            es[k] = nl_tensor_retain(o.e);
            evs[k] = o.e_v ? nl_tensor_retain(o.e_v) : NULL;
            nl_notellm_out_clear(&o);
        }
        release4(own);
    }
    if (st == NL_OK) st = nl_concat(E, (int)s->n, es, 0);
    if (st == NL_OK && s->m->cfg.micl) st = nl_concat(Ev, (int)s->n, evs, 0);
    nl_grad_set_enabled(grad);
    for (int64_t k = 0; k < s->n && es && evs; k++) nl_tensor_release(es[k]), nl_tensor_release(evs[k]);
    free(es);
    free(evs);
    return st;
}

/* Pass 2: the contrastive part of the loss on detached leaves; backward
 * gives *gE, *gEv and accumulates tau's gradient. */
static nl_status contrastive(step *s, nl_gradcache_out *out, nl_tensor *E, nl_tensor *Ev, nl_tensor **gE,
                             nl_tensor **gEv)
{
    const nl_notellm_config *c = &s->m->cfg;
    nl_tensor *le = NULL, *lev = NULL, *l_cl = NULL, *l_v = NULL, *lc = NULL;
    nl_status st = nl_detach(&le, E);
    if (st == NL_OK && Ev) st = nl_detach(&lev, Ev);
    if (st == NL_OK) {
        le->requires_grad = true;
        if (lev) lev->requires_grad = true;
        st = nl_gcl_loss(&l_cl, le, s->m->head->tau);
    }
    if (st == NL_OK && c->micl) st = nl_gcl_loss(&l_v, lev, s->m->head->tau);
    if (st == NL_OK) {
        if (c->micl) st = nl_micl_loss(&lc, l_cl, l_v, c->w_t, c->w_v);
        else if (c->csft) st = nl_scale(&lc, l_cl, 1.0 / (1.0 + c->alpha), 0.0);
        else lc = nl_tensor_retain(l_cl);
    }
    if (st == NL_OK) st = nl_backward(lc, NULL, false);
    if (st == NL_OK) {
        out->l_cl = value(l_cl), out->l_v = value(l_v), out->loss = value(lc);
        *gE = nl_tensor_retain(le->grad);
        *gEv = lev ? nl_tensor_retain(lev->grad) : NULL;
        if (!*gE || (lev && !*gEv))
            st = nl_error_set(NL_ERR_STATE, "gradcache: the contrastive loss gave no embedding gradient");
    }
    nl_tensor_release(le), nl_tensor_release(lev), nl_tensor_release(l_cl), nl_tensor_release(l_v);
    nl_tensor_release(lc);
    return st;
}

/* Pass 3: chunk k again with the graph and the same dropout stream. */
static nl_status replay(step *s, int64_t k, nl_tensor *gE, nl_tensor *gEv, double *gen_acc)
{
    const nl_notellm_config *c = &s->m->cfg;
    int64_t r0 = k * s->rows, nr = s->B - r0 < s->rows ? s->B - r0 : s->rows;
    nl_notellm_batch sb;
    nl_tensor *own[4], *root = NULL, *t = NULL;
    nl_rng r;
    nl_status st = slice(&sb, own, s->b, r0, nr);
    if (s->train && !sb.row_dropout) nl_gradcache_chunk_rng(&r, s->seed ^ nl_gradcache_replay_salt, k), sb.rng = &r;
    sb.dropout_seed ^= nl_gradcache_replay_salt;
    nl_notellm_out o = {0};
    if (st == NL_OK) st = nl_notellm_embed_gen(&o, s->m, &sb);
    if (st == NL_OK) st = dot_rows(&root, o.e, gE, r0, nr);
    if (st == NL_OK && c->micl && (st = dot_rows(&t, o.e_v, gEv, r0, nr)) == NL_OK) st = add_into(&root, t);
    if (st == NL_OK && c->csft && s->sup[k] > 0) {
        double share = (double)s->sup[k] / (double)s->sup_total;
        *gen_acc += o.l_gen * share;
        t = NULL;
        st = nl_scale(&t, o.loss, c->alpha / (1.0 + c->alpha) * share, 0.0);
        if (st == NL_OK) st = add_into(&root, t);
    }
    /* nothing trainable upstream of the embeddings: no gradient to give */
    if (st == NL_OK && root->requires_grad) st = nl_backward(root, NULL, false);
    nl_tensor_release(root);
    nl_notellm_out_clear(&o);
    release4(own);
    return st;
}

nl_status nl_gradcache_step(nl_notellm *m, const nl_notellm_batch *b, int64_t chunk_rows, nl_gradcache_out *out)
{
    *out = (nl_gradcache_out){0};
    if (!m || !b || !b->ids || b->ids->ndim != 2)
        return nl_error_set(NL_ERR_ARG, "gradcache: a model and a batch with [B T] ids are required");
    if (chunk_rows < 1)
        return nl_error_set(NL_ERR_ARG, "gradcache: chunk_rows must be >= 1, got %lld HINT: the batch size "
                            "runs the whole batch at once", (long long)chunk_rows);
    step s = {.m = m, .b = b, .B = b->ids->shape[0], .rows = chunk_rows, .train = b->train};
    if (s.B < 1) return nl_error_set(NL_ERR_SHAPE, "gradcache: empty batch");
    s.n = (s.B + chunk_rows - 1) / chunk_rows;
    if (s.train && !b->row_dropout) s.seed = nl_rng_next(b->rng ? b->rng : nl_rng_global());
    s.sup = calloc((size_t)s.n, sizeof *s.sup);
    if (!s.sup) return nl_error_set(NL_ERR_OOM, "gradcache: out of memory");
    nl_status st = NL_OK;
    if (m->cfg.csft) {
        st = b->labels ? count_supervised(s.sup, &s.sup_total, b->labels, s.B, chunk_rows)
                       : nl_error_set(NL_ERR_ARG, "gradcache: CSFT needs labels");
    }
    nl_tensor *E = NULL, *Ev = NULL, *gE = NULL, *gEv = NULL;
    if (st == NL_OK) st = embed_all(&s, &E, &Ev);
    bool grad = nl_grad_set_enabled(true);
    if (st == NL_OK) st = contrastive(&s, out, E, Ev, &gE, &gEv);
    double gen = 0;
    for (int64_t k = 0; k < s.n && st == NL_OK; k++) st = replay(&s, k, gE, gEv, &gen);
    nl_grad_set_enabled(grad);
    if (st == NL_OK) {
        if (m->cfg.csft) out->l_gen = gen, out->loss += m->cfg.alpha / (1.0 + m->cfg.alpha) * gen;
        out->seed = s.seed, out->chunks = s.n;
        out->e = nl_tensor_retain(E), out->e_v = Ev ? nl_tensor_retain(Ev) : NULL;
    }
    nl_tensor_release(E), nl_tensor_release(Ev), nl_tensor_release(gE), nl_tensor_release(gEv);
    free(s.sup);
    return st;
}
