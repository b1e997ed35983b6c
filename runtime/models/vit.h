/* vit.h — the CLIP vision encoder (HF CLIPVisionModel): patch embedding as
 * a matmul, class + position embeddings, pre_layrnorm, pre-LN encoder layers
 * with quick-GELU MLPs, and post_layernorm for the pooled output. Owns the
 * model's parameters (HF names without the "vision_model." file prefix).
 * Depends on runtime/ops.h, runtime/nn and runtime/models/model_config.h.
 * Shapes: B batch, P patches, T = 1+P tokens, C hidden. */
#ifndef NL_VIT_H
#define NL_VIT_H

#include "model_config.h"
#include "layers.h"
#include "params.h"

typedef struct nl_vit_layer { /* borrowed from params */
    nl_tensor *ln1_w, *ln1_b;           /* layer_norm1 [C] */
    nl_tensor *q_w, *q_b, *k_w, *k_b;   /* self_attn.{q,k}_proj [C,C], [C] */
    nl_tensor *v_w, *v_b, *o_w, *o_b;   /* self_attn.{v,out}_proj [C,C], [C] */
    nl_tensor *ln2_w, *ln2_b;           /* layer_norm2 [C] */
    nl_tensor *fc1_w, *fc1_b;           /* mlp.fc1 [I,C], [I] */
    nl_tensor *fc2_w, *fc2_b;           /* mlp.fc2 [C,I], [C] */
} nl_vit_layer;

typedef struct nl_vit {
    nl_vit_config cfg;
    nl_params params;
    /* borrowed from params: */
    nl_tensor *class_emb;               /* embeddings.class_embedding [C] */
    nl_tensor *patch_w;                 /* embeddings.patch_embedding.weight [C,3,p,p] */
    nl_tensor *pos_emb;                 /* embeddings.position_embedding.weight [T,C] */
    nl_tensor *pre_ln_w, *pre_ln_b;     /* pre_layrnorm [C] */
    nl_tensor *post_ln_w, *post_ln_b;   /* post_layernorm [C] */
    nl_vit_layer *layers;               /* cfg.num_layers */
} nl_vit;

/* A model shaped by c on dev. With rng: linear weights and class/position
 * embeddings N(0, 0.02), biases 0, LayerNorm weights 1 and biases 0. With
 * rng NULL every parameter stays zero (to be loaded). */
nl_status nl_vit_create(nl_vit **out, const nl_vit_config *c, nl_device dev, nl_rng *rng);
/* DIR/config.json ("clip_vision_model" or a full "clip" config) and the
 * "vision_model.*" weights of DIR's checkpoint; other names (text_model.*)
 * and the position_ids buffer are ignored. Missing, unexpected
 * vision_model.* or misshapen weights are NL_ERR_FORMAT naming the tensor. */
nl_status nl_vit_load(nl_vit **out, const char *dir, nl_device dev);
/* DIR/config.json and DIR/model.safetensors ("vision_model." names); DIR is created if missing. */
nl_status nl_vit_save(const nl_vit *m, const char *dir);
void nl_vit_free(nl_vit *m); /* NULL allowed */

/* pixels [B,NCH,S,S] f32 (S = image_size) -> *hidden [B,T,C]: the output of
 * the last encoder layer BEFORE post_layernorm (HF hidden_states[-1]).
 * all_hidden (optional, cfg.num_layers+1 slots) receives new references to
 * the embeddings after pre_layrnorm and each layer's output. probe
 * (optional) records layer l's attention at index l. Wrong pixel shapes are
 * NL_ERR_SHAPE. */
nl_status nl_vit_forward(nl_tensor **hidden, nl_vit *m, nl_tensor *pixels, nl_tensor **all_hidden,
                         nl_attn_probe *probe);
/* hidden [B,T,C] -> *out [B,C] = post_layernorm(hidden[:, 0]) (HF pooler_output). */
nl_status nl_vit_pooled(nl_tensor **out, nl_vit *m, nl_tensor *hidden);

#endif
