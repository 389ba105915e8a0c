#!/usr/bin/env python3
"""Loads weights exported by emalog into the model with load_state_dict and evaluates them.

    emalog shadow --db run.emalog --ema 0.99 -o ema.safetensors
    emalog raw    --db run.emalog -o raw.safetensors
    python examples/evaluate_ema.py raw.safetensors ema.safetensors
"""
import sys

import torch
from safetensors.torch import load_file

from train_mlp import MLP, data


def accuracy(path):
    model = MLP()
    model.load_state_dict(load_file(path))  # shadows come back as float32, names unchanged
    model.eval()
    x, y = data(seed=1)
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


if __name__ == "__main__":
    for path in sys.argv[1:]:
        print(f"{path}: held-out accuracy {accuracy(path):.4f}")
