/* run.c — a NoteLLM / NoteLLM-2 training run: building tokenizer, model,
 * loaders and AdamW from an nl_run_config; optimizer steps (accumulation,
 * NaN/Inf guard, clipping, warm-up/decay lr); validation loss; metrics lines;
 * checkpoints that resume bit-identically (loader state as hex in run.json). */
#define _GNU_SOURCE
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "atomic.h"
#include "autograd.h"
#include "batch.h"
#include "checkpoint.h"
#include "gradcache.h"
#include "image.h"
#include "json.h"
#include "notes.h"
#include "op.h"
#include "ops.h"
#include "runtime.h"
#include "tokenizer.h"

struct nl_run {
    nl_run_config cfg;
    nl_notellm_config mcfg;
    nl_prompt_kind kind;
    nl_tokenizer *tok;
    nl_notes *notes;
    nl_pair_loader_opts lopts;
    nl_pair_loader *train, *val;
    nl_pair_loader_state val_start;
    nl_notellm *model;
    nl_params params;         /* the composite's, prefixed names */
    nl_tensor **trainable;    /* borrowed from params */
    int *trainable_idx;       /* index into params of each trainable tensor */
    int n_trainable;
    nl_optim *opt;
    nl_rng rng;
    nl_image_preproc pre;
    int64_t step, total_steps, warmup;
    int64_t images_zeroed;
    nl_run_metrics last;
    bool have_last;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double nl_run_schedule_lr(double lr, double warmup_ratio, int64_t total, int64_t s)
{
    if (total <= 0 || s >= total) return 0.0;
    int64_t w = (int64_t)ceil(warmup_ratio * (double)total);
    if (w > total) w = total;
    if (s < w) return lr * (double)(s + 1) / (double)w;
    return lr * (double)(total - s) / (double)(total - w);
}

/* ---- building --------------------------------------------------------------- */

static nl_status add_tokens(nl_run *r)
{
    const char *pad[] = {"[PAD]"}, *markers[] = {"<IMG>", "<IMG_EMB>", "<TEXT_EMB>"};
    NL_TRY(nl_tok_add_tokens(r->tok, 1, pad, true, NULL));
    NL_TRY(nl_tok_add_tokens(r->tok, 3, markers, false, NULL));
    int32_t *ids = NULL;
    size_t n = 0;
    NL_TRY(nl_tok_encode_ex(r->tok, r->cfg.eos, strlen(r->cfg.eos), false, &ids, &n));
    free(ids);
    if (n != 1) {
        const char *eos[] = {r->cfg.eos};
        NL_TRY(nl_tok_add_tokens(r->tok, 1, eos, true, NULL));
    }
    return NL_OK;
}

static nl_status build_model(nl_run *r)
{
    const nl_run_config *c = &r->cfg;
    int64_t V = nl_tok_vocab_size(r->tok);
    nl_llm *llm = NULL;
    nl_vit *vit = NULL;
    nl_qformer *qf = NULL;
    nl_projector *pj = NULL;
    nl_status st = NL_OK;
    if (c->llm_dir[0]) {
        st = nl_llm_load(&llm, c->llm_dir, NL_CPU_DEVICE);
        if (st == NL_OK && llm->cfg.vocab_size < V) st = nl_llm_resize_vocab(llm, V);
    } else {
        nl_llm_config lc = c->llm;
        lc.vocab_size = V;
        lc.eos_token_id = nl_tok_token_to_id(r->tok, c->eos);
        lc.pad_token_id = nl_tok_token_to_id(r->tok, "[PAD]");
        lc.bos_token_id = -1;
        st = nl_llm_create(&llm, &lc, NL_CPU_DEVICE, &r->rng);
    }
    bool need_vit = r->mcfg.vision && (r->mcfg.visual_tokens || r->mcfg.late_fusion);
    if (st == NL_OK && need_vit) {
        if (c->vision_dir[0]) {
            st = nl_vit_load(&vit, c->vision_dir, NL_CPU_DEVICE);
            if (st == NL_OK && c->image_size > 0 && c->image_size != vit->cfg.image_size)
                st = nl_error_set(NL_ERR_ARG, "run: image_size %lld differs from the vision model's %lld (%s); "
                                  "HINT: set image_size 0", (long long)c->image_size,
                                  (long long)vit->cfg.image_size, c->vision_dir);
        } else {
            nl_vit_config vc = c->vision;
            if (c->image_size > 0) vc.image_size = c->image_size;
            st = nl_vit_create(&vit, &vc, NL_CPU_DEVICE, &r->rng);
        }
    }
    if (st == NL_OK && r->mcfg.visual_tokens) {
        if (c->qformer_dir[0]) {
            st = nl_qformer_load(&qf, c->qformer_dir, NL_CPU_DEVICE);
        } else {
            nl_qformer_config qc = c->qformer;
            qc.encoder_hidden_size = vit->cfg.hidden_size;
            st = nl_qformer_create(&qf, &qc, NL_CPU_DEVICE, &r->rng);
        }
        nl_projector_kind pk = NL_PROJ_MLP2X_GELU;
        if (st == NL_OK) st = nl_projector_kind_parse(&pk, c->projector);
        if (st == NL_OK)
            st = nl_projector_create(&pj, pk, qf->cfg.hidden_size, llm->cfg.hidden_size, NL_CPU_DEVICE, &r->rng);
    }
    if (st == NL_OK) st = nl_notellm_assemble(&r->model, &r->mcfg, llm, vit, qf, pj, &r->rng);
    if (st != NL_OK) {
        nl_llm_free(llm);
        nl_vit_free(vit);
        nl_qformer_free(qf);
        nl_projector_free(pj);
        return st;
    }
    if (vit) r->pre = nl_image_preproc_clip((int)vit->cfg.image_size);
    NL_TRY(nl_notellm_params(r->model, &r->params));
    r->trainable = calloc((size_t)r->params.n + 1, sizeof *r->trainable);
    r->trainable_idx = calloc((size_t)r->params.n + 1, sizeof *r->trainable_idx);
    if (!r->trainable || !r->trainable_idx) return nl_error_set(NL_ERR_OOM, "run: out of memory");
    for (int i = 0; i < r->params.n; i++)
        if (r->params.v[i].t->requires_grad) {
            r->trainable_idx[r->n_trainable] = i;
            r->trainable[r->n_trainable++] = r->params.v[i].t;
        }
    if (r->n_trainable == 0) return nl_error_set(NL_ERR_STATE, "run: the model has no trainable parameter");
    return NL_OK;
}

static nl_status build_data(nl_run *r)
{
    const nl_run_config *c = &r->cfg;
    nl_notes_report rep;
    NL_TRY(nl_notes_load(&r->notes, c->data_dir, &rep));
    nl_pair_loader_opts *o = &r->lopts;
    nl_pair_loader_opts_init(o, r->tok);
    o->list = c->train_list;
    o->pairs_per_batch = (size_t)c->pairs_per_batch;
    o->seed = c->seed;
    o->kind = r->kind;
    o->topic_rate = c->topic_rate;
    o->bucket_batches = (size_t)c->bucket_batches;
    o->prompt.tpl = nl_prompt_preset(c->lang);
    o->prompt.max_note_tokens = (int)c->max_note_tokens;
    o->prompt.eos = c->eos;
    size_t n = 0;
    if (!nl_notes_pairs(r->notes, c->train_list, &n) || n == 0)
        return nl_error_set(NL_ERR_ARG, "run: %s has no pairs in list \"%s\"; HINT: it needs note_pairs_%s.csv",
                            c->data_dir, c->train_list, c->train_list);
    NL_TRY(nl_pair_loader_new(&r->train, r->notes, o));
    if (c->val_list[0] && nl_notes_pairs(r->notes, c->val_list, &n) && n > 0) {
        nl_pair_loader_opts vo = *o;
        vo.list = c->val_list;
        NL_TRY(nl_pair_loader_new(&r->val, r->notes, &vo));
        nl_pair_loader_get_state(r->val, &r->val_start);
    }
    size_t nb = 0;
    NL_TRY(nl_pair_loader_epoch_batches(r->train, &nb));
    if (c->max_steps > 0) r->total_steps = c->max_steps;
    else r->total_steps = (c->epochs * (int64_t)nb + c->grad_accum - 1) / c->grad_accum;
    if (r->total_steps < 1) r->total_steps = 1;
    r->warmup = (int64_t)ceil(c->warmup_ratio * (double)r->total_steps);
    return NL_OK;
}

nl_status nl_run_create(nl_run **out, const nl_run_config *c)
{
    *out = NULL;
    NL_TRY(nl_run_config_validate(c));
    nl_run *r = calloc(1, sizeof *r);
    if (!r) return nl_error_set(NL_ERR_OOM, "run: out of memory");
    r->cfg = *c;
    r->last.val_loss = NAN;
    nl_rng_seed(&r->rng, c->seed);
    nl_status st = nl_run_method(c, &r->mcfg, &r->kind);
    if (st == NL_OK) st = nl_tok_load(&r->tok, c->tokenizer);
    if (st == NL_OK) st = add_tokens(r);
    if (st == NL_OK) st = build_model(r);
    if (st == NL_OK) st = build_data(r);
    if (st == NL_OK) {
        nl_optim_config oc = {.kind = NL_OPTIM_ADAMW, .lr = c->lr, .beta1 = c->beta1, .beta2 = c->beta2,
                              .eps = c->eps, .weight_decay = c->weight_decay};
        st = nl_optim_new(&r->opt, &oc, r->n_trainable, r->trainable);
    }
    if (st != NL_OK) {
        nl_status keep = st;
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", nl_last_error());
        nl_run_free(r);
        return nl_error_set(keep, "%s", msg);
    }
    *out = r;
    return NL_OK;
}

void nl_run_free(nl_run *r)
{
    if (!r) return;
    nl_optim_free(r->opt);
    nl_params_free(&r->params);
    nl_notellm_free(r->model);
    nl_pair_loader_free(r->train);
    nl_pair_loader_free(r->val);
    nl_notes_free(r->notes);
    nl_tok_free(r->tok);
    free(r->trainable);
    free(r->trainable_idx);
    free(r);
}

/* ---- batches ------------------------------------------------------------------ */

typedef struct conv {
    nl_tensor *ids, *mask, *labels, *pixels;
    nl_notellm_batch b;
    int64_t zeroed;
} conv;

static void conv_free(conv *v)
{
    nl_tensor_release(v->ids);
    nl_tensor_release(v->mask);
    nl_tensor_release(v->labels);
    nl_tensor_release(v->pixels);
    memset(v, 0, sizeof *v);
}

/* The images of notes[0..rows) -> [rows,3,S,S]; missing or undecodable
 * files become the zero image (counted). */
static nl_status load_pixels(nl_run *r, const int64_t *notes, size_t rows, conv *v)
{
    int S = r->pre.size;
    size_t per = (size_t)3 * (size_t)S * (size_t)S;
    float *buf = malloc(per * (rows ? rows : 1) * sizeof *buf);
    if (!buf) return nl_error_set(NL_ERR_OOM, "run: out of memory for %zu images", rows);
    nl_status st = NL_OK;
    for (size_t i = 0; i < rows && st == NL_OK; i++) {
        const nl_note *n = nl_notes_get(r->notes, (size_t)notes[i]);
        nl_tensor *t = NULL;
        bool zeroed = false;
        if (!n || !n->image_found) {
            st = nl_image_zero_tensor(&t, S);
            zeroed = true;
        } else {
            char path[NL_RUN_PATH_MAX + 300];
            snprintf(path, sizeof path, "%s/%s/%s", r->cfg.data_dir, n->split == NL_NOTE_TEST ? "images_test" : "images",
                     n->image_id);
            st = nl_image_load_tensor(&t, path, &r->pre, true, &zeroed);
        }
        if (st == NL_OK) st = nl_tensor_to_host(t, buf + i * per, NL_F32);
        nl_tensor_release(t);
        v->zeroed += zeroed;
    }
    if (st == NL_OK)
        st = nl_tensor_from_host(&v->pixels, NL_F32, 4, (const int64_t[]){(int64_t)rows, 3, S, S}, buf, NL_F32,
                                 NL_CPU_DEVICE);
    free(buf);
    return st;
}

/* train: Q-Former dropout on, drawn from the run RNG (saved in checkpoints). */
static nl_status convert(nl_run *r, const nl_pair_batch *pb, conv *v, bool train)
{
    memset(v, 0, sizeof *v);
    const int64_t sh[2] = {(int64_t)pb->rows, (int64_t)pb->T};
    nl_status st = nl_tensor_from_host(&v->ids, NL_I64, 2, sh, pb->ids, NL_I32, NL_CPU_DEVICE);
    if (st == NL_OK) st = nl_tensor_from_host(&v->mask, NL_U8, 2, sh, pb->attn, NL_U8, NL_CPU_DEVICE);
    if (st == NL_OK) st = nl_tensor_from_host(&v->labels, NL_I64, 2, sh, pb->labels, NL_I64, NL_CPU_DEVICE);
    if (st == NL_OK && r->model->vit) st = load_pixels(r, pb->note_index, pb->rows, v);
    if (st != NL_OK) {
        conv_free(v);
        return st;
    }
    v->b = (nl_notellm_batch){.ids = v->ids, .mask = v->mask, .labels = r->mcfg.csft ? v->labels : NULL,
                              .readout = pb->text_readout,
                              .vreadout = r->mcfg.micl ? pb->visual_readout : NULL,
                              .img_slot = r->mcfg.visual_tokens ? pb->image_slot : NULL, .pixels = v->pixels,
                              .train = train, .rng = &r->rng};
    /* training masks keyed by (step seed, row): the same with and without gradient caching */
    if (train) v->b.row_dropout = true, v->b.dropout_seed = nl_rng_next(&r->rng);
    return NL_OK;
}

/* ---- embedding notes ----------------------------------------------------------------- */

/* The prompt a trained model reads a note with: NoteLLM's training prompts
 * (category/hashtag) become the inference prompt; the others are open
 * already. */
static nl_prompt_kind inference_kind(const nl_run *r)
{
    return r->kind == NL_PROMPT_CATEGORY || r->kind == NL_PROMPT_HASHTAG ? NL_PROMPT_INFER : r->kind;
}

void nl_run_batch_free(nl_run_batch *b)
{
    if (!b) return;
    nl_tensor_release(b->ids_t);
    nl_tensor_release(b->mask);
    nl_tensor_release(b->labels);
    nl_tensor_release(b->pixels);
    free(b->ids);
    free(b->pos);
    free(b->n_tokens);
    memset(b, 0, sizeof *b);
}

/* The prompt of note n under variant v: image-only empties the text fields
 * (title, content, hashtags) and builds the same inference prompt. */
static nl_status variant_prompt(nl_run *r, const nl_note *n, nl_run_variant v, nl_sample *s)
{
    nl_note empty = *n;
    if (v == NL_RUN_IMAGE_ONLY) empty.title = empty.content = empty.p_title = empty.p_content = empty.p_topic = "";
    return nl_prompt_build(&r->lopts.prompt, inference_kind(r), &empty, NULL, s);
}

nl_status nl_run_batch_notes(nl_run *r, const int64_t *notes, int64_t n, nl_run_variant v, nl_run_batch *out)
{
    if (!out) return nl_error_set(NL_ERR_ARG, "run batch: NULL out");
    memset(out, 0, sizeof *out);
    if (!r || !notes || n < 1) return nl_error_set(NL_ERR_ARG, "run batch: %lld notes (need at least 1)", (long long)n);
    if ((unsigned)v > NL_RUN_IMAGE_ONLY) return nl_error_set(NL_ERR_ARG, "run batch: unknown variant %d", (int)v);
    if (v != NL_RUN_FULL && !r->model->vit)
        return nl_error_set(NL_ERR_ARG, "run batch: the %s variant needs a model with vision; method %s has none",
                            v == NL_RUN_TEXT_ONLY ? "text-only" : "image-only", r->cfg.method);
    size_t rows = (size_t)n;
    nl_sample *s = calloc(rows, sizeof *s);
    out->pos = calloc(3 * rows, sizeof *out->pos);
    out->n_tokens = calloc(rows, sizeof *out->n_tokens);
    nl_status st = s && out->pos && out->n_tokens ? NL_OK : nl_error_set(NL_ERR_OOM, "run batch: out of memory");
    size_t T = 1;
    for (size_t i = 0; i < rows && st == NL_OK; i++) {
        const nl_note *note = notes[i] >= 0 ? nl_notes_get(r->notes, (size_t)notes[i]) : NULL;
        if (!note)
            st = nl_error_set(NL_ERR_ARG, "run batch: no note %lld (the dataset has %zu)", (long long)notes[i],
                              nl_notes_count(r->notes));
        else st = variant_prompt(r, note, v, &s[i]);
        if (st == NL_OK && s[i].n > T) T = s[i].n;
    }
    int32_t pad = nl_tok_token_to_id(r->tok, "[PAD]");
    uint8_t *mask = NULL;
    if (st == NL_OK) {
        out->ids = malloc(rows * T * sizeof *out->ids);
        mask = calloc(rows * T, 1);
        if (!out->ids || !mask) st = nl_error_set(NL_ERR_OOM, "run batch: out of memory");
    }
    for (size_t i = 0; i < rows && st == NL_OK; i++) {
        for (size_t t = 0; t < T; t++) out->ids[i * T + t] = t < s[i].n ? s[i].ids[t] : pad;
        memset(mask + i * T, 1, s[i].n);
        out->n_tokens[i] = (int64_t)s[i].n;
        out->pos[i] = s[i].text_readout, out->pos[rows + i] = s[i].visual_readout;
        out->pos[2 * rows + i] = s[i].image_slot;
    }
    const int64_t sh[2] = {(int64_t)rows, (int64_t)T};
    if (st == NL_OK) st = nl_tensor_from_host(&out->ids_t, NL_I64, 2, sh, out->ids, NL_I32, NL_CPU_DEVICE);
    if (st == NL_OK) st = nl_tensor_from_host(&out->mask, NL_U8, 2, sh, mask, NL_U8, NL_CPU_DEVICE);
    /* the composite insists on labels with CSFT even when only embedding: none supervised */
    if (st == NL_OK && r->mcfg.csft) st = nl_tensor_full(&out->labels, NL_I64, 2, sh, -100, NL_CPU_DEVICE);
    if (st == NL_OK && r->model->vit && v != NL_RUN_TEXT_ONLY) {
        conv c = {0};
        st = load_pixels(r, notes, rows, &c);
        out->pixels = c.pixels, out->zeroed = c.zeroed;
        r->images_zeroed += c.zeroed;
    } else if (st == NL_OK && r->model->vit) {
        int64_t S = r->pre.size;
        st = nl_tensor_zeros(&out->pixels, NL_F32, 4, (const int64_t[]){(int64_t)rows, 3, S, S}, NL_CPU_DEVICE);
    }
    for (size_t i = 0; s && i < rows; i++) nl_sample_free(&s[i]);
    free(s);
    free(mask);
    if (st != NL_OK) {
        nl_run_batch_free(out);
        return st;
    }
    out->rows = (int64_t)rows, out->T = (int64_t)T;
    out->b = (nl_notellm_batch){.ids = out->ids_t, .mask = out->mask, .labels = out->labels, .readout = out->pos,
                                .vreadout = r->mcfg.micl ? out->pos + rows : NULL,
                                .img_slot = r->mcfg.visual_tokens ? out->pos + 2 * rows : NULL,
                                .pixels = out->pixels};
    return NL_OK;
}

/* One chunk of notes -> rows of out (d floats each). */
static nl_status embed_chunk(nl_run *r, const int64_t *notes, size_t rows, bool visual, nl_run_variant v, float *out)
{
    nl_run_batch rb;
    NL_TRY(nl_run_batch_notes(r, notes, (int64_t)rows, v, &rb));
    nl_notellm_out o = {0};
    bool grad = nl_grad_set_enabled(false);
    nl_status st = nl_notellm_embed(&o, r->model, &rb.b, NULL);
    nl_grad_set_enabled(grad);
    if (st == NL_OK && visual && !o.e_v)
        st = nl_error_set(NL_ERR_ARG, "embed notes: method %s has no visual (mICL) embedding", r->cfg.method);
    if (st == NL_OK) st = nl_tensor_to_host(visual ? o.e_v : o.e, out, NL_F32);
    nl_notellm_out_clear(&o);
    nl_run_batch_free(&rb);
    return st;
}

nl_status nl_run_embed_variant(nl_run *r, const int64_t *notes, int64_t n, int64_t batch, bool visual,
                               nl_run_variant v, float *out)
{
    if (n < 0 || batch < 1) return nl_error_set(NL_ERR_ARG, "embed notes: %lld notes in batches of %lld", (long long)n,
                                                (long long)batch);
    if (!r || (n > 0 && (!notes || !out))) return nl_error_set(NL_ERR_ARG, "embed notes: NULL run, notes or output");
    int64_t d = r->model->head->d;
    for (int64_t i = 0; i < n; i += batch) {
        NL_TRY(nl_interrupt_poll());
        int64_t rows = n - i < batch ? n - i : batch;
        NL_TRY(embed_chunk(r, notes + i, (size_t)rows, visual, v, out + i * d));
    }
    return NL_OK;
}

nl_status nl_run_embed(nl_run *r, const int64_t *notes, int64_t n, int64_t batch, bool visual, float *out)
{
    return nl_run_embed_variant(r, notes, n, batch, visual, NL_RUN_FULL, out);
}

const nl_notes *nl_run_notes(const nl_run *r) { return r->notes; }

/* ---- the NaN/Inf guard ---------------------------------------------------------- */

static bool all_finite(nl_tensor *t, nl_status *st)
{
    int64_t k = nl_tensor_numel(t);
    float *h = malloc((size_t)(k ? k : 1) * sizeof *h);
    if (!h) {
        *st = nl_error_set(NL_ERR_OOM, "run: out of memory");
        return true;
    }
    *st = nl_tensor_to_host(t, h, NL_F32);
    bool ok = true;
    for (int64_t j = 0; *st == NL_OK && j < k && ok; j++) ok = isfinite(h[j]);
    free(h);
    return ok;
}

/* First parameter (any, frozen included) holding NaN/Inf, or NULL. */
static const char *bad_param(nl_run *r)
{
    for (int i = 0; i < r->params.n; i++) {
        nl_status st = NL_OK;
        if (!all_finite(r->params.v[i].t, &st)) return r->params.v[i].name;
    }
    return NULL;
}

static const char *bad_grad(nl_run *r)
{
    for (int i = 0; i < r->n_trainable; i++) {
        nl_status st = NL_OK;
        if (r->trainable[i]->grad && !all_finite(r->trainable[i]->grad, &st))
            return r->params.v[r->trainable_idx[i]].name;
    }
    return NULL;
}

/* ---- steps ---------------------------------------------------------------------- */

static double scalar_of(nl_tensor *t)
{
    double v = NAN;
    if (t) nl_tensor_get(t, (const int64_t[]){0}, &v);
    return v;
}

/* The loss parts (loss, l_cl, l_v, l_gen) of one micro-batch, and its
 * gradients accumulated into .grad: one graph with the loss scaled by 1/ga
 * (no backward when the loss is not finite), or gradient caching when
 * grad_cache_chunk > 0 (unscaled; the step scales the sum). */
static nl_status micro_step(nl_run *r, const nl_notellm_batch *b, int64_t ga, double part[4])
{
    nl_status st;
    if (r->cfg.grad_cache_chunk > 0) {
        nl_gradcache_out go;
        st = nl_gradcache_step(r->model, b, r->cfg.grad_cache_chunk, &go);
        if (st == NL_OK) part[0] = go.loss, part[1] = go.l_cl, part[2] = go.l_v, part[3] = go.l_gen;
        nl_gradcache_out_clear(&go);
        return st;
    }
    nl_notellm_out o = {0};
    nl_tensor *scaled = NULL;
    st = nl_notellm_loss(&o, r->model, b);
    if (st == NL_OK) part[0] = scalar_of(o.loss), part[1] = o.l_cl, part[2] = o.l_v, part[3] = o.l_gen;
    if (st == NL_OK && isfinite(part[0])) {
        st = ga > 1 ? nl_scale(&scaled, o.loss, 1.0 / (double)ga, 0.0) : NL_OK;
        if (st == NL_OK) st = nl_backward(scaled ? scaled : o.loss, NULL, false);
    }
    nl_tensor_release(scaled);
    nl_notellm_out_clear(&o);
    return st;
}

/* Every trainable gradient *= f, in place (gradients are exclusively owned
 * contiguous tensors, as nl_clip_grad_norm relies on too). */
static nl_status scale_grads(nl_run *r, double f)
{
    for (int i = 0; i < r->n_trainable; i++) {
        nl_tensor *g = r->trainable[i]->grad;
        if (!g) continue;
        nl_tensor *in[1] = {g};
        nl_op_args a = {.op = NL_OP_SCALE, .n_in = 1, .in = in, .n_out = 1, .out = {g}, .p = {.f = {f, 0}}};
        NL_TRY(nl_dispatch(&a));
    }
    return NL_OK;
}

nl_status nl_run_step(nl_run *r, nl_run_metrics *m)
{
    NL_TRY(nl_interrupt_poll());
    if (r->step >= r->total_steps)
        return nl_error_set(NL_ERR_STATE, "run: all %lld scheduled steps are done; HINT: raise max_steps or epochs "
                            "and resume from a checkpoint", (long long)r->total_steps);
    double t0 = now_s();
    nl_pair_loader_state rewind;
    nl_pair_loader_get_state(r->train, &rewind);
    nl_rng rng_rewind = r->rng; /* dropout draws */
    nl_optim_zero_grad(r->opt);
    nl_run_metrics acc = {.val_loss = NAN};
    int64_t ga = r->cfg.grad_accum;
    nl_status st = NL_OK;
    bool skip = false; /* a non-finite value: skip the batch rather than rewind */
    for (int64_t k = 0; k < ga && st == NL_OK; k++) {
        nl_pair_batch pb = {0};
        conv v = {0};
        double o[4] = {0};
        st = nl_pair_loader_next(r->train, &pb);
        if (st == NL_OK) st = convert(r, &pb, &v, true);
        if (st == NL_OK) st = micro_step(r, &v.b, ga, o);
        if (st == NL_OK) {
            double l = o[0];
            acc.loss += l / (double)ga, acc.l_cl += o[1] / (double)ga;
            acc.l_v += o[2] / (double)ga, acc.l_gen += o[3] / (double)ga;
            acc.notes += (int64_t)pb.rows;
            acc.images_zeroed += v.zeroed;
            acc.epoch = (int64_t)pb.epoch;
            if (!isfinite(l)) {
                const char *p = bad_param(r);
                skip = true;
                st = p ? nl_error_set(NL_ERR_STATE, "run step %lld: loss is %g; parameter \"%s\" holds NaN/Inf "
                                      "values; the step was skipped (weights unchanged)", (long long)r->step + 1,
                                      l, p)
                       : nl_error_set(NL_ERR_STATE, "run step %lld: loss is %g (l_cl %g, l_v %g, l_gen %g); the "
                                      "step was skipped (weights unchanged); HINT: lower lr", (long long)r->step + 1,
                                      l, o[1], o[2], o[3]);
            }
        }
        conv_free(&v);
        nl_pair_batch_free(&pb);
    }
    if (st == NL_OK && r->cfg.grad_cache_chunk > 0 && ga > 1) st = scale_grads(r, 1.0 / (double)ga);
    double norm = 0;
    if (st == NL_OK) st = nl_clip_grad_norm(r->n_trainable, r->trainable, 0.0, &norm);
    if (st == NL_OK && !isfinite(norm)) {
        const char *g = bad_grad(r);
        skip = true;
        st = nl_error_set(NL_ERR_STATE, "run step %lld: the gradient of \"%s\" holds NaN/Inf values (global norm %g); "
                          "the step was skipped (weights unchanged)", (long long)r->step + 1, g ? g : "?", norm);
    }
    if (st == NL_OK && r->cfg.clip > 0) st = nl_clip_grad_norm(r->n_trainable, r->trainable, r->cfg.clip, NULL);
    double lr = nl_run_schedule_lr(r->cfg.lr, r->cfg.warmup_ratio, r->total_steps, r->step);
    if (st == NL_OK) {
        nl_optim_set_lr(r->opt, lr);
        st = nl_optim_step(r->opt);
    }
    if (st != NL_OK) {
        nl_status keep = st;
        nl_optim_zero_grad(r->opt);
        if (!skip) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", nl_last_error());
            nl_pair_loader_set_state(r->train, &rewind);
            r->rng = rng_rewind;
            nl_error_set(keep, "%s", msg);
        }
        return keep;
    }
    nl_optim_zero_grad(r->opt);
    r->step++;
    r->images_zeroed += acc.images_zeroed;
    acc.step = r->step;
    acc.lr = lr;
    acc.tau = scalar_of(r->model->head->tau);
    acc.grad_norm = norm;
    acc.seconds = now_s() - t0;
    acc.notes_per_s = acc.seconds > 0 ? (double)acc.notes / acc.seconds : 0;
    r->last = acc, r->have_last = true;
    if (m) *m = acc;
    return NL_OK;
}

