/* autograd.h — define-by-run tape. A front-end that produced `out` from inputs
 * calls nl_autograd_record(); nl_backward() walks the recorded nodes in
 * reverse topological order and accumulates (+=) gradients into .grad.
 * Backward functions are composed from ops and run with grad mode off. */
#ifndef NL_AUTOGRAD_H
#define NL_AUTOGRAD_H

#include <stdbool.h>

#include "op.h"
#include "tensor.h"

#define NL_NODE_MAX_SAVED 6

typedef struct nl_node nl_node;

/* Compute input gradients from gout (shape of the output). gin[i] must be set
 * (new reference, shape of input i) for every input that requires grad, and
 * may be left NULL otherwise. */
typedef nl_status (*nl_backward_fn)(nl_node *n, nl_tensor *gout, nl_tensor **gin);

struct nl_node {
    nl_op op;
    int n_in;
    nl_tensor **in;                        /* retained inputs */
    int n_saved;
    nl_tensor *saved[NL_NODE_MAX_SAVED];  /* retained extra tensors (detached) */
    nl_op_params p;
    nl_backward_fn backward;
    bool released;                         /* freed by a backward without retain_graph */
    unsigned long epoch;                   /* traversal mark of nl_backward */
};

/* Grad mode is per thread; returns the previous setting. */
bool nl_grad_set_enabled(bool on);
bool nl_grad_enabled(void);

/* True when grad mode is on and some input requires grad. */
bool nl_autograd_needed(int n_in, nl_tensor *const *in);

/* Attach a node to `out` (which must have no node yet) if nl_autograd_needed.
 * Retains the inputs and `saved` (NULL entries are skipped). */
nl_status nl_autograd_record(nl_tensor *out, nl_op op, int n_in, nl_tensor *const *in,
                             int n_saved, nl_tensor *const *saved, const nl_op_params *p,
                             nl_backward_fn backward);

/* Backpropagate from root. gout NULL means root must have one element and
 * the seed is 1. retain_graph keeps saved tensors for a second backward. */
nl_status nl_backward(nl_tensor *root, nl_tensor *gout, bool retain_graph);

/* Drop t->grad. */
void nl_zero_grad(nl_tensor *t);

/* Accumulate g into t->grad (out of place: t->grad becomes a new tensor). */
nl_status nl_grad_accumulate(nl_tensor *t, nl_tensor *g);

void nl_node_free(nl_node *n);

#endif
