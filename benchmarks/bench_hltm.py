"""Benchmark: one HLTM epoch (sampling + metrics + training) for batches of seeds.

Measures, in one process, the time of one epoch at the paper's size (N = 64000
triplets, hid 10, L = 5, batch 128, the covariance operator on 16000 anchors
as config/config.yaml) for 1 seed and for batches of seeds, and prints
seconds per epoch per seed, split into sampling / metrics / training, and the
speed-up of batching. Each configuration is timed ``--repeats`` times after a
warm-up epoch and the fastest run is reported (robust to other load on a
shared machine). :func:`measure` returns the same numbers for other scripts
(the benchmark suite).

Usage:
    python benchmarks/bench_hltm.py [--seeds 1 3 8] [--threads 1] [--samples 64000]

Goal: <= 0.3 s per epoch per seed with 8 seeds in one process on one thread,
sampling and metrics included.
"""

from __future__ import annotations

import argparse
import time

import torch

from contrastlab.engine import Engine
from contrastlab.families.hltm.config import HLTMConfig
from contrastlab.families.hltm.data import HLTMSampler
from contrastlab.families.hltm.task import HLTMTask

COV_SAMPLES = 16000  # train.cov_samples of config/config.yaml
PHASES = ("total", "sample", "metrics", "train")


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
        t1 = time.perf_counter()
        task.evaluate(0)
        t2 = time.perf_counter()
        engine.train_round(opt, 0)
        t3 = time.perf_counter()
        times = {"sample": t1 - t0, "metrics": t2 - t1, "train": t3 - t2, "total": t3 - t0}
        if rep > 0 and (not best or times["total"] < best["total"]):
            best = times
    return best


def measure(
    n_seeds: int,
    threads: int = 1,
    samples: int = 64000,
    repeats: int = 2,
    cov_samples: int | None = COV_SAMPLES,
) -> dict[str, float]:
    """Seconds per epoch per seed of one HLTM epoch with ``n_seeds`` seeds in one batch.

    Args:
        n_seeds: seeds trained together (one process).
        threads: torch intra-op threads (restored afterwards).
        samples: triplets per epoch (64000 = the paper).
        repeats: timed epochs after a warm-up; the fastest is reported.
        cov_samples: anchors of the covariance operator (None = all).

    Returns:
        ``total``, ``sample``, ``metrics``, ``train``: seconds per epoch per seed
        (the fastest epoch's split), and ``n_seeds``.
    """
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        cfg = HLTMConfig(samples_per_epoch=samples, cov_samples=cov_samples)
        t = time_epoch(cfg, n_seeds, repeats)
    finally:
        torch.set_num_threads(old)
    return {**{k: t[k] / n_seeds for k in PHASES}, "n_seeds": n_seeds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 3, 8])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--samples", type=int, default=64000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--cov-samples",
        type=int,
        default=COV_SAMPLES,
        help="anchors of the covariance operator (0 = all, as the authors' code)",
    )
    args = parser.parse_args()
    cov = args.cov_samples or None
    print(
        f"HLTM epoch benchmark: N={args.samples}, hid=10, L=5, batch=128, cov_samples={cov}, "
        f"torch {torch.__version__}, {args.threads} threads"
    )
    print(
        f"{'seeds':>5} {'s/epoch':>8} {'s/epoch/seed':>13} {'sample':>7} {'metrics':>8} "
        f"{'train':>7} {'vs 1 seed':>9}"
    )
    base = None
    for n in args.seeds:
        t = measure(n, args.threads, args.samples, args.repeats, cov)
        base = base or t["total"]
        print(
            f"{n:5d} {t['total'] * n:8.2f} {t['total']:13.3f} {t['sample']:7.3f} "
            f"{t['metrics']:8.3f} {t['train']:7.3f} {base / t['total']:8.2f}x"
        )


if __name__ == "__main__":
    main()
