#!/usr/bin/env python3
"""Train a small MLP with emalog's Python Logger (no step files), then evaluate the raw weights,
a tracked EMA and a post-hoc EMA, each loaded back with load_state_dict.

    pip install ./python torch        # and the emalog binary on PATH or in $EMALOG
    python examples/train_with_logger.py --db run.emalog --steps 300
"""
import argparse

import torch

import emalog


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--db", default="run.emalog")
    p.add_argument("--steps", type=int, default=300)
    args = p.parse_args()
    torch.manual_seed(0)
    # A fixed noisy regression task: y = W x + noise.
    true_w = torch.randn(8, 32)
    x_train, x_test = torch.randn(4096, 32), torch.randn(1024, 32)
    y_train = x_train @ true_w.T + 0.5 * torch.randn(4096, 8)
    y_test = x_test @ true_w.T
    model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.GELU(), torch.nn.Linear(64, 8))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-2)

    def test_loss():
        with torch.no_grad():
            return torch.nn.functional.mse_loss(model(x_test), y_test).item()

    # A plain 0.99, and timm's ModelEmaV3(decay=0.998, use_warmup=True) bit for bit (torch's lerp_).
    ema = [emalog.EMA(0.99), emalog.EMA(decay=0.998, warmup=True, form="lerp", name="timm")]
    with emalog.Logger(args.db, ema=ema) as log:
        for step in range(1, args.steps + 1):
            batch = torch.randint(0, len(x_train), (64,))
            loss = torch.nn.functional.mse_loss(model(x_train[batch]), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            log.step(step, model, metrics={"loss": loss.item()})
            if step % 100 == 0:
                log.metrics(step, {"eval/mse": test_loss()})
    print(log.summary)

    for label, state in [("raw weights", emalog.load_raw(args.db)),
                         ("EMA 0.99 (tracked)", emalog.load_shadow(args.db, ema="ema-0.99")),
                         ("timm-style warmup EMA (tracked)", emalog.load_shadow(args.db, ema="timm")),
                         ("EMA 0.95 (post hoc)", emalog.load_shadow(args.db, decay=0.95))]:
        model.load_state_dict(state)
        print(f"{label:34s} test mse {test_loss():.4f}")
    print(emalog.metrics(args.db, keys="eval/mse"))


if __name__ == "__main__":
    main()
