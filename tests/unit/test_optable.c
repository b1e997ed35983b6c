/* test_optable.c — every op of ops.def that is not a view has a CPU kernel,
 * names are unique and round-trip through nl_op_from_name. */
#include <string.h>

#include "harness.h"

int main(void)
{
    h_init("optable");
    const nl_backend *cpu = nl_cpu_backend();
    for (int i = 0; i < NL_OP_COUNT; i++) {
        const nl_op_info *info = nl_op_get_info((nl_op)i);
        nl_op back;
        h_check(nl_op_from_name(info->name, &back) == 0 && back == (nl_op)i, "op %s: name round-trips", info->name);
        if (info->kind != NL_KIND_VIEW)
            h_check(cpu->kernels[i] != NULL, "op %s: has a CPU kernel", info->name);
        else
            h_check(cpu->kernels[i] == NULL, "op %s: view, no kernel", info->name);
    }
    return h_finish();
}
