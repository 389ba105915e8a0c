#!/usr/bin/env python3
"""Prints ema-pytorch's own decay, EMA.get_current_decay(), for a few profiles and update counts, as
exact hex floats: the goldens of decay_dtype=f32 in Tests/EMAKernelTests/ScheduleTests.swift.

ema-pytorch's update() number c (0-based) reads its decay after `self.step += 1`, so the decay of
update c is get_current_decay() with step = c + 1; emalog's n (steps since the log's first step)
is c when the log's first step is the first update. Output: ema_pytorch_decays.out.txt.
Usage: python ema_pytorch_decays.py   (needs torch and ema-pytorch)
"""
import importlib.metadata

import numpy as np
import torch
from ema_pytorch import EMA

PROFILES = [  # (beta, update_after_step, inv_gamma, power, min_value)
    (0.999, 0, 1.0, 2 / 3, 0.0),
    (0.9999, 100, 1.0, 2 / 3, 0.0),
    (0.995, 7, 3.0, 3 / 4, 0.1),
    (0.9, 0, 1e-9, 2 / 3, 0.0),
    # torch's pow fast paths: exponent -0.5 is rsqrt, -1 a reciprocal, -2 is 1/(b*b)
    (0.9999, 0, 1.0, 0.5, 0.0),
    (0.9999, 3, 7.0, 0.5, 0.0),
    (0.9999, 0, 3.0, 1.0, 0.0),
    (0.9999, 0, 3.0, 2.0, 0.0),
    (0.9999, 0, 7.0, 2.0, 0.0),
]
UPDATES = [1, 2, 3, 8, 9, 10, 16, 17, 101, 102, 117, 1000, 1234, 4321, 31622, 1_000_000]



def generic(c, beta, after, inv_gamma, power, min_value):
    """The general Float32 path (Double pow rounded once), to find the updates where it is not torch's."""
    epoch = np.float32(max(c - after, 0))
    base = np.float32(epoch / np.float32(inv_gamma)) + np.float32(1)
    value = np.float32(1) - np.float32(float(base) ** -power)
    return float(min(max(value, np.float32(min_value)), np.float32(beta))) if epoch > 0 else 0.0


print(f"torch {torch.__version__}, ema-pytorch {importlib.metadata.version('ema-pytorch')}")
for beta, after, inv_gamma, power, min_value in PROFILES:
    ema = EMA(torch.nn.Linear(1, 1), beta=beta, update_after_step=after, inv_gamma=inv_gamma, power=power,
              min_value=min_value)
    values = []
    # Plus the first updates (up to 5000) where torch's fast pow paths differ from the general one.
    special = []
    for c in range(1, 5001):
        if len(special) == 4:
            break
        ema.step.fill_(c + 1)
        if float(ema.get_current_decay()) != generic(c, beta, after, inv_gamma, power, min_value):
            special.append(c)
    for c in sorted(set(UPDATES) | set(special)):
        ema.step.fill_(c + 1)
        values.append(f"{c}:{float(ema.get_current_decay()).hex()}")
    print(f"beta={beta!r} after={after} inv_gamma={inv_gamma!r} power={power!r} min={min_value!r} " + " ".join(values))
