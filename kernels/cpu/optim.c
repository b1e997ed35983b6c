/* optim.c — CPU kernels of the in-place optimizer updates (contiguous f32):
 * ADAMW_UPDATE (torch.optim.AdamW semantics) and SGD_UPDATE (torch.optim.SGD
 * with momentum, no dampening, no Nesterov). */
#include <math.h>

#include "kernels.h"

/* p, g, m, v [N]; f = lr, beta1, beta2, eps, weight_decay; i[0] = step (>= 1) */
static nl_status cpu_adamw(const nl_op_args *a)
{
    int64_t n = nl_tensor_numel(a->in[0]);
    float *p = nl_f32(a->in[0]), *m = nl_f32(a->in[2]), *v = nl_f32(a->in[3]);
    const float *g = nl_f32(a->in[1]);
    double lr = a->p.f[0], b1 = a->p.f[1], b2 = a->p.f[2], eps = a->p.f[3], wd = a->p.f[4];
    double t = (double)a->p.i[0];
    float bc1 = (float)(1.0 - pow(b1, t)), bc2 = (float)sqrt(1.0 - pow(b2, t));
    float step = (float)(lr / bc1), decay = (float)(1.0 - lr * wd), fb1 = (float)b1, fb2 = (float)b2, feps = (float)eps;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t k = 0; k < n; k++) {
        p[k] *= decay;
        m[k] = fb1 * m[k] + (1.0f - fb1) * g[k];
        v[k] = fb2 * v[k] + (1.0f - fb2) * g[k] * g[k];
        p[k] -= step * m[k] / (sqrtf(v[k]) / bc2 + feps);
    }
    return NL_OK;
}

/* p, g, buf [N]; f = lr, momentum, weight_decay; i[0] = 1 on the first step */
static nl_status cpu_sgd(const nl_op_args *a)
{
    int64_t n = nl_tensor_numel(a->in[0]);
    float *p = nl_f32(a->in[0]), *buf = a->in[2] ? nl_f32(a->in[2]) : NULL;
    const float *g = nl_f32(a->in[1]);
    float lr = (float)a->p.f[0], mom = (float)a->p.f[1], wd = (float)a->p.f[2];
    int first = a->p.i[0] != 0;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t k = 0; k < n; k++) {
        float d = g[k] + wd * p[k];
        if (buf) {
            buf[k] = first ? d : mom * buf[k] + d;
            d = buf[k];
        }
        p[k] -= lr * d;
    }
    return NL_OK;
}

void nl_cpu_register_optim(nl_kernel_fn *t)
{
    t[NL_OP_ADAMW_UPDATE] = cpu_adamw;
    t[NL_OP_SGD_UPDATE] = cpu_sgd;
}
