/* common.h — helpers shared by the op front-ends in runtime/ops/: argument
 * checks that produce the standard messages, and output allocation. */
#ifndef NL_OPS_COMMON_H
#define NL_OPS_COMMON_H

#include "../autograd.h"
#include "../ops.h"
#include "../runtime.h"

/* NL_ERR_DTYPE unless t is f32 ("who: x must be f32, got i64"). */
nl_status nl_check_f32(const char *who, const char *what, const nl_tensor *t);
/* NL_ERR_DTYPE unless t is an index dtype (i32 or i64). */
nl_status nl_check_index(const char *who, const char *what, const nl_tensor *t);
/* NL_ERR_DEVICE unless a and b are on the same device. */
nl_status nl_check_same_device(const char *who, const nl_tensor *a, const nl_tensor *b);
/* NL_ERR_SHAPE unless t->ndim == ndim. */
nl_status nl_check_ndim(const char *who, const char *what, const nl_tensor *t, int ndim);

/* Run one kernel with fresh contiguous copies of the inputs that are not
 * contiguous (NULL inputs pass through). out[] already allocated. */
nl_status nl_run_contiguous(nl_op op, int n_in, nl_tensor *const *in, int n_out, nl_tensor **out,
                            const nl_op_params *p);

#endif
