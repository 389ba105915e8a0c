#!/usr/bin/env python3
"""The five steps behind v1-rans.emalog.zst (a slow damped random walk: small residuals, a small
fixture), and their XXH64. `w` F32 has 65636 elements (two segments), `b` BF16 and `h` F16 have
more than 4096 (one segment), `s` is too small for rANS."""
import os

import numpy as np
import torch
import xxhash
from safetensors.torch import save_file

g = np.random.default_rng(9)
w = (np.round(g.standard_normal(65636) * 50) / 1024).astype(np.float32)  # a cheap keyframe
b = (g.standard_normal(8192) * 0.1).astype(np.float32)
h = (g.standard_normal(4103) * 0.5).astype(np.float32)
s = g.standard_normal(8).astype(np.float32)
os.makedirs("steps", exist_ok=True)
vw, vb, vh = np.zeros_like(w), np.zeros_like(b), np.zeros_like(h)
for step in range(1, 6):
    vw = 0.9 * vw + 0.1 * g.standard_normal(w.shape).astype(np.float32) * 1e-8
    vb = 0.9 * vb + 0.1 * g.standard_normal(b.shape).astype(np.float32) * 1e-3
    vh = 0.9 * vh + 0.1 * g.standard_normal(h.shape).astype(np.float32) * 1e-3
    w = (w + vw).astype(np.float32)
    b = (b + vb).astype(np.float32)
    h = (h + vh).astype(np.float32)
    s = (s * 0.99).astype(np.float32)
    path = f"steps/step-{step:08d}.safetensors"
    save_file({"w": torch.from_numpy(w), "b": torch.from_numpy(b).to(torch.bfloat16),
               "h": torch.from_numpy(h).to(torch.float16), "s": torch.from_numpy(s)},
              path, metadata={"step": str(step)})
    print(path, xxhash.xxh64(open(path, "rb").read()).hexdigest())
