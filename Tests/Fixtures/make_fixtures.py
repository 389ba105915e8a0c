#!/usr/bin/env python3
"""Makes the small training runs and the golden EMA shadows that the Swift tests assert bit for bit.

Independent implementations, run once here and committed with their output (make_fixtures.out.txt):
  - the reference EMA recipe (form=seed, the PyTorch loop users write by hand): shadow = (1.0 - decay) * param + decay * shadow, in PyTorch;
  - timm 1.0.31 ModelEmaV3 (torch lerp_, warmup schedule; integers copied)       -> form=lerp;
  - diffusers EMAModel (foreach=False: s.sub_((1 - decay) * (s - p)); tf and warmup schedules) -> form=sub;
  - a BF16 model with a Float32 shadow on widened weights, and its round-to-nearest-even cast back;
  - EDM2's power-function EMA, beta = (1 - delta/t) ** (gamma + 1), lerp_, on sparse steps (every 3rd);
  - constant per=step on sparse steps: beta ** delta in Python floats (Double);
  - a mixed-dtype run (F64, F16, BF16, F32 and integer tensors), seed form on float32-widened values.
  - torch.optim.swa_utils.AveragedModel with get_ema_multi_avg_fn          -> form=lerp;
Usage: python make_fixtures.py   (needs torch, safetensors, timm, diffusers; writes next to itself)
"""
import json
import math
import os
import shutil

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(6, 8)
        self.bn = torch.nn.BatchNorm1d(8)
        self.ln = torch.nn.LayerNorm(8)
        self.fc2 = torch.nn.Linear(8, 3)
        self.frozen = torch.nn.Parameter(torch.linspace(-1, 1, 4), requires_grad=False)

    def forward(self, x):
        return self.fc2(self.ln(torch.relu(self.bn(self.fc1(x))))) + self.frozen.sum()


def setup(seed, dtype=torch.float32):
    """The fixture run's model, optimizer and batch, drawn from `seed` in a fixed order."""
    torch.manual_seed(seed)
    model = MLP().to(dtype)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    x = torch.randn(32, 6).to(dtype)
    y = torch.randint(0, 3, (32,))
    return model, opt, x, y


def optimizer_steps(model, opt, x, y, steps):
    """Runs `steps` Adam steps, yielding (step, loss) after each (step 1 = after the first)."""
    for step in range(1, steps + 1):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        loss.backward()
        opt.step()
        yield step, float(loss)


def train(steps, seed, dtype=torch.float32, every=1):
    """Trains MLP with Adam; returns [(step, state_dict copy)] for steps every, 2*every, ... <= steps."""
    model, opt, x, y = setup(seed, dtype)
    out = []
    for step, loss in optimizer_steps(model, opt, x, y, steps):
        if step % every == 0:
            out.append((step, {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}, loss))
    return model, out


