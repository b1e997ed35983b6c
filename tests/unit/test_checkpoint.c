/* test_checkpoint.c — training checkpoints (runtime/train/checkpoint.h):
 * exact round trip of weights, moments, step and RNG; bit-exact resume of a
 * toy AdamW run; kill -9 at many points of a 32 MB save; the checkpoint
 * bad inputs of BAD-INPUTS.md (corrupt, truncated or missing files, wrong
 * version or world, optimizer state that does not match); disk full; the
 * recovery of an interrupted directory swap. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atomic.h"
#include "checkpoint.h"
#include "harness.h"

static char root[64];

static const char *at(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", root, name);
    return buf[k];
}

static bool msg_has(const char *s)
{
    bool ok = strstr(nl_last_error(), s) != NULL;
    if (!ok) printf("  (message was: %s)\n", nl_last_error());
    return ok;
}

/* Entries of root whose name starts with prefix. */
static int count_entries(const char *prefix)
{
    DIR *d = opendir(root);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (!strncmp(e->d_name, prefix, strlen(prefix))) n++;
    if (d) closedir(d);
    return n;
}

/* ---- a toy model: y = tanh(x W1 + b1) W2 + b2 fitted to x Wt ---- */

typedef struct toy {
    nl_params p;
    nl_optim *o;
    nl_rng rng;       /* draws the data */
    int64_t step, data_pos;
    nl_tensor *wt;    /* [4,1] target weights */
} toy;

enum { B = 6, IN = 4, HID = 8 };

static void toy_init(toy *m, uint64_t seed, nl_optim_kind kind)
{
    *m = (toy){0};
    nl_rng init;
    nl_rng_seed(&init, seed);
    nl_rng_seed(&m->rng, seed * 7 + 1);
    nl_tensor *t;
    const char *names[4] = {"w1", "b1", "w2", "b2"};
    const int64_t shapes[4][2] = {{IN, HID}, {HID, 0}, {HID, 1}, {1, 0}};
    const int nd[4] = {2, 1, 2, 1};
    for (int i = 0; i < 4; i++) {
        h_ok(nl_params_new(&m->p, &t, names[i], nd[i], shapes[i], NL_CPU_DEVICE), names[i]);
        h_ok(nl_fill_normal(t, 0, 0.5, &init), "init");
    }
    const float wt[IN] = {0.5f, -1.0f, 0.25f, 2.0f};
    h_ok(nl_tensor_from_host(&m->wt, NL_F32, 2, (const int64_t[]){IN, 1}, wt, NL_F32, NL_CPU_DEVICE), "wt");
    nl_optim_config cfg = {.kind = kind, .lr = 1e-2, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                           .weight_decay = 0.01, .momentum = 0.9};
    nl_tensor *ps[4];
    for (int i = 0; i < 4; i++) ps[i] = m->p.v[i].t;
    h_ok(nl_optim_new(&m->o, &cfg, 4, ps), "optimizer");
}

static void toy_free(toy *m)
{
    nl_optim_free(m->o);
    nl_params_free(&m->p);
    nl_tensor_release(m->wt);
}

static bool toy_train(toy *m, int steps)
{
    for (int s = 0; s < steps; s++) {
        nl_tensor *x = NULL, *y = NULL, *h1 = NULL, *h2 = NULL, *h3 = NULL, *o1 = NULL, *o2 = NULL, *d = NULL,
                  *sq = NULL, *loss = NULL;
        nl_status st = nl_tensor_empty(&x, NL_F32, 2, (const int64_t[]){B, IN}, NL_CPU_DEVICE);
        if (st == NL_OK) st = nl_fill_uniform(x, -1, 1, &m->rng);
        if (st == NL_OK) st = nl_matmul(&y, x, m->wt, false, false);
        if (st == NL_OK) st = nl_matmul(&h1, x, m->p.v[0].t, false, false);
        if (st == NL_OK) st = nl_add(&h2, h1, m->p.v[1].t);
        if (st == NL_OK) st = nl_tanh(&h3, h2);
        if (st == NL_OK) st = nl_matmul(&o1, h3, m->p.v[2].t, false, false);
        if (st == NL_OK) st = nl_add(&o2, o1, m->p.v[3].t);
        if (st == NL_OK) st = nl_sub(&d, o2, y);
        if (st == NL_OK) st = nl_mul(&sq, d, d);
        if (st == NL_OK) st = nl_mean_all(&loss, sq);
        if (st == NL_OK) st = nl_backward(loss, NULL, false);
        if (st == NL_OK) st = nl_optim_step(m->o);
        nl_optim_zero_grad(m->o);
        nl_tensor *all[] = {x, y, h1, h2, h3, o1, o2, d, sq, loss};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) nl_tensor_release(all[i]);
        if (!h_ok(st, "train step")) return false;
        m->step++;
        m->data_pos += B;
    }
    return true;
}

