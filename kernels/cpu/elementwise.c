/* elementwise.c — CPU kernels of the elementwise family: binary ops with
 * broadcasting (ADD SUB MUL DIV), SCALE, the unary activations and their
 * derivative kernel UNARY_BWD, SWIGLU and its backward, WHERE, MASKED_FILL
 * and DROPOUT.
 * Contract: out[0] is contiguous with the broadcast shape; every input has
 * exactly out's shape but may be a strided view (stride 0 on broadcast dims),
 * so broadcasting never materialises copies. No BLAS here. */
#include <math.h>

#include "../formulas.h"
#include "kernels.h"

/* ---- strided walk -------------------------------------------------------- */

/* Element offsets of up to 3 inputs for the flat output index range
 * [start, end): calls body(k, o0, o1, o2) in order. Innermost dim is a
 * tight loop; the multi-index is recomputed once per row. */
#define NL_MAXIN 3
typedef struct { const nl_tensor *t[NL_MAXIN]; int n; } ins_t;

static inline void row_offsets(const nl_tensor *out, const ins_t *in, int64_t row, int64_t *off)
{
    int nd = out->ndim;
    for (int j = 0; j < in->n; j++) off[j] = 0;
    for (int d = nd - 2; d >= 0; d--) {
        int64_t i = row % out->shape[d];
        row /= out->shape[d];
        for (int j = 0; j < in->n; j++) off[j] += i * in->t[j]->strides[d];
    }
}

static int all_contiguous(const ins_t *in)
{
    for (int j = 0; j < in->n; j++)
        if (!nl_tensor_is_contiguous(in->t[j])) return 0;
    return 1;
}

/* ---- binary -------------------------------------------------------------- */

/* One loop per operator (a switch inside the loop keeps GCC -O2 from
 * vectorising it). */
#define BINARY_SWITCH(LOOP)                                                                         \
    switch (op) {                                                                                   \
    case NL_OP_ADD: LOOP(+); break;                                                                 \
    case NL_OP_SUB: LOOP(-); break;                                                                 \
    case NL_OP_MUL: LOOP(*); break;                                                                 \
    default: LOOP(/); break;                                                                        \
    }
#define FLAT_LOOP(OP)                                                                               \
    _Pragma("omp parallel for schedule(static) if (n > 65536)")                                     \
    for (int64_t k = 0; k < n; k++) z[k] = x[k] OP y[k]
#define ROW_LOOP(OP)                                                                                \
    do {                                                                                            \
        if (sx == 1 && sy == 1)                                                                     \
            for (int64_t j = 0; j < D; j++) zr[j] = xr[j] OP yr[j];                                 \
        else if (sx == 1 && sy == 0)                                                                \
            for (int64_t j = 0; j < D; j++) zr[j] = xr[j] OP yr[0];                                 \
        else                                                                                        \
            for (int64_t j = 0; j < D; j++) zr[j] = xr[j * sx] OP yr[j * sy];                       \
    } while (0)

/* a, b [shape of out] (strided) -> out = a (op) b */
static nl_status cpu_binary(const nl_op_args *a)
{
    nl_tensor *out = a->out[0];
    ins_t in = {{a->in[0], a->in[1]}, 2};
    int64_t n = nl_tensor_numel(out);
    const float *x = nl_f32(a->in[0]), *y = nl_f32(a->in[1]);
    float *z = nl_f32(out);
    nl_op op = a->op;
    if (n == 0) return NL_OK;
    if (all_contiguous(&in)) {
        BINARY_SWITCH(FLAT_LOOP);
        return NL_OK;
    }
    int nd = out->ndim;
    int64_t D = out->shape[nd - 1], rows = n / D;
    int64_t sx = a->in[0]->strides[nd - 1], sy = a->in[1]->strides[nd - 1];
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t r = 0; r < rows; r++) {
        int64_t off[NL_MAXIN];
        row_offsets(out, &in, r, off);
        const float *xr = x + off[0], *yr = y + off[1];
        float *zr = z + r * D;
        BINARY_SWITCH(ROW_LOOP);
    }
    return NL_OK;
}

