/* ops.c — %nl- primitives over the op front-ends of runtime/ops.h: one thin
 * wrapper per front-end (convert arguments, call, raise on failure, wrap the
 * result). Keyword defaults and scalar conveniences live in (notellm tensor).
 * Errors name the public procedure ("tensor-matmul: matmul: ..."). */
#include <stdio.h>
#include <string.h>

#include "glue.h"

static SCM result(nl_status st, nl_tensor *r, const char *who)
{
    NL_SCM_CHECK(who, st);
    return nl_scm_take_tensor(r);
}

/* "tensor-" + the op's name, in buf. */
static const char *op_who(const char *name, char *buf, size_t n)
{
    snprintf(buf, n, "tensor-%s", name);
    return buf;
}

/* ---- elementwise ------------------------------------------------------------ */

static SCM binary(SCM op, SCM a, SCM b)
{
    static const struct { const char *name; nl_status (*fn)(nl_tensor **, nl_tensor *, nl_tensor *); } table[] = {
        {"add", nl_add}, {"sub", nl_sub}, {"mul", nl_mul}, {"div", nl_div}, {"swiglu", nl_swiglu},
    };
    char name[16] = "", who[32];
    if (scm_is_symbol(op)) scm_to_locale_stringbuf(scm_symbol_to_string(op), name, sizeof name - 1);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(name, table[i].name) != 0) continue;
        op_who(name, who, sizeof who);
        nl_tensor *r = NULL;
        nl_status st = table[i].fn(&r, nl_scm_to_tensor(a, 1, who), nl_scm_to_tensor(b, 2, who));
        scm_remember_upto_here_2(a, b);
        return result(st, r, who);
    }
    scm_wrong_type_arg_msg("%nl-binary", 1, op, "one of add sub mul div swiglu");
}

#define FUNC_NAME "tensor-scale"
static SCM scale(SCM x, SCM s, SCM b)
{
    nl_tensor *r = NULL;
    nl_status st = nl_scale(&r, nl_scm_to_tensor(x, 1, FUNC_NAME), nl_scm_to_real(s, 2, FUNC_NAME),
                            nl_scm_to_real(b, 3, FUNC_NAME));
    scm_remember_upto_here_1(x);
    return result(st, r, FUNC_NAME);
}
#undef FUNC_NAME

static SCM unary(SCM name_s, SCM x)
{
    char name[32] = "", who[48];
    nl_op op;
    if (scm_is_symbol(name_s)) scm_to_locale_stringbuf(scm_symbol_to_string(name_s), name, sizeof name - 1);
    if (nl_op_from_name(name, &op) != 0 || op < NL_OP_EXP || op > NL_OP_QUICK_GELU)
        scm_wrong_type_arg_msg("%nl-unary", 1, name_s, "unary op name");
    op_who(name, who, sizeof who);
    nl_tensor *r = NULL;
    nl_status st = nl_unary(&r, op, nl_scm_to_tensor(x, 1, who));
    scm_remember_upto_here_1(x);
    return result(st, r, who);
}

#define FUNC_NAME "tensor-where"
static SCM where(SCM cond, SCM a, SCM b)
{
    nl_tensor *r = NULL;
    nl_status st = nl_where(&r, nl_scm_to_tensor(cond, 1, FUNC_NAME), nl_scm_to_tensor(a, 2, FUNC_NAME),
                            nl_scm_to_tensor(b, 3, FUNC_NAME));
    scm_remember_upto_here_2(cond, a);
    scm_remember_upto_here_1(b);
    return result(st, r, FUNC_NAME);
}
#undef FUNC_NAME

#define FUNC_NAME "tensor-masked-fill"
static SCM masked_fill(SCM x, SCM mask, SCM value)
{
    nl_tensor *r = NULL;
    nl_status st = nl_masked_fill(&r, nl_scm_to_tensor(x, 1, FUNC_NAME), nl_scm_to_tensor(mask, 2, FUNC_NAME),
                                  nl_scm_to_real(value, 3, FUNC_NAME));
    scm_remember_upto_here_2(x, mask);
    return result(st, r, FUNC_NAME);
}
#undef FUNC_NAME