static nl_ckpt_contents toy_contents(toy *m)
{
    return (nl_ckpt_contents){.params = &m->p, .optim = m->o, .rng = &m->rng, .step = m->step,
                              .data_pos = m->data_pos, .epoch = 3};
}

static bool same_bytes(const nl_tensor *a, const nl_tensor *b)
{
    if (!a || !b) return a == b;
    return nl_tensor_same_shape(a, b) &&
           !memcmp(nl_tensor_host_ptr(a), nl_tensor_host_ptr(b), nl_tensor_nbytes(a));
}

/* Parameters, optimizer state and counters identical, byte for byte. */
static bool toy_equal(const toy *a, const toy *b)
{
    bool ok = a->p.n == b->p.n && nl_optim_steps(a->o) == nl_optim_steps(b->o) &&
              !memcmp(&a->rng, &b->rng, sizeof a->rng);
    for (int i = 0; ok && i < a->p.n; i++) {
        ok = !strcmp(a->p.v[i].name, b->p.v[i].name) && same_bytes(a->p.v[i].t, b->p.v[i].t);
        for (int k = 0; ok && k < nl_optim_state_count(a->o); k++)
            ok = same_bytes(nl_optim_state_tensor(a->o, i, k), nl_optim_state_tensor(b->o, i, k));
    }
    return ok;
}

/* ---- round trip and resume ---- */

static void test_round_trip(void)
{
    toy a, b;
    toy_init(&a, 1, NL_OPTIM_ADAMW);
    toy_init(&b, 2, NL_OPTIM_ADAMW);
    toy_train(&a, 3);
    nl_optim_set_lr(a.o, 3e-3);
    nl_ckpt_contents c = toy_contents(&a);
    c.config_json = "{\"model_type\": \"toy\", \"hidden_size\": 8}\n";
    c.run_json = "{\"lr\": 0.003, \"seed\": 1}";
    c.metrics_json = "{\"loss\":0.5,\"tokens\":18}";
    h_ok(nl_checkpoint_save(at("runs/ck"), &c), "save into a new parent directory");
    h_ok(nl_checkpoint_save(at("ck"), &c), "save");
    h_ok(nl_checkpoint_save(at("ck/"), &c), "save again over it (trailing slash)");
    h_check(count_entries("ck.") == 0, "no temporary or old directories remain after a save");

    nl_ckpt_contents d = {.params = &b.p, .optim = b.o, .rng = &b.rng};
    if (h_ok(nl_checkpoint_load(at("ck"), &d), "load")) {
        b.step = d.step;
        h_check(toy_equal(&a, &b), "weights, moments, optimizer step and rng restored exactly");
        h_check(nl_optim_steps(b.o) == 3 && nl_optim_get_config(b.o)->lr == 3e-3, "optimizer step 3 and lr restored");
        h_check(d.step == 3 && d.data_pos == 3 * B && d.epoch == 3 && !d.recovered, "step, data position, epoch");
        h_check(d.loaded_config_json && !strcmp(d.loaded_config_json, c.config_json), "config.json verbatim");
        h_check(d.loaded_run_json && !strcmp(d.loaded_run_json, c.run_json), "run.json verbatim");
        h_check(d.loaded_metrics_json && !strcmp(d.loaded_metrics_json, c.metrics_json), "metrics restored");
    }
    nl_ckpt_contents_clear(&d);

    /* the directory is also an HF model directory */
    toy e;
    toy_init(&e, 5, NL_OPTIM_ADAMW);
    if (h_ok(nl_params_load(&e.p, at("ck"), NULL, true, NULL), "load the checkpoint dir as a model dir"))
        h_check(same_bytes(e.p.v[0].t, a.p.v[0].t) && same_bytes(e.p.v[3].t, a.p.v[3].t), "same weights");
    toy_free(&e);

    /* loading the weights only (no optimizer, no rng) */
    nl_ckpt_contents w = {.params = &b.p};
    h_ok(nl_checkpoint_load(at("ck"), &w), "load weights only");
    nl_ckpt_contents_clear(&w);

    /* a half-written temporary directory of a crashed save is ignored, then removed */
    h_check(mkdir(at("ck.tmp.Qw3rty"), 0755) == 0 && symlink("nowhere", at("ck.tmp.Qw3rty/state.json")) == 0,
            "a leftover temporary directory");
    h_ok(nl_checkpoint_load(at("ck"), &w), "load next to it");
    nl_ckpt_contents_clear(&w);
    h_ok(nl_checkpoint_save(at("ck"), &c), "the next save");
    h_check(count_entries("ck.") == 0, "removed it");
    toy_free(&a);
    toy_free(&b);
}

