"""Estimate what a config costs to train on this machine, by measuring each job's start.

For every training job of the config (fused as its ``fuse`` says), in this process:
synthesise the job's data, build its task, then time one evaluation and the first
``--steps`` optimiser steps of its first round, and extrapolate to the whole job:

    job seconds = data + (rounds + 1) x evaluation + steps x step time

Prints one line per job, the sum per experiment, the total in core-seconds and the
wall time on ``--cores`` cores (jobs shared out greedily, longest first, one core each,
plus ~1.5 s of imports per job). Measures, nothing is guessed; but a job's later
rounds can be slower or faster than its first (e.g. sparser activations).

Usage:
    .venv/bin/python benchmarks/estimate.py --configfile config/paper.yaml --cores 2
    .venv/bin/python benchmarks/estimate.py --configfile config/paper.yaml --device cuda
"""

from __future__ import annotations

import argparse
import heapq
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402

from contrastlab.config import (  # noqa: E402
    load_config_files,
    seeds,
    training_jobs,
    validate_config,
)
from contrastlab.engine import Engine  # noqa: E402
from contrastlab.images.datasets import DATASETS  # noqa: E402
from contrastlab.pipeline import build_task, synthesize  # noqa: E402
from contrastlab.utils import device_name, resolve_device  # noqa: E402

START_UP_S = 1.5  # a training job's imports before its first step (README, "Speed")


def estimate_job(job, n_seeds: list[int], device, steps: int) -> dict:
    """Measured seconds of one job's data, one evaluation and one step, and the job's
    extrapolated total."""
    t0 = time.perf_counter()
    data = {}
    for p in job.points:
        if p.data_label not in data:
            data[p.data_label] = synthesize(p.config, n_seeds)
    t_data = time.perf_counter() - t0
    datasets = [data[p.data_label] for p in job.points]
    task, _ = build_task(datasets, [p.config for p in job.points], device)
    engine = Engine(task, config={}, log=lambda m: None, device=device)
    opt = task.optimizer()
    t0 = time.perf_counter()
    task.begin_round(0)
    task.evaluate(0)
    t_eval = time.perf_counter() - t0
    batches = iter(task.batches(0))
    done, t_steps = 0, 0.0
    for _ in range(steps):
        t0 = time.perf_counter()
        try:
            batch = next(batches)
        except StopIteration:
            break
        engine.step(opt, batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t_steps += time.perf_counter() - t0
        done += 1
    if getattr(task, "_eval_every", None):
        total_steps = task._steps
    else:
        per_round = done + sum(1 for _ in batches)  # the rest of round 0, not trained
        total_steps = per_round * task.n_rounds
    step = t_steps / max(done, 1)
    # an image job on a miniature data set: its evaluation (and data) scale with the images
    scale = 1.0
    cfg = task.cfg
    if getattr(cfg, "source", None) in DATASETS and hasattr(task, "n_train"):
        full_train, full_test = cfg.split_sizes()
        have = task.n_train + task.n_test
        scale = max(1.0, (full_train + full_test) / have)
        t_eval, t_data = t_eval * scale, t_data * scale
    total = t_data + (task.n_rounds + 1) * t_eval + total_steps * step
    return {
        "data_s": t_data,
        "eval_s": t_eval,
        "step_s": step,
        "steps": total_steps,
        "rounds": task.n_rounds,
        "models": len(task.seeds),
        "total_s": total,
        "scaled": scale,
    }


def wall_on(cores: int, jobs: list[float]) -> float:
    """Makespan of the jobs on ``cores`` cores, longest first to the least loaded."""
    load = [0.0] * cores
    heapq.heapify(load)
    for t in sorted(jobs, reverse=True):
        heapq.heappush(load, heapq.heappop(load) + t)
    return max(load)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--configfile", default=str(ROOT / "config/config.yaml"))
    ap.add_argument("--cores", type=int, default=2, help="cores (= concurrent jobs) of the target")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    ap.add_argument("--steps", type=int, default=20, help="steps timed per job (default 20)")
    ap.add_argument("--only", nargs="*", help="experiments to estimate (default: all active)")
    ap.add_argument("--data-root", help="folder of the real image data sets (sets data_root)")
    ap.add_argument(
        "--miniature",
        type=int,
        metavar="N",
        help="without the real data: time the image jobs on miniatures of about N training "
        "images per data set, written in the official layouts to a temporary folder; step "
        "times are those of the real image size, evaluations are scaled up to the real split "
        "sizes (linearly: a lower bound)",
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    raw = load_config_files([args.configfile])
    if args.data_root:
        raw["data_root"] = args.data_root
    elif args.miniature:
        import tempfile

        sys.path.insert(0, str(ROOT / "tests"))
        from images.miniature import write_miniature

        folder = Path(tempfile.mkdtemp(prefix="contrastlab-miniature-"))
        n = max(1, args.miniature)
        sizes = {
            "cifar10": {"n_per_batch": max(1, n // 5)},
            "cifar100": {"n_train": n, "n_test": max(1, n // 5)},
            "svhn": {"n_train": n, "n_test": max(1, n // 5)},
            "stl10": {"n_train": n, "n_test": max(1, n // 5), "n_unlabeled": 1},
        }
        for name, kw in sizes.items():
            write_miniature(name, folder, **kw)
        raw["data_root"] = str(folder)
        print(f"(miniature data sets of ~{n} training images in {folder})")
    config = validate_config(raw, ROOT / "workflow/schemas/config.schema.yaml")
    device = resolve_device(args.device)
    print(
        f"estimate of {args.configfile} on {platform.node()} ({os.cpu_count()} cores, "
        f"{device_name(device)}, torch {torch.__version__}, 1 thread per job)"
    )
    print(f"{'experiment':<20} {'job':<40} {'models':>6} {'steps':>7} {'step ms':>8} "
          f"{'eval s':>7} {'job s':>8}")  # fmt: skip
    per_exp: dict[str, float] = {}
    totals = []
    for job in training_jobs(config):
        if args.only and job.experiment not in args.only:
            continue
        est = estimate_job(job, seeds(config, job.experiment), device, args.steps)
        per_exp[job.experiment] = per_exp.get(job.experiment, 0.0) + est["total_s"]
        totals.append(est["total_s"] + START_UP_S)
        print(
            f"{job.experiment:<20} {job.label[:40]:<40} {est['models']:>6} {est['steps']:>7} "
            f"{1e3 * est['step_s']:>8.2f} {est['eval_s']:>7.2f} {est['total_s']:>8.0f}",
            flush=True,
        )
    print("\nper experiment (core-seconds of training):")
    for name, t in per_exp.items():
        print(f"  {name:<20} {t:>9.0f} s  ({t / 3600:.2f} h)")
    total = sum(totals)
    print(
        f"total: {len(totals)} jobs, {total:.0f} core-seconds ({total / 3600:.2f} h); "
        f"wall on {args.cores} cores ~ {wall_on(args.cores, totals) / 60:.0f} min "
        "(training only: add the data, aggregate, figure and report jobs)"
    )


if __name__ == "__main__":
    main()