#define FUNC_NAME "tensor-dropout"
static SCM dropout(SCM x, SCM p)
{
    nl_tensor *r = NULL;
    nl_status st = nl_dropout(&r, nl_scm_to_tensor(x, 1, FUNC_NAME), nl_scm_to_real(p, 2, FUNC_NAME), nl_rng_global());
    scm_remember_upto_here_1(x);
    return result(st, r, FUNC_NAME);
}
#undef FUNC_NAME

/* ---- reductions ----------------------------------------------------------- */

typedef nl_status (*reduce_fn)(nl_tensor **, nl_tensor *, int64_t, bool);

/* Reduce over every element: sum/mean have their own front-ends, max and
 * argmax reduce a flat view (argmax then indexes the flattened tensor). */
static nl_status reduce_all(nl_tensor **out, nl_tensor *t, reduce_fn fn, bool keepdim)
{
    nl_tensor *flat = NULL, *r = NULL;
    int64_t minus_one = -1, ones[NL_MAX_DIMS];
    nl_status st;
    if (fn == nl_sum) st = nl_sum_all(&r, t);
    else if (fn == nl_mean) st = nl_mean_all(&r, t);
    else {
        st = nl_reshape(&flat, t, 1, &minus_one);
        if (st == NL_OK) st = fn(&r, flat, 0, false);
        nl_tensor_release(flat);
    }
    if (st != NL_OK || !keepdim) { *out = r; return st; }
    for (int i = 0; i < t->ndim; i++) ones[i] = 1;
    st = nl_reshape(out, r, t->ndim, ones);
    nl_tensor_release(r);
    return st;
}

static SCM reduce(SCM kind, SCM x, SCM dim, SCM keepdim)
{
    static const struct { const char *name; reduce_fn fn; } table[] = {
        {"sum", nl_sum}, {"mean", nl_mean}, {"max", nl_max}, {"argmax", nl_argmax},
    };
    char name[16] = "", who[32];
    if (scm_is_symbol(kind)) scm_to_locale_stringbuf(scm_symbol_to_string(kind), name, sizeof name - 1);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(name, table[i].name) != 0) continue;
        op_who(name, who, sizeof who);
        nl_tensor *t = nl_scm_to_tensor(x, 1, who), *r = NULL;
        bool kd = scm_is_true(keepdim);
        nl_status st = scm_is_false(dim) ? reduce_all(&r, t, table[i].fn, kd)
                                         : table[i].fn(&r, t, nl_scm_to_i64(dim, 2, who), kd);
        scm_remember_upto_here_1(x);
        return result(st, r, who);
    }
    scm_wrong_type_arg_msg("%nl-reduce", 1, kind, "one of sum mean max argmax");
}

/* ---- linear algebra, softmax -------------------------------------------------- */

#define FUNC_NAME "tensor-matmul"
static SCM matmul(SCM a, SCM b, SCM ta, SCM tb)
{
    nl_tensor *r = NULL;
    nl_status st = nl_matmul(&r, nl_scm_to_tensor(a, 1, FUNC_NAME), nl_scm_to_tensor(b, 2, FUNC_NAME),
                             scm_is_true(ta), scm_is_true(tb));
    scm_remember_upto_here_2(a, b);
    return result(st, r, FUNC_NAME);
}
#undef FUNC_NAME

#define FUNC_NAME "tensor-linear"
static SCM linear(SCM x, SCM w, SCM b)
{
    nl_tensor *r = NULL;
    nl_status st = nl_linear(&r, nl_scm_to_tensor(x, 1, FUNC_NAME), nl_scm_to_tensor(w, 2, FUNC_NAME),
                             nl_scm_to_tensor_or_null(b, 3, FUNC_NAME));
    scm_remember_upto_here_2(x, w);
    scm_remember_upto_here_1(b);
    return result(st, r, FUNC_NAME);
}
#undef FUNC_NAME

static SCM softmax(SCM x, SCM dim, SCM logp)
{
    const char *who = scm_is_true(logp) ? "tensor-log-softmax" : "tensor-softmax";
    nl_tensor *t = nl_scm_to_tensor(x, 1, who), *r = NULL;
    int64_t d = nl_scm_to_i64(dim, 2, who);
    nl_status st = scm_is_true(logp) ? nl_log_softmax(&r, t, d) : nl_softmax(&r, t, d);
    scm_remember_upto_here_1(x);
    return result(st, r, who);
}

/* ---- gather, concat ------------------------------------------------------------ */

