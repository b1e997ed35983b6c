/* batch.c — the pair loader: the epoch plan (shuffle from seed and epoch,
 * optional length bucketing, packing with deferral so no note appears twice
 * in a batch), batch assembly (prompts per row, right padding, masks,
 * labels, positions), and the resumable state with its byte form.
 * Depends on the runtime core, notes.h, prompt.h and rng.h. */
#include "batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct nl_pair_loader {
    const nl_notes *ds;
    nl_pair_loader_opts o;
    const nl_note_pair *pairs;
    size_t *usable;   /* indices into pairs (a != b) */
    size_t n_usable, n_self;
    int32_t pad_id;
    /* the plan of epoch plan_epoch */
    bool have_plan;
    uint64_t plan_epoch;
    size_t *plan;     /* pair indices in batch order */
    size_t *bstart;   /* batch b holds plan[bstart[b] .. bstart[b+1]) */
    size_t n_batches;
    nl_pair_loader_state st;
};

static uint64_t bounded(nl_rng *r, uint64_t n) /* uniform in [0, n), n > 0 */
{
    uint64_t lim = UINT64_MAX - UINT64_MAX % n, x;
    do x = nl_rng_next(r); while (x >= lim);
    return x % n;
}

/* Separate streams from the one run seed: the shuffle of each epoch and the
 * prompt-level draws. */
static void epoch_rng(nl_rng *r, uint64_t seed, uint64_t epoch)
{
    nl_rng_seed(r, seed ^ (0x9E3779B97F4A7C15ull * (epoch + 1)));
}
static void prompt_rng(nl_rng *r, uint64_t seed) { nl_rng_seed(r, seed ^ 0xD1B54A32D192ED03ull); }

void nl_pair_loader_opts_init(nl_pair_loader_opts *o, const nl_tokenizer *tok)
{
    *o = (nl_pair_loader_opts){.list = "train", .pairs_per_batch = 16, .seed = 0, .kind = NL_PROMPT_CATEGORY,
                               .topic_rate = 0.4, .bucket_batches = 0, .pad_id = -1};
    nl_prompt_opts_init(&o->prompt, tok);
}

void nl_pair_batch_free(nl_pair_batch *b)
{
    if (!b) return;
    free(b->ids);
    free(b->attn);
    free(b->labels);
    free(b->lengths);
    free(b->text_readout);
    free(b->visual_readout);
    free(b->image_slot);
    free(b->is_hashtag);
    free(b->note_index);
    free(b->pair_index);
    *b = (nl_pair_batch){0};
}

nl_status nl_pair_loader_new(nl_pair_loader **out, const nl_notes *ds, const nl_pair_loader_opts *o)
{
    if (out) *out = NULL;
    if (!out || !ds || !o || !o->list || !o->prompt.tok)
        return nl_error_set(NL_ERR_ARG, "pair loader: NULL argument (out, dataset, opts, list or tokenizer)");
    if (!o->pairs_per_batch) return nl_error_set(NL_ERR_ARG, "pair loader: pairs_per_batch is 0; HINT: the method uses 16");
    if ((unsigned)o->kind >= NL_PROMPT_KIND_COUNT) return nl_error_set(NL_ERR_ARG, "pair loader: unknown prompt kind %d", (int)o->kind);
    if (!(o->topic_rate >= 0.0 && o->topic_rate <= 1.0))
        return nl_error_set(NL_ERR_ARG, "pair loader: topic rate %g is outside [0, 1]; HINT: the method uses 0.4",
                            o->topic_rate);
    size_t n = 0;
    const nl_note_pair *pairs = nl_notes_pairs(ds, o->list, &n);
    if (!pairs || !n)
        return nl_error_set(NL_ERR_ARG, "pair loader: the dataset has no pairs in list \"%s\" (%zu lists); HINT: "
                            "note_pairs_%s.csv is missing or empty", o->list, nl_notes_pair_list_count(ds), o->list);
    int32_t pad = o->pad_id >= 0 ? o->pad_id : nl_tok_token_to_id(o->prompt.tok, "[PAD]");
    if (pad < 0)
        return nl_error_set(NL_ERR_ARG, "pair loader: no pad id: pad_id is -1 and the tokenizer has no \"[PAD]\"; "
                            "HINT: add [PAD] with nl_tok_add_tokens (special) or set opts.pad_id");
    nl_pair_loader *l = calloc(1, sizeof *l);
    if (!l || !(l->usable = malloc(n * sizeof *l->usable))) {
        free(l);
        return nl_error_set(NL_ERR_OOM, "pair loader: out of memory for %zu pairs", n);
    }
    l->ds = ds;
    l->o = *o;
    l->pairs = pairs;
    l->pad_id = pad;
    for (size_t i = 0; i < n; i++) {
        if (pairs[i].a == pairs[i].b) l->n_self++;
        else l->usable[l->n_usable++] = i;
    }
    if (!l->n_usable) {
        nl_pair_loader_free(l);
        return nl_error_set(NL_ERR_ARG, "pair loader: all %zu pairs of list \"%s\" pair a note with itself", n, o->list);
    }
    l->st.seed = o->seed;
    l->st.n_pairs = l->n_usable;
    prompt_rng(&l->st.rng, o->seed);
    *out = l;
    return NL_OK;
}

