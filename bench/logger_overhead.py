#!/usr/bin/env python3
"""The Python Logger's cost per step against `safetensors.torch.save_file` of the same state_dict,
for a model of ~100M float32 parameters (10 layers of 3162 x 3162), medians over a few steps.

Every figure is checked: the raw steps read back from the log must equal the model's bytes at
those steps (a wrong result cannot pass for a fast one).

Prints: the time `log.step()` takes when emalog keeps up (the frame built and queued), the
time per step when steps come back to back (bound by emalog's ingest), and save_file's time to
write the same state_dict to a file on the same disk (what the file-based loop pays before
emalog reads the file again).

    python bench/logger_overhead.py [--steps 8] [--params-per-layer 3162]
"""
import argparse
import hashlib
import os
import statistics
import tempfile
import time

import torch
from safetensors.torch import save_file

import emalog


def digest(state):
    """SHA-256 of a state_dict's names, dtypes, shapes and bytes (what emalog must give back)."""
    h = hashlib.sha256()
    for name in sorted(state):
        value = state[name].detach().contiguous()
        h.update(f"{name}:{value.dtype}:{tuple(value.shape)}".encode())
        h.update(value.view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def check(db, step, expected):
    """Raises unless the log's raw step `step` is the state whose digest is `expected`."""
    back = digest(emalog.load_raw(db, step=step))
    if back != expected:
        raise SystemExit(f"bench: raw step {step} read back differs from what was logged: the figures are void")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--width", type=int, default=3162)
    p.add_argument("--layers", type=int, default=10)
    p.add_argument("--pause", type=float, default=4.0, help="seconds of \"training\" between steps in the spaced run")
    p.add_argument("--spool", default=None, help="the Logger's spool folder (default: none, frames over the pipe)")
    args = p.parse_args()
    torch.manual_seed(0)
    model = torch.nn.Sequential(*[torch.nn.Linear(args.width, args.width, bias=False) for _ in range(args.layers)])
    params = sum(p.numel() for p in model.parameters())
    mb = params * 4 / 1e6
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as work:
        saves = []
        for step in range(1, args.steps + 1):
            with torch.no_grad():
                for p_ in model.parameters():
                    p_.add_(1e-4)
            start = time.perf_counter()
            save_file(model.state_dict(), os.path.join(work, f"step-{step:08d}.safetensors"), metadata={"step": str(step)})
            saves.append(time.perf_counter() - start)
            os.remove(os.path.join(work, f"step-{step:08d}.safetensors"))
        calls, spaced = [], []
        db = os.path.join(work, "run.emalog")
        with emalog.Logger(db, ema=["0.999"], spool=args.spool) as log:
            start_all = time.perf_counter()
            for step in range(1, args.steps + 1):
                with torch.no_grad():
                    for p_ in model.parameters():
                        p_.add_(1e-4)
                start = time.perf_counter()
                log.step(step, model)
                calls.append(time.perf_counter() - start)
            log.close()
            back_to_back = (time.perf_counter() - start_all) / args.steps
        check(db, args.steps, digest(model.state_dict()))
        # Spaced out (training compute between steps): the call alone.
        with emalog.Logger(db, spool=args.spool) as log:
            for step in range(args.steps + 1, 2 * args.steps + 1):
                time.sleep(args.pause)
                start = time.perf_counter()
                log.step(step, model)
                spaced.append(time.perf_counter() - start)
        check(db, 2 * args.steps, digest(model.state_dict()))
        print(f"checked: raw steps {args.steps} and {2 * args.steps} read back equal the model's bytes")
    print(f"{params / 1e6:.1f}M float32 parameters ({mb:.0f} MB per step), medians of {args.steps} steps")
    print(f"safetensors.torch.save_file to a file    {statistics.median(saves):.3f} s   1.00x")
    print(f"log.step() when emalog keeps up           {statistics.median(spaced):.3f} s   {statistics.median(spaced) / statistics.median(saves):.2f}x")
    print(f"log.step() back to back (per step, until every step committed)  {back_to_back:.3f} s   "
          f"{back_to_back / statistics.median(saves):.2f}x ({mb / back_to_back:.0f} MB/s)")


if __name__ == "__main__":
    main()
