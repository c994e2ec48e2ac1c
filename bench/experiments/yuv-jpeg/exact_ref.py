#!/usr/bin/env python3
"""Diagnostic only: float-exact BT.601 limited-range yuv420p -> rgb24 with
nearest-neighbour (2x2 replicated) chroma, i.e. what swscale's default
yuv420p->rgb24 path computes, minus its fixed-point rounding.
Usage: exact_ref.py FRAMES.yuv OUT.rgb   (1920x1080 frames; needs numpy)"""
import sys
import numpy as np

W, H = 1920, 1080
FS = W * H * 3 // 2
src, dst = sys.argv[1], sys.argv[2]
data = np.fromfile(src, np.uint8)
n = data.size // FS
with open(dst, "wb") as out:
    for i in range(n):
        f = data[i * FS:(i + 1) * FS]
        y = (f[:W * H].reshape(H, W).astype(np.float64) - 16) * 255 / 219
        u = f[W * H:W * H * 5 // 4].reshape(H // 2, W // 2).repeat(2, 0).repeat(2, 1)
        v = f[W * H * 5 // 4:].reshape(H // 2, W // 2).repeat(2, 0).repeat(2, 1)
        cb = (u.astype(np.float64) - 128) * 255 / 224
        cr = (v.astype(np.float64) - 128) * 255 / 224
        rgb = np.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], -1)
        out.write(np.clip(np.floor(rgb + 0.5), 0, 255).astype(np.uint8).tobytes())
print(f"{n} frames -> {dst}")