nl_status nl_run_eval(nl_run *r, double *val_loss)
{
    *val_loss = NAN;
    if (!r->val)
        return nl_error_set(NL_ERR_STATE, "run eval: no pairs in list \"%s\" of %s", r->cfg.val_list, r->cfg.data_dir);
    NL_TRY(nl_pair_loader_set_state(r->val, &r->val_start));
    size_t nb = 0;
    NL_TRY(nl_pair_loader_epoch_batches(r->val, &nb));
    if ((int64_t)nb > r->cfg.eval_batches) nb = (size_t)r->cfg.eval_batches;
    bool grad = nl_grad_set_enabled(false);
    double sum = 0;
    nl_status st = NL_OK;
    for (size_t k = 0; k < nb && st == NL_OK; k++) {
        nl_pair_batch pb = {0};
        conv v = {0};
        nl_notellm_out o = {0};
        st = nl_interrupt_poll();
        if (st == NL_OK) st = nl_pair_loader_next(r->val, &pb);
        if (st == NL_OK) st = convert(r, &pb, &v, false);
        if (st == NL_OK) st = nl_notellm_loss(&o, r->model, &v.b);
        if (st == NL_OK) sum += scalar_of(o.loss);
        nl_notellm_out_clear(&o);
        conv_free(&v);
        nl_pair_batch_free(&pb);
    }
    nl_grad_set_enabled(grad);
    NL_TRY(st);
    *val_loss = nb ? sum / (double)nb : NAN;
    return NL_OK;
}

