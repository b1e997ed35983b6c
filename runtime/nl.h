/* nl.h — the umbrella header of libnotellm (pure C, no Guile). */
#ifndef NL_H
#define NL_H

#include "error.h"
#include "dtype.h"
#include "alloc.h"
#include "device.h"
#include "op.h"
#include "tensor.h"
#include "autograd.h"
#include "ops.h"
#include "optim.h"
#include "profile.h"
#include "rng.h"
#include "runtime.h"

#endif