#define FUNC_NAME "tensor-embedding"
static SCM embedding(SCM w, SCM ids)
{
    nl_tensor *r = NULL;
    nl_status st = nl_embedding(&r, nl_scm_to_tensor(w, 1, FUNC_NAME), nl_scm_to_tensor(ids, 2, FUNC_NAME));
    scm_remember_upto_here_2(w, ids);
    return result(st, r, FUNC_NAME);
}
#undef FUNC_NAME

#define FUNC_NAME "tensor-index-select"
static SCM index_select(SCM x, SCM dim, SCM ids)
{
    nl_tensor *r = NULL;
    nl_status st = nl_index_select(&r, nl_scm_to_tensor(x, 1, FUNC_NAME), nl_scm_to_i64(dim, 2, FUNC_NAME),
                                   nl_scm_to_tensor(ids, 3, FUNC_NAME));
    scm_remember_upto_here_2(x, ids);
    return result(st, r, FUNC_NAME);
}
#undef FUNC_NAME

#define FUNC_NAME "tensor-concat"
static SCM concat(SCM xs, SCM dim)
{
    int n;
    nl_tensor **v = nl_scm_to_tensor_array(xs, &n, 1, FUNC_NAME), *r = NULL;
    nl_status st = nl_concat(&r, n, v, nl_scm_to_i64(dim, 2, FUNC_NAME));
    scm_remember_upto_here_1(xs);
    return result(st, r, FUNC_NAME);
}
#undef FUNC_NAME

/* ---- normalisation, position ------------------------------------------------ */

#define FUNC_NAME "tensor-rmsnorm"
static SCM rmsnorm(SCM x, SCM w, SCM eps)
{
    nl_tensor *r = NULL;
    nl_status st = nl_rmsnorm(&r, nl_scm_to_tensor(x, 1, FUNC_NAME), nl_scm_to_tensor_or_null(w, 2, FUNC_NAME),
                              nl_scm_to_real(eps, 3, FUNC_NAME));
    scm_remember_upto_here_2(x, w);
    return result(st, r, FUNC_NAME);
}
#undef FUNC_NAME

#define FUNC_NAME "tensor-layernorm"
static SCM layernorm(SCM x, SCM w, SCM b, SCM eps)
{
    nl_tensor *r = NULL;
    nl_status st = nl_layernorm(&r, nl_scm_to_tensor(x, 1, FUNC_NAME), nl_scm_to_tensor_or_null(w, 2, FUNC_NAME),
                                nl_scm_to_tensor_or_null(b, 3, FUNC_NAME), nl_scm_to_real(eps, 4, FUNC_NAME));
    scm_remember_upto_here_2(x, w);
    scm_remember_upto_here_1(b);
    return result(st, r, FUNC_NAME);
}
#undef FUNC_NAME

#define FUNC_NAME "tensor-rope"
static SCM rope(SCM x, SCM pos, SCM theta, SCM rotary_dim)
{
    nl_tensor *r = NULL;
    nl_status st = nl_rope(&r, nl_scm_to_tensor(x, 1, FUNC_NAME), nl_scm_to_tensor(pos, 2, FUNC_NAME),
                           nl_scm_to_real(theta, 3, FUNC_NAME), nl_scm_to_i64(rotary_dim, 4, FUNC_NAME));
    scm_remember_upto_here_2(x, pos);
    return result(st, r, FUNC_NAME);
}
#undef FUNC_NAME

#define FUNC_NAME "tensor-l2-normalize"
static SCM l2_normalize(SCM x, SCM eps)
{
    nl_tensor *r = NULL;
    nl_status st = nl_l2_normalize(&r, nl_scm_to_tensor(x, 1, FUNC_NAME), nl_scm_to_real(eps, 2, FUNC_NAME));
    scm_remember_upto_here_1(x);
    return result(st, r, FUNC_NAME);
}
#undef FUNC_NAME

/* ---- attention, loss ---------------------------------------------------------- */

