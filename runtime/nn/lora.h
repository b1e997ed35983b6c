/* lora.h — low-rank adapters (LoRA, Hu et al. 2021) for nn.Linear layers in
 * PEFT's layout: A [r,in] ("lora_A"), B [out,r] ("lora_B"), scaling alpha/r,
 * y = x W^T + b + scaling * (x A^T) B^T. The adapter borrows A and B (a
 * parameter list owns them); models attach adapters (see llm.h).
 * Depends on the runtime core and the op front-ends only. */
#ifndef NL_LORA_H
#define NL_LORA_H

#include "rng.h"
#include "tensor.h"

typedef struct nl_lora {
    nl_tensor *A;     /* [r,in]  borrowed */
    nl_tensor *B;     /* [out,r] borrowed */
    double scaling;   /* alpha / r */
    int rank;         /* r */
} nl_lora;

/* PEFT's initialisation: A ~ U(-1/sqrt(in), 1/sqrt(in)) drawn from rng (the
 * global generator when NULL), B = 0, so a fresh adapter adds exactly zero. */
nl_status nl_lora_init(const nl_lora *l, nl_rng *rng);

/* x [..., in], w [out,in], b [out] or NULL -> [..., out]. l == NULL is plain
 * nl_linear (bit-identical); otherwise the adapter's shapes must fit w
 * (NL_ERR_SHAPE naming both). Differentiable in x, w, b, A and B. */
nl_status nl_lora_linear(nl_tensor **out, nl_tensor *x, nl_tensor *w, nl_tensor *b, const nl_lora *l);

/* W += scaling * B A, in place under no-grad (the merge PEFT calls
 * merge_and_unload); the adapter itself is left untouched. */
nl_status nl_lora_merge_into(nl_tensor *w, const nl_lora *l);

#endif
