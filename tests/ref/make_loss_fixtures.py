#!/usr/bin/python3
"""Golden fixtures for the NoteLLM losses and embedding head (tests/unit/test_losses.c).

Independent PyTorch reference, written from the method notes
(/work/shared/reference/notellm-method.md sections 3.4-3.6 and 4.5-4.7), not
from the C code.  Inputs and weights are drawn in float32 from a seeded
generator, promoted to float64, and every loss and gradient is computed in
float64; expected values are stored rounded to F32 (inputs are stored exactly).
The GCL reference uses upstream's diagonal removal (subtract 1e12 from the
cosine before scaling); the C code masks to -inf, and the script asserts both
agree here.

Files (tests/fixtures/losses/):
  gcl.safetensors    emb_raw [6,8] (N=3), tau [1]; loss = GCL(L2norm(emb_raw), tau);
                     loss, grad.emb_raw, grad.tau
  head.safetensors   h [6,16], h_v [6,16], v [6,12], the head parameters under their
                     C names (mm_projector_latefusion.weight [16,12], gate.weight
                     [16,32], dim_reduction.weight [8,16], tau [1]);
                     plain.*: loss = GCL(head(h, v)), e [6,8] and grads of every
                     parameter and of h, v;  micl.*: loss = (9*GCL(head(h, v)) +
                     1*GCL(head(h_v, v))) / 10, e_v, and grads of every parameter and
                     of h (= h_m), h_v, v
  csft.safetensors   logits [2,5,11], labels [2,5] (I64, -100 = unsupervised), l_cl
                     (0-d, the gcl loss); gen_loss (HF shift, token mean), total =
                     (l_cl + 0.01*gen_loss)/1.01, grad.logits and grad.l_cl of total,
                     wo_gcl = 0.01*gen_loss

Rerun from the top directory (Debian python3-torch 1.13 + numpy; byte-identical):

    /usr/bin/python3 tests/ref/make_loss_fixtures.py
"""

import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_model_fixtures import check_roundtrip, write_safetensors  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(TOP, "tests", "fixtures", "losses")
F64 = torch.float64


def f32(t):
    return t.detach().to(torch.float32).numpy().copy()


def draw(gen, shape, scale=1.0):
    """float32 normal draws promoted to a float64 leaf."""
    x = torch.randn(*shape, generator=gen, dtype=torch.float32) * scale
    return x.to(F64).requires_grad_(True)


def gcl_upstream(e, tau):
    """Section 3.5: s = exp(tau) * (cos - 1e12*I), partner targets, mean CE over 2N rows."""
    R = e.shape[0]
    N = R // 2
    cos = e @ e.t()
    s = (cos - 1e12 * torch.eye(R, dtype=F64)) * tau.exp()
    tgt = torch.cat([torch.arange(N, 2 * N), torch.arange(0, N)])
    return F.cross_entropy(s, tgt)


def gcl_inf(e, tau):
    R = e.shape[0]
    N = R // 2
    s = (e @ e.t()) * tau.exp()
    s = s.masked_fill(torch.eye(R, dtype=torch.bool), float("-inf"))
    tgt = torch.cat([torch.arange(N, 2 * N), torch.arange(0, N)])
    return F.cross_entropy(s, tgt)


def l2n(x):
    return F.normalize(x, p=2, dim=-1, eps=1e-12)


def head(h, v, P):
    """Sections 4.6-4.7: v' = P v; z = sigmoid(W [h; v']); g = z*h + (1-z)*v'; e = L2norm(R g)."""
    vp = v @ P["mm_projector_latefusion.weight"].t()
    z = torch.sigmoid(torch.cat([h, vp], dim=-1) @ P["gate.weight"].t())
    g = z * h + (1 - z) * vp
    return l2n(g @ P["dim_reduction.weight"].t())


def gen_loss(logits, labels):
    """Section 3.6: HF causal shift, token mean over supervised labels."""
    V = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-100)


def write(name, tensors):
    path = os.path.join(OUT, name)
    write_safetensors(path, tensors, {"format": "pt"})
    check_roundtrip(path, tensors)
    print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))


