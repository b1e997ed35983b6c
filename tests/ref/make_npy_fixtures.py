#!/usr/bin/python3
"""make_npy_fixtures.py — .npy files written by numpy itself for
tests/unit/test_embfile.c: an exported embedding table as a FAISS user would
write it, and the variants notellm must refuse. Run once:
    /usr/bin/python3 tests/ref/make_npy_fixtures.py
(rewrites tests/fixtures/npy/ byte-identically; make check never runs it)."""
import os
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "npy")
os.makedirs(OUT, exist_ok=True)

# Unit rows with values exact in float32 (test_embfile.c repeats them).
emb = np.array([[0.6, 0.8, 0.0, 0.0],
                [0.0, 0.0, 1.0, 0.0],
                [0.5, 0.5, 0.5, 0.5]], dtype="<f4")
np.save(os.path.join(OUT, "emb.npy"), emb)
with open(os.path.join(OUT, "emb.ids.txt"), "w", encoding="utf-8") as f:
    f.write("n1\nnote-二\nn3\n")

np.save(os.path.join(OUT, "fortran.npy"), np.asfortranarray(emb))    # Fortran order
np.save(os.path.join(OUT, "f64.npy"), emb.astype("<f8"))              # wrong dtype
np.save(os.path.join(OUT, "bigendian.npy"), emb.astype(">f4"))        # wrong byte order
np.save(os.path.join(OUT, "vector.npy"), np.arange(5, dtype="<f4"))   # 1-d: loads, not an embedding table
