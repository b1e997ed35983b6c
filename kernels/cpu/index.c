/* index.c — CPU kernels of the index family (see runtime/ops.def).
 * Being written: the table entries below are filled as the kernels land. */
#include "kernels.h"

void nl_cpu_register_index(nl_kernel_fn *t)
{
    (void)t;
}
