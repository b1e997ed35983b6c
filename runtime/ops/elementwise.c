/* elementwise.c — front-ends and backward functions of the elementwise ops (runtime/ops.h).
 * Being written: the functions of this family land here. */
#include "common.h"
