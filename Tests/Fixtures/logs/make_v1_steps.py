#!/usr/bin/env python3
"""The six steps behind v1-zstd-codecs.emalog.zst (a damped random walk), and their XXH64."""
import os

import numpy as np
import torch
import xxhash
from safetensors.torch import save_file

g = np.random.default_rng(5)
w = g.standard_normal((64, 80)).astype(np.float32) * 0.05
b = (g.standard_normal(4096) * 0.1).astype(np.float32)
s = g.standard_normal(8).astype(np.float32)
os.makedirs("steps", exist_ok=True)
vw = np.zeros_like(w)
vb = np.zeros_like(b)
for step in range(1, 7):
    vw = 0.9 * vw + 0.1 * g.standard_normal(w.shape).astype(np.float32) * 1e-3
    vb = 0.9 * vb + 0.1 * g.standard_normal(b.shape).astype(np.float32) * 1e-3
    w = (w + vw).astype(np.float32)
    b = (b + vb).astype(np.float32)
    s = (s * 0.99).astype(np.float32)
    path = f"steps/step-{step:08d}.safetensors"
    save_file({"w": torch.from_numpy(w), "b": torch.from_numpy(b).to(torch.bfloat16), "s": torch.from_numpy(s)},
              path, metadata={"step": str(step)})
    print(path, xxhash.xxh64(open(path, "rb").read()).hexdigest())
