#!/usr/bin/python3
"""Golden fixtures for the notellm model tests (independent reference implementation).

What this generates
-------------------
For each of the small random models "llama", "qwen2", "clip_vision" and "qformer"
it writes tests/fixtures/models/<name>/ with three files:

  config.json        Hugging Face style config (indent 2)
  model.safetensors  the random weights, F32, under Hugging Face parameter names
  io.safetensors     inputs, expected activations/outputs and expected gradients

The models are written here from scratch in plain PyTorch following the Hugging
Face (transformers) semantics; nothing is imported from transformers or
safetensors (neither is needed: the safetensors format is written and read back
by the small helpers below).  Weights and inputs are drawn in float32 from a
seeded generator; the float32 values are then promoted to float64 and every
forward pass, gradient and generation step is computed in float64.  Expected
values are stored rounded to F32.  See tests/fixtures/models/README.md for the
meaning of every tensor in io.safetensors and for the exact loss used for the
gradients.

How to rerun
------------
From the top directory of the project:

    /usr/bin/python3 tests/ref/make_model_fixtures.py

(Debian python3-torch 1.13 + numpy).  Everything is seeded, so reruns produce
byte-identical files.
"""

import json
import math
import os
import struct
import sys

import numpy as np
import torch

torch.set_grad_enabled(True)
torch.use_deterministic_algorithms(True)

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(TOP, "tests", "fixtures", "models")

F64 = torch.float64


# ----------------------------------------------------------------------------
# safetensors writer / reader (format written by hand)
# ----------------------------------------------------------------------------

_DT = {"F32": ("<f4", 4), "I64": ("<i8", 8)}


