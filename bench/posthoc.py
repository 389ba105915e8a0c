#!/usr/bin/env python3
"""Post-hoc replay against the numpy baseline, and a sweep of 10 decays against one decay, on a real
Adam trajectory (bench/make_trajectory.py), all in one run, alternating so the machine's drift hits
each the same: the numpy loop over the uncompressed step files (decay 0.99, seed at the first step),
`emalog shadow --decay 0.99` and `emalog sweep` of 10 decays on a log of the same steps, whole
process, page cache warm. Prints medians and ratios.

    python bench/make_trajectory.py --out /tmp/traj --steps 200
    python bench/posthoc.py /tmp/traj [--emalog .build/release/emalog] [--runs 5]
"""
import argparse
import glob
import os
import statistics
import subprocess
import sys
import tempfile
import time

from safetensors.numpy import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replay_numpy import numpy_loop  # noqa: E402  the same loop as the issue's baseline

DECAYS = "0.9,0.95,0.98,0.99,0.995,0.996,0.997,0.998,0.9985,0.9995"


def timed(body):
    start = time.perf_counter()
    body()
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser()
    p.add_argument("traj")
    p.add_argument("--emalog", default=os.path.join(os.path.dirname(__file__), "..", ".build", "release", "emalog"))
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    files = sorted(glob.glob(os.path.join(args.traj, "steps", "*.safetensors")))
    with tempfile.TemporaryDirectory() as work:
        db = os.path.join(work, "run.emalog")
        subprocess.run([args.emalog, "ingest", "--db", db, "--ema", "0.999", os.path.join(args.traj, "steps")],
                       check=True, stderr=subprocess.DEVNULL)

        def cli(*command):
            return lambda: subprocess.run([args.emalog, *command], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        runs = {"numpy": [], "shadow": [], "sweep": []}
        for _ in range(args.runs):
            runs["numpy"].append(timed(lambda: numpy_loop(files)))
            runs["shadow"].append(timed(cli("shadow", "--db", db, "--decay", "0.99", "-o", os.path.join(work, "p.safetensors"))))
            runs["sweep"].append(timed(cli("sweep", "--db", db, "--decays", DECAYS, "-o", os.path.join(work, "sweep"))))
        m = {k: statistics.median(v) for k, v in runs.items()}
        params = sum(v.size for v in load_file(files[0]).values())
        print(f"{len(files)} steps of {params} parameters, medians of {args.runs} runs")
        print(f"numpy loop over the step files        {m['numpy']:.3f} s   1.00x")
        print(f"emalog shadow --decay 0.99 (post hoc)  {m['shadow']:.3f} s   {m['numpy'] / m['shadow']:.2f}x the numpy loop's speed")
        print(f"emalog sweep of 10 decays              {m['sweep']:.3f} s   {m['sweep'] / m['shadow']:.2f}x one decay's time")


if __name__ == "__main__":
    main()
