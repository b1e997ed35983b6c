/* ops.h — the public op front-ends. Each validates shapes, dtypes and devices
 * (NL_ERR_SHAPE / NL_ERR_DTYPE / NL_ERR_DEVICE with both shapes in the
 * message), allocates the result on the inputs' device, dispatches to the
 * device kernel and records autograd. Results are new references in *out.
 * Float ops compute on f32 (CPU); integer inputs are indices/masks only.
 * Shape legend: B batch, T/Tq/Tk time, C channels, NH heads, NKV kv heads,
 * HS head size, V vocab, N rows. */
#ifndef NL_OPS_H
#define NL_OPS_H

#include <stdbool.h>

#include "rng.h"
#include "tensor.h"

/* ---- elementwise (runtime/ops/elementwise.c) ----------------------------- */
nl_status nl_add(nl_tensor **out, nl_tensor *a, nl_tensor *b); /* broadcasting */
nl_status nl_sub(nl_tensor **out, nl_tensor *a, nl_tensor *b);
nl_status nl_mul(nl_tensor **out, nl_tensor *a, nl_tensor *b);
nl_status nl_div(nl_tensor **out, nl_tensor *a, nl_tensor *b);
nl_status nl_scale(nl_tensor **out, nl_tensor *x, double s, double b); /* s*x + b */
nl_status nl_exp(nl_tensor **out, nl_tensor *x);
nl_status nl_log(nl_tensor **out, nl_tensor *x);
nl_status nl_sqrt(nl_tensor **out, nl_tensor *x);
nl_status nl_rsqrt(nl_tensor **out, nl_tensor *x);
nl_status nl_tanh(nl_tensor **out, nl_tensor *x);
nl_status nl_sigmoid(nl_tensor **out, nl_tensor *x);
nl_status nl_relu(nl_tensor **out, nl_tensor *x);
nl_status nl_silu(nl_tensor **out, nl_tensor *x);
nl_status nl_swiglu(nl_tensor **out, nl_tensor *gate, nl_tensor *up); /* silu(gate) * up, same shapes */
nl_status nl_gelu(nl_tensor **out, nl_tensor *x);
nl_status nl_gelu_tanh(nl_tensor **out, nl_tensor *x);
nl_status nl_quick_gelu(nl_tensor **out, nl_tensor *x);
/* Any unary op above by enum (NL_OP_EXP ... NL_OP_QUICK_GELU). */
nl_status nl_unary(nl_tensor **out, nl_op op, nl_tensor *x);

/* ---- selection (runtime/ops/elementwise.c) ------------------------------- */
nl_status nl_where(nl_tensor **out, nl_tensor *cond, nl_tensor *a, nl_tensor *b); /* cond u8 */
nl_status nl_masked_fill(nl_tensor **out, nl_tensor *x, nl_tensor *mask, double value); /* mask u8, value may be -inf */
/* Inverted dropout: zero with probability p, scale the rest by 1/(1-p); draws from rng. */
nl_status nl_dropout(nl_tensor **out, nl_tensor *x, double p, nl_rng *rng);
/* Dropout with row-keyed masks: row i (first dim) of x draws its mask in
 * element order from the generator seeded with nl_rng_mix(seed, row0 + i),
 * so a row's mask does not depend on the other rows of the batch. */
nl_status nl_dropout_rows(nl_tensor **out, nl_tensor *x, double p, uint64_t seed, int64_t row0);

/* ---- reductions (runtime/ops/reduce.c) ------------------------------------ */
nl_status nl_sum(nl_tensor **out, nl_tensor *x, int64_t dim, bool keepdim);
nl_status nl_mean(nl_tensor **out, nl_tensor *x, int64_t dim, bool keepdim);
nl_status nl_max(nl_tensor **out, nl_tensor *x, int64_t dim, bool keepdim);
nl_status nl_argmax(nl_tensor **out, nl_tensor *x, int64_t dim, bool keepdim); /* i64 */
nl_status nl_sum_all(nl_tensor **out, nl_tensor *x);  /* 0-d */
nl_status nl_mean_all(nl_tensor **out, nl_tensor *x); /* 0-d */
/* Sum x (broadcast from `shape`) back to `shape` (backward of broadcasting). */
nl_status nl_sum_to(nl_tensor **out, nl_tensor *x, int ndim, const int64_t *shape);

