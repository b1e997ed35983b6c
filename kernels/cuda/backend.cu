/* backend.cu — the notellm-cuda module's entry point and its nl_backend:
 * device memory through a caching allocator (exact-size free lists per
 * device, emptied and retried once when cudaMalloc runs out), copies,
 * synchronisation, cuBLAS handles and error mapping. Loaded by
 * kernels/cuda/loader.c; must not depend on op front-ends or autograd. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_backend.h"
#include "module.h"

/* ---- errors ---------------------------------------------------------------- */

/* "kernels/cuda/x.cu" out of whatever path nvcc was given. */
static const char *short_file(const char *file)
{
    const char *k = strstr(file, "kernels/cuda/");
    return k ? k : file;
}

nl_status nl_cu_fail(cudaError_t e, const char *file, int line, const char *expr)
{
    cudaGetLastError(); /* clear a non-sticky error so the next call starts clean */
    return nl_error_set(NL_ERR_CUDA, "CUDA error at %s:%d in %s: %s (%s)", short_file(file), line, expr,
                        cudaGetErrorString(e), cudaGetErrorName(e));
}

nl_status nl_cublas_fail(cublasStatus_t s, const char *file, int line, const char *expr)
{
    return nl_error_set(NL_ERR_CUDA, "cuBLAS error at %s:%d in %s: %s (%s)", short_file(file), line, expr,
                        cublasGetStatusString(s), cublasGetStatusName(s));
}

/* ---- devices and cuBLAS handles ---------------------------------------------- */

static int device_count;
static pthread_mutex_t blas_lock = PTHREAD_MUTEX_INITIALIZER;
static cublasHandle_t blas[NL_CU_MAX_DEVICES];

nl_status nl_cu_set_device(int index)
{
    if (index < 0 || index >= device_count)
        return nl_error_set(NL_ERR_DEVICE, "cuda:%d does not exist (%d CUDA devices found)", index, device_count);
    NL_CU_CHECK(cudaSetDevice(index));
    return NL_OK;
}

nl_status nl_cu_blas(int index, cublasHandle_t *out)
{
    NL_TRY(nl_cu_set_device(index));
    pthread_mutex_lock(&blas_lock);
    cublasStatus_t s = CUBLAS_STATUS_SUCCESS;
    if (!blas[index]) s = cublasCreate(&blas[index]);
    *out = blas[index];
    pthread_mutex_unlock(&blas_lock);
    NL_CUBLAS_CHECK(s);
    return NL_OK;
}

/* ---- caching allocator ------------------------------------------------------ */

typedef struct block {
    void *p;
    size_t n;
    struct block *next;
} block;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static block *pool[NL_CU_MAX_DEVICES]; /* free blocks, any size */

/* Sizes are rounded to 512 bytes so that similar requests share blocks. */
static size_t rounded(size_t nbytes) { return nbytes == 0 ? 512 : (nbytes + 511) & ~(size_t)511; }

static void *pool_take(int index, size_t n)
{
    void *p = NULL;
    pthread_mutex_lock(&pool_lock);
    for (block **b = &pool[index]; *b; b = &(*b)->next) {
        if ((*b)->n != n) continue;
        block *hit = *b;
        *b = hit->next;
        p = hit->p;
        free(hit);
        break;
    }
    pthread_mutex_unlock(&pool_lock);
    return p;
}

/* Return every cached block of a device to the driver; the bytes released. */
static size_t pool_release(int index)
{
    pthread_mutex_lock(&pool_lock);
    block *b = pool[index];
    pool[index] = NULL;
    pthread_mutex_unlock(&pool_lock);
    size_t bytes = 0;
    while (b) {
        block *next = b->next;
        cudaFree(b->p);
        bytes += b->n;
        free(b);
        b = next;
    }
    return bytes;
}

static nl_status cu_alloc(int index, size_t nbytes, void **out)
{
    size_t n = rounded(nbytes);
    if (n < nbytes) return nl_error_set(NL_ERR_OOM, "cuda:%d: allocation of %zu bytes overflows", index, nbytes);
    NL_TRY(nl_cu_set_device(index));
    if ((*out = pool_take(index, n))) return NL_OK;
    cudaError_t e = cudaMalloc(out, n);
    size_t released = 0;
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        released = pool_release(index);
        e = cudaMalloc(out, n);
    }
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        return nl_error_set(NL_ERR_OOM,
                            "cuda:%d: out of device memory allocating %zu bytes (%zu MiB free of %zu MiB after "
                            "releasing %zu MiB of cached blocks) HINT: free tensors or use smaller batches",
                            index, nbytes, free_b >> 20, total_b >> 20, released >> 20);
    }
    NL_CU_CHECK(e);
    return NL_OK;
}

/* May run on a Guile finalizer thread: no CUDA call, the block goes back to
 * the pool (kernels on the legacy default stream keep their order). */
