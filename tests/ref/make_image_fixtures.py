#!/usr/bin/python3
"""Image fixtures for tests/unit/test_image.c (decoding and CLIP preprocessing).

What this generates (tests/fixtures/images/)
---------------------------------------------
* PNGs of every colour type and bit depth, written by the small encoder below
  (PIL cannot write most of them): grey 1/2/4/8/16, grey+tRNS, RGB 8/16,
  palette 1/2/4/8, palette+tRNS, grey+alpha 8/16, RGBA 8/16, and three Adam7
  interlaced ones.  Plus rgb8.png (37x23, written by PIL) and tall.png (45x73)
  for the preprocessing references.
* JPEGs written by PIL/libjpeg: RGB (4:2:0), greyscale, progressive, CMYK
  (Adobe, inverted as libjpeg writes it).
* WebPs written by PIL/libwebp: lossless, lossy, lossless with alpha.
* sniff-noext (a JPEG with no extension) and png-named.jpg (a PNG named .jpg).
* expected.safetensors:
    rgb/<file>   U8 [H,W,3]: what the file must decode to.  For the PNGs this
                 is computed from the generating samples (bit depths < 8
                 scaled by bit replication, 16-bit samples >> 8, alpha and tRNS
                 dropped) and cross-checked here against PIL's
                 Image.open(f).convert("RGB") -- except 16-bit greyscale, where
                 PIL clips the 16-bit value to 255 instead of taking the high
                 byte (OpenCV and notellm take the high byte).  For JPEG and
                 WebP it is PIL's decode (same system libjpeg-turbo/libwebp).
    pre/<name>   F32 [3,S,S]: torchvision's Resize(S, BICUBIC) + CenterCrop(S)
                 + ToTensor + Normalize(CLIP mean, std), reproduced with PIL
                 and torch (torchvision itself is not installed):
                   up   rgb8.png 37x23  -> S=32 (upscale; crop left 9.5 -> 10)
                   down tall.png 45x73  -> S=16 (downscale by 2.8, antialiased)
                   same rgb8.png 37x23  -> S=23 (no resize, crop only)

How to rerun
------------
From the top directory:  /usr/bin/python3 tests/ref/make_image_fixtures.py
(Debian python3-pil 9.4, numpy, python3-torch).  Seeded: reruns give the same
PNGs and expected values; JPEG/WebP bytes depend on the library versions.
`make check` never runs this script.
"""
import json
import os
import struct
import zlib

import numpy as np
import torch
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "images")
rng = np.random.default_rng(20261129)
expected = {}  # name -> np array (u8 or f32)


# ---- a minimal PNG encoder ---------------------------------------------------------

def chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def pack_rows(a, depth):
    """a: [h, w, ch] ints -> list of packed scanlines (no filter byte)."""
    rows = []
    for r in a:
        flat = r.reshape(-1)
        if depth == 16:
            rows.append(flat.astype(">u2").tobytes())
        elif depth == 8:
            rows.append(flat.astype(np.uint8).tobytes())
        else:
            bits = "".join(format(int(v), "0%db" % depth) for v in flat)
            bits += "0" * (-len(bits) % 8)
            rows.append(bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)))
    return rows


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def write_png(name, a, depth, ctype, palette=None, trns=None, interlace=False):
    h, w = a.shape[:2]
    raw = b""
    if interlace:
        for x0, y0, dx, dy in ADAM7:
            sub = a[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += b"".join(b"\0" + r for r in pack_rows(sub, depth))
    else:
        raw = b"".join(b"\0" + r for r in pack_rows(a, depth))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, int(interlace)))
    if palette is not None:
        png += chunk(b"PLTE", palette.astype(np.uint8).tobytes())
    if trns is not None:
        png += chunk(b"tRNS", trns)
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(png)


def expect_rgb(name, rgb, pil_may_differ=False):
    rgb = np.ascontiguousarray(rgb.astype(np.uint8))
    pil = np.asarray(Image.open(os.path.join(OUT, name)).convert("RGB"))
    if pil_may_differ:
        print("%-16s PIL agrees with >>8: %s (PIL clips 16-bit grey)" % (name, np.array_equal(pil, rgb)))
    else:
        assert np.array_equal(pil, rgb), name
    expected["rgb/" + name] = rgb


