"""Benchmark: one HLTM epoch (sampling + metrics + training) for batches of seeds.

Measures, in one process, the time of one epoch at the paper's size (N = 64000
triplets, hid 10, L = 5, batch 128) for 1 seed and for batches of seeds, and
prints seconds per epoch per seed, split into sampling / metrics / training,
and the speed-up of batching. Each configuration is timed ``--repeats`` times
after a warm-up epoch and the fastest run is reported (robust to other load on
a shared machine).

Usage:
    python benchmarks/bench_hltm.py [--seeds 1 3 8] [--threads 2] [--samples 64000]

Goal: <= 1 s per epoch per seed on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import time

import torch

from contrastlab.engine import Engine
from contrastlab.families.hltm.config import HLTMConfig
from contrastlab.families.hltm.data import HLTMSampler
from contrastlab.families.hltm.task import HLTMTask


def time_epoch(cfg: HLTMConfig, n_seeds: int, repeats: int) -> dict[str, float]:
    """Fastest of ``repeats`` epochs (after one warm-up), seconds per phase, through the
    engine's own round (the HLTM task as the workflow trains it)."""
    seeds = list(range(n_seeds))
    task = HLTMTask(cfg, HLTMSampler.from_config(cfg, seeds))
    engine = Engine(task, config={}, log=lambda m: None)
    opt = task.optimizer()
    best: dict[str, float] = {}
    for rep in range(repeats + 1):
        t0 = time.perf_counter()
        task.begin_round(0)
        data = task.samples
        _ = data.x, data.x_pos, data.x_neg
        t1 = time.perf_counter()
        task.evaluate(0)
        t2 = time.perf_counter()
        engine.train_round(opt, 0)
        t3 = time.perf_counter()
        times = {"sample": t1 - t0, "metrics": t2 - t1, "train": t3 - t2, "total": t3 - t0}
        if rep > 0 and (not best or times["total"] < best["total"]):
            best = times
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 3, 8])
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--samples", type=int, default=64000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--cov-samples", type=int, default=None, help="covariance operator on fewer anchors"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = HLTMConfig(samples_per_epoch=args.samples, cov_samples=args.cov_samples)
    print(
        f"HLTM epoch benchmark: N={cfg.samples_per_epoch}, hid={cfg.hid}, L={cfg.depth}, "
        f"batch={cfg.batch_size}, cov_samples={cfg.cov_samples}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    print(
        f"{'seeds':>5} {'s/epoch':>8} {'s/epoch/seed':>13} {'sample':>7} {'metrics':>8} "
        f"{'train':>7} {'vs 1 seed':>9}"
    )
    base = None
    for n in args.seeds:
        t = time_epoch(cfg, n, args.repeats)
        per_seed = t["total"] / n
        base = base or per_seed
        print(
            f"{n:5d} {t['total']:8.2f} {per_seed:13.3f} {t['sample'] / n:7.3f} "
            f"{t['metrics'] / n:8.3f} {t['train'] / n:7.3f} {base / per_seed:8.2f}x"
        )


if __name__ == "__main__":
    main()
