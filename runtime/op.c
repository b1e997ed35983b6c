/* op.c — op metadata from ops.def and kernel dispatch by device. */
#include "op.h"

#include <string.h>

#include "device.h"
#include "profile.h"
#include "tensor.h"

static const nl_op_info infos[NL_OP_COUNT] = {
#define NL_OP(e, name, kind, tol) [NL_OP_##e] = {name, kind, tol},
#include "ops.def"
#undef NL_OP
};

_Static_assert(sizeof infos / sizeof infos[0] == NL_OP_COUNT, "op table size");

const nl_op_info *nl_op_get_info(nl_op op) { return (unsigned)op < NL_OP_COUNT ? &infos[op] : NULL; }

int nl_op_from_name(const char *name, nl_op *out)
{
    for (int i = 0; i < NL_OP_COUNT; i++)
        if (strcmp(infos[i].name, name) == 0) { *out = (nl_op)i; return 0; }
    return -1;
}

nl_status nl_dispatch(const nl_op_args *a)
{
    const char *name = infos[a->op].name;
    const nl_tensor *first = a->n_out > 0 ? a->out[0] : NULL;
    for (int i = 0; !first && i < a->n_in; i++) first = a->in[i];
    if (!first) return nl_error_set(NL_ERR_ARG, "%s: no tensors", name);
    nl_device dev = nl_tensor_device(first);
    for (int i = 0; i < a->n_in + a->n_out; i++) {
        const nl_tensor *t = i < a->n_in ? a->in[i] : a->out[i - a->n_in];
        if (t && !nl_device_equal(nl_tensor_device(t), dev)) {
            char d0[16], d1[16];
            nl_device_name(dev, d0, sizeof d0);
            nl_device_name(nl_tensor_device(t), d1, sizeof d1);
            return nl_error_set(NL_ERR_DEVICE, "%s: tensors on different devices (%s and %s)"
                                " HINT: move them with tensor-to", name, d0, d1);
        }
    }
    const nl_backend *b;
    nl_status st = nl_device_backend(dev, &b);
    if (st != NL_OK) return nl_error_prefix(st, name);
    if (!b->kernels[a->op]) {
        char d[16];
        nl_device_name(dev, d, sizeof d);
        return nl_error_set(NL_ERR_DEVICE, "%s: not supported on %s HINT: move the tensors to cpu", name, d);
    }
    if (nl_profile_enabled()) {
        double t0 = nl_profile_now();
        st = b->kernels[a->op](a);
        nl_profile_add(a->op, nl_profile_now() - t0);
    } else {
        st = b->kernels[a->op](a);
    }
    if (st != NL_OK) return nl_error_prefix(st, name);
    return NL_OK;
}
