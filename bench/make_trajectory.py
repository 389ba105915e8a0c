#!/usr/bin/env python3
"""A real Adam trajectory for benchmarks: an MLP of ~1.07M float32 parameters trained with Adam
(lr 1e-3) for N steps on synthetic data; one safetensors file per step (metadata step) and metrics.

    python bench/make_trajectory.py --out /tmp/traj --steps 200 [--dtype bf16] [--batch 1024]
"""
import argparse
import json
import os

import torch
from safetensors.torch import save_file


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=128, help="mini-batch size (8192: the whole dataset)")
    args = p.parse_args()
    torch.manual_seed(args.seed)
    dtype = torch.float32 if args.dtype == "f32" else torch.bfloat16
    model = torch.nn.Sequential(torch.nn.Linear(512, 1024), torch.nn.GELU(), torch.nn.Linear(1024, 512),
                                torch.nn.GELU(), torch.nn.Linear(512, 10)).to(dtype)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    # A fixed synthetic dataset, a fresh random mini-batch every step (as real training does).
    data_x = torch.randn(8192, 512).to(dtype)
    data_y = torch.randint(0, 10, (8192,))
    os.makedirs(os.path.join(args.out, "steps"), exist_ok=True)
    print("parameters:", sum(p.numel() for p in model.parameters()))
    with open(os.path.join(args.out, "metrics.jsonl"), "w") as metrics:
        for step in range(1, args.steps + 1):
            batch = torch.randint(0, len(data_x), (args.batch,)) if args.batch < len(data_x) else torch.arange(len(data_x))
            x, y = data_x[batch], data_y[batch]
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            save_file(model.state_dict(), os.path.join(args.out, "steps", f"step-{step:08d}.safetensors"),
                      metadata={"step": str(step)})
            print(json.dumps({"step": step, "loss": loss.item()}), file=metrics)


if __name__ == "__main__":
    main()