static void test_sgd_round_trip(void)
{
    toy a, b;
    toy_init(&a, 3, NL_OPTIM_SGD);
    toy_init(&b, 4, NL_OPTIM_SGD);
    nl_ckpt_contents c = toy_contents(&a);
    h_ok(nl_checkpoint_save(at("sgd"), &c), "save before the first step (no momentum buffers yet)");
    toy_train(&b, 1);
    nl_ckpt_contents d = {.params = &b.p, .optim = b.o, .rng = &b.rng};
    if (h_ok(nl_checkpoint_load(at("sgd"), &d), "load"))
        h_check(nl_optim_state_tensor(b.o, 0, 0) == NULL && toy_equal(&a, &b),
                "momentum buffers are back to never-updated");
    toy_train(&a, 2);
    toy_train(&b, 2);
    h_check(toy_equal(&a, &b), "SGD runs stay identical after the restore");
    c = toy_contents(&a);
    h_ok(nl_checkpoint_save(at("sgd"), &c), "save with momentum buffers");
    toy_train(&b, 1);
    if (h_ok(nl_checkpoint_load(at("sgd"), &d), "load"))
        h_check(toy_equal(&a, &b), "momentum buffers restored exactly");
    toy_free(&a);
    toy_free(&b);
}

static void test_resume_bit_exact(void)
{
    enum { N = 12 };
    toy straight, half;
    toy_init(&straight, 11, NL_OPTIM_ADAMW);
    toy_train(&straight, N);

    toy_init(&half, 11, NL_OPTIM_ADAMW);
    toy_train(&half, N / 2);
    nl_ckpt_contents c = toy_contents(&half);
    h_ok(nl_checkpoint_save(at("resume"), &c), "save at N/2");
    toy_free(&half);

    toy resumed; /* fresh state: other init, other data seed, new optimizer */
    toy_init(&resumed, 99, NL_OPTIM_ADAMW);
    nl_ckpt_contents d = {.params = &resumed.p, .optim = resumed.o, .rng = &resumed.rng};
    if (h_ok(nl_checkpoint_load(at("resume"), &d), "load at N/2")) {
        resumed.step = d.step;
        resumed.data_pos = d.data_pos;
        toy_train(&resumed, N - N / 2);
        h_check(resumed.step == N && resumed.data_pos == straight.data_pos, "counters continue");
        h_check(toy_equal(&straight, &resumed), "N steps straight == N/2 + save + load + N/2, byte for byte");
    }
    toy_free(&straight);
    toy_free(&resumed);
}

