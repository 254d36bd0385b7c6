"""Benchmark: K seeds as one batched model vs a Python loop vs one process per seed.

Same work in every mode: the Wen & Li training of the default config (experiment
``wenli`` of config/config.yaml, one sweep point, the given masking, ``--steps``
steps) for K seeds. For every K it prints the wall seconds of each mode, the speed-up
of batching over the loop and over one process per seed, the per-model-step time of
the batched run (wall / (steps * K)) and the matmul-only floor per model-step: the
GEMMs of one forward + backward step of the same shapes (below), timed alone in a
loop, measured in the same run on the same threads. Every number is measured in this
one run on this machine; ``--repeats`` keeps the fastest of several.

    .venv/bin/python benchmarks/bench_batched_seeds.py                  # K = 1 4 16 32 64
    .venv/bin/python benchmarks/bench_batched_seeds.py --ks 16 32 --modes batched loop
    .venv/bin/python benchmarks/bench_batched_seeds.py --steps 100 --max-processes-k 16

Modes:
  batched     one process trains all K seeds as one model (seed = tensor dim),
              --threads torch threads
  loop        the same process trains the K seeds one after another (one job each)
  processes   K processes, one seed each, --jobs at a time with threads // jobs torch
              threads each (what "one job per seed" costs, Python and torch start-up
              included); skipped for K > --max-processes-k (default 32)

Floor: for K seeds, batch B, input d1 and width m, the 7 GEMMs of a step of the
model: forward x1 W^T, x2 W^T (K, B, d1) x (K, d1, m) and the logits U V^T
(K, B, m) x (K, m, B); backward G V and G^T U (K, B, B) x (K, B, m) and the weight
gradients g1^T x1, g2^T x2 (K, m, B) x (K, B, d1); ``torch.bmm`` into preallocated
outputs, fastest of a few timed loops.

To compare two versions of the package, point ``BENCH_SRC`` at the other one's
``src`` folder (children get it too)::

    BENCH_SRC=/path/to/other/checkout/src .venv/bin/python benchmarks/bench_batched_seeds.py

From another script (``benchmarks/`` on sys.path)::

    import bench_batched_seeds
    rows = bench_batched_seeds.measure([1, 16, 32], steps=300, threads=2, jobs=2)
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
from functools import partial
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SRC = Path(os.environ.get("BENCH_SRC", ROOT / "src"))  # another checkout's package, to compare
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

from contrastlab.config import validate_config  # noqa: E402
from contrastlab.pipeline import synthesize, train  # noqa: E402
from contrastlab.results import read_netcdf, write_netcdf  # noqa: E402

MODES = ("batched", "loop", "processes")
KS = (1, 4, 16, 32, 64)


def _quiet(_msg) -> None:
    pass


def job_config(steps: int, masking: str = "complementary") -> dict:
    """The resolved ``wenli`` experiment of config/config.yaml, one point, ``steps`` steps."""
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
    train(read_netcdf(data_path).sel(seed=[seed]), cfg, "cpu", log=_quiet)


def matmul_floor(K: int, batch: int, d1: int, m: int, threads: int, min_time: float = 0.05):
    """Seconds of the 7 GEMMs of one forward + backward step for K seeds (module doc),
    fastest of 5 timed loops of at least ``min_time`` seconds each."""
    import torch

    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)

    def r(*shape):
        return torch.randn(*shape, generator=g)

    x1, x2, W = r(K, batch, d1), r(K, batch, d1), r(K, m, d1)
    U, V, G = r(K, batch, m), r(K, batch, m), r(K, batch, batch)
    g1, g2 = r(K, batch, m), r(K, batch, m)
    o_a, o_s, o_d, o_w = r(K, batch, m), r(K, batch, batch), r(K, batch, m), r(K, m, d1)
    gemms = [
        (x1, W.transpose(1, 2), o_a),  # forward, view 1
        (x2, W.transpose(1, 2), o_a),  # forward, view 2
        (U, V.transpose(1, 2), o_s),  # logits
        (G, V, o_d),  # d logits -> U
        (G.transpose(1, 2), U, o_d),  # d logits -> V
        (g1.transpose(1, 2), x1, o_w),  # d W, view 1
        (g2.transpose(1, 2), x2, o_w),  # d W, view 2
    ]

    def one():
        for a, b, out in gemms:
            torch.bmm(a, b, out=out)

    one()
    n = 1
    while True:  # calibrate the loop length
        t = time.perf_counter()
        for _ in range(n):
            one()
        if time.perf_counter() - t >= min_time:
            break
        n *= 2
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            one()
        best = min(best, (time.perf_counter() - t) / n)
    return best


def _batched(data, cfg) -> None:
    train(data, cfg, "cpu", log=_quiet)


def _loop(data, cfg) -> None:
    for i in range(data.sizes["seed"]):
        train(data.isel(seed=[i]), cfg, "cpu", log=_quiet)


def _processes(data_path, cfg_path, seeds, jobs: int, threads: int, env: dict) -> None:
    def child(s):
        cmd = [sys.executable, __file__, "--threads", str(threads), "--child"]
        subprocess.run([*cmd, str(data_path), str(cfg_path), str(s)], check=True, env=env)

    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(child, seeds))


def _fastest(f, repeats: int) -> float:
    best = float("inf")
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def measure(
    ks=KS,
    steps: int = 300,
    threads: int = 2,
    jobs: int = 2,
    modes=MODES,
    masking: str = "complementary",
    max_processes_k: int = 32,
    repeats: int = 1,
    log=None,
) -> list[dict]:
    """Time the Wen & Li job for each K in ``ks`` in each mode (module doc).

    Args:
        ks: numbers of seeds K.
        steps: training steps of every job.
        threads: torch threads of the batched and loop modes (and the floor).
        jobs: concurrent one-seed processes; each gets ``max(1, threads // jobs)`` threads.
        modes: any of ``batched``, ``loop``, ``processes``.
        masking: the augmentation of the job.
        max_processes_k: the processes mode is skipped (None) for a larger K.
        repeats: fastest of this many timings per mode and K.
        log: print-like function for a line per measurement (None: silent).

    Returns:
        One dict per K: ``K``, ``steps``, ``threads``, ``batched_s``, ``loop_s``,
        ``processes_s`` (wall seconds; None when not measured),
        ``speedup_vs_loop`` = loop / batched, ``speedup_vs_processes`` =
        processes / batched, ``per_model_step_ms`` = batched / (steps * K) in ms,
        ``floor_per_model_step_ms`` (the matmul-only floor of a step / K, ms) and
        ``ratio_to_floor`` = per_model_step_ms / floor_per_model_step_ms.
    """
    import torch

    say = log or _quiet
    modes = tuple(modes)
    bad = set(modes) - set(MODES)
    if bad:
        raise ValueError(f"unknown modes {sorted(bad)}; known: {MODES}")
    ks = [int(k) for k in ks]
    cfg = job_config(steps, masking)
    seeds = list(range(max(ks)))
    tmp = Path(tempfile.mkdtemp(prefix="bench_batched_"))
    data_path, cfg_path = tmp / "data.nc", tmp / "cfg.yaml"
    write_netcdf(synthesize(cfg, seeds), data_path)
    cfg_path.write_text(yaml.safe_dump(cfg))
    data = read_netcdf(data_path)
    data.load()
    B, m, d1 = cfg["train"]["batch_size"], cfg["model"]["width"], cfg["data"]["d1"]
    child_threads = max(1, threads // jobs)
    env = {**os.environ, "BENCH_SRC": str(SRC)}

    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        warm = {**cfg, "train": {**cfg["train"], "steps": 5}}
        train(data.isel(seed=[0]), warm, "cpu", log=_quiet)  # first-call costs, not timed
        rows = []
        for K in ks:
            sub = data.isel(seed=slice(0, K))
            row = {"K": K, "steps": steps, "threads": threads}
            row["batched_s"] = row["loop_s"] = row["processes_s"] = None
            if "batched" in modes:
                row["batched_s"] = _fastest(partial(_batched, sub, cfg), repeats)
                say(f"K={K}: batched {row['batched_s']:.2f} s")
            if "loop" in modes:
                row["loop_s"] = _fastest(partial(_loop, sub, cfg), repeats)
                say(f"K={K}: loop {row['loop_s']:.2f} s")
            if "processes" in modes and K <= max_processes_k:
                run = partial(_processes, data_path, cfg_path, seeds[:K], jobs, child_threads, env)
                row["processes_s"] = _fastest(run, repeats)
                torch.set_num_threads(threads)
                say(f"K={K}: processes {row['processes_s']:.2f} s")
            b = row["batched_s"]
            row["speedup_vs_loop"] = row["loop_s"] / b if b and row["loop_s"] else None
            row["speedup_vs_processes"] = (
                row["processes_s"] / b if b and row["processes_s"] else None
            )
            row["per_model_step_ms"] = 1e3 * b / (steps * K) if b else None
            floor = matmul_floor(K, B, d1, m, threads)
            row["floor_per_model_step_ms"] = 1e3 * floor / K
            row["ratio_to_floor"] = (
                row["per_model_step_ms"] / row["floor_per_model_step_ms"] if b else None
            )
            rows.append(row)
    finally:
        torch.set_num_threads(old_threads)
    return rows


def table(rows: list[dict]) -> str:
    """The rows of :func:`measure` as a text table."""

    def f(v, fmt):
        return "-" if v is None else format(v, fmt)

    head = (
        f"{'K':>4} {'batched s':>10} {'loop s':>9} {'procs s':>9} {'x loop':>7} "
        f"{'x procs':>8} {'ms/model-step':>14} {'floor ms':>9} {'/floor':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['K']:>4} {f(r['batched_s'], '10.2f')} {f(r['loop_s'], '9.2f')} "
            f"{f(r['processes_s'], '9.2f')} {f(r['speedup_vs_loop'], '7.2f')} "
            f"{f(r['speedup_vs_processes'], '8.2f')} {f(r['per_model_step_ms'], '14.3f')} "
            f"{f(r['floor_per_model_step_ms'], '9.3f')} {f(r['ratio_to_floor'], '7.2f')}"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ks", type=int, nargs="+", default=list(KS), help="numbers of seeds K")
    ap.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    ap.add_argument("--masking", default="complementary")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--jobs", type=int, default=2, help="concurrent one-seed processes")
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument(
        "--max-processes-k", type=int, default=32, help="skip processes for larger K (32)"
    )
    ap.add_argument("--repeats", type=int, default=1, help="fastest of N timings (default 1)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return run_one(args.child[0], args.child[1], int(args.child[2]), args.threads)

    import torch

    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, package {SRC}; {args.steps} steps, masking "
        f"{args.masking}, {args.threads} threads (processes: {args.jobs} at a time, "
        f"{max(1, args.threads // args.jobs)} thread(s) each), fastest of {args.repeats}",
        flush=True,
    )
    rows = measure(
        args.ks,
        steps=args.steps,
        threads=args.threads,
        jobs=args.jobs,
        modes=args.modes,
        masking=args.masking,
        max_processes_k=args.max_processes_k,
        repeats=args.repeats,
        log=lambda msg: print(msg, flush=True),
    )
    print(table(rows))


if __name__ == "__main__":
    main()
