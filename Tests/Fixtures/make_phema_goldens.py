#!/usr/bin/env python3
"""Golden shadows of EDM2's post-hoc EMA synthesis, computed independently of emalog.

Two power-function EMA tracks (EDM2 `PowerFunctionEMA`: beta = (1 - 1/t) ** (gamma + 1) in Python
floats, `lerp_` in float32; the first step copied) run over mlp-f32's steps 1..24 with snapshots
every 4 steps. Then, as NVlabs/edm2 does (training/phema.py `solve_posthoc_coefficients`, Algorithm
3 of Karras et al. 2024; reconstruct_phema.py's accumulation): the snapshots at or before the
target step, ordered by (step, sigma_rel), are weighed by the least-squares coefficients that fit
the target profile (numpy float64, `np.linalg.solve`, normalised to sum 1), and summed in torch
float32 (`out += snapshot * coef`: the coefficient cast to float32, each product and each sum
rounded). The target's exponent comes from sigma_rel by EDM2's Algorithm 2 (`np.roots`); the
tracks are given by gamma, as emalog's specs are. Integer tensors are the raw values at the target.

This file implements the published equations (123, 126, 151) itself; it was checked against
phema.py by reading it. Usage: python make_phema_goldens.py (needs numpy, torch, safetensors);
writes golden/phema-*.safetensors and prints what make_phema_goldens.out.txt holds.
"""
import os

import numpy as np
import torch
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
GAMMAS = {"a": 16.97, "b": 6.94}
SNAPSHOT_EVERY = 4
TARGETS = [(0.07, 24), (0.15, 24), (0.07, 12)]


def sigma_rel(gamma):  # EDM2 eq. 123
    gamma = np.float64(gamma)
    return np.sqrt((gamma + 1) / (gamma + 2) ** 2 / (gamma + 3))


def gamma_of(sigma):  # EDM2 eq. 126, Algorithm 2
    t = np.float64(sigma) ** -2
    return np.roots([1, 7, 16 - t, 12 - t]).real.max()


def correlation(a_t, a_g, b_t, b_g):  # EDM2 eq. 151, Algorithm 3
    ratio = a_t / b_t
    exponent = np.where(a_t < b_t, b_g, -a_g)
    return (a_g + 1) * (b_g + 1) * ratio ** exponent / ((a_g + b_g + 1) * np.maximum(a_t, b_t))


def steps():
    for s in range(1, 25):
        yield s, load_file(os.path.join(HERE, "mlp-f32", "steps", f"step-{s:08d}.safetensors"))


def main():
    torch.set_num_threads(1)
    emas, snapshots, raw = {}, [], {}
    for s, state in steps():
        raw[s] = state
        for name, gamma in GAMMAS.items():
            if name not in emas:
                emas[name] = {k: v.clone() for k, v in state.items() if v.is_floating_point()}
                continue
            beta = (1 - 1 / s) ** (gamma + 1)
            for k, v in emas[name].items():
                v.lerp_(state[k], 1 - beta)
        if s % SNAPSHOT_EVERY == 0:
            for name, gamma in GAMMAS.items():
                snapshots.append((s, sigma_rel(gamma), gamma, name, {k: v.clone() for k, v in emas[name].items()}))
    for sigma, target in TARGETS:
        inputs = sorted([x for x in snapshots if 0 < x[0] <= target], key=lambda x: (x[0], x[1]))
        t = np.float64([x[0] for x in inputs])
        g = np.float64([x[2] for x in inputs])
        a = correlation(t.reshape(-1, 1), g.reshape(-1, 1), t.reshape(1, -1), g.reshape(1, -1))
        tg = gamma_of(sigma)
        b = correlation(t, g, np.float64(target), tg)
        x = np.linalg.solve(a, b)
        x = x / np.sum(x)
        error = np.sqrt(max(0.0, x @ a @ x - 2 * x @ b + correlation(np.float64(target), tg, np.float64(target), tg))
                        / correlation(np.float64(target), tg, np.float64(target), tg))
        out = {k: torch.zeros_like(v) for k, v in inputs[0][4].items()}
        for coef, item in zip(x, inputs):
            for k in out:
                out[k] += item[4][k] * float(coef)
        for k, v in raw[target].items():
            if not v.is_floating_point():
                out[k] = v.clone()
        name = f"phema-s{sigma:.2f}-step-{target}.safetensors"
        save_file(out, os.path.join(HERE, "golden", name), metadata={"step": str(target)})
        print(f"{name}: gamma {tg!r}, {len(inputs)} snapshots, relative error {error:.6e}")
        print("  coefficients " + ", ".join(f"{item[3]}@{item[0]}:{c:.12e}" for c, item in zip(x, inputs)))


if __name__ == "__main__":
    main()
