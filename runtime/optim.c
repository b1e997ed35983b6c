/* optim.c — AdamW and SGD over parameter lists (runtime/optim.h).
 * Being written. */
#include "optim.h"