/* ---- metrics -------------------------------------------------------------------- */

static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

static cJSON *metrics_json(const nl_run_metrics *m)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    add_num(o, "step", (double)m->step);
    add_num(o, "epoch", (double)m->epoch);
    add_num(o, "loss", m->loss);
    add_num(o, "l_cl", m->l_cl);
    add_num(o, "l_v", m->l_v);
    add_num(o, "l_gen", m->l_gen);
    add_num(o, "lr", m->lr);
    add_num(o, "tau", m->tau);
    add_num(o, "grad_norm", m->grad_norm);
    add_num(o, "notes_per_s", m->notes_per_s);
    add_num(o, "seconds", m->seconds);
    add_num(o, "notes", (double)m->notes);
    add_num(o, "images_zeroed", (double)m->images_zeroed);
    if (isfinite(m->val_loss)) add_num(o, "val_loss", m->val_loss);
    return o;
}

nl_status nl_run_append_metrics(nl_run *r, const nl_run_metrics *m)
{
    if (!r->cfg.out_dir[0]) return nl_error_set(NL_ERR_STATE, "run metrics: out_dir is not set");
    NL_TRY(nl_ensure_dir(r->cfg.out_dir));
    cJSON *o = metrics_json(m);
    char *line = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!line) return nl_error_set(NL_ERR_OOM, "run metrics: out of memory");
    char path[NL_RUN_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/metrics.jsonl", r->cfg.out_dir);
    nl_status st = NL_OK;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = nl_error_set(NL_ERR_IO, "run metrics: cannot open %s: %s", path, strerror(errno));
    } else {
        size_t n = strlen(line);
        line[n] = '\n'; /* replaces the NUL; the buffer is not used as a string afterwards */
        ssize_t w = write(fd, line, n + 1);
        if (w != (ssize_t)(n + 1)) st = nl_error_set(NL_ERR_IO, "run metrics: cannot write %s: %s", path,
                                                     w < 0 ? strerror(errno) : "short write");
        if (close(fd) != 0 && st == NL_OK)
            st = nl_error_set(NL_ERR_IO, "run metrics: cannot close %s: %s", path, strerror(errno));
    }
    free(line);
    return st;
}