/* ---- bad inputs ---- */

static void flip_byte(const char *path, off_t pos)
{
    int fd = open(path, O_RDWR);
    unsigned char b = 0;
    if (pread(fd, &b, 1, pos) == 1) {
        b ^= 0x40;
        if (pwrite(fd, &b, 1, pos) != 1) h_check(false, "flip a byte");
    }
    close(fd);
}

static void replace_in_file(const char *path, const char *from, const char *to)
{
    FILE *f = fopen(path, "rb");
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strstr(buf, from), out[8192];
    if (!h_check(p != NULL, "the file holds the text to replace")) return;
    snprintf(out, sizeof out, "%.*s%s%s", (int)(p - buf), buf, to, p + strlen(from));
    f = fopen(path, "wb");
    fputs(out, f);
    fclose(f);
}

static void test_bad_inputs(void)
{
    toy a, b;
    toy_init(&a, 21, NL_OPTIM_ADAMW);
    toy_init(&b, 22, NL_OPTIM_ADAMW);
    toy_train(&a, 2);
    nl_ckpt_contents c = toy_contents(&a);
    c.run_json = "{\"seed\": 21}";
    nl_ckpt_contents d = {.params = &b.p, .optim = b.o, .rng = &b.rng};
    nl_tensor *w1_before;
    nl_tensor_empty_like(&w1_before, b.p.v[0].t);
    nl_tensor_copy_(w1_before, b.p.v[0].t);

    h_ok(nl_checkpoint_save(at("bad"), &c), "save");
    flip_byte(at("bad/model.safetensors"), 200);
    h_expect_error(nl_checkpoint_load(at("bad"), &d), NL_ERR_FORMAT, "a flipped byte in model.safetensors");
    h_check(msg_has("model.safetensors") && msg_has("corrupt"), "the message names model.safetensors");
    h_check(same_bytes(w1_before, b.p.v[0].t) && nl_optim_steps(b.o) == 0, "a failed load changes nothing");

    h_ok(nl_checkpoint_save(at("bad"), &c), "save");
    unlink(at("bad/optimizer.safetensors"));
    h_expect_error(nl_checkpoint_load(at("bad"), &d), NL_ERR_FORMAT, "optimizer.safetensors deleted");
    h_check(msg_has("optimizer.safetensors") && msg_has("missing"), "the message names optimizer.safetensors");

    h_ok(nl_checkpoint_save(at("bad"), &c), "save");
    h_check(truncate(at("bad/run.json"), 3) == 0, "truncate run.json");
    h_expect_error(nl_checkpoint_load(at("bad"), &d), NL_ERR_FORMAT, "run.json truncated");
    h_check(msg_has("run.json") && msg_has("truncated"), "the message names run.json");

    h_ok(nl_checkpoint_save(at("bad"), &c), "save");
    replace_in_file(at("bad/state.json"), "notellm-checkpoint 1", "notellm-checkpoint 7");
    h_expect_error(nl_checkpoint_load(at("bad"), &d), NL_ERR_FORMAT, "wrong format version");
    h_check(msg_has("notellm-checkpoint 7"), "the message shows the version found");

    h_ok(nl_checkpoint_save(at("bad"), &c), "save");
    replace_in_file(at("bad/state.json"), "\"format\"", "\"formax\"");
    h_expect_error(nl_checkpoint_load(at("bad"), &d), NL_ERR_FORMAT, "no format key");

    h_ok(nl_checkpoint_save(at("bad"), &c), "save");
    replace_in_file(at("bad/state.json"), "{", "[");
    h_expect_error(nl_checkpoint_load(at("bad"), &d), NL_ERR_FORMAT, "state.json is not JSON");

    h_ok(nl_checkpoint_save(at("bad"), &c), "save");
    unlink(at("bad/state.json"));
    h_expect_error(nl_checkpoint_load(at("bad"), &d), NL_ERR_FORMAT, "no state.json");

    h_ok(nl_checkpoint_save(at("bad"), &c), "save");
    nl_ckpt_contents wd = d;
    wd.world_size = 2;
    wd.rank = 1;
    h_expect_error(nl_checkpoint_load(at("bad"), &wd), NL_ERR_FORMAT, "world size / rank mismatch");
    h_check(msg_has("world of 1"), "the message gives both worlds");

    h_expect_error(nl_checkpoint_load(at("nowhere"), &d), NL_ERR_IO, "missing directory");
    h_expect_error(nl_checkpoint_load(at("bad/run.json"), &d), NL_ERR_IO, "a file, not a directory");
    c.metrics_json = "[1,";
    h_expect_error(nl_checkpoint_save(at("bad"), &c), NL_ERR_ARG, "metrics that are not JSON");
    c.metrics_json = NULL;
    c.step = -1;
    h_expect_error(nl_checkpoint_save(at("bad"), &c), NL_ERR_ARG, "negative step");
    c.step = a.step;
    h_expect_error(nl_checkpoint_save("", &c), NL_ERR_ARG, "empty directory name");
    h_ok(nl_checkpoint_load(at("bad"), &d), "the last good checkpoint still loads");
    nl_ckpt_contents_clear(&d);
    nl_tensor_release(w1_before);
    toy_free(&a);
    toy_free(&b);
}

