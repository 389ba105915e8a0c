#!/usr/bin/env python3
"""A small PyTorch training loop that logs what emalog ingests: one safetensors file per step and
metrics as JSON lines. Synthetic data, CPU only, deterministic.

    python examples/train_mlp.py --out run --steps 200
    emalog ingest --db run.emalog --ema 0.99 --ema 0.999 run/steps run/metrics.jsonl

Each step file is written as step-N.safetensors.tmp and renamed, so `emalog ingest --follow` never
reads a half-written file.
"""
import argparse
import json
import os

import torch
from safetensors.torch import save_file


class MLP(torch.nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.fc1 = torch.nn.Linear(16, width)
        self.bn = torch.nn.BatchNorm1d(width)  # running stats and an int64 num_batches_tracked
        self.fc2 = torch.nn.Linear(width, width)
        self.head = torch.nn.Linear(width, 4)

    def forward(self, x):
        x = torch.relu(self.bn(self.fc1(x)))
        return self.head(torch.relu(self.fc2(x)))


def data(seed, n=512):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 16, generator=g)
    w = torch.randn(16, 4, generator=torch.Generator().manual_seed(1234))
    return x, (x @ w + 0.3 * torch.randn(n, 4, generator=g)).argmax(1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=3e-3)
    args = p.parse_args()
    torch.manual_seed(args.seed)
    os.makedirs(os.path.join(args.out, "steps"), exist_ok=True)
    model = MLP()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    x, y = data(args.seed)
    with open(os.path.join(args.out, "metrics.jsonl"), "w") as metrics:
        for step in range(1, args.steps + 1):
            batch = torch.randint(0, len(x), (64,), generator=torch.Generator().manual_seed(step))
            loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
            opt.zero_grad()
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            # --- the two lines emalog needs ---
            path = os.path.join(args.out, "steps", f"step-{step:08d}.safetensors")
            save_file(model.state_dict(), path + ".tmp", metadata={"step": str(step)})
            os.replace(path + ".tmp", path)
            print(json.dumps({"step": step, "loss": loss.item(), "lr": args.lr, "grad_norm": grad_norm.item()}),
                  file=metrics, flush=True)
            if step % 25 == 0:
                model.eval()
                with torch.no_grad():
                    xv, yv = data(args.seed + 1)
                    acc = (model(xv).argmax(1) == yv).float().mean().item()
                model.train()
                print(json.dumps({"step": step, "eval": {"acc": acc}}), file=metrics, flush=True)


if __name__ == "__main__":
    main()
