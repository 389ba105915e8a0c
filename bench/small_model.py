#!/usr/bin/env python3
"""A small model's whole training loop with and without the Logger: a 38.5k-parameter CNN on 28x28
inputs (the size of a new user's MNIST script), 1,000 Adam steps of batch 64, each step logged
with its loss. Prints the loop's time alone, with the Logger over shared memory and over the pipe,
the slowdown of each, and what the `log.step()` calls themselves took. Every run is checked: the
last raw step read back equals the model's bytes.

    python bench/small_model.py [--steps 1000] [--repeats 3]
"""
import argparse
import os
import statistics
import tempfile
import time

import torch

import emalog


def make_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(784, 46), torch.nn.ReLU(), torch.nn.Linear(46, 10))


def train(steps, log=None):
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(16, 64, 1, 28, 28, generator=generator)
    y = torch.randint(0, 10, (16, 64), generator=generator)
    calls = 0.0
    start = time.perf_counter()
    for step in range(1, steps + 1):
        loss = torch.nn.functional.cross_entropy(model(x[step % 16]), y[step % 16])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if log is not None:
            t = time.perf_counter()
            log.step(step, model, {"loss": loss.item()})
            calls += time.perf_counter() - t
    if log is not None:
        t = time.perf_counter()
        log.close()
        calls += time.perf_counter() - t
    return time.perf_counter() - start, calls, model


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    params = sum(q.numel() for q in make_model().parameters())
    print(f"{params / 1e3:.1f}k parameters, {args.steps} steps, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"medians of {args.repeats}")
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as work:
        runs = {"alone": [], "shm": [], "pipe": []}
        for k in range(args.repeats):  # interleaved: a slow spell of the machine hits every variant
            runs["alone"].append((train(args.steps)[0], 0.0))
            for transport in ("shm", "pipe"):
                db = os.path.join(work, f"{transport}-{k}.emalog")
                elapsed, calls, model = train(args.steps, emalog.Logger(db, ema=["0.999"], transport=transport))
                back = emalog.load_raw(db, step=args.steps)
                if any(not torch.equal(back[name], value) for name, value in model.state_dict().items()):
                    raise SystemExit("bench: the last raw step read back differs from the model: the figures are void")
                runs[transport].append((elapsed, calls))
        alone = statistics.median(r[0] for r in runs["alone"])
        print(f"  training alone                  {alone:6.2f} s")
        for transport in ("shm", "pipe"):
            elapsed = statistics.median(r[0] for r in runs[transport])
            calls = statistics.median(r[1] for r in runs[transport])
            print(f"  with the Logger ({transport:4})          {elapsed:6.2f} s   {(elapsed / alone - 1) * 100:+6.1f}%   "
                  f"(log.step() and close(): {calls:.2f} s, {calls / args.steps * 1e3:.2f} ms per step)")


if __name__ == "__main__":
    main()