static void test_optim_mismatch(void)
{
    toy a;
    toy_init(&a, 31, NL_OPTIM_ADAMW);
    toy_train(&a, 2);
    nl_ckpt_contents c = toy_contents(&a);
    h_ok(nl_checkpoint_save(at("mm"), &c), "save");

    /* an optimizer over a subset of the parameters (b2 frozen) */
    toy b;
    toy_init(&b, 32, NL_OPTIM_ADAMW);
    nl_optim *sub;
    nl_optim_config cfg = *nl_optim_get_config(b.o);
    nl_tensor *ps[3] = {b.p.v[0].t, b.p.v[1].t, b.p.v[2].t};
    h_ok(nl_optim_new(&sub, &cfg, 3, ps), "optimizer over 3 parameters");
    nl_ckpt_contents d = {.params = &b.p, .optim = sub};
    h_expect_error(nl_checkpoint_load(at("mm"), &d), NL_ERR_FORMAT, "optimizer parameter set differs");
    h_check(msg_has("b2"), "the message names parameter b2");
    nl_optim_free(sub);

    /* same parameters in another order */
    nl_tensor *rev[4] = {b.p.v[3].t, b.p.v[2].t, b.p.v[1].t, b.p.v[0].t};
    h_ok(nl_optim_new(&sub, &cfg, 4, rev), "reordered optimizer");
    d.optim = sub;
    h_expect_error(nl_checkpoint_load(at("mm"), &d), NL_ERR_FORMAT, "optimizer parameters in another order");
    h_check(msg_has("b2") && msg_has("w1"), "the message names both parameters");
    nl_optim_free(sub);

    /* other hyper-parameters or kind */
    cfg.beta2 = 0.99;
    nl_tensor *all[4] = {b.p.v[0].t, b.p.v[1].t, b.p.v[2].t, b.p.v[3].t};
    h_ok(nl_optim_new(&sub, &cfg, 4, all), "optimizer with beta2 0.99");
    d.optim = sub;
    h_expect_error(nl_checkpoint_load(at("mm"), &d), NL_ERR_FORMAT, "beta2 differs");
    h_check(msg_has("beta2"), "the message names beta2");
    nl_optim_free(sub);
    cfg.kind = NL_OPTIM_SGD;
    h_ok(nl_optim_new(&sub, &cfg, 4, all), "sgd optimizer");
    d.optim = sub;
    h_expect_error(nl_checkpoint_load(at("mm"), &d), NL_ERR_FORMAT, "AdamW state into SGD");
    h_check(msg_has("adamw"), "the message names the kinds");
    nl_optim_free(sub);
    toy_free(&b);

    /* a model whose parameter has another shape or name */
    nl_params q = {0};
    nl_params_new(&q, NULL, "w1", 2, (const int64_t[]){IN, HID + 1}, NL_CPU_DEVICE);
    nl_params_new(&q, NULL, "b1", 1, (const int64_t[]){HID}, NL_CPU_DEVICE);
    nl_params_new(&q, NULL, "w2", 2, (const int64_t[]){HID, 1}, NL_CPU_DEVICE);
    nl_params_new(&q, NULL, "b3", 1, (const int64_t[]){1}, NL_CPU_DEVICE);
    nl_ckpt_contents e = {.params = &q};
    h_expect_error(nl_checkpoint_load(at("mm"), &e), NL_ERR_FORMAT, "parameter shape differs");
    h_check(msg_has("w1"), "the message names w1");
    nl_params_free(&q);

    /* an optimizer holding a tensor that is not in params */
    nl_tensor *stray;
    nl_tensor_zeros(&stray, NL_F32, 1, (const int64_t[]){2}, NL_CPU_DEVICE);
    stray->requires_grad = true;
    nl_tensor *with_stray[2] = {a.p.v[0].t, stray};
    h_ok(nl_optim_new(&sub, nl_optim_get_config(a.o), 2, with_stray), "optimizer with a foreign tensor");
    c.optim = sub;
    h_expect_error(nl_checkpoint_save(at("mm"), &c), NL_ERR_ARG, "optimizer parameter not in params");
    h_check(count_entries("mm.") == 0, "the failed save left no temporary directory");
    nl_optim_free(sub);
    nl_tensor_release(stray);
    toy_free(&a);
}

