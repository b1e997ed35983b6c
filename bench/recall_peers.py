# recall_peers.py — the peers of bench/recall-run: writes the shared random
# unit vectors (raw f32: nq queries then N candidates, fixed seed), times
# numpy (chunked Q C^T + argpartition top-k) and FAISS IndexFlatIP search on
# them, and compares top-k index sets per query. Needs /usr/bin/python3 with
# numpy and python3-faiss (apt-get install python3-faiss); bench only.
#   make FILE N nq d SEED
#   peers FILE N nq d k OUTPREFIX REPS   -> "NAME SECONDS" lines, OUTPREFIX.{faiss,numpy}.i64
#   compare FILE N nq d k A.i64 B.i64    -> "identical=.. tie_explained=.. other=.."
import sys
import time

import numpy as np


def load(path, N, nq, d):
    x = np.fromfile(path, dtype=np.float32).reshape(nq + N, d)
    return x[:nq], x[nq:]


def make(path, N, nq, d, seed):
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        for start in range(0, N + nq, 100000):
            n = min(100000, N + nq - start)
            x = rng.standard_normal((n, d), dtype=np.float32)
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            x.astype(np.float32).tofile(f)


def numpy_topk(Q, C, k, chunk):
    out = np.empty((Q.shape[0], k), dtype=np.int64)
    for s in range(0, Q.shape[0], chunk):
        S = Q[s:s + chunk] @ C.T
        out[s:s + chunk] = np.argpartition(-S, k - 1, axis=1)[:, :k]
    return out


def best_of(reps, fn):
    best, res = float("inf"), None
    for _ in range(reps):
        t0 = time.perf_counter()
        res = fn()
        best = min(best, time.perf_counter() - t0)
    return best, res


def peers(path, N, nq, d, k, prefix, reps):
    import faiss
    Q, C = load(path, N, nq, d)
    Q, C = np.ascontiguousarray(Q), np.ascontiguousarray(C)
    index = faiss.IndexFlatIP(d)
    index.add(C)
    t, (_, I) = best_of(reps, lambda: index.search(Q, k))
    print(f"faiss {t:.6f}", flush=True)
    I.astype(np.int64).tofile(prefix + ".faiss.i64")
    chunk = max(1, min(nq, (512 << 20) // (4 * N)))  # score chunk <= 512 MB
    t, I = best_of(reps, lambda: numpy_topk(Q, C, k, chunk))
    print(f"numpy {t:.6f}", flush=True)
    I.tofile(prefix + ".numpy.i64")


def compare(path, N, nq, d, k, a_path, b_path):
    """Per query: identical sets, or every differing index scores within 1e-6
    of the k-th best score (a tie at the boundary), or a real difference."""
    Q, C = load(path, N, nq, d)
    A = np.fromfile(a_path, dtype=np.int64).reshape(nq, k)
    B = np.fromfile(b_path, dtype=np.int64).reshape(nq, k)
    same = tie = other = 0
    for q in range(nq):
        sa, sb = set(A[q].tolist()), set(B[q].tolist())
        if sa == sb:
            same += 1
            continue
        diff = np.array(sorted(sa ^ sb), dtype=np.int64)
        kth = np.sort(C[A[q]] @ Q[q])[0]
        if np.all(np.abs(C[diff] @ Q[q] - kth) <= 1e-6):
            tie += 1
        else:
            other += 1
    print(f"identical={same} tie_explained={tie} other={other}")


if __name__ == "__main__":
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "make":
        make(a[0], int(a[1]), int(a[2]), int(a[3]), int(a[4]))
    elif cmd == "peers":
        peers(a[0], int(a[1]), int(a[2]), int(a[3]), int(a[4]), a[5], int(a[6]))
    elif cmd == "compare":
        compare(a[0], int(a[1]), int(a[2]), int(a[3]), int(a[4]), a[5], a[6])
    else:
        sys.exit("usage: recall_peers.py make|peers|compare ...")
