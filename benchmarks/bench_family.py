"""Benchmark: a family's training time per sweep point, and per step and seed.

For every sweep point of the experiments of ``--family`` in ``config/config.yaml``,
in one process: the data stage, then training through the engine (all seeds
batched); prints the wall time of each, the training step time per seed (the
fastest of ``--repeats`` timed rounds after a warm-up round, robust to other load
on a shared machine) and the evaluation time. At the end, the sum over points:
the workflow runs one job per point (plus ~4 s of imports each), two at a time.

Usage:
    python benchmarks/bench_family.py --family clusters [--seeds 3] [--only digits]
    python benchmarks/bench_family.py --family temperature   # step time per tau-point

Works for every registered family (a new one included) with nothing to add.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import yaml

from contrastlab.config import expand_experiment, validate_config
from contrastlab.engine import Engine
from contrastlab.registry import get_family

ROOT = Path(__file__).resolve().parents[1]


def experiments(family: str) -> dict:
    """The experiments of ``family`` in config/config.yaml (its tiny config if none)."""
    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    mine = {n: e for n, e in cfg["experiments"].items() if e.get("family") == family}
    return mine or {f"{family}_tiny": {"family": family, **get_family(family).tiny}}


def time_point(family: str, point, seeds: list[int], repeats: int) -> dict[str, float]:
    fam = get_family(family)
    cfg = fam.config(point.config)
    t0 = time.perf_counter()
    data = fam.synthesize(cfg, seeds)
    t1 = time.perf_counter()
    task = fam.task(cfg, data, seeds, torch.device("cpu"))
    engine = Engine(task, config={}, log=lambda m: None)
    opt = task.optimizer()
    t2 = time.perf_counter()
    task.evaluate(0)
    t_eval = time.perf_counter() - t2
    best = float("inf")
    n_steps = task.round_coord(1)
    for r in range(min(repeats + 1, task.n_rounds)):
        ts = time.perf_counter()
        engine.train_round(opt, r)
        if r > 0:
            best = min(best, (time.perf_counter() - ts) / n_steps)
    if best == float("inf"):  # one round only: time the warm-up round
        best = (time.perf_counter() - t2 - t_eval) / n_steps
    # the whole job as the workflow runs it: a fresh task through the engine
    t3 = time.perf_counter()
    task = fam.task(cfg, data, seeds, torch.device("cpu"))
    Engine(task, config={}, log=lambda m: None).run()
    t4 = time.perf_counter()
    return {
        "data": t1 - t0,
        "train": t4 - t3,
        "step_per_seed": best / len(seeds),
        "eval": t_eval,
        "steps": task.round_coord(task.n_rounds),
        "models": len(seeds) * len(getattr(cfg, "grid", [None])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", required=True, help="a registered family")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only", default=None, help="experiments whose name contains this")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = list(range(args.seeds))
    print(
        f"{args.family} benchmark: {args.seeds} seeds, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    print(
        f"{'experiment':<20} {'point':<34} {'models':>6} {'steps':>5} {'data s':>6} "
        f"{'train s':>7} {'ms/step/seed':>12} {'eval ms':>7}"
    )
    exps = validate_config(
        {"experiments": experiments(args.family)}, ROOT / "workflow/schemas/config.schema.yaml"
    )
    total, jobs = 0.0, 0
    for name, exp in exps["experiments"].items():
        if args.only and args.only not in name:
            continue
        data_labels = set()
        for point in expand_experiment(name, exp):
            t = time_point(args.family, point, seeds, args.repeats)
            fresh = point.data_label not in data_labels
            data_labels.add(point.data_label)
            total += t["train"] + (t["data"] if fresh else 0.0)
            jobs += 1 + fresh
            print(
                f"{name:<20} {point.label:<34} {t['models']:>6} {t['steps']:>5} "
                f"{t['data']:>6.2f} {t['train']:>7.2f} {1e3 * t['step_per_seed']:>12.3f} "
                f"{1e3 * t['eval']:>7.1f}"
            )
    print(
        f"total: {jobs} data + training jobs, {total:.1f} s of data and training; with ~4 s "
        f"of imports per job and 2 jobs at a time: ~{(total + 4 * jobs) / 2:.0f} s wall"
    )


if __name__ == "__main__":
    main()
