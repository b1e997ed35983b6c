/* attention.c — front-ends and backward functions of the attention ops (runtime/ops.h).
 * Being written: the functions of this family land here. */
#include "common.h"
