/* fake_cuda.c — a stand-in for the notellm-cuda module, for machines without
 * a GPU: "cuda:0" memory is host memory and each kernel is the CPU kernel run
 * on CPU-device aliases of the tensors. Loaded through NOTELLM_CUDA_MODULE
 * by tests/gpu/fake-conformance.sh, it exercises the loader, the conformance
 * suite and every front-end and backward path with tensors that are not on
 * the CPU (a host pointer taken from a cuda tensor is NULL here as on a GPU).
 * It offers the ops kernels/cuda registers; keep the two lists equal. */
#include <string.h>

#include "../../kernels/cuda/module.h"
#include "nl.h"

static const nl_op cuda_ops[] = {
    NL_OP_COPY, NL_OP_FILL, NL_OP_ADD, NL_OP_SUB, NL_OP_MUL, NL_OP_DIV, NL_OP_SCALE, NL_OP_EXP, NL_OP_LOG,
    NL_OP_SQRT, NL_OP_RSQRT, NL_OP_TANH, NL_OP_SIGMOID, NL_OP_RELU, NL_OP_SILU, NL_OP_GELU, NL_OP_GELU_TANH,
    NL_OP_QUICK_GELU, NL_OP_UNARY_BWD, NL_OP_SWIGLU, NL_OP_SWIGLU_BWD, NL_OP_SUM_TO, NL_OP_MATMUL,
};

#define FAKE_MAX_IN 16

static nl_status fake_alloc(int index, size_t nbytes, void **out)
{
    (void)index;
    return nl_host_alloc(nbytes, out);
}

static void fake_free(int index, void *p, size_t nbytes)
{
    (void)index;
    nl_host_free(p, nbytes);
}

static nl_status fake_copy(int index, void *dst, const void *src, size_t nbytes)
{
    (void)index;
    if (nbytes) memmove(dst, src, nbytes);
    return NL_OK;
}

/* *dst: t seen as a CPU tensor over the same memory (no grad, no history). */
static nl_tensor *alias(nl_tensor *dst, nl_storage *st, const nl_tensor *t)
{
    if (!t) return NULL;
    *st = *t->storage;
    st->device = NL_CPU_DEVICE;
    *dst = *t;
    dst->storage = st;
    dst->grad = NULL;
    dst->node = NULL;
    return dst;
}

static nl_status fake_kernel(const nl_op_args *a)
{
    nl_tensor ti[FAKE_MAX_IN], to[NL_OP_MAX_OUT], *ins[FAKE_MAX_IN];
    nl_storage si[FAKE_MAX_IN], so[NL_OP_MAX_OUT];
    if (a->n_in > FAKE_MAX_IN) return nl_error_set(NL_ERR_ARG, "fake cuda: more than %d inputs", FAKE_MAX_IN);
    nl_op_args c = *a;
    for (int i = 0; i < a->n_in; i++) ins[i] = alias(&ti[i], &si[i], a->in[i]);
    for (int i = 0; i < a->n_out; i++) c.out[i] = alias(&to[i], &so[i], a->out[i]);
    c.in = ins;
    return nl_cpu_backend()->kernels[a->op](&c);
}

static nl_backend fake = {
    .name = "fake-cuda",
    .alloc = fake_alloc,
    .free = fake_free,
    .copy_h2d = fake_copy,
    .copy_d2h = fake_copy,
    .copy_d2d = fake_copy,
};

nl_status nl_cuda_module_init(int abi, const nl_backend **out, int *device_count);

nl_status nl_cuda_module_init(int abi, const nl_backend **out, int *device_count)
{
    if (abi != NL_CUDA_MODULE_ABI) return nl_error_set(NL_ERR_DEVICE, "fake cuda: ABI %d, expected %d", abi, NL_CUDA_MODULE_ABI);
    const nl_backend *cpu = nl_cpu_backend();
    for (size_t k = 0; k < sizeof cuda_ops / sizeof *cuda_ops; k++)
        if (cpu->kernels[cuda_ops[k]]) fake.kernels[cuda_ops[k]] = fake_kernel;
    *out = &fake;
    *device_count = 1;
    return NL_OK;
}