/* ---- linear algebra (runtime/ops/matmul.c) -------------------------------- */
/* a [..., M, K] (or [..., K, M] if trans_a), b [..., K, N] (or [..., N, K]);
 * batch dims broadcast; 1-d operands are not promoted. */
nl_status nl_matmul(nl_tensor **out, nl_tensor *a, nl_tensor *b, bool trans_a, bool trans_b);
/* x [..., Cin] @ w[Cout, Cin]^T (+ bias [Cout]) — nn.Linear layout. */
nl_status nl_linear(nl_tensor **out, nl_tensor *x, nl_tensor *w, nl_tensor *bias);

/* ---- softmax family (runtime/ops/softmax.c) -------------------------------- */
nl_status nl_softmax(nl_tensor **out, nl_tensor *x, int64_t dim);
nl_status nl_log_softmax(nl_tensor **out, nl_tensor *x, int64_t dim);

/* ---- gather / scatter / concat (runtime/ops/index.c) ---------------------- */
nl_status nl_embedding(nl_tensor **out, nl_tensor *weight, nl_tensor *ids); /* [V,C],[...] -> [...,C] */
nl_status nl_index_select(nl_tensor **out, nl_tensor *x, int64_t dim, nl_tensor *ids); /* ids 1-d */
nl_status nl_concat(nl_tensor **out, int n, nl_tensor *const *xs, int64_t dim);

/* ---- normalisation and position (runtime/ops/norm.c) ---------------------- */
nl_status nl_rmsnorm(nl_tensor **out, nl_tensor *x, nl_tensor *w, double eps);      /* w may be NULL */
nl_status nl_layernorm(nl_tensor **out, nl_tensor *x, nl_tensor *w, nl_tensor *b, double eps); /* w, b may be NULL */
/* HF rotate-half RoPE on x [B,NH,T,HS]; pos i64 [T] or [B,T]; rotary_dim even,
 * <= HS (0 means HS); inv_freq_j = theta^(-2j/rotary_dim). */
nl_status nl_rope(nl_tensor **out, nl_tensor *x, nl_tensor *pos, double theta, int64_t rotary_dim);
nl_status nl_l2_normalize(nl_tensor **out, nl_tensor *x, double eps); /* last dim */

/* ---- attention (runtime/ops/attention.c) ---------------------------------- */
typedef struct nl_attention_opts {
    bool causal;        /* query i sees keys j <= i + (Tk - Tq) */
    double scale;       /* 0 means 1/sqrt(HS) */
    nl_tensor *mask;    /* optional: u8 [B,Tk] key padding (1 = keep) or f32 additive [B|1,NH|1,Tq,Tk] */
    nl_tensor **probs;  /* optional out: the attention probabilities [B,NH,Tq,Tk] (new reference) */
} nl_attention_opts;
/* q [B,NH,Tq,HS], k,v [B,NKV,Tk,HS] with NH % NKV == 0 (grouped-query). -> [B,NH,Tq,HS]. */
nl_status nl_attention(nl_tensor **out, nl_tensor *q, nl_tensor *k, nl_tensor *v,
                       const nl_attention_opts *opts);

/* ---- losses (runtime/ops/loss.c) ------------------------------------------ */
/* logits [N,V] f32, targets [N] i64/i32; mean over rows whose target != ignore_index
 * (0-d result; 0 when no row is supervised). Targets outside [0,V) other than
 * ignore_index are NL_ERR_ARG. */
nl_status nl_cross_entropy(nl_tensor **out, nl_tensor *logits, nl_tensor *targets, int64_t ignore_index);

#endif
