#!/usr/bin/env python3
"""Trains the fixture model once and saves the EMA checkpoints that the real libraries write, in their
own layouts, for `emalog verify` (Tests/emalogTests/VerifyTests.swift checks each one).

Each EMA is created when the model is, from its initial weights, and updated after every optimizer
step, as the libraries' examples do. The run's steps (step 0 = the initial weights, then steps 1..24)
go to verify/steps; which steps to ingest and which spec reproduces each checkpoint is printed
(make_verify_checkpoints.out.txt):
  - timm ModelEmaV3, warmup: `state_dict_ema` (ema.module.state_dict(): the model's names, integer
    buffers copied); its counter is update(step=num_updates), so the log starts at step 1;
  - timm ModelEmaV3, constant decay, saved as ema.state_dict() (`module.` prefix): update(step=n)
    copies at n=1 whatever the decay, so the log starts at step 1; updated without step=, a constant
    EMA starts from the initial weights, so the log must hold them as step 0;
  - torch AveragedModel(get_ema_multi_avg_fn, use_buffers=True): `module.` + `n_averaged`; its first
    update_parameters copies, so the log starts at step 1; num_batches_tracked goes through its own
    integer arithmetic;
  - diffusers EMAModel (foreach=False): parameters only (copy_to, then named_parameters), and
    save_pretrained (a ModelMixin: buffers are the fresh model's, not averaged);
  - Lightning EMAWeightAveraging (a Trainer run of its own, steps in verify/lightning-steps): the
    checkpoint's state_dict holds the average under the LightningModule's names (`net.`);
    get_ema_avg_fn is `decay * ema + (1 - decay) * current`, i.e. form=seed;
  - ema-pytorch EMA: ema_model., online_model., initted, step; its decay is computed in Float32
    (decay_dtype=f32); update_after_step and update_every are after= and every=;
  - the "start after N steps" variants of timm (update_after_step), diffusers (update_after_step,
    use_ema_warmup, foreach=True, which torch fuses: form=sub-fma; the initial weights are step 0, so
    after = N + 1) and Lightning
    (update_starting_at_step, update_every_n_steps: after = the first step index it updates at).
Usage: python make_verify_checkpoints.py   (needs torch, safetensors; timm, diffusers, ema-pytorch
for their checkpoints: a library that does not import is reported and skipped)
"""
import filecmp
import importlib.metadata
import importlib.util
import os
import shutil
import site
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import MLP, optimizer_steps, setup  # noqa: E402  (the fixture model and its training)

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "verify")
STEPS = 24


def load_timm_model_ema():
    """timm.utils.model_ema imports only torch; timm's package __init__ needs torchvision, so the
    module is loaded from its file when the package does not import."""
    try:
        from timm.utils.model_ema import ModelEmaV3
        return ModelEmaV3
    except Exception as e:
        for root in site.getsitepackages():
            path = os.path.join(root, "timm", "utils", "model_ema.py")
            if os.path.exists(path):
                spec = importlib.util.spec_from_file_location("timm_model_ema", path)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                print(f"timm: package import failed ({type(e).__name__}: {e}); loaded {path} directly")
                return module.ModelEmaV3
        raise


def state(module):
    return {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}


def save(name, tensors, note):
    path = os.path.join(HERE, name)
    save_file({k: v.detach().clone().contiguous() for k, v in tensors.items()}, path)
    digest = sum(int(t.float().double().abs().sum() * 1e6) for t in tensors.values())
    print(f"{name}: {len(tensors)} tensors, checksum {digest}; {note}")


