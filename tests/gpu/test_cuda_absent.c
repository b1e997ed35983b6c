/* test_cuda_absent.c — CUDA in `make check`, on machines with or without a
 * GPU: CPU work never maps the CUDA libraries or the notellm-cuda module;
 * without a usable GPU every cuda:N use fails with a clean, cached
 * NL_ERR_DEVICE whose message mentions CUDA (never a crash); with a GPU, a
 * host -> device -> host round trip works. A child process checks that a
 * missing module (NOTELLM_CUDA_MODULE) is a device error too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "harness.h"

/* 1 when /proc/self/maps names a file containing `needle`. */
static int mapped(const char *needle)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return -1;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

static int has(const char *msg, const char *what) { return strstr(msg, what) != NULL; }

/* Child: with the module path pointing nowhere, cuda:0 must be a device error. */
static int missing_module_child(void)
{
    setenv("NOTELLM_CUDA_MODULE", "/nonexistent/notellm-cuda.so", 1);
    nl_tensor *t = NULL;
    int64_t shape[1] = {4};
    nl_status st = nl_tensor_zeros(&t, NL_F32, 1, shape, (nl_device){NL_DEV_CUDA, 0});
    const char *msg = nl_last_error();
    printf("     missing module: %s\n", msg);
    fflush(stdout);
    return st == NL_ERR_DEVICE && has(msg, "CUDA") && has(msg, "NOTELLM_CUDA_MODULE") && nl_cuda_device_count() == 0
               ? 0 : 1;
}

static void check_missing_module(void)
{
#ifdef HAVE_CUDA
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) _exit(missing_module_child());
    int status = 0;
    bool ok = pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    h_check(ok, "a missing CUDA module is a clean device error (child status %d)", status);
#endif
}

/* Matmul, elementwise ops, views and backward on the CPU only. */
static void cpu_workload(void)
{
    int64_t sa[2] = {5, 7}, sb[2] = {7, 3};
    nl_tensor *a = h_rand(2, sa, -1, 1, false), *b = h_rand(2, sb, -1, 1, true);
    nl_tensor *c = NULL, *d = NULL, *e = NULL;
    a->requires_grad = true;
    bool ok = h_ok(nl_matmul(&c, a, b, false, false), "cpu matmul") && h_ok(nl_gelu(&d, c), "cpu gelu") &&
              h_ok(nl_add(&e, d, c), "cpu add") && h_ok(nl_backward(e, c, false), "cpu backward");
    h_check(ok && a->grad && nl_tensor_device(a->grad).type == NL_DEV_CPU, "CPU workload ran on the CPU");
    nl_tensor_release(e);
    nl_tensor_release(d);
    nl_tensor_release(c);
    nl_tensor_release(b);
    nl_tensor_release(a);
}

/* No usable GPU: every way to reach cuda:0 gives the same device error. */
static void check_no_gpu(nl_device gpu)
{
    int64_t shape[2] = {2, 3};
    nl_tensor *t = NULL, *h = h_rand(2, shape, -1, 1, false), *g = NULL;
    nl_status st = nl_tensor_zeros(&t, NL_F32, 2, shape, gpu);
    char first[1024];
    snprintf(first, sizeof first, "%s", nl_last_error());
    printf("     cuda:0 -> %s: %s\n", nl_status_name(st), first);
    h_check(st == NL_ERR_DEVICE && t == NULL, "zeros on cuda:0 is a device error");
    h_check(has(first, "CUDA"), "the message mentions CUDA");
#ifdef HAVE_CUDA
    h_check(has(first, "no CUDA device found") || has(first, "cannot load the CUDA backend module"),
            "the message says why (no device or no module)");
    h_check(mapped("notellm-cuda") == 1, "the loader found the module in the build tree");
#else
    h_check(has(first, "built without CUDA"), "the message says notellm was built without CUDA");
#endif
    st = nl_to(&g, h, NL_F32, gpu);
    h_check(st == NL_ERR_DEVICE && strcmp(nl_last_error(), first) == 0, "tensor-to cuda:0: the same cached error");
    st = nl_device_synchronize((nl_device){NL_DEV_CUDA, 3});
    h_check(st == NL_ERR_DEVICE, "synchronize cuda:3 is a device error");
    h_check(nl_cuda_device_count() == 0, "nl_cuda_device_count() is 0");
    nl_tensor_release(h);
}

/* A GPU is present: a round trip keeps the values. */
static void check_gpu(nl_device gpu)
{
    int64_t shape[2] = {3, 4};
    nl_tensor *h = h_rand(2, shape, -1, 1, true), *g = NULL;
    if (!h_ok(nl_to(&g, h, NL_F32, gpu), "to cuda:0")) { nl_tensor_release(h); return; }
    double *ref = h_values(h);
    h_close("cpu -> cuda:0 -> cpu round trip", g, ref, 0, 0);
    free(ref);
    nl_tensor_release(g);
    nl_tensor_release(h);
}

int main(void)
{
    check_missing_module(); /* before any thread exists: it forks */
    h_init("cuda-absent");
    cpu_workload();
    h_check(mapped("libcudart") == 0 && mapped("libcublas") == 0 && mapped("notellm-cuda") == 0,
            "CPU work maps no CUDA library and no CUDA module");
    nl_device gpu;
    h_ok(nl_device_parse("cuda:0", &gpu), "parse cuda:0");
    int n = nl_cuda_device_count();
    printf("     CUDA devices: %d\n", n);
    if (n == 0) check_no_gpu(gpu);
    else check_gpu(gpu);
    return h_finish();
}