void nl_pair_loader_free(nl_pair_loader *l)
{
    if (!l) return;
    free(l->usable);
    free(l->plan);
    free(l->bstart);
    free(l);
}

size_t nl_pair_loader_pairs(const nl_pair_loader *l) { return l ? l->n_usable : 0; }
size_t nl_pair_loader_self_pairs(const nl_pair_loader *l) { return l ? l->n_self : 0; }

/* ---- the epoch plan --------------------------------------------------------------- */

typedef struct keyed { size_t pair, pos; size_t len; } keyed;

static int by_len_desc(const void *x, const void *y)
{
    const keyed *a = x, *b = y;
    if (a->len != b->len) return a->len > b->len ? -1 : 1;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

static size_t note_bytes(const nl_notes *ds, int64_t i)
{
    const nl_note *n = nl_notes_get(ds, (size_t)i);
    if (!n) return 0;
    return (n->p_title ? strlen(n->p_title) : 0) + (n->p_topic ? strlen(n->p_topic) : 0) +
           (n->p_content ? strlen(n->p_content) : 0);
}

static bool in_batch(const int64_t *notes, size_t k, int64_t x)
{
    for (size_t i = 0; i < k; i++)
        if (notes[i] == x) return true;
    return false;
}

static nl_status make_plan(nl_pair_loader *l, uint64_t epoch)
{
    size_t n = l->n_usable, P = l->o.pairs_per_batch;
    size_t *order = malloc(n * sizeof *order), *deferred = malloc(n * sizeof *deferred);
    size_t *plan = malloc(n * sizeof *plan), *bstart = malloc((n + 1) * sizeof *bstart);
    int64_t *notes = malloc(2 * P * sizeof *notes);
    keyed *kw = l->o.bucket_batches ? malloc(l->o.bucket_batches * P * sizeof *kw) : NULL;
    if (!order || !deferred || !plan || !bstart || !notes || (l->o.bucket_batches && !kw)) {
        free(order), free(deferred), free(plan), free(bstart), free(notes), free(kw);
        return nl_error_set(NL_ERR_OOM, "pair loader: out of memory planning an epoch of %zu pairs", n);
    }
    /* Fisher–Yates with xoshiro256** seeded from (seed, epoch) */
    memcpy(order, l->usable, n * sizeof *order);
    nl_rng r;
    epoch_rng(&r, l->o.seed, epoch);
    for (size_t i = n; i-- > 1;) {
        size_t j = (size_t)bounded(&r, (uint64_t)i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    /* length bucketing inside windows of k·P pairs */
    if (l->o.bucket_batches) {
        size_t w = l->o.bucket_batches * P;
        for (size_t s = 0; s < n; s += w) {
            size_t m = n - s < w ? n - s : w;
            for (size_t i = 0; i < m; i++) {
                const nl_note_pair *p = &l->pairs[order[s + i]];
                kw[i] = (keyed){order[s + i], i, note_bytes(l->ds, p->a) + note_bytes(l->ds, p->b)};
            }
            qsort(kw, m, sizeof *kw, by_len_desc);
            for (size_t i = 0; i < m; i++) order[s + i] = kw[i].pair;
        }
    }
    /* packing: deferred pairs first, then the order; a pair with a note
     * already in the batch waits for the next batch */
    size_t nd = 0, cur = 0, placed = 0, nb = 0;
    while (placed < n) {
        size_t k = 0, nd2 = 0, taken = 0;
        bstart[nb++] = placed;
        for (size_t i = 0; i < nd; i++) {
            const nl_note_pair *p = &l->pairs[deferred[i]];
            if (taken < P && !in_batch(notes, k, p->a) && !in_batch(notes, k, p->b)) {
                notes[k++] = p->a, notes[k++] = p->b;
                plan[placed++] = deferred[i];
                taken++;
            } else
                deferred[nd2++] = deferred[i]; /* order kept: nd2 <= i */
        }
        while (taken < P && cur < n) {
            size_t q = order[cur++];
            const nl_note_pair *p = &l->pairs[q];
            if (!in_batch(notes, k, p->a) && !in_batch(notes, k, p->b)) {
                notes[k++] = p->a, notes[k++] = p->b;
                plan[placed++] = q;
                taken++;
            } else
                deferred[nd2++] = q;
        }
        nd = nd2;
    }
    bstart[nb] = n;
    free(order), free(deferred), free(notes), free(kw);
    free(l->plan);
    free(l->bstart);
    l->plan = plan;
    l->bstart = bstart;
    l->n_batches = nb;
    l->plan_epoch = epoch;
    l->have_plan = true;
    return NL_OK;
}

static nl_status ensure_plan(nl_pair_loader *l)
{
    if (!l->have_plan || l->plan_epoch != l->st.epoch) NL_TRY(make_plan(l, l->st.epoch));
    return NL_OK;
}

nl_status nl_pair_loader_epoch_batches(nl_pair_loader *l, size_t *n)
{
    if (!l || !n) return nl_error_set(NL_ERR_ARG, "pair loader: NULL argument");
    NL_TRY(ensure_plan(l));
    *n = l->n_batches;
    return NL_OK;
}

/* ---- batches ---------------------------------------------------------------------- */

nl_status nl_pair_loader_next(nl_pair_loader *l, nl_pair_batch *out)
{
    if (out) *out = (nl_pair_batch){0};
    if (!l || !out) return nl_error_set(NL_ERR_ARG, "pair loader next: NULL argument");
    nl_pair_loader_state saved = l->st;
    NL_TRY(ensure_plan(l));
    if (l->st.batch >= l->n_batches) {
        l->st.epoch++;
        l->st.batch = 0;
        nl_status st = ensure_plan(l);
        if (st != NL_OK) { l->st = saved; return st; }
    }
    size_t b = (size_t)l->st.batch, p = l->bstart[b + 1] - l->bstart[b], rows = 2 * p;
    const size_t *pp = l->plan + l->bstart[b];
    nl_pair_batch bt = {.n_pairs = p, .rows = rows, .epoch = l->st.epoch, .batch = l->st.batch};
    nl_sample *smp = calloc(rows, sizeof *smp);
    bool *hash = calloc(rows, sizeof *hash);
    nl_status st = smp && hash ? NL_OK : nl_error_set(NL_ERR_OOM, "pair loader: out of memory for %zu rows", rows);
    if (st == NL_OK && l->o.kind == NL_PROMPT_CATEGORY)
        st = nl_prompt_hashtag_slots(&l->st.rng, p, l->o.topic_rate, hash);
    for (size_t i = 0; i < rows && st == NL_OK; i++) {
        const nl_note_pair *pr = &l->pairs[pp[i % p]];
        int64_t ni = i < p ? pr->a : pr->b;
        const nl_note *note = nl_notes_get(l->ds, (size_t)ni);
        if (!note) {
            st = nl_error_set(NL_ERR_STATE, "pair loader: pair %zu names note %lld outside the dataset", pp[i % p],
                              (long long)ni);
            break;
        }
        nl_prompt_kind k = l->o.kind == NL_PROMPT_CATEGORY && hash[i] ? NL_PROMPT_HASHTAG : l->o.kind;
        st = nl_prompt_build(&l->o.prompt, k, note, &l->st.rng, &smp[i]);
        if (st != NL_OK) {
            char why[512];
            snprintf(why, sizeof why, "%s", nl_last_error());
            nl_error_set(st, "pair loader: epoch %llu batch %llu, note %s: %s", (unsigned long long)bt.epoch,
                         (unsigned long long)bt.batch, note->id ? note->id : "?", why);
        }
        if (bt.T < smp[i].n) bt.T = smp[i].n;
    }
    if (st == NL_OK) {
        size_t cells = rows * (bt.T ? bt.T : 1);
        bt.ids = malloc(cells * sizeof *bt.ids);
        bt.attn = calloc(cells, sizeof *bt.attn);
        bt.labels = malloc(cells * sizeof *bt.labels);
        bt.lengths = malloc(rows * sizeof *bt.lengths);
        bt.text_readout = malloc(rows * sizeof *bt.text_readout);
        bt.visual_readout = malloc(rows * sizeof *bt.visual_readout);
        bt.image_slot = malloc(rows * sizeof *bt.image_slot);
        bt.is_hashtag = malloc(rows * sizeof *bt.is_hashtag);
        bt.note_index = malloc(rows * sizeof *bt.note_index);
        bt.pair_index = malloc(p * sizeof *bt.pair_index);
        if (!bt.ids || !bt.attn || !bt.labels || !bt.lengths || !bt.text_readout || !bt.visual_readout ||
            !bt.image_slot || !bt.is_hashtag || !bt.note_index || !bt.pair_index)
            st = nl_error_set(NL_ERR_OOM, "pair loader: out of memory for a [%zu, %zu] batch", rows, bt.T);
    }
    for (size_t i = 0; i < rows && st == NL_OK; i++) {
        const nl_sample *s = &smp[i];
        int32_t *ids = bt.ids + i * bt.T;
        int64_t *lab = bt.labels + i * bt.T;
        for (size_t t = 0; t < bt.T; t++) {
            bool real = t < s->n;
            ids[t] = real ? s->ids[t] : l->pad_id;
            lab[t] = real ? s->labels[t] : -100;
            bt.attn[i * bt.T + t] = real;
        }
        bt.lengths[i] = (int64_t)s->n;
        bt.text_readout[i] = s->text_readout;
        bt.visual_readout[i] = s->visual_readout;
        bt.image_slot[i] = s->image_slot;
        bt.is_hashtag[i] = s->kind == NL_PROMPT_HASHTAG;
        bt.note_index[i] = i < p ? l->pairs[pp[i]].a : l->pairs[pp[i - p]].b;
    }
    for (size_t i = 0; i < p && st == NL_OK; i++) bt.pair_index[i] = (int64_t)pp[i];
    for (size_t i = 0; smp && i < rows; i++) nl_sample_free(&smp[i]);
    free(smp);
    free(hash);
    if (st != NL_OK) {
        nl_pair_batch_free(&bt);
        l->st = saved;
        return st;
    }
    l->st.batch++;
    *out = bt;
    return NL_OK;
}

/* ---- state -------------------------------------------------------------------------- */

void nl_pair_loader_get_state(const nl_pair_loader *l, nl_pair_loader_state *s)
{
    if (l && s) *s = l->st;
}

nl_status nl_pair_loader_set_state(nl_pair_loader *l, const nl_pair_loader_state *s)
{
    if (!l || !s) return nl_error_set(NL_ERR_ARG, "pair loader set_state: NULL argument");
    if (s->seed != l->o.seed || s->n_pairs != l->n_usable)
        return nl_error_set(NL_ERR_ARG, "pair loader set_state: the state is from another run (seed %llu, %llu pairs; "
                            "this loader: seed %llu, %zu pairs)", (unsigned long long)s->seed,
                            (unsigned long long)s->n_pairs, (unsigned long long)l->o.seed, l->n_usable);
    l->st = *s;
    return NL_OK;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void nl_pair_loader_state_pack(const nl_pair_loader_state *s, uint8_t out[NL_PAIR_LOADER_STATE_BYTES])
{
    memcpy(out, "NLPL", 4);
    out[4] = 1, out[5] = out[6] = out[7] = 0;
    put64(out + 8, s->seed);
    put64(out + 16, s->n_pairs);
    put64(out + 24, s->epoch);
    put64(out + 32, s->batch);
    for (int i = 0; i < 4; i++) put64(out + 40 + 8 * i, s->rng.s[i]);
}

nl_status nl_pair_loader_state_unpack(const uint8_t in[NL_PAIR_LOADER_STATE_BYTES], nl_pair_loader_state *s)
{
    if (!in || !s) return nl_error_set(NL_ERR_ARG, "pair loader state unpack: NULL argument");
    if (memcmp(in, "NLPL", 4))
        return nl_error_set(NL_ERR_FORMAT, "pair loader state: bad magic (not \"NLPL\")");
    if (in[4] != 1 || in[5] || in[6] || in[7])
        return nl_error_set(NL_ERR_FORMAT, "pair loader state: version %u is not supported (only 1)",
                            (unsigned)in[4] | (unsigned)in[5] << 8);
    s->seed = get64(in + 8);
    s->n_pairs = get64(in + 16);
    s->epoch = get64(in + 24);
    s->batch = get64(in + 32);
    for (int i = 0; i < 4; i++) s->rng.s[i] = get64(in + 40 + 8 * i);
    return NL_OK;
}