def write_run(name, states, metrics=True):
    folder = os.path.join(HERE, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(os.path.join(folder, "steps"))
    for step, state, _ in states:
        save_file(state, os.path.join(folder, "steps", f"step-{step:08d}.safetensors"), metadata={"step": str(step)})
    if metrics:
        with open(os.path.join(folder, "metrics.jsonl"), "w") as f:
            for step, _, loss in states:
                print(json.dumps({"step": step, "loss": loss, "lr": 1e-2, "eval": {"acc": step / 100}}), file=f)


def save_golden(name, tensors, step):
    os.makedirs(os.path.join(HERE, "golden"), exist_ok=True)
    path = os.path.join(HERE, "golden", name)
    save_file({k: v.contiguous() for k, v in tensors.items()}, path, metadata={"step": str(step)})
    digest = sum(int(t.float().double().abs().sum() * 1e6) for t in tensors.values())
    print(f"{name}: {len(tensors)} tensors, step {step}, checksum {digest}")


def seed_reference(states, decay_at, keys=None):
    """The reference recipe on every floating tensor (widened to float32); integers carried."""
    first = states[0][1]
    keys = keys or [k for k, v in first.items() if v.is_floating_point()]
    shadow = {k: first[k].float().clone() for k in keys}
    results = {states[0][0]: {k: v.clone() for k, v in shadow.items()}}
    prev = states[0][0]
    for step, state, _ in states[1:]:
        decay = decay_at(step, prev, states[0][0])
        for k in keys:
            shadow[k] = (1.0 - decay) * state[k].float() + decay * shadow[k]
        results[step] = {k: v.clone() for k, v in shadow.items()}
        prev = step
    return results


def with_integers(shadow, state):
    out = dict(shadow)
    for k, v in state.items():
        if not v.is_floating_point():
            out[k] = v.clone()
    return out


def main():
    # 1. float32 run, 24 steps, every step logged.
    _, run = train(24, seed=7)
    write_run("mlp-f32", run)
    by_step = {s: st for s, st, _ in run}
    for decay, step in [(0.9, 24), (0.99, 12)]:
        ref = seed_reference(run, lambda s, p, s0: decay)
        save_golden(f"seed-d{decay}-step-{step}.safetensors", with_integers(ref[step], by_step[step]), step)

    # tf schedule, seed form: min(decay, (1 + n) / (10 + n)).
    ref = seed_reference(run, lambda s, p, s0: min(0.999, (1 + (s - s0)) / (10 + (s - s0))))
    save_golden("seed-tf-d0.999-step-24.safetensors", ref[24], 24)

    # 2. timm ModelEmaV3: created at the first logged step's weights; update(step=n + 1).
    from timm.utils.model_ema import ModelEmaV3
    model = MLP()
    for name, decay, warm in [("timm-v3-warmup-d0.999", 0.999, True), ("timm-v3-const-d0.95", 0.95, False)]:
        model.load_state_dict(run[0][1])
        ema = ModelEmaV3(model, decay=decay, use_warmup=warm)
        for step, state, _ in run[1:]:
            model.load_state_dict(state)
            ema.update(model, step=step - run[0][0] + 1)
            if step in (12, 24):
                save_golden(f"{name}-step-{step}.safetensors", ema.module.state_dict(), step)

    # torch AveragedModel with get_ema_multi_avg_fn (foreach lerp_): it registers at its first
    # update_parameters call, so it is called at every logged step; it keeps integer buffers from
    # that first call (emalog carries the latest), so only floating tensors are compared.
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
    model.load_state_dict(run[0][1])
    avg = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.97), use_buffers=True)
    for step, state, _ in run:
        model.load_state_dict(state)
        avg.update_parameters(model)
    save_golden("averagedmodel-d0.97-step-24.safetensors",
                {k[len("module."):]: v for k, v in avg.state_dict().items()
                 if k.startswith("module.") and v.is_floating_point()}, 24)

    # 3. diffusers EMAModel (foreach=False): registered at the first logged step, step() after each later one.
    from diffusers.training_utils import EMAModel
    for name, kwargs in [("diffusers-tf-d0.999", dict(decay=0.999)),
                         ("diffusers-warmup-d0.999", dict(decay=0.999, use_ema_warmup=True, inv_gamma=1.0, power=2 / 3))]:
        model.load_state_dict(run[0][1])
        ema = EMAModel(model.parameters(), **kwargs)
        ema.step(model.parameters())  # optimization_step 1: decay 0, shadow = first step's weights
        for step, state, _ in run[1:]:
            model.load_state_dict(state)
            ema.step(model.parameters())
        names = [n for n, _ in model.named_parameters()]
        save_golden(f"{name}-step-24.safetensors",
                    {n: s for n, s, p in zip(names, ema.shadow_params, model.parameters()) if p.requires_grad}, 24)

    # 4. bfloat16 run: Float32 shadow on widened weights; cast back with round-to-nearest-even.
    _, bf = train(16, seed=11, dtype=torch.bfloat16)
    write_run("mlp-bf16", bf, metrics=False)
    ref = seed_reference(bf, lambda s, p, s0: 0.999)
    save_golden("bf16-f32shadow-d0.999-step-16.safetensors", ref[16], 16)
    save_golden("bf16-param-d0.999-step-16.safetensors",
                with_integers({k: v.to(torch.bfloat16) for k, v in ref[16].items()}, dict((s, st) for s, st, _ in bf)[16]), 16)

    # 5. sparse logging (every 3rd step of 30): EDM2 power EMA and per=step constant.
    _, sparse = train(30, seed=5, every=3)
    write_run("mlp-sparse", sparse, metrics=False)
    gamma = 6.94
    keys = [k for k, v in sparse[0][1].items() if v.is_floating_point()]
    shadow = {k: sparse[0][1][k].float().clone() for k in keys}
    prev = sparse[0][0]
    for step, state, _ in sparse[1:]:
        beta = (1 - (step - prev) / step) ** (gamma + 1)
        for k in keys:
            shadow[k].lerp_(state[k].float(), 1 - beta)
        prev = step
    save_golden("power-g6.94-lerp-step-30.safetensors", shadow, 30)
    ref = seed_reference(sparse, lambda s, p, s0: 0.9 ** (s - p))
    save_golden("perstep-d0.9-step-30.safetensors", ref[30], 30)
    ref = seed_reference(sparse, lambda s, p, s0: 0.9)
    save_golden("perupdate-d0.9-step-30.safetensors", ref[30], 30)

    # 6. mixed dtypes: a random walk in F64, F16, BF16, F32, with integer and bool tensors carried.
    g = torch.Generator().manual_seed(3)
    base = {"w64": torch.randn(5, 3, generator=g, dtype=torch.float64), "w16": torch.randn(7, generator=g).half(),
            "wbf": torch.randn(2, 4, generator=g).bfloat16(), "w32": torch.randn(9, generator=g),
            "count": torch.tensor(0, dtype=torch.int64), "ids": torch.arange(6, dtype=torch.int32),
            "mask": torch.tensor([True, False, True]), "bytes": torch.arange(5, dtype=torch.uint8),
            "small": torch.arange(3, dtype=torch.int16), "tiny": torch.tensor([-1, 2], dtype=torch.int8)}
    mixed = []
    for step in range(10, 20):
        state = {}
        for k, v in base.items():
            if v.is_floating_point():
                state[k] = (v.double() + 0.01 * (step - 10) * torch.randn(v.shape, generator=g, dtype=torch.float64)).to(v.dtype)
            else:
                state[k] = v + (step - 10) if v.dtype != torch.bool else v ^ bool(step % 2)
        mixed.append((step, state, 0.0))
    write_run("mixed", mixed, metrics=False)
    ref = seed_reference(mixed, lambda s, p, s0: 0.8)
    save_golden("mixed-seed-d0.8-step-19.safetensors", with_integers(ref[19], mixed[-1][1]), 19)


if __name__ == "__main__":
    main()
