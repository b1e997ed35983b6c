/* autograd.c — the tape: nodes attached to op outputs, and the backward
 * engine (iterative DFS topological order, reverse sweep, out-of-place
 * accumulation so no two tensors ever share a mutable gradient). */
#include "autograd.h"

#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "runtime.h"

static _Thread_local bool grad_disabled;
static unsigned long epoch_counter;

bool nl_grad_set_enabled(bool on)
{
    bool was = !grad_disabled;
    grad_disabled = !on;
    return was;
}

bool nl_grad_enabled(void) { return !grad_disabled; }

bool nl_autograd_needed(int n_in, nl_tensor *const *in)
{
    if (grad_disabled) return false;
    for (int i = 0; i < n_in; i++)
        if (in[i] && in[i]->requires_grad) return true;
    return false;
}

static void node_release_contents(nl_node *n)
{
    for (int i = 0; i < n->n_in; i++) nl_tensor_release(n->in[i]);
    for (int i = 0; i < n->n_saved; i++) nl_tensor_release(n->saved[i]);
    free(n->in);
    n->in = NULL;
    n->n_in = 0;
    n->n_saved = 0;
    n->released = true;
}

void nl_node_free(nl_node *n)
{
    if (!n) return;
    if (!n->released) node_release_contents(n);
    free(n);
}

nl_status nl_autograd_record(nl_tensor *out, nl_op op, int n_in, nl_tensor *const *in,
                             int n_saved, nl_tensor *const *saved, const nl_op_params *p,
                             nl_backward_fn backward)
{
    if (!nl_autograd_needed(n_in, in)) return NL_OK;
    if (n_saved > NL_NODE_MAX_SAVED) return nl_error_set(NL_ERR_STATE, "autograd: %d saved tensors (max %d)", n_saved, NL_NODE_MAX_SAVED);
    nl_node *n = calloc(1, sizeof *n);
    nl_tensor **ins = calloc((size_t)(n_in ? n_in : 1), sizeof *ins);
    if (!n || !ins) { free(n); free(ins); return nl_error_set(NL_ERR_OOM, "autograd: out of memory for a node"); }
    for (int i = 0; i < n_saved; i++) {
        if (!saved[i]) continue;
        nl_status st = nl_detach(&n->saved[i], saved[i]);
        if (st != NL_OK) {
            for (int j = 0; j < i; j++) nl_tensor_release(n->saved[j]);
            free(n); free(ins);
            return st;
        }
    }
    for (int i = 0; i < n_in; i++) ins[i] = nl_tensor_retain(in[i]);
    n->op = op;
    n->n_in = n_in;
    n->in = ins;
    n->n_saved = n_saved;
    if (p) n->p = *p;
    n->backward = backward;
    if (out->node) nl_node_free(out->node);
    out->node = n;
    out->requires_grad = true;
    return NL_OK;
}

void nl_zero_grad(nl_tensor *t)
{
    nl_tensor_release(t->grad);
    t->grad = NULL;
}

nl_status nl_grad_accumulate(nl_tensor *t, nl_tensor *g)
{
    if (!nl_tensor_same_shape(t, g)) {
        char a[96], b[96];
        return nl_error_set(NL_ERR_STATE, "gradient of shape %s for a tensor of shape %s",
                            nl_shape_str(g, a, sizeof a), nl_shape_str(t, b, sizeof b));
    }
    bool was = nl_grad_set_enabled(false);
    nl_tensor *r = NULL;
    nl_status st;
    if (t->grad) {
        st = nl_add(&r, t->grad, g);
    } else if (g->refcount == 1 && g->storage->refcount == 1 && g->dtype == t->dtype && nl_tensor_is_contiguous(g)) {
        r = nl_tensor_retain(g); /* exclusively ours: take it */
        st = NL_OK;
    } else if (t->node && !t->retain_grad && g->dtype == t->dtype && nl_tensor_is_contiguous(g)) {
        /* a non-leaf's gradient is only read by its node's backward and then
         * dropped, never written in place: sharing it saves a copy */
        r = nl_tensor_retain(g);
        st = NL_OK;
    } else {
        st = nl_tensor_empty(&r, t->dtype, t->ndim, t->shape, nl_tensor_device(t));
        if (st == NL_OK) st = nl_tensor_copy_(r, g);
    }
    nl_grad_set_enabled(was);
    if (st != NL_OK) { nl_tensor_release(r); return st; }
    nl_tensor_release(t->grad);
    t->grad = r;
    return NL_OK;
}

/* ---- the engine ---------------------------------------------------------- */

typedef struct { nl_tensor **v; size_t n, cap; } tvec;

static nl_status tvec_push(tvec *s, nl_tensor *t)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        nl_tensor **v = realloc(s->v, cap * sizeof *v);
        if (!v) return nl_error_set(NL_ERR_OOM, "backward: out of memory for the graph walk");
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = t;
    return NL_OK;
}