def make_gcl(gen):
    emb_raw = draw(gen, (6, 8))
    tau = torch.tensor([2.5], dtype=F64, requires_grad=True)
    loss = gcl_upstream(l2n(emb_raw), tau[0])
    with torch.no_grad():
        alt = gcl_inf(l2n(emb_raw), tau[0])
    assert abs(loss.item() - alt.item()) < 1e-12, (loss.item(), alt.item())
    loss.backward()
    write("gcl.safetensors", [
        ("emb_raw", f32(emb_raw)), ("tau", f32(tau)),
        ("loss", f32(loss)), ("grad.emb_raw", f32(emb_raw.grad)), ("grad.tau", f32(tau.grad)),
    ])
    return loss.item()


def make_head(gen):
    B, C, Cv, d = 6, 16, 12, 8
    h = draw(gen, (B, C))
    h_v = draw(gen, (B, C))
    v = draw(gen, (B, Cv))
    P = {
        "mm_projector_latefusion.weight": draw(gen, (C, Cv), 1.0 / np.sqrt(Cv)),
        "gate.weight": draw(gen, (C, 2 * C), np.sqrt(2.0 / (3 * C))),
        "dim_reduction.weight": draw(gen, (d, C), 1.0 / np.sqrt(C)),
        "tau": torch.tensor([3.0], dtype=F64, requires_grad=True),
    }
    names = list(P)
    leaves = {"h": h, "h_v": h_v, "v": v}
    out = [("h", f32(h)), ("h_v", f32(h_v)), ("v", f32(v))] + [(n, f32(P[n])) for n in names]

    def zero_grads():
        for t in list(P.values()) + list(leaves.values()):
            t.grad = None

    # plain late fusion
    zero_grads()
    e = head(h, v, P)
    loss = gcl_upstream(e, P["tau"][0])
    loss.backward()
    out += [("plain.e", f32(e)), ("plain.loss", f32(loss))]
    out += [("plain.grad." + n, f32(P[n].grad)) for n in names]
    out += [("plain.grad.h", f32(h.grad)), ("plain.grad.v", f32(v.grad))]
    assert h_v.grad is None

    # mICL: the same v and gate for n^m (h) and n^v (h_v)
    zero_grads()
    e_m = head(h, v, P)
    e_v = head(h_v, v, P)
    l_m = gcl_upstream(e_m, P["tau"][0])
    l_v = gcl_upstream(e_v, P["tau"][0])
    loss = (9.0 * l_m + 1.0 * l_v) / (9.0 + 1.0)
    loss.backward()
    out += [("micl.e_v", f32(e_v)), ("micl.l_m", f32(l_m)), ("micl.l_v", f32(l_v)), ("micl.loss", f32(loss))]
    out += [("micl.grad." + n, f32(P[n].grad)) for n in names]
    out += [("micl.grad.h", f32(h.grad)), ("micl.grad.h_v", f32(h_v.grad)), ("micl.grad.v", f32(v.grad))]
    write("head.safetensors", out)


def make_csft(gen, l_cl_value):
    logits = draw(gen, (2, 5, 11), 2.0)
    labels = torch.tensor([[-100, -100, 3, 7, 10],
                           [-100, 0, 5, -100, 2]], dtype=torch.int64)
    l_cl = torch.tensor(np.float32(l_cl_value), dtype=torch.float32).to(F64).requires_grad_(True)
    alpha = 0.01
    lg = gen_loss(logits, labels)
    total = (l_cl + alpha * lg) / (1 + alpha)
    total.backward()
    write("csft.safetensors", [
        ("logits", f32(logits)), ("labels", labels.numpy().astype(np.int64)), ("l_cl", f32(l_cl)),
        ("gen_loss", f32(lg)), ("total", f32(total)), ("wo_gcl", f32(alpha * lg)),
        ("grad.logits", f32(logits.grad)), ("grad.l_cl", f32(l_cl.grad)),
    ])


def main():
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(20241129)
    l_cl = make_gcl(gen)
    make_head(gen)
    make_csft(gen, l_cl)


if __name__ == "__main__":
    main()