def write_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, np.ndarray) in file order; arrays are float32 or int64."""
    header = {}
    blobs = []
    off = 0
    for name, arr in tensors:
        arr = np.asarray(arr)
        if arr.dtype == np.float32:
            dt = "F32"
        elif arr.dtype == np.int64:
            dt = "I64"
        else:
            raise TypeError("%s: unsupported dtype %s" % (name, arr.dtype))
        raw = np.ascontiguousarray(arr).astype(_DT[dt][0], copy=False).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata is not None:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((-len(hj)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Tiny independent reader; returns (dict name -> np.ndarray, metadata, order)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", None)
    body = data[8 + n:]
    out = {}
    spans = []
    for name, info in header.items():
        b, e = info["data_offsets"]
        dt, sz = _DT[info["dtype"]]
        count = int(np.prod(info["shape"])) if info["shape"] else 1
        assert e - b == count * sz, name
        out[name] = np.frombuffer(body[b:e], dtype=dt).reshape(info["shape"])
        spans.append((b, e))
    spans.sort()
    pos = 0
    for b, e in spans:  # contiguous, no gaps, covers the whole body
        assert b == pos
        pos = e
    assert pos == len(body)
    return out, meta, list(header.keys())


def check_roundtrip(path, tensors):
    got, _, order = read_safetensors(path)
    assert order == [n for n, _ in tensors], path
    for name, arr in tensors:
        arr = np.asarray(arr)
        g = got[name]
        assert g.dtype == arr.dtype and g.shape == arr.shape, name
        assert np.array_equal(g, arr), name


# ----------------------------------------------------------------------------
# parameter generation
# ----------------------------------------------------------------------------

class Params:
    """Ordered float64 leaf tensors created from float32 draws of a seeded generator."""

    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)
        self.p = {}

    def _randn(self, shape):
        return torch.randn(*shape, generator=self.g, dtype=torch.float32)

    def add(self, name, shape, kind):
        r = self._randn(shape)
        if kind == "linear":
            v = r * 0.15
        elif kind == "bias":
            v = r * 0.1
        elif kind == "normw":
            v = 1.0 + r * 0.1
        elif kind == "normb":
            v = r * 0.1
        elif kind == "embed":
            v = r * 0.5
        else:
            raise ValueError(kind)
        v = v.to(torch.float32)  # stored values
        self.p[name] = v.to(F64).requires_grad_(True)
        return self.p[name]

    def data(self, shape, scale=1.0):
        """float32 data draw (inputs / loss weights), returned as float64."""
        return (self._randn(shape) * scale).to(torch.float32).to(F64)

    def __getitem__(self, k):
        return self.p[k]

    def has(self, k):
        return k in self.p

    def numpy_f32(self):
        return [(k, v.detach().to(torch.float32).numpy()) for k, v in self.p.items()]


def f32(t):
    return t.detach().to(torch.float32).numpy()


def i64(t):
    return t.detach().to(torch.int64).numpy()


def linear(x, P, name, bias=True):
    y = x @ P[name + ".weight"].t()
    if bias and P.has(name + ".bias"):
        y = y + P[name + ".bias"]
    return y


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def rms_norm(x, w, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w


def gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def silu(x):
    return x * torch.sigmoid(x)


def split_heads(x, nh, hd):
    B, T, _ = x.shape
    return x.view(B, T, nh, hd).transpose(1, 2)  # [B, nh, T, hd]


def merge_heads(x):
    B, nh, T, hd = x.shape
    return x.transpose(1, 2).reshape(B, T, nh * hd)


def attention(q, k, v, bias_mask=None):
    """q [B,H,Tq,hd], k/v [B,H,Tk,hd]; bias_mask additive [B,1,Tq,Tk] or None."""
    s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if bias_mask is not None:
        s = s + bias_mask
    p = torch.softmax(s, dim=-1)
    return p @ v


# ----------------------------------------------------------------------------
# LLaMA / Qwen2 decoder
# ----------------------------------------------------------------------------

def decoder_params(cfg, seed):
    P = Params(seed)
    C = cfg["hidden_size"]
    I = cfg["intermediate_size"]
    V = cfg["vocab_size"]
    H = cfg["num_attention_heads"]
    KV = cfg["num_key_value_heads"]
    hd = C // H
    qkv_bias = cfg["model_type"] == "qwen2"
    P.add("model.embed_tokens.weight", (V, C), "embed")
    for i in range(cfg["num_hidden_layers"]):
        pre = "model.layers.%d." % i
        P.add(pre + "self_attn.q_proj.weight", (H * hd, C), "linear")
        if qkv_bias:
            P.add(pre + "self_attn.q_proj.bias", (H * hd,), "bias")
        P.add(pre + "self_attn.k_proj.weight", (KV * hd, C), "linear")
        if qkv_bias:
            P.add(pre + "self_attn.k_proj.bias", (KV * hd,), "bias")
        P.add(pre + "self_attn.v_proj.weight", (KV * hd, C), "linear")
        if qkv_bias:
            P.add(pre + "self_attn.v_proj.bias", (KV * hd,), "bias")
        P.add(pre + "self_attn.o_proj.weight", (C, H * hd), "linear")
        P.add(pre + "mlp.gate_proj.weight", (I, C), "linear")
        P.add(pre + "mlp.up_proj.weight", (I, C), "linear")
        P.add(pre + "mlp.down_proj.weight", (C, I), "linear")
        P.add(pre + "input_layernorm.weight", (C,), "normw")
        P.add(pre + "post_attention_layernorm.weight", (C,), "normw")
    P.add("model.norm.weight", (C,), "normw")
    if not cfg["tie_word_embeddings"]:
        P.add("lm_head.weight", (V, C), "linear")
    return P


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def decoder_forward(cfg, P, ids, mask):
    """ids/mask int64 [B,T]. Returns (hidden_states list of L+1, logits)."""
    B, T = ids.shape
    C = cfg["hidden_size"]
    H = cfg["num_attention_heads"]
    KV = cfg["num_key_value_heads"]
    hd = C // H
    eps = cfg["rms_norm_eps"]
    L = cfg["num_hidden_layers"]

    # RoPE tables, positions 0..T-1 for every row
    inv_freq = cfg["rope_theta"] ** (-torch.arange(0, hd, 2, dtype=F64) / hd)
    pos = torch.arange(T, dtype=F64)
    freqs = pos[:, None] * inv_freq[None, :]
    emb = torch.cat([freqs, freqs], dim=-1)
    cos, sin = emb.cos(), emb.sin()  # [T, hd]

    # causal + key padding mask, additive -inf
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    allowed = causal[None, :, :] & (mask[:, None, :] != 0)  # [B, Tq, Tk]
    add = torch.zeros(B, 1, T, T, dtype=F64)
    add = add.masked_fill(~allowed[:, None], float("-inf"))

    h = P["model.embed_tokens.weight"][ids]
    hs = [h]
    for i in range(L):
        pre = "model.layers.%d." % i
        x = rms_norm(h, P[pre + "input_layernorm.weight"], eps)
        q = split_heads(linear(x, P, pre + "self_attn.q_proj"), H, hd)
        k = split_heads(linear(x, P, pre + "self_attn.k_proj"), KV, hd)
        v = split_heads(linear(x, P, pre + "self_attn.v_proj"), KV, hd)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = H // KV  # query head j uses kv head j // rep
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        a = merge_heads(attention(q, k, v, add))
        h = h + linear(a, P, pre + "self_attn.o_proj", bias=False)
        x = rms_norm(h, P[pre + "post_attention_layernorm.weight"], eps)
        m = linear(silu(linear(x, P, pre + "mlp.gate_proj")) * linear(x, P, pre + "mlp.up_proj"),
                   P, pre + "mlp.down_proj")
        h = h + m
        if i < L - 1:
            hs.append(h)
    h = rms_norm(h, P["model.norm.weight"], eps)
    hs.append(h)
    head = P["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else P["lm_head.weight"]
    logits = h @ head.t()
    return hs, logits


def greedy_generate(cfg, P, prompt, n_new, penalty):
    seq = list(prompt)
    margins = []
    with torch.no_grad():
        for _ in range(n_new):
            ids = torch.tensor([seq], dtype=torch.int64)
            _, logits = decoder_forward(cfg, P, ids, torch.ones_like(ids))
            lg = logits[0, -1].clone()
            for t in set(seq):
                lg[t] = lg[t] * penalty if lg[t] < 0 else lg[t] / penalty
            top2 = torch.topk(lg, 2).values
            margins.append(float(top2[0] - top2[1]))
            seq.append(int(torch.argmax(lg)))
    return seq, min(margins)


def make_decoder(name, cfg, seed):
    P = decoder_params(cfg, seed)
    V = cfg["vocab_size"]
    C = cfg["hidden_size"]
    L = cfg["num_hidden_layers"]
    B, T = 2, 7
    ids = torch.randint(3, V, (B, T), generator=P.g, dtype=torch.int64)
    mask = torch.ones(B, T, dtype=torch.int64)
    mask[1, T - 2:] = 0
    ids[1, T - 2:] = 0
    loss_w = P.data((B, T, C))

    hs, logits = decoder_forward(cfg, P, ids, mask)
    loss = (hs[L] * loss_w * mask[..., None].to(F64)).sum()
    names = list(P.p.keys())
    grads = torch.autograd.grad(loss, [P[n] for n in names], allow_unused=True)

    # greedy generation; pick the first prompt whose argmax decisions all have
    # a comfortable top-1/top-2 margin so a float32 implementation agrees.
    # Also require that the penalty changes the result (so the test exercises
    # it) and that the continuation is not degenerate (>= 4 distinct tokens).
    penalty = 1.3
    for attempt in range(200):
        prompt = torch.randint(3, V, (5,), generator=P.g, dtype=torch.int64).tolist()
        out, margin = greedy_generate(cfg, P, prompt, 8, penalty)
        plain, _ = greedy_generate(cfg, P, prompt, 8, 1.0)
        if margin > 1e-2 and plain != out and len(set(out[5:])) >= 4:
            break
    else:
        raise RuntimeError("no suitable generation prompt")

    io = [("input_ids", i64(ids)), ("attention_mask", i64(mask))]
    for l in range(L + 1):
        io.append(("hidden_states.%d" % l, f32(hs[l])))
    io.append(("logits", f32(logits)))
    io.append(("loss_weight", f32(loss_w)))
    for n, g in zip(names, grads):
        if g is None:
            g = torch.zeros_like(P[n])
        io.append(("grad." + n, f32(g)))
    io.append(("gen.prompt", np.array(prompt, dtype=np.int64)))
    io.append(("gen.output", np.array(out, dtype=np.int64)))
    info = {"gen_min_top2_margin": "%.6g" % margin, "gen_output_without_penalty": json.dumps(plain), "gen_repetition_penalty": "1.3",
            "loss": "%.17g" % float(loss)}
    return P, io, info


LLAMA_CFG = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "vocab_size": 97,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "max_position_embeddings": 128,
    "tie_word_embeddings": False,
    "hidden_act": "silu",
    "attention_bias": False,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "torch_dtype": "float32",
}

QWEN2_CFG = {
    "model_type": "qwen2",
    "architectures": ["Qwen2ForCausalLM"],
    "vocab_size": 101,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 1,
    "rms_norm_eps": 1e-6,
    "rope_theta": 1000000.0,
    "max_position_embeddings": 128,
    "tie_word_embeddings": True,
    "hidden_act": "silu",
    "use_sliding_window": False,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "torch_dtype": "float32",
}


# ----------------------------------------------------------------------------
# CLIP vision tower
# ----------------------------------------------------------------------------

CLIP_CFG = {
    "model_type": "clip_vision_model",
    "architectures": ["CLIPVisionModel"],
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "image_size": 32,
    "patch_size": 8,
    "num_channels": 3,
    "layer_norm_eps": 1e-5,
    "hidden_act": "quick_gelu",
    "projection_dim": 16,
    "torch_dtype": "float32",
}


def clip_params(cfg, seed):
    P = Params(seed)
    C, I = cfg["hidden_size"], cfg["intermediate_size"]
    p, ch = cfg["patch_size"], cfg["num_channels"]
    npos = 1 + (cfg["image_size"] // p) ** 2
    e = "vision_model.embeddings."
    P.add(e + "class_embedding", (C,), "embed")
    P.add(e + "patch_embedding.weight", (C, ch, p, p), "linear")
    P.add(e + "position_embedding.weight", (npos, C), "embed")
    P.add("vision_model.pre_layrnorm.weight", (C,), "normw")
    P.add("vision_model.pre_layrnorm.bias", (C,), "normb")
    for i in range(cfg["num_hidden_layers"]):
        pre = "vision_model.encoder.layers.%d." % i
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            P.add(pre + "self_attn.%s.weight" % proj, (C, C), "linear")
            P.add(pre + "self_attn.%s.bias" % proj, (C,), "bias")
        P.add(pre + "layer_norm1.weight", (C,), "normw")
        P.add(pre + "layer_norm1.bias", (C,), "normb")
        P.add(pre + "mlp.fc1.weight", (I, C), "linear")
        P.add(pre + "mlp.fc1.bias", (I,), "bias")
        P.add(pre + "mlp.fc2.weight", (C, I), "linear")
        P.add(pre + "mlp.fc2.bias", (C,), "bias")
        P.add(pre + "layer_norm2.weight", (C,), "normw")
        P.add(pre + "layer_norm2.bias", (C,), "normb")
    P.add("vision_model.post_layernorm.weight", (C,), "normw")
    P.add("vision_model.post_layernorm.bias", (C,), "normb")
    return P


def clip_forward(cfg, P, pix):
    C, H = cfg["hidden_size"], cfg["num_attention_heads"]
    hd = C // H
    p = cfg["patch_size"]
    eps = cfg["layer_norm_eps"]
    B = pix.shape[0]
    e = "vision_model.embeddings."
    # conv stride p, no bias, written as unfold + matmul
    w = P[e + "patch_embedding.weight"]  # [C, ch, p, p]
    Bn, ch, Hh, Ww = pix.shape
    gh, gw = Hh // p, Ww // p
    patches = pix.reshape(B, ch, gh, p, gw, p).permute(0, 2, 4, 1, 3, 5).reshape(B, gh * gw, ch * p * p)
    x = patches @ w.reshape(C, ch * p * p).t()  # [B, N, C], patch order row-major (y, x)
    cls = P[e + "class_embedding"].expand(B, 1, C)
    x = torch.cat([cls, x], dim=1) + P[e + "position_embedding.weight"][None]
    x = layer_norm(x, P["vision_model.pre_layrnorm.weight"], P["vision_model.pre_layrnorm.bias"], eps)
    hs = [x]
    for i in range(cfg["num_hidden_layers"]):
        pre = "vision_model.encoder.layers.%d." % i
        y = layer_norm(x, P[pre + "layer_norm1.weight"], P[pre + "layer_norm1.bias"], eps)
        q = split_heads(linear(y, P, pre + "self_attn.q_proj"), H, hd)
        k = split_heads(linear(y, P, pre + "self_attn.k_proj"), H, hd)
        v = split_heads(linear(y, P, pre + "self_attn.v_proj"), H, hd)
        x = x + linear(merge_heads(attention(q, k, v)), P, pre + "self_attn.out_proj")
        y = layer_norm(x, P[pre + "layer_norm2.weight"], P[pre + "layer_norm2.bias"], eps)
        x = x + linear(quick_gelu(linear(y, P, pre + "mlp.fc1")), P, pre + "mlp.fc2")
        hs.append(x)
    pooled = layer_norm(x[:, 0], P["vision_model.post_layernorm.weight"],
                        P["vision_model.post_layernorm.bias"], eps)
    return hs, pooled


def clip_conv_check(cfg, P, pix):
    """Cross-check the unfold patch embedding against torch's conv2d."""
    p = cfg["patch_size"]
    w = P["vision_model.embeddings.patch_embedding.weight"].detach()
    ref = torch.nn.functional.conv2d(pix.detach(), w, stride=p).flatten(2).transpose(1, 2)
    B, ch, Hh, Ww = pix.shape
    gh, gw = Hh // p, Ww // p
    C = w.shape[0]
    patches = pix.detach().reshape(B, ch, gh, p, gw, p).permute(0, 2, 4, 1, 3, 5).reshape(B, gh * gw, -1)
    mine = patches @ w.reshape(C, -1).t()
    assert torch.allclose(ref, mine, atol=1e-12, rtol=0), "patch embedding mismatch"