/* x -> s*x + b (f[0] = s, f[1] = b); out may alias x */
static nl_status cpu_scale(const nl_op_args *a)
{
    int64_t n = nl_tensor_numel(a->out[0]);
    const float *x = nl_f32(a->in[0]);
    float *y = nl_f32(a->out[0]);
    float s = (float)a->p.f[0], b = (float)a->p.f[1];
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t k = 0; k < n; k++) y[k] = s * x[k] + b;
    return NL_OK;
}

/* ---- unary --------------------------------------------------------------- */

/* One loop per hot operator, so the formula is inlined with a constant op
 * and the loop vectorises (nl_expf has no libm call); the rest share a
 * generic loop. */
#define UNARY_SWITCH(LOOP)                                                                          \
    switch (op) {                                                                                   \
    case NL_OP_SILU: LOOP(NL_OP_SILU); break;                                                       \
    case NL_OP_SIGMOID: LOOP(NL_OP_SIGMOID); break;                                                 \
    case NL_OP_EXP: LOOP(NL_OP_EXP); break;                                                         \
    case NL_OP_QUICK_GELU: LOOP(NL_OP_QUICK_GELU); break;                                           \
    default: LOOP(op); break;                                                                       \
    }
#define F_LOOP(OP)                                                                                  \
    _Pragma("omp parallel for simd schedule(static) if (n > 16384)")                                \
    for (int64_t k = 0; k < n; k++) y[k] = nl_unary_f(OP, x[k])
#define DF_LOOP(OP)                                                                                 \
    _Pragma("omp parallel for simd schedule(static) if (n > 16384)")                                \
    for (int64_t k = 0; k < n; k++) gx[k] = g[k] * nl_unary_df(OP, x[k])

/* x [N] contiguous -> y = f(x) */
static nl_status cpu_unary(const nl_op_args *a)
{
    int64_t n = nl_tensor_numel(a->out[0]);
    const float *x = nl_f32(a->in[0]);
    float *y = nl_f32(a->out[0]);
    nl_op op = a->op;
    UNARY_SWITCH(F_LOOP);
    return NL_OK;
}

/* g [N], x [N] contiguous -> gx = g * f'(x); p.i[0] = the forward op */
static nl_status cpu_unary_bwd(const nl_op_args *a)
{
    int64_t n = nl_tensor_numel(a->out[0]);
    const float *g = nl_f32(a->in[0]), *x = nl_f32(a->in[1]);
    float *gx = nl_f32(a->out[0]);
    nl_op op = (nl_op)a->p.i[0];
    UNARY_SWITCH(DF_LOOP);
    return NL_OK;
}

/* gate, up [N] contiguous -> y = silu(gate) * up */
static nl_status cpu_swiglu(const nl_op_args *a)
{
    int64_t n = nl_tensor_numel(a->out[0]);
    const float *g = nl_f32(a->in[0]), *u = nl_f32(a->in[1]);
    float *y = nl_f32(a->out[0]);
#pragma omp parallel for simd schedule(static) if (n > 16384)
    for (int64_t k = 0; k < n; k++) y[k] = nl_swiglu_f(g[k], u[k]);
    return NL_OK;
}

/* gy, gate, up [N] contiguous -> out[0] dgate, out[1] dup */
static nl_status cpu_swiglu_bwd(const nl_op_args *a)
{
    int64_t n = nl_tensor_numel(a->out[0]);
    const float *gy = nl_f32(a->in[0]), *g = nl_f32(a->in[1]), *u = nl_f32(a->in[2]);
    float *dg = nl_f32(a->out[0]), *du = nl_f32(a->out[1]);
#pragma omp parallel for simd schedule(static) if (n > 16384)
    for (int64_t k = 0; k < n; k++) {
        dg[k] = nl_swiglu_dgate(gy[k], g[k], u[k]);
        du[k] = nl_swiglu_dup(gy[k], g[k]);
    }
    return NL_OK;
}