def lightning_run(folder, name, note, **callback_args):
    """A Trainer run of its own with EMAWeightAveraging(**callback_args), its steps saved to `folder`."""
    try:
        import lightning.pytorch as pl
        from lightning.pytorch.callbacks import EMAWeightAveraging
    except Exception as e:
        print(f"lightning: cannot import EMAWeightAveraging: {type(e).__name__}: {e}")
        return
    os.makedirs(folder)
    torch.manual_seed(7)

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = MLP()

        def training_step(self, batch, batch_idx):
            x, y = batch
            return torch.nn.functional.cross_entropy(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.Adam([p for p in self.parameters() if p.requires_grad], lr=1e-2)

    class SaveSteps(pl.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            save_file(state(module.net), os.path.join(folder, f"step-{trainer.global_step:08d}.safetensors"),
                      metadata={"step": str(trainer.global_step)})

    module = Module()
    x = torch.randn(32, 6)
    y = torch.randint(0, 3, (32,))
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32)
    trainer = pl.Trainer(max_steps=STEPS, callbacks=[SaveSteps(), EMAWeightAveraging(**callback_args)],
                         accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.fit(module, data)
    path = os.path.join(HERE, "lightning.ckpt")
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=False)
    os.remove(path)
    save(name, checkpoint["state_dict"],
         f"{note} (form=seed; the LightningModule's net. prefix; averaging_state "
         f"{sorted(checkpoint['averaging_state'])} not exported)")


def lightning_runs():
    steps = os.path.join(HERE, "lightning-steps")
    lightning_run(steps, "lightning-ema-d0.9.safetensors", "lightning-steps 1-24, --ema decay=0.9", decay=0.9)
    if not os.path.isdir(steps):
        return
    again = os.path.join(HERE, "lightning-steps-again")
    lightning_run(again, "lightning-ema-d0.9-start4-every3.safetensors",
                  "lightning-steps 1-24, --ema decay=0.9,after=6,every=3 (update_starting_at_step=4, "
                  "update_every_n_steps=3: its first update, a copy, is at step index 6)",
                  decay=0.9, update_starting_at_step=4, update_every_n_steps=3)
    names = sorted(os.listdir(steps))
    same = filecmp.cmpfiles(steps, again, names, shallow=False)[0]
    assert same == names, "the second Lightning run trained differently"
    shutil.rmtree(again)


def main():
    shutil.rmtree(HERE, ignore_errors=True)
    os.makedirs(os.path.join(HERE, "steps"))
    model, opt, x, y = setup(seed=7)

    emas = {}  # name -> (update after each optimizer step, save at the end)
    ModelEmaV3 = None
    try:
        ModelEmaV3 = load_timm_model_ema()
    except Exception as e:
        print(f"timm: cannot import ModelEmaV3: {type(e).__name__}: {e}")
    if ModelEmaV3:
        timm_w = ModelEmaV3(model, decay=0.999, use_warmup=True)
        timm_c = ModelEmaV3(model, decay=0.95)
        timm_n = ModelEmaV3(model, decay=0.95)
        timm_a = ModelEmaV3(model, decay=0.999, use_warmup=True, update_after_step=3)
        emas["timm"] = (lambda n: (timm_w.update(model, step=n), timm_c.update(model, step=n), timm_n.update(model),
                                   timm_a.update(model, step=n)),
                        lambda: (
            save("timm-v3-warmup-d0.999-state_dict_ema.safetensors", timm_w.module.state_dict(),
                 "steps 1-24, --ema decay=0.999,schedule=warmup,form=lerp"),
            save("timm-v3-const-d0.95-wrapper.safetensors", timm_c.state_dict(),
                 "steps 1-24, --ema decay=0.95,form=lerp (module. prefix; update(step=n) copies at n=1)"),
            save("timm-v3-const-d0.95-nostep.safetensors", timm_n.module.state_dict(),
                 "steps 0-24, --ema decay=0.95,form=lerp (update() without step=: the initial weights are step 0)"),
            save("timm-v3-warmup-d0.999-after3.safetensors", timm_a.module.state_dict(),
                 "steps 1-24, --ema decay=0.999,schedule=warmup,after=3,form=lerp (update_after_step=3)")))

    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
    avg = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.97), use_buffers=True)
    emas["averaged"] = (lambda n: avg.update_parameters(model), lambda: save(
        "averagedmodel-d0.97.safetensors", avg.state_dict(),
        "steps 1-24, --ema decay=0.97,form=lerp (module. + n_averaged; num_batches_tracked averaged as an integer)"))

    try:
        from diffusers import ConfigMixin, ModelMixin
        from diffusers.configuration_utils import register_to_config
        from diffusers.training_utils import EMAModel

        class DiffusersMLP(MLP, ModelMixin, ConfigMixin):
            @register_to_config
            def __init__(self):
                super().__init__()

        dmodel_config = DiffusersMLP().config
        dema = EMAModel(model.parameters(), decay=0.999, model_cls=DiffusersMLP, model_config=dmodel_config)
        dema_a = EMAModel(model.parameters(), decay=0.999, use_ema_warmup=True, update_after_step=3, foreach=True)

        def save_diffusers():
            copy = MLP()
            copy.load_state_dict(model.state_dict())
            dema.copy_to(copy.parameters())
            save("diffusers-tf-d0.999-parameters.safetensors", dict(copy.named_parameters()),
                 "steps 1-24, --ema decay=0.999,schedule=tf,form=sub (parameters only)")
            out = os.path.join(HERE, "diffusers-save_pretrained")
            dema.save_pretrained(out)
            shutil.move(os.path.join(out, "diffusion_pytorch_model.safetensors"),
                        os.path.join(HERE, "diffusers-tf-d0.999-save_pretrained.safetensors"))
            shutil.rmtree(out)
            print("diffusers-tf-d0.999-save_pretrained.safetensors: save_pretrained's own file; steps 1-24, "
                  "--ema decay=0.999,schedule=tf,form=sub; its buffers are a fresh model's")
            copy = MLP()
            copy.load_state_dict(model.state_dict())
            dema_a.copy_to(copy.parameters())
            save("diffusers-warmup-d0.999-after3-foreach.safetensors", dict(copy.named_parameters()),
                 "steps 0-24, --ema decay=0.999,schedule=warmup,after=4,form=sub-fma (update_after_step=3, foreach=True: a fused sub; "
                 "the EMA starts from the initial weights, step 0, and its decay is 0 up to optimization_step 4)")

        emas["diffusers"] = (lambda n: (dema.step(model.parameters()), dema_a.step(model.parameters())), save_diffusers)
    except Exception as e:
        print(f"diffusers: cannot import EMAModel/ModelMixin: {type(e).__name__}: {e}")

    try:
        from ema_pytorch import EMA
        ep_w = EMA(model, beta=0.999, update_after_step=0, update_every=1)
        ep_c = EMA(model, beta=0.9, update_after_step=0, update_every=1, inv_gamma=1e-9)
        ep_d = EMA(model, beta=0.99, update_after_step=5, update_every=3)
        emas["ema-pytorch"] = (lambda n: (ep_w.update(), ep_c.update(), ep_d.update()), lambda: (
            save("ema-pytorch-warmup-d0.999.safetensors", ep_w.state_dict(),
                 "steps 1-24, --ema decay=0.999,schedule=warmup,decay_dtype=f32,form=lerp (its decay in Float32; "
                 "with the Double schedule 6 ulps apart here)"),
            save("ema-pytorch-warmup-d0.99-after5-every3.safetensors", ep_d.state_dict(),
                 "steps 1-24, --ema decay=0.99,schedule=warmup,after=5,every=3,decay_dtype=f32,form=lerp "
                 "(update_after_step=5, update_every=3)"),
            save("ema-pytorch-const-d0.9.safetensors", ep_c.state_dict(),
                 f"steps 1-24, --ema decay={float(torch.tensor(0.9, dtype=torch.float32)).hex()} "
                 f"(= {float(torch.tensor(0.9, dtype=torch.float32))!r}),form=lerp (the clamp gives float32(0.9))")))
    except Exception as e:
        print(f"ema-pytorch: cannot import EMA: {type(e).__name__}: {e}")

    save_file(state(model), os.path.join(HERE, "steps", "step-00000000.safetensors"), metadata={"step": "0"})
    for step, _ in optimizer_steps(model, opt, x, y, STEPS):
        save_file(state(model), os.path.join(HERE, "steps", f"step-{step:08d}.safetensors"), metadata={"step": str(step)})
        for update, _ in emas.values():
            update(step)
    for _, finish in emas.values():
        finish()
    lightning_runs()
    versions = [f"torch {torch.__version__}", f"python {sys.version.split()[0]}"]
    for dist in ["timm", "diffusers", "ema-pytorch", "lightning", "safetensors"]:
        try:
            versions.append(f"{dist} {importlib.metadata.version(dist)}")
        except Exception:
            versions.append(f"{dist} not installed")
    print(", ".join(versions))


if __name__ == "__main__":
    main()