/* ---- crashes, disk full, interrupted swaps ---- */

typedef struct big {
    nl_params p;
    nl_tensor *w, *mark;
} big;

enum { BIG_ROWS = 4096, BIG_COLS = 2048 }; /* 32 MiB of f32 */

static void big_init(big *m)
{
    m->p = (nl_params){0};
    h_ok(nl_params_new(&m->p, &m->w, "big.weight", 2, (const int64_t[]){BIG_ROWS, BIG_COLS}, NL_CPU_DEVICE), "big");
    h_ok(nl_params_new(&m->p, &m->mark, "marker", 1, (const int64_t[]){1}, NL_CPU_DEVICE), "marker");
}

static void big_set(big *m, int v)
{
    nl_tensor_fill_(m->w, v);
    nl_tensor_fill_(m->mark, v);
}

/* Load DIR into m and check it is one whole checkpoint: every value and the
 * step equal the same marker. Returns the marker, or -1. */
static int big_load(big *m, const char *dir, bool *recovered)
{
    big_set(m, -5);
    nl_ckpt_contents c = {.params = &m->p};
    if (!h_ok(nl_checkpoint_load(dir, &c), "load after the crash")) return -1;
    if (recovered) *recovered = c.recovered;
    const float *w = nl_tensor_host_ptr(m->w), *k = nl_tensor_host_ptr(m->mark);
    int64_t n = nl_tensor_numel(m->w);
    bool uniform = true;
    for (int64_t i = 0; i < n && uniform; i++) uniform = w[i] == k[0];
    nl_ckpt_contents_clear(&c);
    if (!h_check(uniform && k[0] == (float)c.step, "one whole checkpoint (marker %g, step %lld)", k[0], (long long)c.step))
        return -1;
    return (int)c.step;
}

