/* loader.c — libnotellm's side of the CUDA backend (built with CUDA only):
 * dlopen()s the notellm-cuda module the first time a cuda:N device is used,
 * asks it for its backend and device count, and caches the outcome, success
 * or failure. Plain C without CUDA headers: a CPU-only process never maps
 * the CUDA libraries. Module path: $NOTELLM_CUDA_MODULE, else the build
 * tree when this library runs from it (tests), else $(pkglibdir). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../runtime/device.h"
#include "kernels/cuda/module-paths.h" /* generated: NL_CUDA_MODULE_BUILDDIR, NL_CUDA_MODULE_INSTALLED */
#include "module.h"

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static const nl_backend *loaded_backend;
static int loaded_count;
static char load_error[PATH_MAX + 1024]; /* empty after a successful load */

/* True when this copy of libnotellm is the uninstalled one in the build tree. */
static int running_from_build_tree(void)
{
    Dl_info info;
    char self[PATH_MAX], builddir[PATH_MAX];
    if (!dladdr((void *)&running_from_build_tree, &info) || !info.dli_fname) return 0;
    if (!realpath(info.dli_fname, self) || !realpath(NL_CUDA_MODULE_BUILDDIR, builddir)) return 0;
    char *slash = strrchr(self, '/');
    if (!slash) return 0;
    *slash = '\0';
    return strcmp(self, builddir) == 0;
}

static void module_path(char *buf, size_t n)
{
    const char *env = getenv("NOTELLM_CUDA_MODULE");
    if (env && *env) snprintf(buf, n, "%s", env);
    else if (running_from_build_tree()) snprintf(buf, n, "%s/%s", NL_CUDA_MODULE_BUILDDIR, NL_CUDA_MODULE_FILE);
    else snprintf(buf, n, "%s", NL_CUDA_MODULE_INSTALLED);
}

static void load(void)
{
    char path[PATH_MAX + 64];
    module_path(path, sizeof path);
    /* The module stays loaded even when it finds no GPU: the CUDA
     * libraries do not support being unloaded. */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(load_error, sizeof load_error,
                 "cannot load the CUDA backend module: %s HINT: set NOTELLM_CUDA_MODULE to the path of %s",
                 dlerror(), NL_CUDA_MODULE_FILE);
        return;
    }
    nl_cuda_module_init_fn init;
    void *sym = dlsym(h, NL_CUDA_MODULE_INIT);
    if (!sym) {
        snprintf(load_error, sizeof load_error, "%s is not a notellm CUDA module (no %s) HINT: reinstall notellm",
                 path, NL_CUDA_MODULE_INIT);
        dlclose(h);
        return;
    }
    memcpy(&init, &sym, sizeof init);
    const nl_backend *b = NULL;
    int count = 0;
    if (init(NL_CUDA_MODULE_ABI, &b, &count) != NL_OK || !b || count < 1) {
        snprintf(load_error, sizeof load_error, "%s", nl_last_error());
        return;
    }
    loaded_backend = b;
    loaded_count = count;
}

nl_status nl_cuda_backend_load(const nl_backend **out)
{
    pthread_once(&load_once, load);
    *out = loaded_backend;
    if (loaded_backend) return NL_OK;
    return nl_error_set(NL_ERR_DEVICE, "%s", load_error);
}

int nl_cuda_backend_device_count(void)
{
    pthread_once(&load_once, load);
    return loaded_count;
}
