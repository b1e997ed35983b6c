# ops_torch.py — the PyTorch side of bench/run: the same workloads as
# bench/ops.scm, printed as "NAME SECONDS" (best of N). Needs Debian's
# python3-torch; never used by the build or the tests.
import time
import torch
import torch.nn.functional as F

torch.manual_seed(0)


def best_of(n, fn):
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def report(name, secs):
    print(f"{name} {secs:.6f}")


a, b = torch.rand(1024, 1024), torch.rand(1024, 1024)
report("matmul-1024", best_of(10, lambda: a @ b))

x = torch.rand(256, 512)
l1, l2 = torch.nn.Linear(512, 2048), torch.nn.Linear(2048, 512)


def mlp():
    l2(F.gelu(l1(x))).sum().backward()
    for p in list(l1.parameters()) + list(l2.parameters()):
        p.grad = None


report("mlp-fwd-bwd", best_of(10, mlp))

q, k, v = (torch.rand(4, 8, 128, 64, requires_grad=True) for _ in range(3))
mask = torch.ones(128, 128, dtype=torch.bool).tril()


def attention():
    s = (q @ k.transpose(-1, -2)) / 8.0
    p = s.masked_fill(~mask, float("-inf")).softmax(-1)
    (p @ v).sum().backward()
    q.grad = k.grad = v.grad = None


report("attention-fwd-bwd", best_of(10, attention))

logits = torch.rand(256, 32000, requires_grad=True)
targets = torch.arange(256)


def xent():
    F.cross_entropy(logits, targets).backward()
    logits.grad = None


report("cross-entropy-32k", best_of(10, xent))