static void cu_free(int index, void *p, size_t nbytes)
{
    if (!p || index < 0 || index >= device_count) return;
    block *b = (block *)malloc(sizeof *b);
    if (!b) {
        if (cudaSetDevice(index) == cudaSuccess) cudaFree(p);
        return;
    }
    b->p = p;
    b->n = rounded(nbytes);
    pthread_mutex_lock(&pool_lock);
    b->next = pool[index];
    pool[index] = b;
    pthread_mutex_unlock(&pool_lock);
}

/* ---- copies and synchronisation ------------------------------------------------ */

static nl_status cu_memcpy(int index, void *dst, const void *src, size_t nbytes, cudaMemcpyKind kind)
{
    if (nbytes == 0) return NL_OK;
    NL_TRY(nl_cu_set_device(index));
    NL_CU_CHECK(cudaMemcpy(dst, src, nbytes, kind));
    return NL_OK;
}

static nl_status cu_h2d(int index, void *dst, const void *src, size_t nbytes)
{
    return cu_memcpy(index, dst, src, nbytes, cudaMemcpyHostToDevice);
}

static nl_status cu_d2h(int index, void *dst, const void *src, size_t nbytes)
{
    return cu_memcpy(index, dst, src, nbytes, cudaMemcpyDeviceToHost);
}

static nl_status cu_d2d(int index, void *dst, const void *src, size_t nbytes)
{
    return cu_memcpy(index, dst, src, nbytes, cudaMemcpyDeviceToDevice);
}

static nl_status cu_synchronize(int index)
{
    NL_TRY(nl_cu_set_device(index));
    NL_CU_CHECK(cudaDeviceSynchronize());
    return NL_OK;
}

/* ---- layouts ------------------------------------------------------------------ */

nl_cu_layout nl_cu_layout_of(const nl_tensor *t)
{
    nl_cu_layout l;
    memset(&l, 0, sizeof l);
    l.ndim = t->ndim;
    l.contiguous = nl_tensor_is_contiguous(t);
    for (int d = 0; d < t->ndim; d++) {
        l.shape[d] = t->shape[d];
        l.strides[d] = t->strides[d];
    }
    return l;
}

nl_cu_layout nl_cu_layout_bcast(const nl_tensor *t, const nl_tensor *out)
{
    nl_cu_layout l;
    memset(&l, 0, sizeof l);
    l.ndim = out->ndim;
    l.contiguous = nl_tensor_is_contiguous(t) && nl_tensor_same_shape(t, out);
    int lead = out->ndim - t->ndim;
    for (int d = 0; d < out->ndim; d++) {
        int td = d - lead;
        l.shape[d] = out->shape[d];
        l.strides[d] = (td < 0 || t->shape[td] == 1) ? 0 : t->strides[td];
    }
    return l;
}

/* ---- the module entry point ---------------------------------------------------- */

static nl_backend cuda_backend;

extern "C" __attribute__((visibility("default"))) nl_status nl_cuda_module_init(int abi, const nl_backend **out,
                                                                               int *count)
{
    if (abi != NL_CUDA_MODULE_ABI)
        return nl_error_set(NL_ERR_DEVICE, "the CUDA backend module has ABI %d but libnotellm expects %d"
                                           " HINT: rebuild and reinstall notellm so that both match",
                            NL_CUDA_MODULE_ABI, abi);
    int n = 0; /* left untouched by cudaGetDeviceCount on error */
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return nl_error_set(NL_ERR_DEVICE, "no CUDA device found (cudaGetDeviceCount: %s)"
                                           " HINT: use cpu, or check the NVIDIA driver and CUDA_VISIBLE_DEVICES",
                            cudaGetErrorString(e));
    }
    if (n < 1)
        return nl_error_set(NL_ERR_DEVICE, "no CUDA device found (cudaGetDeviceCount reports 0 devices)"
                                           " HINT: use cpu, or check CUDA_VISIBLE_DEVICES");
    device_count = n < NL_CU_MAX_DEVICES ? n : NL_CU_MAX_DEVICES;
    cuda_backend.name = "cuda";
    cuda_backend.alloc = cu_alloc;
    cuda_backend.free = cu_free;
    cuda_backend.copy_h2d = cu_h2d;
    cuda_backend.copy_d2h = cu_d2h;
    cuda_backend.copy_d2d = cu_d2d;
    cuda_backend.synchronize = cu_synchronize;
    nl_cu_register_copy(cuda_backend.kernels);
    nl_cu_register_elementwise(cuda_backend.kernels);
    nl_cu_register_reduce(cuda_backend.kernels);
    nl_cu_register_matmul(cuda_backend.kernels);
    *out = &cuda_backend;
    *count = device_count;
    return NL_OK;
}
