# train_torch.py — the PyTorch side of bench/train-run: one training step
# (forward, backward, clipping, AdamW) of the same NoteLLM-2 / NoteLLM models
# as bench/train.scm, with the shapes it recorded (rows and padded lengths T
# per step, vocabulary, widths) in SHAPES, on random token ids and pixels.
# Prints per configuration
#   NAME steps_per_s X notes_per_s Y best_s B median_s M notes N flops F
# where F is the analytic FLOP count of one step (see flops() below).
# Usage: python3 bench/train_torch.py SHAPES [THREADS]. Needs Debian's
# python3-torch; never used by the build or the tests.
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

shapes = json.load(open(sys.argv[1]))
threads = int(sys.argv[2]) if len(sys.argv) > 2 else shapes["threads"]
torch.set_num_threads(threads)
torch.manual_seed(0)


def attention(q, k, v, mask):
    """q [B,H,Tq,D], k/v [B,H,Tk,D], mask [B,1,Tq,Tk] bool (True = keep) or None."""
    s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    return s.softmax(-1) @ v


# ---- LLaMA-style decoder --------------------------------------------------------------
class RMSNorm(nn.Module):
    def __init__(self, c, eps=1e-6):
        super().__init__()
        self.w, self.eps = nn.Parameter(torch.ones(c)), eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.w


def rope(x, cos, sin):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return x * cos + torch.cat((-x2, x1), -1) * sin


class DecoderLayer(nn.Module):
    def __init__(self, c, inter, nh, nkv, hd):
        super().__init__()
        self.nh, self.nkv, self.hd = nh, nkv, hd
        self.n1, self.n2 = RMSNorm(c), RMSNorm(c)
        self.q = nn.Linear(c, nh * hd, bias=False)
        self.k = nn.Linear(c, nkv * hd, bias=False)
        self.v = nn.Linear(c, nkv * hd, bias=False)
        self.o = nn.Linear(nh * hd, c, bias=False)
        self.gate = nn.Linear(c, inter, bias=False)
        self.up = nn.Linear(c, inter, bias=False)
        self.down = nn.Linear(inter, c, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        h = self.n1(x)
        q = self.q(h).view(B, T, self.nh, self.hd).transpose(1, 2)
        k = self.k(h).view(B, T, self.nkv, self.hd).transpose(1, 2)
        v = self.v(h).view(B, T, self.nkv, self.hd).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        if self.nkv != self.nh:  # GQA
            k = k.repeat_interleave(self.nh // self.nkv, 1)
            v = v.repeat_interleave(self.nh // self.nkv, 1)
        a = attention(q, k, v, mask).transpose(1, 2).reshape(B, T, -1)
        x = x + self.o(a)
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class LLM(nn.Module):
    def __init__(self, cfg, vocab):
        super().__init__()
        c = cfg["hidden"]
        self.embed = nn.Embedding(vocab, c)
        self.layers = nn.ModuleList(
            DecoderLayer(c, cfg["intermediate"], cfg["heads"], cfg["kv_heads"], cfg["head_dim"])
            for _ in range(cfg["layers"]))
        self.norm = RMSNorm(c)
        self.lm_head = nn.Linear(c, vocab, bias=False)  # untied, as notellm's tiny LLM
        hd = cfg["head_dim"]
        self.inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2).float() / hd))

    def forward(self, emb, keep):
        """emb [B,T,C], keep [B,T] bool (real tokens) -> final-norm hidden [B,T,C]."""
        B, T, _ = emb.shape
        f = torch.outer(torch.arange(T).float(), self.inv_freq)
        f = torch.cat((f, f), -1)
        cos, sin = f.cos(), f.sin()
        mask = torch.ones(T, T, dtype=torch.bool).tril()[None, None] & keep[:, None, None, :]
        x = emb
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        return self.norm(x)


