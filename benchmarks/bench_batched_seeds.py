"""Benchmark: K seeds as one batched model in one process vs one process per seed.

Same work either way: the Wen & Li training of the default config (one sweep
point, the given masking) for K seeds. Prints wall times and their ratios,
all measured in this one run on this machine.

    .venv/bin/python benchmarks/bench_batched_seeds.py            # K = 16
    .venv/bin/python benchmarks/bench_batched_seeds.py --seeds 4 --steps 200

Modes:
  batched     one process trains all K seeds as one model (seed = tensor dim)
  loop        one process trains the K seeds one after another
  processes   K processes, one seed each, --jobs at a time (what "one job per
              seed" costs, Python and torch start-up included)
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from contrastlab.config import validate_config  # noqa: E402
from contrastlab.pipeline import synthesize, train  # noqa: E402
from contrastlab.results import read_netcdf, write_netcdf  # noqa: E402


def job_config(steps: int, masking: str) -> dict:
    cfg = validate_config(
        yaml.safe_load((ROOT / "config/config.yaml").read_text()),
        ROOT / "workflow/schemas/config.schema.yaml",
    )
    exp = {k: v for k, v in cfg["experiments"]["wenli"].items() if k != "sweep"}
    exp["augmentation"]["masking"] = masking
    exp["train"].update(steps=steps)
    return exp


def run_one(data_path: str, cfg_path: str, seed: int, threads: int) -> None:
    """Child process: train one seed (what a one-seed job does)."""
    import torch

    torch.set_num_threads(threads)
    cfg = yaml.safe_load(Path(cfg_path).read_text())
    train(read_netcdf(data_path).sel(seed=[seed]), cfg, "cpu", log=lambda m: None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seeds", type=int, default=16, help="K, number of seeds (default 16)")
    ap.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    ap.add_argument("--masking", default="complementary")
    ap.add_argument("--threads", type=int, default=2, help="torch threads per process")
    ap.add_argument("--jobs", type=int, default=2, help="concurrent one-seed processes")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return run_one(args.child[0], args.child[1], int(args.child[2]), args.threads)

    import torch

    cfg = job_config(args.steps, args.masking)
    seeds = list(range(args.seeds))
    tmp = Path(tempfile.mkdtemp(prefix="bench_"))
    data_path, cfg_path = tmp / "data.nc", tmp / "cfg.yaml"
    write_netcdf(synthesize(cfg, seeds), data_path)
    cfg_path.write_text(yaml.safe_dump(cfg))
    data = read_netcdf(data_path)
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}; K={args.seeds} seeds, {args.steps} steps, "
        f"batch {cfg['train']['batch_size']}, masking {args.masking}"
    )

    torch.set_num_threads(args.threads)
    warm = {**cfg, "train": {**cfg["train"], "steps": 5}}
    train(data.sel(seed=[0]), warm, "cpu", log=lambda m: None)  # first-call costs, not timed
    t = time.perf_counter()
    train(data, cfg, "cpu", log=lambda m: None)
    batched = time.perf_counter() - t
    print(f"batched   : {batched:8.2f} s  (1 process, {args.threads} threads)")

    t = time.perf_counter()
    for s in seeds:
        train(data.sel(seed=[s]), cfg, "cpu", log=lambda m: None)
    loop = time.perf_counter() - t
    print(f"loop      : {loop:8.2f} s  (1 process, seeds one after another)")

    threads = max(1, args.threads // args.jobs)

    def child(s):
        cmd = [sys.executable, __file__, "--threads", str(threads), "--child"]
        subprocess.run([*cmd, str(data_path), str(cfg_path), str(s)], check=True)

    t = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(child, seeds))
    procs = time.perf_counter() - t
    print(
        f"processes : {procs:8.2f} s  ({args.seeds} processes, {args.jobs} at a time, "
        f"{threads} thread(s) each)"
    )
    print(
        f"speed-up of batching: {loop / batched:.1f}x over the loop, "
        f"{procs / batched:.1f}x over one process per seed"
    )


if __name__ == "__main__":
    main()