/* ---- checkpoints ------------------------------------------------------------------ */

static void hex_encode(const uint8_t *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) out[2 * i] = d[b[i] >> 4], out[2 * i + 1] = d[b[i] & 15];
    out[2 * n] = '\0';
}

static bool hex_decode(const char *s, uint8_t *b, size_t n)
{
    if (strlen(s) != 2 * n) return false;
    for (size_t i = 0; i < 2 * n; i++) {
        char ch = s[i];
        int v = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (v < 0) return false;
        b[i / 2] = (uint8_t)(i % 2 ? (b[i / 2] | v) : v << 4);
    }
    return true;
}

nl_status nl_run_save(nl_run *r, const char *dir)
{
    char *cfg = NULL, *run_text = NULL, *model_text = NULL, *met = NULL;
    NL_TRY(nl_run_config_to_json(&r->cfg, &cfg));
    nl_pair_loader_state ls;
    nl_pair_loader_get_state(r->train, &ls);
    uint8_t packed[NL_PAIR_LOADER_STATE_BYTES];
    char hex[2 * NL_PAIR_LOADER_STATE_BYTES + 1];
    nl_pair_loader_state_pack(&ls, packed);
    hex_encode(packed, sizeof packed, hex);

    cJSON *run = cJSON_CreateObject(), *model = cJSON_CreateObject();
    cJSON *mj = r->have_last ? metrics_json(&r->last) : cJSON_CreateObject();
    if (run && model) {
        cJSON_AddItemToObject(run, "config", cJSON_Parse(cfg));
        cJSON_AddStringToObject(run, "loader_state", hex);
        cJSON_AddNumberToObject(run, "vocab_size", nl_tok_vocab_size(r->tok));
        cJSON_AddNumberToObject(run, "total_steps", (double)r->total_steps);
        cJSON_AddNumberToObject(run, "images_zeroed", (double)r->images_zeroed);
        cJSON *arch = cJSON_AddArrayToObject(model, "architectures");
        if (arch) cJSON_AddItemToArray(arch, cJSON_CreateString("NoteLLM"));
        cJSON_AddStringToObject(model, "model_type", "notellm");
        cJSON_AddStringToObject(model, "method", r->cfg.method);
        cJSON_AddNumberToObject(model, "vocab_size", nl_tok_vocab_size(r->tok));
        cJSON_AddNumberToObject(model, "dim", (double)r->cfg.dim);
        cJSON_AddStringToObject(model, "note", "weights use prefixes llm. vision. qformer. projector. head.; "
                                "shapes are in run.json");
        run_text = cJSON_PrintUnformatted(run);
        model_text = cJSON_PrintUnformatted(model);
    }
    if (mj) met = cJSON_PrintUnformatted(mj);
    cJSON_Delete(run);
    cJSON_Delete(model);
    cJSON_Delete(mj);
    free(cfg);
    nl_status st = NL_OK;
    if (!run_text || !model_text || !met) st = nl_error_set(NL_ERR_OOM, "run save: out of memory");
    if (st == NL_OK) {
        nl_ckpt_contents c = {.params = &r->params, .optim = r->opt, .rng = &r->rng, .step = r->step,
                              .epoch = (int64_t)ls.epoch, .data_pos = (int64_t)ls.batch,
                              .config_json = model_text, .run_json = run_text, .metrics_json = met};
        st = nl_checkpoint_save(dir, &c);
    }
    free(run_text);
    free(model_text);
    free(met);
    return st;
}

