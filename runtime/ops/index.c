/* index.c — front-ends and backward functions of the index ops (runtime/ops.h).
 * Being written: the functions of this family land here. */
#include "common.h"
