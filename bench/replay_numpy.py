#!/usr/bin/env python3
"""The issue's replay baseline: a numpy loop over the uncompressed step files computing an EMA
(decay 0.99, seed at the first step), timed. Compare with `emalog shadow --decay 0.99` on a log of
the same steps.

    python bench/replay_numpy.py /tmp/traj/steps
"""
import glob
import sys
import time

import numpy as np
from safetensors.numpy import load_file



def numpy_loop(files, decay=0.99):
    """The EMA of the files' floating tensors (seed at the first), as a numpy loop does it."""
    decay = np.float32(decay)
    shadow = None
    for path in files:
        step = load_file(path)
        if shadow is None:
            shadow = {k: v.astype(np.float32, copy=True) for k, v in step.items() if v.dtype.kind == "f"}
        else:
            for k, s in shadow.items():
                s *= decay
                s += (np.float32(1) - decay) * step[k].astype(np.float32, copy=False)
    return shadow


if __name__ == "__main__":
    files = sorted(glob.glob(sys.argv[1] + "/*.safetensors"))
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        numpy_loop(files)
        runs.append(time.perf_counter() - start)
    print(f"{len(files)} steps: median {sorted(runs)[2]:.3f} s (runs: {', '.join(f'{r:.3f}' for r in runs)})")
