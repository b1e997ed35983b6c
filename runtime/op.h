/* op.h — the op enum generated from ops.def, kernel call arguments, and the
 * dispatch entry that front-ends use. Kernels see only nl_op_args. */
#ifndef NL_OP_H
#define NL_OP_H

#include <stdint.h>

#include "error.h"

typedef enum { NL_KIND_VIEW, NL_KIND_FWD, NL_KIND_NOGRAD, NL_KIND_BWD } nl_op_kind;
typedef enum { NL_TOL_EXACT, NL_TOL_ELEM, NL_TOL_REDUCE, NL_TOL_GEMM } nl_tol_class;

typedef enum nl_op {
#define NL_OP(e, name, kind, tol) NL_OP_##e,
#include "ops.def"
#undef NL_OP
    NL_OP_COUNT
} nl_op;

typedef struct nl_op_info {
    const char *name;
    nl_op_kind kind;
    nl_tol_class tol;
} nl_op_info;

const nl_op_info *nl_op_get_info(nl_op op);
int nl_op_from_name(const char *name, nl_op *out); /* 0 on success */

struct nl_tensor;

#define NL_OP_MAX_OUT 4

/* Scalar parameters of one call; each op documents its use in ops.def. */
typedef struct nl_op_params {
    int64_t i[8];
    double f[6];
} nl_op_params;

/* One kernel call. Inputs are as the op's front-end documents (usually
 * contiguous); outputs are allocated by the front-end on the inputs' device. */
typedef struct nl_op_args {
    nl_op op;
    int n_in;
    struct nl_tensor **in;   /* n_in entries; unused optional inputs are NULL */
    int n_out;
    struct nl_tensor *out[NL_OP_MAX_OUT];
    nl_op_params p;
} nl_op_args;

typedef nl_status (*nl_kernel_fn)(const nl_op_args *a);

/* Run the kernel of a->op on the device of the first output (or first input).
 * NL_ERR_DEVICE when the device has no kernel for the op or tensors sit on
 * different devices. The message is prefixed by the op name. */
nl_status nl_dispatch(const nl_op_args *a);

#endif