nl_status nl_run_resume(nl_run **out, const char *dir)
{
    *out = NULL;
    char path[NL_RUN_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/run.json", dir);
    cJSON *j = NULL;
    NL_TRY(nl_json_load(&j, path, 0));
    nl_run_config c;
    nl_run_config_defaults(&c);
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(j, "config");
    const char *hex = NULL;
    int64_t vocab = 0;
    nl_status st = cJSON_IsObject(cfg) ? NL_OK : nl_error_set(NL_ERR_FORMAT, "%s: missing object \"config\"", path);
    if (st == NL_OK) st = nl_json_str(j, path, "loader_state", true, &hex);
    if (st == NL_OK) st = nl_json_int(j, path, "vocab_size", true, 1, INT32_MAX, &vocab);
    uint8_t packed[NL_PAIR_LOADER_STATE_BYTES];
    if (st == NL_OK && !hex_decode(hex, packed, sizeof packed))
        st = nl_error_set(NL_ERR_FORMAT, "%s: loader_state must be %d lowercase hex digits", path,
                          2 * NL_PAIR_LOADER_STATE_BYTES);
    nl_pair_loader_state ls;
    if (st == NL_OK) st = nl_pair_loader_state_unpack(packed, &ls);
    if (st == NL_OK) {
        char *text = cJSON_PrintUnformatted(cfg);
        st = text ? nl_run_config_from_json(&c, text, path) : nl_error_set(NL_ERR_OOM, "run resume: out of memory");
        free(text);
    }
    cJSON_Delete(j);
    NL_TRY(st);
    nl_run *r = NULL;
    NL_TRY(nl_run_create(&r, &c));
    if (nl_tok_vocab_size(r->tok) != vocab) {
        st = nl_error_set(NL_ERR_FORMAT, "run resume: the tokenizer %s now gives %d ids, the checkpoint %s has %lld; "
                          "HINT: resume with the tokenizer the run was trained with", c.tokenizer,
                          nl_tok_vocab_size(r->tok), dir, (long long)vocab);
    }
    nl_ckpt_contents cc = {.params = &r->params, .optim = r->opt, .rng = &r->rng};
    if (st == NL_OK) st = nl_checkpoint_load(dir, &cc);
    if (st == NL_OK) st = nl_pair_loader_set_state(r->train, &ls);
    if (st == NL_OK && cc.step > r->total_steps)
        st = nl_error_set(NL_ERR_FORMAT, "run resume: checkpoint step %lld is past the schedule's %lld steps",
                          (long long)cc.step, (long long)r->total_steps);
    nl_ckpt_contents_clear(&cc);
    if (st != NL_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", nl_last_error());
        nl_run_free(r);
        return nl_error_set(st, "%s", msg);
    }
    r->step = cc.step;
    *out = r;
    return NL_OK;
}

/* ---- the loop ---------------------------------------------------------------------- */

nl_status nl_run_train(nl_run *r)
{
    char ck[NL_RUN_PATH_MAX + 32] = "";
    if (r->cfg.out_dir[0]) snprintf(ck, sizeof ck, "%s/checkpoint", r->cfg.out_dir);
    nl_status st = NL_OK;
    while (st == NL_OK && !nl_run_done(r)) {
        nl_run_metrics m;
        st = nl_run_step(r, &m);
        if (st != NL_OK) break;
        if (r->cfg.eval_every > 0 && r->step % r->cfg.eval_every == 0 && r->val) {
            st = nl_run_eval(r, &m.val_loss);
            if (st != NL_OK) break;
            r->last.val_loss = m.val_loss;
        }
        if (ck[0] && (r->step % r->cfg.log_every == 0 || isfinite(m.val_loss) || nl_run_done(r)))
            st = nl_run_append_metrics(r, &m);
        if (st == NL_OK && ck[0] && r->cfg.save_every > 0 && r->step % r->cfg.save_every == 0 && !nl_run_done(r))
            st = nl_run_save(r, ck);
    }
    if (ck[0] && (st == NL_OK || st == NL_ERR_INTERRUPTED)) {
        nl_status keep = st;
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", nl_last_error());
        st = nl_run_save(r, ck);
        if (st == NL_OK && keep != NL_OK) st = nl_error_set(keep, "%s (checkpoint saved to %s)", msg, ck);
    }
    return st;
}

/* ---- accessors --------------------------------------------------------------------- */

const nl_run_config *nl_run_get_config(const nl_run *r) { return &r->cfg; }
nl_notellm *nl_run_model(nl_run *r) { return r->model; }
nl_params *nl_run_params(nl_run *r) { return &r->params; }
const nl_tokenizer *nl_run_tokenizer(const nl_run *r) { return r->tok; }
int64_t nl_run_steps_done(const nl_run *r) { return r->step; }
int64_t nl_run_total_steps(const nl_run *r) { return r->total_steps; }
bool nl_run_done(const nl_run *r) { return r->step >= r->total_steps; }
