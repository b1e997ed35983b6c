/* backend.c — the CPU backend: host memory through the accounting allocator,
 * memcpy transfers, and the kernel table filled by each family. */
#include <string.h>

#include "../../runtime/alloc.h"
#include "kernels.h"

static nl_status cpu_alloc(int index, size_t nbytes, void **out)
{
    (void)index;
    return nl_host_alloc(nbytes, out);
}

static void cpu_free(int index, void *p, size_t nbytes)
{
    (void)index;
    nl_host_free(p, nbytes);
}

static nl_status cpu_copy(int index, void *dst, const void *src, size_t nbytes)
{
    (void)index;
    if (nbytes) memmove(dst, src, nbytes);
    return NL_OK;
}

static nl_backend cpu = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .copy_h2d = cpu_copy,
    .copy_d2h = cpu_copy,
    .copy_d2d = cpu_copy,
    .synchronize = NULL,
};

static void init_table(void)
{
    nl_cpu_register_copy(cpu.kernels);
    nl_cpu_register_elementwise(cpu.kernels);
    nl_cpu_register_reduce(cpu.kernels);
    nl_cpu_register_optim(cpu.kernels);
    nl_cpu_register_matmul(cpu.kernels);
    nl_cpu_register_softmax(cpu.kernels);
    nl_cpu_register_index(cpu.kernels);
    nl_cpu_register_norm(cpu.kernels);
    nl_cpu_register_loss(cpu.kernels);
    nl_cpu_register_attention(cpu.kernels);
}

const nl_backend *nl_cpu_backend(void)
{
    static int done;
    if (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        static int lock;
        while (__atomic_exchange_n(&lock, 1, __ATOMIC_ACQUIRE)) ;
        if (!done) { init_table(); __atomic_store_n(&done, 1, __ATOMIC_RELEASE); }
        __atomic_store_n(&lock, 0, __ATOMIC_RELEASE);
    }
    return &cpu;
}
