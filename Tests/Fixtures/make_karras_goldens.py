#!/usr/bin/env python3
"""Goldens of ema-pytorch's KarrasEMA and PostHocEMA (0.8.3, from PyPI) on mlp-f32's steps.

A PostHocEMA of two KarrasEMA (gammas 16.97 and 6.94, update_every=1, float32 checkpoints every
4 steps) follows the model as it takes mlp-f32's steps 1..24 (each loaded into the model, then
`update()`): its steps count the same as the log's (the first step is 1).
  - karras-g16.97-step-24: KarrasEMA's shadow after step 24 (the library itself): emalog's
    `schedule=power,gamma=16.97,clock=karras,form=lerp` track must equal it bit for bit;
  - karras-phema-s0.07-step-24: the synthesis of sigma_rel 0.07 at step 24 with the library's own
    `solve_weights` (gammas through torch.tensor: float32; no normalisation) and its accumulation
    (`synth.add_(ckpt * weight)` in float32), summing the checkpoints in order of step then
    sigma_rel (the library sums in directory-listing order, which no one controls); the library's
    `synthesize_ema_model` itself is compared below (it differs only by that order).
Usage: pip install ema-pytorch==0.8.3 torch safetensors; python make_karras_goldens.py
"""
import os
import tempfile

import torch
from ema_pytorch import PostHocEMA
from ema_pytorch.post_hoc_ema import sigma_rel_to_gamma, solve_weights
from safetensors.torch import load_file, save_file

from make_fixtures import MLP  # mlp-f32's model

HERE = os.path.dirname(os.path.abspath(__file__))
GAMMAS = (16.97, 6.94)


def floating(state):
    return {k: v.clone() for k, v in state.items() if v.is_floating_point()}


def main():
    torch.set_num_threads(1)
    model = MLP()
    folder = tempfile.mkdtemp(prefix="karras-")
    post = PostHocEMA(model, gammas=GAMMAS, update_every=1, checkpoint_every_num_steps=4, checkpoint_folder=folder,
                      checkpoint_dtype=torch.float32)
    raw = {}
    for step in range(1, 25):
        raw[step] = load_file(os.path.join(HERE, "mlp-f32", "steps", f"step-{step:08d}.safetensors"))
        model.load_state_dict(raw[step])
        post.update()
    shadow = floating(post.ema_models[0].ema_model.state_dict())
    shadow["bn.num_batches_tracked"] = raw[24]["bn.num_batches_tracked"].clone()  # integers: the raw step's
    save_file(shadow, os.path.join(HERE, "golden", "karras-g16.97-step-24.safetensors"), metadata={"step": "24"})
    print(f"karras-g16.97-step-24.safetensors: KarrasEMA step {post.ema_models[0].step.item()}, beta {post.ema_models[0].beta!r}")

    gamma = sigma_rel_to_gamma(0.07)
    checkpoints = []
    for name in os.listdir(folder):
        index, t = map(int, name[:-3].split("."))
        checkpoints.append((t, GAMMAS[index], name))
    checkpoints.sort(key=lambda c: (c[0], -c[1]))  # step, then sigma_rel (a larger gamma is a smaller sigma_rel)
    weights = solve_weights(torch.tensor([c[0] for c in checkpoints]), torch.tensor([c[1] for c in checkpoints]),
                            torch.tensor([24]), torch.tensor([gamma])).squeeze(-1)
    out = None
    for (t, g, name), weight in zip(checkpoints, weights.tolist()):
        state = floating(torch.load(os.path.join(folder, name), weights_only=True))
        state = {k[len("ema_model."):]: v for k, v in state.items() if k.startswith("ema_model.")}
        if out is None:
            out = {k: torch.zeros_like(v) for k, v in state.items()}
        for k in out:
            out[k].add_(state[k] * weight)
    out["bn.num_batches_tracked"] = raw[24]["bn.num_batches_tracked"].clone()
    save_file(out, os.path.join(HERE, "golden", "karras-phema-s0.07-step-24.safetensors"), metadata={"step": "24"})
    print(f"karras-phema-s0.07-step-24.safetensors: gamma {gamma!r}, {len(checkpoints)} checkpoints, "
          f"weights sum {float(weights.sum())!r}")
    print("  weights " + ", ".join(f"g{g}@{t}:{w:.12e}" for (t, g, _), w in zip(checkpoints, weights.tolist())))
    library = post.synthesize_ema_model(sigma_rel=0.07, step=24).ema_model.state_dict()
    worst = max(float((library[k] - out[k]).abs().max()) for k in out if out[k].is_floating_point())
    print(f"  the library's synthesize_ema_model (its own summation order) differs by at most {worst:.3e}")


if __name__ == "__main__":
    main()
