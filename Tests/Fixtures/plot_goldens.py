#!/usr/bin/env python3
"""Goldens for `plot` and `report`, computed independently of emalog with numpy.

1. TensorBoard's scalar smoothing (classicSmoothing in tensorboard/webapp/widgets/line_chart_v2,
   the same as vz_line_chart2/line-chart.ts): a debiased EMA; non-finite values pass through and do
   not enter the average; a constant series is returned as it is.
2. `plot --tracks` on Tests/Fixtures/mlp-f32: for two EMAs, the relative distance
   ||shadow - theta|| / ||theta|| over every floating tensor after each step's update (float64 sums
   of the float32 shadow), and the decay applied per step.
   - ema-0.9: constant 0.9, form seed: s = f32(1 - 0.9) * theta + f32(0.9) * s, each op in float32.
   - w: warmup decay=0.99 gamma=1 power=2/3 form=sub: s = s - f32(1 - b) * (s - theta).
   Both start as a copy of the first step. The values printed are in plot_goldens.out.txt; the
   Swift tests (PlotDataTests) hold them.

Run: python3 Tests/Fixtures/plot_goldens.py > Tests/Fixtures/plot_goldens.out.txt
"""
import json
import math
import os
import struct

import numpy as np


def tb_smooth(values, weight):
    if not values:
        return []
    if all(v == values[0] for v in values):
        return list(values)
    last, num_accum, out = 0.0, 0, []
    for v in values:
        if not math.isfinite(v):
            out.append(v)
            continue
        last = last * weight + (1 - weight) * v
        num_accum += 1
        debias = 1 - math.pow(weight, num_accum) if weight != 1 else 1
        out.append(last / debias)
    return out


def read_step(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        a, b = info["data_offsets"]
        tensors[name] = np.frombuffer(data[8 + n + a : 8 + n + b], dtype="<f4").copy()
    return tensors


def main():
    print("smoothing")
    series = [1.0, 0.5, float("nan"), 0.25, 2.0, float("inf"), -1.0, 0.125, 3.0, 0.0]
    for w in (0.6, 0.9, 0.99):
        print(w, [float(x).hex() if math.isfinite(x) else repr(x) for x in tb_smooth(series, w)])

    here = os.path.dirname(os.path.abspath(__file__))
    folder = os.path.join(here, "mlp-f32", "steps")
    files = sorted(f for f in os.listdir(folder) if f.endswith(".safetensors"))
    steps = [(int(f.split("-")[1].split(".")[0]), read_step(os.path.join(folder, f))) for f in files]
    first = steps[0][0]

    def warmup_decay(n):
        value = 1 - (1 + n / 1.0) ** (-2.0 / 3.0)
        return max(min(value, 0.99), 0.0)

    shadows = {"ema-0.9": None, "w": None}
    print("tracks")
    for step, theta in steps:
        n = step - first
        decays = {}
        for name in shadows:
            if shadows[name] is None:
                shadows[name] = {k: v.copy() for k, v in theta.items()}
                decays[name] = 0.0
                continue
            if name == "ema-0.9":
                rate, keep = np.float32(1.0 - 0.9), np.float32(0.9)
                for k in theta:
                    shadows[name][k] = (rate * theta[k]).astype(np.float32) + (keep * shadows[name][k]).astype(np.float32)
                decays[name] = 0.9
            else:
                b = warmup_decay(n)
                rate = np.float32(1.0 - b)
                for k in theta:
                    s = shadows[name][k]
                    shadows[name][k] = s - (rate * (s - theta[k])).astype(np.float32)
                decays[name] = b
        theta_sq = sum(float(np.sum(v.astype(np.float64) ** 2)) for v in theta.values())
        row = [step]
        for name in shadows:
            d = sum(float(np.sum((shadows[name][k].astype(np.float64) - theta[k].astype(np.float64)) ** 2)) for k in theta)
            row.append(math.sqrt(d / theta_sq).hex())
            row.append(float(decays[name]).hex())
        print(*row)


if __name__ == "__main__":
    main()