static nl_status big_save(big *m, int v)
{
    big_set(m, v);
    nl_ckpt_contents c = {.params = &m->p, .step = v, .run_json = "{}"};
    return nl_checkpoint_save(at("big"), &c);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void test_kill_during_save(void)
{
    big m;
    big_init(&m);
    h_ok(big_save(&m, 1), "first save");
    int prev = 1, newer = 0, older = 0;
    double full = 0;
    /* kill points as fractions of how long a child's save took (the first
     * child is not killed: it measures that) */
    const double frac[] = {-1, 0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.1, 1.5, 2.0};
    for (size_t i = 0; i < sizeof frac / sizeof *frac; i++) {
        int v = 10 + (int)i;
        fflush(stdout);
        double t0 = now();
        pid_t pid = fork();
        if (pid == 0) {
            alarm(30);
            _exit(big_save(&m, v) == NL_OK ? 0 : 3);
        }
        if (frac[i] >= 0) {
            usleep((useconds_t)(frac[i] * full * 1e6));
            kill(pid, SIGKILL);
        }
        int ws;
        waitpid(pid, &ws, 0);
        if (frac[i] < 0) full = now() - t0;
        int got = big_load(&m, at("big"), NULL);
        if (frac[i] >= 0)
            h_check(got == prev || got == v, "kill -9 after %.0f ms: got the old (%d) or the new (%d) checkpoint: %d",
                    frac[i] * full * 1e3, prev, v, got);
        else
            h_check(got == v, "an uninterrupted save: %d", got);
        if (got == v) newer++;
        else older++;
        if (got > 0) prev = got;
    }
    h_check(newer > 0 && older > 0, "kills before and after the swap (%d old, %d new; a save takes %.0f ms)",
            older, newer, full * 1e3);
    h_ok(big_save(&m, 50), "a save after the crashes");
    h_check(count_entries("big.") == 0, "it removed every leftover temporary directory");
    h_check(big_load(&m, at("big"), NULL) == 50, "and is the one loaded");

    /* disk full: the file size limit makes a write fail with EFBIG */
    pid_t pid = fork();
    if (pid == 0) {
        alarm(30);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {8 << 20, 8 << 20};
        setrlimit(RLIMIT_FSIZE, &rl);
        nl_status st = big_save(&m, 51);
        _exit(st == NL_ERR_IO && strstr(nl_last_error(), "big") ? 0 : 4);
    }
    int ws;
    waitpid(pid, &ws, 0);
    h_check(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "disk full: the save fails with an io-error");
    h_check(count_entries("big.") == 0, "disk full: no temporary directory left");
    h_check(big_load(&m, at("big"), NULL) == 50, "disk full: the previous checkpoint is intact");

    /* a crash between the two renames: DIR is missing, DIR.old.* is complete */
    h_check(rename(at("big"), at("big.old.AbC123")) == 0, "simulate an interrupted swap");
    mkdir(at("big.tmp.XyZ789"), 0755); /* and an unfinished new one */
    bool rec = false;
    h_check(big_load(&m, at("big"), &rec) == 50 && rec, "the loader finds the old checkpoint and says so");
    h_ok(big_save(&m, 52), "the next save");
    h_check(count_entries("big.") == 0 && big_load(&m, at("big"), &rec) == 52 && !rec, "cleans up and replaces it");
    nl_params_free(&m.p);
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    return remove(path);
}

/* nl_ensure_dir creates missing parents (run directories such as
 * out/runs/NAME) and says so when a plain file is in the way. */
static void test_ensure_dir(void)
{
    struct stat st;
    h_check(nl_ensure_dir(at("p/q//r/")) == NL_OK && stat(at("p/q/r"), &st) == 0 && S_ISDIR(st.st_mode),
            "nested directories are created");
    h_check(nl_ensure_dir(at("p/q/r")) == NL_OK, "an existing directory is fine");
    FILE *f = fopen(at("p/file"), "w");
    if (f) fclose(f);
    h_check(nl_ensure_dir(at("p/file/sub")) == NL_ERR_IO && msg_has("p/file/sub") && msg_has("in the way"),
            "a file in the path is an I/O error naming the path");
}

int main(void)
{
    h_init("checkpoint");
    snprintf(root, sizeof root, "/tmp/nl_ckpt_XXXXXX");
    if (!mkdtemp(root)) return 1;
    test_round_trip();
    test_sgd_round_trip();
    test_resume_bit_exact();
    test_bad_inputs();
    test_optim_mismatch();
    test_kill_during_save();
    test_ensure_dir();
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return h_finish();
}