def scale(v, depth):
    """Samples of `depth` bits to 8 bits the way PNG decoders do."""
    if depth == 16:
        return v >> 8
    return v * (255 // ((1 << depth) - 1))


def png_fixtures():
    W, H = 19, 11
    for d in (1, 2, 4, 8, 16):
        g = rng.integers(0, 1 << d, size=(H, W, 1))
        write_png("g%d.png" % d, g, d, 0)
        expect_rgb("g%d.png" % d, np.repeat(scale(g, d), 3, axis=2), pil_may_differ=(d == 16))
    g = rng.integers(0, 256, size=(H, W, 1))
    write_png("g8-trns.png", g, 8, 0, trns=struct.pack(">H", int(g[0, 0, 0])))
    expect_rgb("g8-trns.png", np.repeat(g, 3, axis=2))
    for d in (8, 16):
        c = rng.integers(0, 1 << d, size=(H, W, 3))
        write_png("rgb%d.png" % d, c, d, 2)
        expect_rgb("rgb%d.png" % d, scale(c, d))
    for d in (1, 2, 4, 8):
        n = 1 << d if d < 8 else 200
        pal = rng.integers(0, 256, size=(n, 3))
        idx = rng.integers(0, n, size=(H, W, 1))
        write_png("p%d.png" % d, idx, d, 3, palette=pal)
        expect_rgb("p%d.png" % d, pal[idx[..., 0]])
    pal = rng.integers(0, 256, size=(16, 3))
    idx = rng.integers(0, 16, size=(H, W, 1))
    write_png("p4-trns.png", idx, 4, 3, palette=pal, trns=bytes(rng.integers(0, 256, size=16).astype(np.uint8)))
    expect_rgb("p4-trns.png", pal[idx[..., 0]])
    for d in (8, 16):
        ga = rng.integers(0, 1 << d, size=(H, W, 2))
        write_png("ga%d.png" % d, ga, d, 4)
        expect_rgb("ga%d.png" % d, np.repeat(scale(ga[..., :1], d), 3, axis=2), pil_may_differ=(d == 16))
        rgba = rng.integers(0, 1 << d, size=(H, W, 4))
        write_png("rgba%d.png" % d, rgba, d, 6)
        expect_rgb("rgba%d.png" % d, scale(rgba[..., :3], d))
    # Adam7: sizes chosen so some passes are empty in one direction.
    c = rng.integers(0, 256, size=(13, 10, 3))
    write_png("rgb8-adam7.png", c, 8, 2, interlace=True)
    expect_rgb("rgb8-adam7.png", c)
    pal = rng.integers(0, 256, size=(16, 3))
    idx = rng.integers(0, 16, size=(5, 3, 1))
    write_png("p4-adam7.png", idx, 4, 3, palette=pal, interlace=True)
    expect_rgb("p4-adam7.png", pal[idx[..., 0]])
    ga = rng.integers(0, 65536, size=(H, W, 2))
    write_png("ga16-adam7.png", ga, 16, 4, interlace=True)
    expect_rgb("ga16-adam7.png", np.repeat(ga[..., :1] >> 8, 3, axis=2), pil_may_differ=True)


# ---- photo-like sources --------------------------------------------------------------

def photo(w, h, noise):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([128 + 100 * np.sin(x / 5.0 + y / 9.0),
                     128 + 90 * np.cos(x / 7.0 - y / 4.0),
                     255 * (x + y) / (w + h)], axis=2)
    base += rng.normal(0, noise, size=base.shape)
    return Image.fromarray(np.clip(np.round(base), 0, 255).astype(np.uint8), "RGB")


def from_pil(name):
    expected["rgb/" + name] = np.ascontiguousarray(np.asarray(Image.open(os.path.join(OUT, name)).convert("RGB")))


MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def clip_preprocess(im, size):
    """torchvision Resize(size, BICUBIC), CenterCrop(size), ToTensor, Normalize."""
    w, h = im.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    nw, nh = (new_short, new_long) if w <= h else (new_long, new_short)
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), Image.BICUBIC)
    top = int(round((nh - size) / 2.0))
    left = int(round((nw - size) / 2.0))
    im = im.crop((left, top, left + size, top + size))
    t = torch.from_numpy(np.array(im, np.uint8, copy=True)).view(size, size, 3).permute(2, 0, 1).contiguous()
    t = t.to(dtype=torch.float32).div(255)
    mean = torch.as_tensor(MEAN, dtype=torch.float32)[:, None, None]
    std = torch.as_tensor(STD, dtype=torch.float32)[:, None, None]
    return t.sub_(mean).div_(std).numpy()


def main():
    os.makedirs(OUT, exist_ok=True)
    png_fixtures()

    src = photo(37, 23, 12.0)
    src.save(os.path.join(OUT, "rgb8.png"))
    from_pil("rgb8.png")
    tall = photo(45, 73, 20.0)
    tall.save(os.path.join(OUT, "tall.png"))
    from_pil("tall.png")
    expected["pre/up"] = clip_preprocess(src, 32)
    expected["pre/down"] = clip_preprocess(tall, 16)
    expected["pre/same"] = clip_preprocess(src, 23)

    src.save(os.path.join(OUT, "rgb.jpg"), quality=90)
    from_pil("rgb.jpg")
    src.convert("L").save(os.path.join(OUT, "grey.jpg"), quality=90)
    from_pil("grey.jpg")
    src.save(os.path.join(OUT, "progressive.jpg"), quality=85, progressive=True)
    from_pil("progressive.jpg")
    src.convert("CMYK").save(os.path.join(OUT, "cmyk.jpg"), quality=95)
    assert Image.open(os.path.join(OUT, "cmyk.jpg")).mode == "CMYK"
    from_pil("cmyk.jpg")
    src.save(os.path.join(OUT, "lossless.webp"), lossless=True)
    from_pil("lossless.webp")
    assert np.array_equal(expected["rgb/lossless.webp"], np.asarray(src))
    src.save(os.path.join(OUT, "lossy.webp"), quality=80)
    from_pil("lossy.webp")
    rgba = src.copy()
    rgba.putalpha(Image.fromarray(rng.integers(1, 256, size=(23, 37)).astype(np.uint8)))
    rgba.save(os.path.join(OUT, "alpha.webp"), lossless=True, exact=True)
    from_pil("alpha.webp")

    src.save(os.path.join(OUT, "sniff-noext"), format="JPEG", quality=90)
    from_pil("sniff-noext")
    src.save(os.path.join(OUT, "png-named.jpg"), format="PNG")
    from_pil("png-named.jpg")

    write_safetensors(os.path.join(OUT, "expected.safetensors"), expected)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print("wrote %d files, %d bytes" % (len(os.listdir(OUT)), total))


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        dt = {np.dtype(np.uint8): "U8", np.dtype(np.float32): "F32"}[a.dtype]
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


if __name__ == "__main__":
    main()