# ---- CLIP-style ViT (frozen) ----------------------------------------------------------
class ViTLayer(nn.Module):
    def __init__(self, c, inter, nh):
        super().__init__()
        self.nh = nh
        self.ln1, self.ln2 = nn.LayerNorm(c), nn.LayerNorm(c)
        self.qkv = nn.Linear(c, 3 * c)
        self.o = nn.Linear(c, c)
        self.fc1, self.fc2 = nn.Linear(c, inter), nn.Linear(inter, c)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(B, T, 3, self.nh, C // self.nh).permute(2, 0, 3, 1, 4)
        x = x + self.o(attention(q, k, v, None).transpose(1, 2).reshape(B, T, C))
        h = self.fc1(self.ln2(x))
        return x + self.fc2(h * torch.sigmoid(1.702 * h))  # quick_gelu


class ViT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c, p, s = cfg["hidden"], cfg["patch_size"], cfg["image_size"]
        self.patch = nn.Conv2d(3, c, p, p, bias=False)
        self.cls = nn.Parameter(torch.randn(c) * 0.02)
        self.pos = nn.Parameter(torch.randn((s // p) ** 2 + 1, c) * 0.02)
        self.pre = nn.LayerNorm(c)
        self.layers = nn.ModuleList(ViTLayer(c, cfg["intermediate"], cfg["heads"]) for _ in range(cfg["layers"]))
        self.post = nn.LayerNorm(c)

    def forward(self, px):
        x = self.patch(px).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls.expand(x.shape[0], 1, -1), x), 1) + self.pos
        x = self.pre(x)
        for layer in self.layers:
            x = layer(x)
        return x, self.post(x[:, 0])


# ---- BLIP-2 Q-Former --------------------------------------------------------------------
class BertAttn(nn.Module):
    def __init__(self, c, kv_c, nh):
        super().__init__()
        self.nh = nh
        self.q, self.k, self.v = nn.Linear(c, c), nn.Linear(kv_c, c), nn.Linear(kv_c, c)
        self.o, self.ln = nn.Linear(c, c), nn.LayerNorm(c, eps=1e-12)

    def forward(self, x, kv, p):
        B, T, C = x.shape
        S = kv.shape[1]
        q = self.q(x).view(B, T, self.nh, -1).transpose(1, 2)
        k = self.k(kv).view(B, S, self.nh, -1).transpose(1, 2)
        v = self.v(kv).view(B, S, self.nh, -1).transpose(1, 2)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
        a = F.dropout(s.softmax(-1), p, self.training) @ v
        return self.ln(x + F.dropout(self.o(a.transpose(1, 2).reshape(B, T, C)), p, self.training))


class QFormerLayer(nn.Module):
    def __init__(self, c, enc_c, inter, nh, cross):
        super().__init__()
        self.self_attn = BertAttn(c, c, nh)
        self.cross = BertAttn(c, enc_c, nh) if cross else None
        self.fc1, self.fc2, self.ln = nn.Linear(c, inter), nn.Linear(inter, c), nn.LayerNorm(c, eps=1e-12)

    def forward(self, x, enc, p):
        x = self.self_attn(x, x, p)
        if self.cross is not None:
            x = self.cross(x, enc, p)
        return self.ln(x + F.dropout(self.fc2(F.gelu(self.fc1(x))), p, self.training))


class QFormer(nn.Module):
    def __init__(self, cfg, enc_c):
        super().__init__()
        c = cfg["hidden"]
        self.query = nn.Parameter(torch.randn(cfg["queries"], c) * 0.02)
        self.ln = nn.LayerNorm(c, eps=1e-12)
        f = cfg["cross_attention_frequency"]
        self.layers = nn.ModuleList(QFormerLayer(c, enc_c, cfg["intermediate"], cfg["heads"], i % f == 0)
                                    for i in range(cfg["layers"]))

    def forward(self, enc, p=0.1):
        x = F.dropout(self.ln(self.query.expand(enc.shape[0], -1, -1)), p, self.training)
        for layer in self.layers:
            x = layer(x, enc, p)
        return x


# ---- the composite and its losses -------------------------------------------------------
def gcl(e, tau):
    R = e.shape[0]
    N = R // 2
    part = torch.cat((torch.arange(N, R), torch.arange(0, N)))
    s = (e @ e.t()) * tau.exp()
    s = s.masked_fill(torch.eye(R, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(s, part)


class NoteLLM(nn.Module):
    def __init__(self, cfg, vocab):
        super().__init__()
        self.cfg = cfg
        c, d = cfg["llm"]["hidden"], cfg["dim"]
        self.llm = LLM(cfg["llm"], vocab)
        if cfg["visual_tokens"]:
            cv, cq = cfg["vision"]["hidden"], cfg["qformer"]["hidden"]
            self.vit = ViT(cfg["vision"]).requires_grad_(False)
            self.qformer = QFormer(cfg["qformer"], cv)
            self.projector = nn.Sequential(nn.Linear(cq, c), nn.GELU(), nn.Linear(c, c))  # mlp2x_gelu
        if cfg["late_fusion"]:
            self.proj_w = nn.Linear(cfg["vision"]["hidden"], c, bias=False)
            self.gate_w = nn.Linear(2 * c, c, bias=False)
        self.red_w = nn.Linear(c, d, bias=False)
        self.tau = nn.Parameter(torch.zeros(1))

    def head(self, h, cls):
        if cls is not None:  # late fusion: v + sigmoid(W[h;v]) * (h - v)
            v = self.proj_w(cls)
            z = torch.sigmoid(self.gate_w(torch.cat((h, v), 1)))
            h = v + z * (h - v)
        return F.normalize(self.red_w(h), dim=-1, eps=1e-12)

    def loss(self, b):
        ids, keep = b["ids"], b["keep"]
        B = ids.shape[0]
        emb = self.llm.embed(ids)
        cls = None
        rows = torch.arange(B)
        readout, vreadout = b["readout"], b["vreadout"]
        if self.cfg["visual_tokens"]:
            with torch.no_grad():
                feat, cls = self.vit(b["pixels"])
            vis = self.projector(self.qformer(feat))
            NQ = vis.shape[1]
            slot = b["slot"]
            emb = torch.stack([torch.cat((emb[i, : slot[i]], vis[i], emb[i, slot[i] + 1 :])) for i in range(B)])
            keep = torch.stack([torch.cat((keep[i, : slot[i]], torch.ones(NQ, dtype=torch.bool), keep[i, slot[i] + 1 :]))
                                for i in range(B)])
            st = torch.tensor(slot)
            readout = readout + (NQ - 1) * (readout > st)
            vreadout = vreadout + (NQ - 1) * (vreadout > st)
        hidden = self.llm(emb, keep)
        late = cls if self.cfg["late_fusion"] else None
        e = self.head(hidden[rows, readout], late)
        l_cl = gcl(e, self.tau)
        if self.cfg["micl"]:
            l_v = gcl(self.head(hidden[rows, vreadout], late), self.tau)
            return (9 * l_cl + 1 * l_v) / 10
        if self.cfg["csft"]:
            logits = self.llm.lm_head(hidden)
            l_gen = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), b["labels"][:, 1:].reshape(-1),
                                    ignore_index=-100)
            a = 0.01
            return l_cl / (1 + a) + l_gen * a / (1 + a)
        return l_cl


def make_batch(cfg, vocab, rows, T, n_labels, g):
    ids = torch.randint(0, vocab, (rows, T), generator=g)
    lengths = torch.randint(int(0.7 * T), T + 1, (rows,), generator=g)
    lengths[0] = T
    keep = torch.arange(T)[None] < lengths[:, None]
    b = {"ids": ids, "keep": keep}
    b["readout"] = lengths - 1
    b["vreadout"] = lengths - 2
    b["slot"] = (lengths // 2).tolist()
    labels = torch.full((rows, T), -100, dtype=torch.long)
    per_row = max(1, n_labels // rows)
    for i in range(rows):
        L = int(lengths[i])
        labels[i, max(0, L - per_row) : L] = ids[i, max(0, L - per_row) : L]
    b["labels"] = labels
    if cfg["visual_tokens"]:
        s = cfg["vision"]["image_size"]
        b["pixels"] = torch.randn(rows, 3, s, s, generator=g)
    return b


def flops(cfg, vocab, rows, T, lm_rows=None, notellm=False):
    """Analytic FLOPs of one step (multiply-add = 2): trainable matmuls cost
    6 x params x tokens (forward 2, backward 4), attention score and value
    products 3 x 4 x T'^2 x C per layer and row (full square, no causal
    saving), the frozen ViT forward only 2 x params x tokens + 4 x S^2 x C per
    layer. Norms, softmax, element-wise work and the GCL [R,R] are left out.
    The LM head (CSFT) runs over lm_rows positions: every token here (as
    HF's causal-LM heads do), only the supervised ones in notellm. notellm:
    without CSFT the last layer's queries, output projection and MLP run at
    the read-out rows only (1 per note, 2 under mICL; keys and values at
    every token), as notellm computes them."""
    L = cfg["llm"]
    C, I, nl = L["hidden"], L["intermediate"], L["layers"]
    Tp = T + (cfg["visual_tokens"] - 1 if cfg["visual_tokens"] else 0)
    tok = rows * Tp
    p_qo, p_kv, p_mlp = 2 * C * C, 2 * C * L["kv_heads"] * L["head_dim"], 3 * C * I
    f = 6 * nl * (p_qo + p_kv + p_mlp) * tok + 3 * 4 * nl * rows * Tp * Tp * C
    if notellm and not cfg["csft"]:
        sel = rows * (2 if cfg["micl"] else 1)
        f -= 6 * (p_qo + p_mlp) * (tok - sel) + 3 * 4 * rows * (Tp - sel // rows) * Tp * C
    if cfg["csft"]:
        f += 6 * C * vocab * (tok if lm_rows is None else lm_rows)
    if cfg["visual_tokens"]:
        V, Q = cfg["vision"], cfg["qformer"]
        cv, S = V["hidden"], (V["image_size"] // V["patch_size"]) ** 2 + 1
        f += 2 * (3 * V["patch_size"] ** 2 * cv) * rows * (S - 1)
        f += V["layers"] * rows * (2 * (4 * cv * cv + 2 * cv * V["intermediate"]) * S + 4 * S * S * cv)
        cq, nq = Q["hidden"], Q["queries"]
        ncross = sum(1 for i in range(Q["layers"]) if i % Q["cross_attention_frequency"] == 0)
        per = Q["layers"] * (4 * cq * cq + 2 * cq * Q["intermediate"]) * nq + ncross * (2 * cq * cq * nq + 2 * cq * cv * S)
        f += 6 * rows * per + 3 * rows * 4 * cq * (Q["layers"] * nq * nq + ncross * nq * S)
        f += 6 * rows * nq * (cq * C + C * C)  # projector
    return f


def bench(cfg):
    vocab = cfg["vocab"]
    model = NoteLLM(cfg, vocab).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, betas=(0.9, 0.999),
                            eps=1e-8, weight_decay=0.001)
    g = torch.Generator().manual_seed(1)
    Ts, rows = cfg["T"], cfg["rows"]
    batches = [make_batch(cfg, vocab, rows[i], Ts[i], cfg["labels"][i], g) for i in range(len(Ts))]
    times = []
    for i, b in enumerate(batches):
        t0 = time.perf_counter()
        loss = model.loss(b)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        dt = time.perf_counter() - t0
        if i >= cfg["warmup"]:
            times.append(dt)
    med, best = statistics.median(times), min(times)
    timed = range(cfg["warmup"], len(Ts))
    notes = sum(rows[i] for i in timed) / len(timed)
    fl = sum(flops(cfg, vocab, rows[i], Ts[i]) for i in timed) / len(timed)
    nl_fl = sum(flops(cfg, vocab, rows[i], Ts[i], cfg["labels"][i], True) for i in timed) / len(timed)
    n_all = sum(p.numel() for p in model.parameters())
    print(f"{cfg['name']} steps_per_s {1 / med:.4f} notes_per_s {notes / med:.2f} best_s {best:.5f} "
          f"median_s {med:.5f} notes {notes:g} flops {fl:.4e} nl_flops {nl_fl:.4e}")
    print(f"{cfg['name']}: torch params {n_all} (notellm {cfg['params']}), threads {torch.get_num_threads()}",
          file=sys.stderr)


for cfg in shapes["configs"]:
    bench(cfg)