/* ---- selection ----------------------------------------------------------- */

/* cond u8, a, b [shape of out] (strided) -> out = cond ? a : b */
static nl_status cpu_where(const nl_op_args *a)
{
    nl_tensor *out = a->out[0];
    ins_t in = {{a->in[0], a->in[1], a->in[2]}, 3};
    int64_t n = nl_tensor_numel(out);
    if (n == 0) return NL_OK;
    int nd = out->ndim;
    int64_t D = nd ? out->shape[nd - 1] : 1, rows = n / D;
    int64_t sc = nd ? a->in[0]->strides[nd - 1] : 0, sa = nd ? a->in[1]->strides[nd - 1] : 0,
            sb = nd ? a->in[2]->strides[nd - 1] : 0;
    const uint8_t *c = nl_tensor_host_ptr(a->in[0]);
    const float *x = nl_f32(a->in[1]), *y = nl_f32(a->in[2]);
    float *z = nl_f32(out);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t r = 0; r < rows; r++) {
        int64_t off[NL_MAXIN] = {0, 0, 0};
        if (nd) row_offsets(out, &in, r, off);
        for (int64_t j = 0; j < D; j++)
            z[r * D + j] = c[off[0] + j * sc] ? x[off[1] + j * sa] : y[off[2] + j * sb];
    }
    return NL_OK;
}

/* x contiguous, mask u8 [shape of x] (strided) -> out = mask ? f[0] : x */
static nl_status cpu_masked_fill(const nl_op_args *a)
{
    nl_tensor *out = a->out[0];
    ins_t in = {{a->in[0], a->in[1]}, 2};
    int64_t n = nl_tensor_numel(out);
    if (n == 0) return NL_OK;
    int nd = out->ndim;
    int64_t D = nd ? out->shape[nd - 1] : 1, rows = n / D;
    int64_t sx = nd ? a->in[0]->strides[nd - 1] : 0, sm = nd ? a->in[1]->strides[nd - 1] : 0;
    const float *x = nl_f32(a->in[0]);
    const uint8_t *m = nl_tensor_host_ptr(a->in[1]);
    float v = (float)a->p.f[0], *z = nl_f32(out);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t r = 0; r < rows; r++) {
        int64_t off[NL_MAXIN] = {0, 0, 0};
        if (nd) row_offsets(out, &in, r, off);
        for (int64_t j = 0; j < D; j++) z[r * D + j] = m[off[1] + j * sm] ? v : x[off[0] + j * sx];
    }
    return NL_OK;
}

/* x [N], keep u8 [N] contiguous -> y = keep ? x * f[0] : 0 (f[0] = 1/(1-p)) */
static nl_status cpu_dropout(const nl_op_args *a)
{
    int64_t n = nl_tensor_numel(a->out[0]);
    const float *x = nl_f32(a->in[0]);
    const uint8_t *keep = nl_tensor_host_ptr(a->in[1]);
    float s = (float)a->p.f[0], *y = nl_f32(a->out[0]);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t k = 0; k < n; k++) y[k] = keep[k] ? x[k] * s : 0.0f;
    return NL_OK;
}

void nl_cpu_register_elementwise(nl_kernel_fn *t)
{
    t[NL_OP_ADD] = t[NL_OP_SUB] = t[NL_OP_MUL] = t[NL_OP_DIV] = cpu_binary;
    t[NL_OP_SCALE] = cpu_scale;
    for (int op = NL_OP_EXP; op <= NL_OP_QUICK_GELU; op++) t[op] = cpu_unary;
    t[NL_OP_UNARY_BWD] = cpu_unary_bwd;
    t[NL_OP_SWIGLU] = cpu_swiglu;
    t[NL_OP_SWIGLU_BWD] = cpu_swiglu_bwd;
    t[NL_OP_WHERE] = cpu_where;
    t[NL_OP_MASKED_FILL] = cpu_masked_fill;
    t[NL_OP_DROPOUT] = cpu_dropout;
}
