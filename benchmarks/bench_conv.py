"""Benchmark: the ConvNet encoder's training step, K members batched vs a Python loop vs
one process per member, next to its floor.

One step = the work of a step of the image families' default run: two augmented views
of ``--batch`` images of ``--side`` x ``--side`` RGB pixels through the ConvNet
(``--channels``) and its projection head, symmetric InfoNCE with in-batch negatives,
backward, Adam. Augmentation is left out (a fixed pair of views per step) so the
numbers are the encoder's. For every K it prints the wall seconds per step of each mode,
per member (÷ K), the speed-up of batching over the loop and over a process per member,
and the floor per member: the same convolutions (forward + backward, ungrouped, one
member's shapes) and head GEMMs replayed alone on the same threads, without BatchNorm,
ReLU, pooling or the loss. Every number comes from this one run on this machine.

    .venv/bin/python benchmarks/bench_conv.py                      # K = 1 4 8 16
    .venv/bin/python benchmarks/bench_conv.py --ks 1 8 --side 32 --channels 32 64 128

From another script (``benchmarks/`` on sys.path)::

    import bench_conv
    rows = bench_conv.measure([1, 4, 8, 16], steps=10, threads=1)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

if os.environ.get("BENCH_SRC"):
    sys.path.insert(0, os.environ["BENCH_SRC"])

from contrastlab.encoders.convnet import BatchedConvNet  # noqa: E402
from contrastlab.engine import make_optimizer  # noqa: E402
from contrastlab.losses.infonce import infonce_in_batch  # noqa: E402
from contrastlab.utils import generator, keep_freed_memory  # noqa: E402

keep_freed_memory()  # as every training job does


def _encoder(K: int, args, seed0: int = 0) -> BatchedConvNet:
    gens = [generator(seed0 + k, "bench/init") for k in range(K)]
    return BatchedConvNet(
        3,
        args.side,
        channels=tuple(args.channels),
        embed_dim=args.embed_dim,
        proj_hidden=args.proj_hidden,
        gens=gens,
    )


def _views(K: int, args) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    shape = (K, args.batch, 3, args.side, args.side)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


def _time_steps(enc: BatchedConvNet, views, steps: int) -> float:
    """Seconds per step (forward, loss, backward, Adam), after one warm-up step."""
    opt = make_optimizer("adam", enc.params, 1e-3)
    v1, v2 = views

    def step():
        opt.zero_grad(set_to_none=True)
        loss = infonce_in_batch(enc(v1)[1], enc(v2)[1], 0.2).sum()
        loss.backward()
        opt.step()

    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps


def floor_per_member(args, steps: int) -> float:
    """Seconds per step of one member's convolutions and head GEMMs alone (forward and
    backward of the same shapes: two views of ``batch`` images)."""
    n = 2 * args.batch
    g = torch.Generator().manual_seed(1)
    layers = []
    side, cin = args.side, 3
    for c in args.channels:
        x = torch.randn(n, cin, side, side, generator=g, requires_grad=True)
        w = torch.randn(c, cin, 3, 3, generator=g, requires_grad=True)
        layers.append(("conv", x, w, torch.randn(n, c, side, side, generator=g)))
        side, cin = max(1, side // 2), c
    dims = [cin] + ([args.proj_hidden] if args.proj_hidden else []) + [args.embed_dim]
    for a, b in zip(dims[:-1], dims[1:], strict=True):
        x = torch.randn(n, a, generator=g, requires_grad=True)
        w = torch.randn(b, a, generator=g, requires_grad=True)
        layers.append(("linear", x, w, torch.randn(n, b, generator=g)))

    def once():
        for kind, x, w, gy in layers:
            y = F.conv2d(x, w, padding=1) if kind == "conv" else x @ w.T
            y.backward(gy)

    once()
    t0 = time.perf_counter()
    for _ in range(steps):
        once()
    return (time.perf_counter() - t0) / steps


def _one_process(args, steps: int) -> float:
    """Wall seconds of a fresh process that trains one member for ``steps`` steps
    (Python, torch and contrastlab start-up included)."""
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--steps",
        str(steps),
        "--threads",
        str(args.threads),
        "--side",
        str(args.side),
        "--batch",
        str(args.batch),
        "--channels",
        *map(str, args.channels),
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    return time.perf_counter() - t0


def measure(ks, steps: int = 10, threads: int = 1, processes: bool = True, **kw) -> list[dict]:
    """Rows ``{K, batched_s, loop_s, process_s, floor_s}`` (seconds per step; the loop's
    and processes' for all K members, the floor per member)."""
    args = parser().parse_args([])
    for k, v in kw.items():
        setattr(args, k, v)
    args.threads = threads
    torch.set_num_threads(threads)
    floor = floor_per_member(args, steps)
    rows = []
    for K in ks:
        batched = _time_steps(_encoder(K, args), _views(K, args), steps)
        one = _views(1, args)
        loop = sum(_time_steps(_encoder(1, args, k), one, steps) for k in range(K))
        row = {"K": K, "batched_s": batched, "loop_s": loop, "floor_s": floor}
        if processes:
            # K processes one after another: each pays its start-up and its steps
            per = _one_process(args, steps)
            row["process_s"] = K * per / steps
        rows.append(row)
    return rows


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ks", type=int, nargs="+", default=[1, 4, 8, 16])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--side", type=int, default=16)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--channels", type=int, nargs="+", default=[16, 32, 64])
    p.add_argument("--proj-hidden", dest="proj_hidden", type=int, default=128)
    p.add_argument("--embed-dim", dest="embed_dim", type=int, default=64)
    p.add_argument("--no-processes", dest="processes", action="store_false")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return p


def table(rows: list[dict]) -> str:
    head = (
        "| K | batched / member | loop / member | process / member | × loop | × processes "
        "| floor / member |"
    )
    lines = [head, "|" + "---|" * 7]
    for r in rows:
        K = r["K"]
        proc = r.get("process_s")
        lines.append(
            f"| {K} | {1e3 * r['batched_s'] / K:.1f} ms | {1e3 * r['loop_s'] / K:.1f} ms | "
            + (f"{1e3 * proc / K:.1f} ms" if proc else "–")
            + f" | {r['loop_s'] / r['batched_s']:.2f} | "
            + (f"{proc / r['batched_s']:.2f}" if proc else "–")
            + f" | {1e3 * r['floor_s']:.1f} ms |"
        )
    return "\n".join(lines)


def main() -> None:
    args = parser().parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        _time_steps(_encoder(1, args), _views(1, args), args.steps)
        return
    kw = {k: getattr(args, k) for k in ("side", "batch", "channels", "proj_hidden", "embed_dim")}
    rows = measure(args.ks, args.steps, args.threads, args.processes, **kw)
    print(
        f"ConvNet {args.channels} on {args.side}x{args.side}, two views of {args.batch} "
        f"images, {args.threads} thread(s), torch {torch.__version__}, {os.cpu_count()} CPUs"
    )
    print(table(rows))


if __name__ == "__main__":
    main()
