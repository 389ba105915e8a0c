#!/usr/bin/env python3
"""Capture at training speed: what `log.step()` costs a training loop, against what users run today,
all measured in the same run on the same model (N float32 parameters as square Linear layers).

Baselines, per step:
  timm x2     two EMA updates as timm's ModelEmaV3.update() does them (`torch._foreach_lerp_` over
              the floating tensors), for the same two tracks the Logger keeps (timm itself needs
              PyPI's full torch; this is its update's arithmetic, and the shadows emalog keeps with
              `form=lerp` are checked bit-identical to it)
  copy        a plain copy of the state into preallocated tensors (`torch._foreach_copy_`)
  save        `safetensors.torch.save_file` of the state to a file (page cache, no fsync)

Measured:
  in loop     the training thread's cost of logging, in a loop with a real forward/backward and an
              SGD step between logs: the time in `log.step()` plus the time `optimizer.step()` waits
              for the copy (the pre-hook), per step
  sustained   `log.step()` back to back (an optimizer step between, no forward/backward) until
              `close()` returns, per step: emalog's own pace, with both tracks and every 8th raw step
              stored (`raw_every=8`, and the last: `raw_keep_last=1`)
  memory      the shared memory the Logger holds (slots x step size)

Every run is checked: the last raw step read back equals the model's bytes, and both shadows equal
the timm-style shadows computed here bit for bit.

    python bench/capture.py [--params 10e6,50e6] [--steps 12] [--transport shm|pipe]
"""
import argparse
import os
import statistics
import tempfile
import time

import torch
from safetensors.torch import save_file

import emalog

DECAYS = (0.999, 0.9999)


def make_model(params):
    width = 2048
    layers = max(1, round(params / (width * width)))
    torch.manual_seed(0)
    return torch.nn.Sequential(*[torch.nn.Linear(width, width, bias=False) for _ in range(layers)])


def timm_update(shadows, model, decay):
    """ModelEmaV3._update with foreach: lerp of every floating tensor toward the model's."""
    ema, live = [], []
    for e, m in zip(shadows, model.state_dict().values()):
        if e.is_floating_point():
            ema.append(e)
            live.append(m)
        else:
            e.copy_(m)
    torch._foreach_lerp_(ema, live, 1.0 - decay)


def fake_grads(model, scale):
    for p in model.parameters():
        if p.grad is None:
            p.grad = torch.empty_like(p)
        p.grad.fill_(scale)


