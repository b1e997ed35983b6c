/* norm.c — front-ends and backward functions of the norm ops (runtime/ops.h).
 * Being written: the functions of this family land here. */
#include "common.h"