/* Post-order of the non-leaf tensors reachable from root; each retained. */
static nl_status topo_order(nl_tensor *root, tvec *order)
{
    tvec stack = {0};
    int *next = NULL;
    size_t next_cap = 0;
    unsigned long epoch = __atomic_add_fetch(&epoch_counter, 1, __ATOMIC_RELAXED);
    nl_status st = tvec_push(&stack, root);
    root->node->epoch = epoch;
    while (st == NL_OK && stack.n > 0) {
        if (next_cap < stack.cap) {
            int *nn = realloc(next, stack.cap * sizeof *nn);
            if (!nn) { st = nl_error_set(NL_ERR_OOM, "backward: out of memory"); break; }
            memset(nn + next_cap, 0, (stack.cap - next_cap) * sizeof *nn);
            next = nn;
            next_cap = stack.cap;
        }
        size_t top = stack.n - 1;
        nl_tensor *t = stack.v[top];
        nl_node *n = t->node;
        if (n->released) {
            st = nl_error_set(NL_ERR_STATE, "backward through a graph that a previous backward freed"
                                             " HINT: pass #:retain-graph #t to the first backward");
            break;
        }
        if (next[top] < n->n_in) {
            nl_tensor *c = n->in[next[top]++];
            if (c && c->requires_grad && c->node && c->node->epoch != epoch) {
                c->node->epoch = epoch;
                st = tvec_push(&stack, c); /* next[] is 0 above the stack top */
            }
        } else {
            st = tvec_push(order, nl_tensor_retain(t));
            if (st != NL_OK) nl_tensor_release(t);
            next[top] = 0;
            stack.n--;
        }
    }
    free(stack.v);
    free(next);
    return st;
}

static nl_status run_backward(tvec *order, nl_tensor *root)
{
    for (size_t k = order->n; k-- > 0;) {
        nl_tensor *t = order->v[k];
        nl_node *n = t->node;
        nl_tensor *g = t->grad;
        if (!g) continue; /* no gradient flowed here */
        nl_tensor *gin_small[8] = {0};
        nl_tensor **gin = n->n_in <= 8 ? gin_small : calloc((size_t)n->n_in, sizeof *gin);
        if (!gin) return nl_error_set(NL_ERR_OOM, "backward: out of memory");
        nl_tensor_retain(g);
        if (!t->retain_grad) nl_zero_grad(t);
        nl_status st = n->backward(n, g, gin);
        if (st != NL_OK) nl_error_prefix(st, nl_op_get_info(n->op)->name);
        for (int i = 0; i < n->n_in; i++) {
            if (st == NL_OK && gin[i] && n->in[i] && n->in[i]->requires_grad) {
                st = nl_grad_accumulate(n->in[i], gin[i]);
                if (st != NL_OK) nl_error_prefix(st, nl_op_get_info(n->op)->name);
            }
            nl_tensor_release(gin[i]);
        }
        nl_tensor_release(g);
        if (gin != gin_small) free(gin);
        if (st != NL_OK) return st;
        NL_TRY(nl_interrupt_poll());
    }
    return NL_OK;
}

nl_status nl_backward(nl_tensor *root, nl_tensor *gout, bool retain_graph)
{
    if (!root->requires_grad)
        return nl_error_set(NL_ERR_STATE, "backward: the tensor does not require grad"
                                          " HINT: set requires-grad on the parameters before the forward");
    nl_tensor *seed = NULL;
    if (gout) {
        if (!nl_tensor_same_shape(gout, root)) {
            char a[96], b[96];
            return nl_error_set(NL_ERR_SHAPE, "backward: gradient %s for a tensor %s",
                                nl_shape_str(gout, a, sizeof a), nl_shape_str(root, b, sizeof b));
        }
        seed = nl_tensor_retain(gout);
    } else {
        if (nl_tensor_numel(root) != 1) {
            char a[96];
            return nl_error_set(NL_ERR_SHAPE, "backward: implicit gradient needs a 1-element tensor, got %s"
                                              " HINT: reduce with sum or mean first", nl_shape_str(root, a, sizeof a));
        }
        NL_TRY(nl_tensor_full(&seed, root->dtype, root->ndim, root->shape, 1.0, nl_tensor_device(root)));
    }
    if (!root->node) { /* a leaf: its gradient is the seed */
        nl_status st = nl_grad_accumulate(root, seed);
        nl_tensor_release(seed);
        return st;
    }
    bool was = nl_grad_set_enabled(false);
    tvec order = {0};
    nl_status st = topo_order(root, &order);
    if (st == NL_OK) {
        nl_zero_grad(root);
        root->grad = seed;
        seed = NULL;
        st = run_backward(&order, root);
    }
    nl_tensor_release(seed);
    /* Every tensor of `order` is retained here, so dropping what the nodes
     * hold cannot free a tensor whose node we still touch. */
    for (size_t k = 0; k < order.n && !retain_graph; k++) node_release_contents(order.v[k]->node);
    for (size_t k = 0; k < order.n; k++) nl_tensor_release(order.v[k]);
    free(order.v);
    nl_grad_set_enabled(was);
    return st;
}