def median_time(body, repeats):
    times = []
    for k in range(repeats):
        start = time.perf_counter()
        body(k)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(params, steps, transport, work, mode):
    model = make_model(params)
    n = sum(p.numel() for p in model.parameters())
    mb = n * 4 / 1e6
    state = model.state_dict()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)

    shadows = [[v.clone() for v in state.values()] for _ in DECAYS]
    timm2 = median_time(lambda k: [timm_update(s, model, d) for s, d in zip(shadows, DECAYS)], steps)
    targets = [v.clone() for v in state.values()]
    copy = median_time(lambda k: torch._foreach_copy_(targets, list(state.values())), steps)
    path = os.path.join(work, "save.safetensors")
    save = median_time(lambda k: save_file(state, path), max(3, steps // 3))
    os.remove(path)
    del targets

    batch = torch.randn(256, model[0].in_features)

    def train_step():
        optimizer.zero_grad(set_to_none=False)
        model(batch).square().mean().backward()

    # The loop alone (no logging), then with the Logger: forward/backward, optimizer.step(), log.
    def plain_loop(k):
        train_step()
        optimizer.step()
    loop = median_time(plain_loop, max(3, steps // 2))

    def sgd_only(k):
        fake_grads(model, 1e-3)
        optimizer.step()
    sgd = median_time(sgd_only, max(3, steps // 2))

    specs = [f"name=timm-{d},decay={d},form=lerp" for d in DECAYS]
    db = os.path.join(work, f"loop-{n}-{mode}.emalog")  # a fresh log per run: a log given the same steps again skips them
    calls, waits, loops = [], [], []
    with emalog.Logger(db, ema=specs, raw_every=8, raw_keep_last=1, transport=transport, copy=mode) as log:
        hook_wait = [0.0]
        if log._capture is not None:
            wait = log._capture.wait

            def timed_wait():
                start = time.perf_counter()
                wait()
                hook_wait[0] += time.perf_counter() - start
            log._capture.wait = timed_wait
        for step in range(1, steps + 1):
            start = time.perf_counter()
            train_step()
            hook_wait[0] = 0.0
            optimizer.step()
            waits.append(hook_wait[0])
            t = time.perf_counter()
            log.step(step, model)
            calls.append(time.perf_counter() - t)
            loops.append(time.perf_counter() - start)
        memory = log._ring.bytes_held() if log._ring is not None else 0
    in_loop = statistics.median(c + w for c, w in zip(calls, waits))

    # Sustained: steps back to back (an SGD step on fixed gradients between), then the same steps
    # again from the same start to keep the timm-style reference shadows (outside the timing).
    db2 = os.path.join(work, f"sustained-{n}-{mode}.emalog")
    start_weights = [v.clone() for v in model.state_dict().values()]
    with emalog.Logger(db2, ema=specs, raw_every=8, raw_keep_last=1, transport=transport, copy=mode) as log:
        start = time.perf_counter()
        for step in range(1, steps + 1):
            fake_grads(model, 1e-3 * step)
            optimizer.step()
            log.step(step, model)
        log.close()
        elapsed = time.perf_counter() - start
    sustained = elapsed / steps
    stored = emalog.info(db2)["file_bytes"] / steps  # raw steps kept and snapshots, per step
    with torch.no_grad():
        torch._foreach_copy_(list(model.state_dict().values()), start_weights)
    reference = None
    for step in range(1, steps + 1):
        fake_grads(model, 1e-3 * step)
        optimizer.step()
        if reference is None:
            reference = [[v.clone() for v in model.state_dict().values()] for _ in DECAYS]
        else:
            for s, d in zip(reference, DECAYS):
                timm_update(s, model, d)

    back = emalog.load_raw(db2, step=steps)
    if any(not torch.equal(back[k], v) for k, v in model.state_dict().items()):
        raise SystemExit("bench: the last raw step read back differs from the model: the figures are void")
    for spec, s in zip(specs, reference):
        shadow = emalog.load_shadow(db2, ema=spec.split(",")[0].split("=")[1])
        if any(not torch.equal(shadow[k], v) for k, v in zip(model.state_dict(), s)):
            raise SystemExit(f"bench: track {spec} differs from the timm-style shadow: the figures are void")

    print(f"\n{n / 1e6:.1f}M float32 parameters ({mb:.0f} MB per step), {transport}, copy={mode}, medians of {steps} steps "
          f"(checked: last raw step and both shadows bit-identical)")
    print(f"  timm x2 (two ModelEmaV3 updates)      {timm2 * 1e3:8.1f} ms   1.00x")
    print(f"  copy of the state                      {copy * 1e3:8.1f} ms   {copy / timm2:.2f}x")
    print(f"  safetensors save_file                  {save * 1e3:8.1f} ms   {save / timm2:.2f}x")
    print(f"  training step alone (fwd+bwd+SGD)      {loop * 1e3:8.1f} ms")
    print(f"  in loop: log.step() + optimizer wait   {in_loop * 1e3:8.1f} ms   {in_loop / timm2:.2f}x   "
          f"(call {statistics.median(calls) * 1e3:.1f} ms, wait {statistics.median(waits) * 1e3:.1f} ms; "
          f"loop with logging {statistics.median(loops) * 1e3:.1f} ms)")
    print(f"  sustained, back to back until close()  {(sustained - sgd) * 1e3:8.1f} ms   {(sustained - sgd) / timm2:.2f}x   "
          f"({steps / elapsed:.2f} steps/s with the SGD step between, {sgd * 1e3:.1f} ms of it; raw_every=8, two tracks)")
    floor = stored / (mb * 1e6 / save)  # those bytes at save_file's rate to this disk
    print(f"  written by emalog per step             {stored / 1e6:8.1f} MB   (at save_file's {mb / save:.0f} MB/s: "
          f"{floor * 1e3:.0f} ms, {floor / timm2:.2f}x; the WAL writes them twice)")
    print(f"  shared memory held                     {memory / 1e6:8.0f} MB   ({memory / (mb * 1e6):.1f} steps)")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--params", default="10e6,50e6")
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--transport", default="shm")
    p.add_argument("--copy", default="at_step,background", help="the Logger's copy= modes to measure")
    args = p.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as work:
        for params in args.params.split(","):
            for mode in args.copy.split(","):
                run(int(float(params)), args.steps, args.transport, work, mode)


if __name__ == "__main__":
    main()
