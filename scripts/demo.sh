#!/usr/bin/env bash
# Sets up what a fresh Debian machine lacks, builds emalog (release), and runs the main job on the
# sample run in examples/demo-run (120 steps of a small PyTorch MLP, made by examples/train_mlp.py),
# ending with a picture and a one-page report (demo-out/report.html: open it in a browser).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release
bin=$(swift build -c release --show-bin-path)/emalog
out=demo-out
rm -rf "$out" && mkdir -p "$out"
run() { echo "+ emalog $*" >&2; "$bin" "$@"; }
run ingest --db "$out/demo.emalog" --ema 0.9 --ema name=timm,decay=0.98,schedule=warmup,form=lerp \
    examples/demo-run/steps examples/demo-run/metrics.jsonl
run shadow --db "$out/demo.emalog" --ema timm -o "$out/ema-timm.safetensors"
run shadow --db "$out/demo.emalog" --decay 0.95 --step 100 -o "$out/posthoc-0.95-step-100.safetensors"
run raw --db "$out/demo.emalog" --step 100 -o "$out/raw-100.safetensors"
run sweep --db "$out/demo.emalog" --decays 0.9,0.95,0.99 --step 120 -o "$out/sweep"
run metrics --db "$out/demo.emalog" --key loss --key eval/acc --from 98 --to 101 --format table
run info --db "$out/demo.emalog"
run audit --db "$out/demo.emalog"
run plot --db "$out/demo.emalog" --key loss --tracks -o "$out/loss-and-tracks.svg"
run report --db "$out/demo.emalog" -o "$out/report.html"
echo "outputs in $out/:" && ls "$out" "$out/sweep"