#define FUNC_NAME "tensor-attention"
/* -> (out) or (out probs) when return_probs. */
static SCM attention(SCM q, SCM k, SCM v, SCM causal, SCM scale_s, SCM mask, SCM return_probs)
{
    nl_tensor *probs = NULL, *r = NULL;
    nl_attention_opts o = {
        .causal = scm_is_true(causal),
        .scale = scm_is_false(scale_s) ? 0.0 : nl_scm_to_real(scale_s, 5, FUNC_NAME),
        .mask = nl_scm_to_tensor_or_null(mask, 6, FUNC_NAME),
        .probs = scm_is_true(return_probs) ? &probs : NULL,
    };
    nl_status st = nl_attention(&r, nl_scm_to_tensor(q, 1, FUNC_NAME), nl_scm_to_tensor(k, 2, FUNC_NAME),
                                nl_scm_to_tensor(v, 3, FUNC_NAME), &o);
    scm_remember_upto_here_2(q, k);
    scm_remember_upto_here_2(v, mask);
    if (st != NL_OK) {
        nl_tensor_release(probs);
        nl_scm_raise(st, FUNC_NAME);
    }
    SCM out = nl_scm_take_tensor(r);
    return probs ? scm_list_2(out, nl_scm_take_tensor(probs)) : scm_list_1(out);
}
#undef FUNC_NAME

#define FUNC_NAME "tensor-cross-entropy"
static SCM cross_entropy(SCM logits, SCM targets, SCM ignore)
{
    nl_tensor *r = NULL;
    nl_status st = nl_cross_entropy(&r, nl_scm_to_tensor(logits, 1, FUNC_NAME), nl_scm_to_tensor(targets, 2, FUNC_NAME),
                                    nl_scm_to_i64(ignore, 3, FUNC_NAME));
    scm_remember_upto_here_2(logits, targets);
    return result(st, r, FUNC_NAME);
}
#undef FUNC_NAME

void nl_scm_init_ops(void)
{
    static const nl_scm_proc procs[] = {
        {"%nl-binary", 3, 0, 0, (scm_t_subr)binary, "Elementwise OP ('add 'sub 'mul 'div with broadcasting, 'swiglu) of A and B."},
        {"%nl-scale", 3, 0, 0, (scm_t_subr)scale, "S * X + B elementwise."},
        {"%nl-unary", 2, 0, 0, (scm_t_subr)unary, "The unary op NAME ('exp ... 'quick-gelu) of X."},
        {"%nl-where", 3, 0, 0, (scm_t_subr)where, "A where the u8 COND is non-zero, else B."},
        {"%nl-masked-fill", 3, 0, 0, (scm_t_subr)masked_fill, "X with VALUE where the u8 MASK is non-zero."},
        {"%nl-dropout", 2, 0, 0, (scm_t_subr)dropout, "Inverted dropout of X with probability P (global RNG)."},
        {"%nl-reduce", 4, 0, 0, (scm_t_subr)reduce, "Reduce X with KIND ('sum 'mean 'max 'argmax) over DIM (#f: all)."},
        {"%nl-matmul", 4, 0, 0, (scm_t_subr)matmul, "Batched matrix product of A and B, optionally transposed."},
        {"%nl-linear", 3, 0, 0, (scm_t_subr)linear, "X @ W^T + B (B may be #f)."},
        {"%nl-softmax", 3, 0, 0, (scm_t_subr)softmax, "Softmax (LOG? #t: log-softmax) of X over DIM."},
        {"%nl-embedding", 2, 0, 0, (scm_t_subr)embedding, "Rows of W selected by the integer IDS."},
        {"%nl-index-select", 3, 0, 0, (scm_t_subr)index_select, "Slices of X along DIM selected by the 1-d IDS."},
        {"%nl-concat", 2, 0, 0, (scm_t_subr)concat, "Concatenate a list of tensors along DIM."},
        {"%nl-rmsnorm", 3, 0, 0, (scm_t_subr)rmsnorm, "RMS normalisation of X over the last dim, scaled by W (or #f)."},
        {"%nl-layernorm", 4, 0, 0, (scm_t_subr)layernorm, "Layer normalisation of X over the last dim with W and B (or #f)."},
        {"%nl-rope", 4, 0, 0, (scm_t_subr)rope, "Rotary position embedding of X at positions POS."},
        {"%nl-l2-normalize", 2, 0, 0, (scm_t_subr)l2_normalize, "X divided by its L2 norm over the last dim."},
        {"%nl-attention", 7, 0, 0, (scm_t_subr)attention,
         "Scaled dot-product attention; returns (OUT) or (OUT PROBS)."},
        {"%nl-cross-entropy", 3, 0, 0, (scm_t_subr)cross_entropy, "Mean cross-entropy of LOGITS against TARGETS."},
    };
    NL_SCM_DEFINE_ALL(procs);
}