def make_clip(cfg, seed):
    P = clip_params(cfg, seed)
    L, C = cfg["num_hidden_layers"], cfg["hidden_size"]
    s = cfg["image_size"]
    pix = P.data((2, cfg["num_channels"], s, s)).requires_grad_(True)
    ntok = 1 + (s // cfg["patch_size"]) ** 2
    loss_w = P.data((2, ntok, C))
    clip_conv_check(cfg, P, pix)
    hs, pooled = clip_forward(cfg, P, pix)
    loss = (hs[L] * loss_w).sum()
    names = [n for n in P.p if not n.startswith("vision_model.post_layernorm.")]
    grads = torch.autograd.grad(loss, [P[n] for n in names] + [pix])
    io = [("pixel_values", f32(pix))]
    for l in range(L + 1):
        io.append(("hidden_states.%d" % l, f32(hs[l])))
    io.append(("pooled", f32(pooled)))
    io.append(("loss_weight", f32(loss_w)))
    for n, g in zip(names, grads[:-1]):
        io.append(("grad." + n, f32(g)))
    io.append(("grad.pixel_values", f32(grads[-1])))
    return P, io, {"loss": "%.17g" % float(loss)}


# ----------------------------------------------------------------------------
# BLIP-2 Q-Former (query path only)
# ----------------------------------------------------------------------------

QFORMER_CFG = {
    "model_type": "blip_2_qformer",
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-12,
    "cross_attention_frequency": 2,
    "encoder_hidden_size": 24,
    "num_query_tokens": 4,
    "torch_dtype": "float32",
}


def qformer_params(cfg, seed):
    P = Params(seed)
    C, I, E = cfg["hidden_size"], cfg["intermediate_size"], cfg["encoder_hidden_size"]
    P.add("query_tokens", (1, cfg["num_query_tokens"], C), "embed")
    P.add("layernorm.weight", (C,), "normw")
    P.add("layernorm.bias", (C,), "normb")
    for i in range(cfg["num_hidden_layers"]):
        pre = "encoder.layer.%d." % i
        blocks = ["attention"]
        if i % cfg["cross_attention_frequency"] == 0:
            blocks.append("crossattention")
        for blk in blocks:
            kin = E if blk == "crossattention" else C
            P.add(pre + blk + ".attention.query.weight", (C, C), "linear")
            P.add(pre + blk + ".attention.query.bias", (C,), "bias")
            P.add(pre + blk + ".attention.key.weight", (C, kin), "linear")
            P.add(pre + blk + ".attention.key.bias", (C,), "bias")
            P.add(pre + blk + ".attention.value.weight", (C, kin), "linear")
            P.add(pre + blk + ".attention.value.bias", (C,), "bias")
            P.add(pre + blk + ".output.dense.weight", (C, C), "linear")
            P.add(pre + blk + ".output.dense.bias", (C,), "bias")
            P.add(pre + blk + ".output.LayerNorm.weight", (C,), "normw")
            P.add(pre + blk + ".output.LayerNorm.bias", (C,), "normb")
        P.add(pre + "intermediate_query.dense.weight", (I, C), "linear")
        P.add(pre + "intermediate_query.dense.bias", (I,), "bias")
        P.add(pre + "output_query.dense.weight", (C, I), "linear")
        P.add(pre + "output_query.dense.bias", (C,), "bias")
        P.add(pre + "output_query.LayerNorm.weight", (C,), "normw")
        P.add(pre + "output_query.LayerNorm.bias", (C,), "normb")
    return P


def qformer_forward(cfg, P, vision):
    C, H = cfg["hidden_size"], cfg["num_attention_heads"]
    hd = C // H
    eps = cfg["layer_norm_eps"]
    B = vision.shape[0]
    h = layer_norm(P["query_tokens"].expand(B, -1, -1), P["layernorm.weight"], P["layernorm.bias"], eps)
    hs = [h]
    for i in range(cfg["num_hidden_layers"]):
        pre = "encoder.layer.%d." % i
        blocks = [("attention", None)]
        if i % cfg["cross_attention_frequency"] == 0:
            blocks.append(("crossattention", vision))
        for blk, kv_src in blocks:
            src = h if kv_src is None else kv_src
            q = split_heads(linear(h, P, pre + blk + ".attention.query"), H, hd)
            k = split_heads(linear(src, P, pre + blk + ".attention.key"), H, hd)
            v = split_heads(linear(src, P, pre + blk + ".attention.value"), H, hd)
            a = linear(merge_heads(attention(q, k, v)), P, pre + blk + ".output.dense")
            h = layer_norm(h + a, P[pre + blk + ".output.LayerNorm.weight"],
                           P[pre + blk + ".output.LayerNorm.bias"], eps)
        f = linear(gelu_erf(linear(h, P, pre + "intermediate_query.dense")), P, pre + "output_query.dense")
        h = layer_norm(h + f, P[pre + "output_query.LayerNorm.weight"],
                       P[pre + "output_query.LayerNorm.bias"], eps)
        hs.append(h)
    return hs


def make_qformer(cfg, seed):
    P = qformer_params(cfg, seed)
    L, C, Q = cfg["num_hidden_layers"], cfg["hidden_size"], cfg["num_query_tokens"]
    vision = P.data((2, 17, cfg["encoder_hidden_size"])).requires_grad_(True)
    loss_w = P.data((2, Q, C))
    hs = qformer_forward(cfg, P, vision)
    loss = (hs[L] * loss_w).sum()
    names = list(P.p.keys())
    grads = torch.autograd.grad(loss, [P[n] for n in names] + [vision])
    io = [("vision", f32(vision))]
    for l in range(L + 1):
        io.append(("hidden_states.%d" % l, f32(hs[l])))
    io.append(("loss_weight", f32(loss_w)))
    for n, g in zip(names, grads[:-1]):
        io.append(("grad." + n, f32(g)))
    io.append(("grad.vision", f32(grads[-1])))
    return P, io, {"loss": "%.17g" % float(loss)}


# ----------------------------------------------------------------------------
# sanity checks against torch.nn building blocks (independent code paths)
# ----------------------------------------------------------------------------

def self_checks():
    g = torch.Generator().manual_seed(123)
    x = torch.randn(3, 5, 32, generator=g, dtype=F64)
    w = torch.randn(32, generator=g, dtype=F64)
    b = torch.randn(32, generator=g, dtype=F64)
    ref = torch.nn.functional.layer_norm(x, (32,), w, b, 1e-5)
    assert torch.allclose(layer_norm(x, w, b, 1e-5), ref, atol=1e-12)
    assert torch.allclose(gelu_erf(x), torch.nn.functional.gelu(x), atol=1e-12)
    assert torch.allclose(silu(x), torch.nn.functional.silu(x), atol=1e-12)


# ----------------------------------------------------------------------------

def write_model(name, cfg, P, io, info):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    weights = P.numpy_f32()
    meta = {"format": "pt"}
    wpath = os.path.join(d, "model.safetensors")
    write_safetensors(wpath, weights, meta)
    check_roundtrip(wpath, weights)
    iometa = {"format": "pt", "generator": "tests/ref/make_model_fixtures.py",
              "compute_dtype": "float64"}
    iometa.update(info)
    iopath = os.path.join(d, "io.safetensors")
    write_safetensors(iopath, io, iometa)
    check_roundtrip(iopath, io)
    total = 0
    for fn in sorted(os.listdir(d)):
        sz = os.path.getsize(os.path.join(d, fn))
        total += sz
        print("  %-40s %8d" % (os.path.join(name, fn), sz))
    print("  %-40s %8d  %s" % (name + "/ (total)", total, " ".join("%s=%s" % kv for kv in info.items())))
    assert total < 300 * 1024, "%s exceeds the size budget" % name


def main():
    torch.manual_seed(0)
    np.random.seed(0)
    self_checks()
    which = sys.argv[1:] or ["llama", "qwen2", "clip_vision", "qformer"]
    for name in which:
        if name == "llama":
            P, io, info = make_decoder(name, LLAMA_CFG, seed=1)
            write_model(name, LLAMA_CFG, P, io, info)
        elif name == "qwen2":
            P, io, info = make_decoder(name, QWEN2_CFG, seed=2)
            write_model(name, QWEN2_CFG, P, io, info)
        elif name == "clip_vision":
            P, io, info = make_clip(CLIP_CFG, seed=3)
            write_model(name, CLIP_CFG, P, io, info)
        elif name == "qformer":
            P, io, info = make_qformer(QFORMER_CFG, seed=4)
            write_model(name, QFORMER_CFG, P, io, info)
        else:
            raise SystemExit("unknown model %s" % name)


if __name__ == "__main__":
    main()
