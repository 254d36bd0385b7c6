"""The matmul-only floor of a training step, measured generically for any model.

Any :class:`contrastlab.engine.Task` (or any Python function that does one training
step) is run for a few real steps under ``torch.profiler`` with ``record_shapes=True``.
Every matrix-multiply op those steps executed -- ``aten::mm``, ``aten::bmm``,
``aten::addmm``, ``aten::baddbmm``, ``aten::addbmm``, ``aten::addmv``, ``aten::mv``,
``aten::dot`` / ``aten::vdot`` and ``aten::_addmm_activation``, including those that
``aten::matmul``, ``aten::linear``, ``aten::einsum`` and the autograd backward nodes
dispatch to -- is collected with its input shapes, strides and dtype. A GEMM nested in
another GEMM (a build where ``addmm`` calls ``mm``) is counted once: the outermost.

Then exactly those GEMMs are replayed on preallocated random tensors of the same
shapes, strides (so transposed and expanded operands stay transposed and expanded)
and dtype, writing into preallocated outputs, in a loop::

    floor per step = (time of one pass over the recorded GEMMs) / (profiled steps)

The floor is what the step would cost if it did nothing but its matrix multiplies,
issued one by one from Python as eager PyTorch issues them (the per-call dispatch of
a few microseconds is included: no eager implementation avoids it). A real step also
draws its batch, applies the augmentations, the non-linearities, the loss, the
reductions and the optimiser update; ``real step / floor`` says how far from
"matmul-bound" a model is.

    .venv/bin/python benchmarks/floor.py --family sparse_dense [--seeds 5] [--threads 1]

prints the recorded GEMMs of the family's first sweep point and its floor.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import torch

# Profiler op name -> number of leading tensor inputs (the rest are scalars / out).
GEMM_OPS: dict[str, int] = {
    "aten::mm": 2,
    "aten::bmm": 2,
    "aten::addmm": 3,
    "aten::baddbmm": 3,
    "aten::addbmm": 3,
    "aten::addmv": 3,
    "aten::mv": 2,
    "aten::dot": 2,
    "aten::vdot": 2,
    "aten::_addmm_activation": 3,
}
# Composite ops that are not GEMMs themselves but dispatch to the ops above.
COMPOSITE_OPS = ("aten::matmul", "aten::linear", "aten::einsum", "aten::tensordot")
STEP_MARK = "contrastlab::train_step"

_DTYPES = {
    "float": torch.float32,
    "double": torch.float64,
    "c10::Half": torch.float16,
    "c10::BFloat16": torch.bfloat16,
    "c10::complex<float>": torch.complex64,
    "c10::complex<double>": torch.complex128,
}


@dataclass(frozen=True)
class Gemm:
    """One recorded matrix multiply.

    Attributes:
        op: the aten op without its namespace (``mm``, ``bmm``, ``addmm``, ...).
        shapes: shape of each tensor input, in the op's argument order.
        strides: stride of each tensor input (empty tuples when the profiler gave none).
        dtype: the profiler's dtype name of the first matrix operand (``float``, ...).
        scalars: the op's ``beta``, ``alpha`` where it has them (as recorded).
    """

    op: str
    shapes: tuple[tuple[int, ...], ...]
    strides: tuple[tuple[int, ...], ...] = ()
    dtype: str = "float"
    scalars: tuple[float, ...] = ()

    @property
    def flops(self) -> int:
        """Multiply-adds x 2 of the product (the bias add of addmm not counted)."""
        s = self.shapes
        if self.op in ("mm", "addmm", "_addmm_activation"):
            (m, k), (_, n) = s[-2], s[-1]
            return 2 * m * k * n
        if self.op in ("bmm", "baddbmm", "addbmm"):
            (b, m, k), (_, _, n) = s[-2], s[-1]
            return 2 * b * m * k * n
        if self.op in ("mv", "addmv"):
            (m, k) = s[-2]
            return 2 * m * k
        if self.op in ("dot", "vdot"):
            return 2 * s[0][0]
        return 0

    def describe(self) -> str:
        shapes = " x ".join("(" + ",".join(map(str, sh)) + ")" for sh in self.shapes)
        return f"{self.op} {shapes} {self.dtype}"


@dataclass
class Floor:
    """The matmul-only floor of a training step.

    Attributes:
        per_step_s: seconds of the recorded GEMMs per training step.
        steps: training steps profiled.
        gemms: every GEMM of the profiled steps, in execution order.
    """

    per_step_s: float
    steps: int
    gemms: list[Gemm] = field(default_factory=list)

    @property
    def gemms_per_step(self) -> float:
        return len(self.gemms) / self.steps

    @property
    def flops_per_step(self) -> float:
        return sum(g.flops for g in self.gemms) / self.steps

    @property
    def gflops(self) -> float:
        """GEMM throughput the replay reached (GFLOP/s)."""
        return self.flops_per_step / self.per_step_s / 1e9 if self.per_step_s > 0 else 0.0


def _as_ints(x) -> tuple[int, ...]:
    return tuple(int(v) for v in x)


def _ancestors(ev):
    p = ev.cpu_parent
    while p is not None:
        yield p
        p = p.cpu_parent


def _gemm_of(ev) -> Gemm | None:
    n_tensors = GEMM_OPS[ev.name]
    shapes = list(ev.input_shapes or [])
    if len(shapes) < n_tensors:
        return None
    dtypes = list(getattr(ev, "input_dtypes", None) or [])
    strides = list(getattr(ev, "structured_input_strides", None) or [])
    concrete = list(getattr(ev, "concrete_inputs", None) or [])
    tensor_strides = []
    for i in range(n_tensors):
        st = strides[i] if i < len(strides) else None
        ok = isinstance(st, list | tuple) and len(st) == len(shapes[i])
        tensor_strides.append(_as_ints(st) if ok else ())
    if any(not s for s in tensor_strides):
        tensor_strides = []
    scalars = tuple(
        float(v)
        for v in concrete[n_tensors:]
        if isinstance(v, int | float) and not isinstance(v, bool)
    )
    return Gemm(
        op=ev.name.split("::", 1)[1],
        shapes=tuple(_as_ints(s) for s in shapes[:n_tensors]),
        strides=tuple(tensor_strides),
        dtype=str(dtypes[n_tensors - 1]) if len(dtypes) >= n_tensors else "float",
        scalars=scalars,
    )


def collect_gemms(events: Iterable, mark: str | None = STEP_MARK) -> list[Gemm]:
    """Every GEMM in profiler ``events`` (``prof.events()``), each counted once (the
    outermost of nested GEMM ops), in start order. With ``mark``: only those that ran
    within a ``record_function(mark)`` range on any thread (the training steps; not,
    e.g., the data drawn at the start of an epoch) -- all of them if there is no such
    range."""
    events = list(events)
    ranges = [(e.time_range.start, e.time_range.end) for e in events if mark and e.name == mark]
    found = []
    for ev in events:
        if ev.name not in GEMM_OPS:
            continue
        if any(p.name in GEMM_OPS for p in _ancestors(ev)):
            continue  # counted at its outer GEMM
        if ranges:
            t0, t1 = ev.time_range.start, ev.time_range.end
            if not any(a <= t0 and t1 <= b for a, b in ranges):
                continue
        g = _gemm_of(ev)
        if g is not None:
            found.append((ev.time_range.start, g))
    found.sort(key=lambda x: x[0])
    return [g for _, g in found]


@contextmanager
def _quiet_stderr():
    """Silence file descriptor 2 (Kineto's C++ "profiler_start/stop" lines)."""
    try:
        sys.stderr.flush()
        saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError):  # no real fd 2 (e.g. captured): nothing to silence
        yield
        return
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


@contextmanager
def profiling():
    """``torch.profiler`` on the CPU with shapes recorded; yields the profile (read its
    ``events()`` after the block)."""
    from torch.profiler import ProfilerActivity, profile

    prof = profile(activities=[ProfilerActivity.CPU], record_shapes=True)
    with _quiet_stderr():
        prof.start()
    try:
        yield prof
    finally:
        with _quiet_stderr():
            prof.stop()


def profile_gemms(step: Callable[[], object], steps: int = 5) -> list[Gemm]:
    """Run ``step()`` ``steps`` times under the profiler (each inside a
    ``record_function(STEP_MARK)`` range) and return the GEMMs they executed."""
    from torch.profiler import record_function

    with profiling() as prof:
        for _ in range(steps):
            with record_function(STEP_MARK):
                step()
    return collect_gemms(prof.events(), STEP_MARK)


def sync(device: str | torch.device) -> None:
    """Wait for the device (CUDA kernels run asynchronously)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _operand(shape, stride, dtype, device) -> torch.Tensor:
    if not stride:
        return torch.randn(shape, dtype=dtype, device=device)
    size = 1 + sum((n - 1) * s for n, s in zip(shape, stride, strict=True)) if all(shape) else 0
    base = torch.randn(max(size, 1), dtype=dtype, device=device)
    return base.as_strided(shape, stride)


def _call(g: Gemm, device) -> Callable[[], object]:
    """A closure that runs ``g`` once on fresh operands, into a preallocated output."""
    dtype = _DTYPES.get(g.dtype, torch.float32)
    strides = g.strides or ((),) * len(g.shapes)
    args = [_operand(s, st, dtype, device) for s, st in zip(g.shapes, strides, strict=True)]
    fn = getattr(torch, g.op)
    kw = {}
    if g.op in ("addmm", "baddbmm", "addbmm", "addmv", "_addmm_activation") and g.scalars:
        kw = dict(zip(("beta", "alpha"), g.scalars[:2], strict=False))
    out = fn(*args, **kw)
    if g.op == "_addmm_activation":  # no out= variant
        return lambda: fn(*args, **kw)
    out = torch.empty_like(out, memory_format=torch.contiguous_format)
    return lambda: fn(*args, **kw, out=out)


def replay_seconds(
    gemms: list[Gemm], device: str | torch.device = "cpu", repeats: int = 3, min_time: float = 0.05
) -> float:
    """Seconds of one pass over ``gemms`` (operands and outputs preallocated): the
    fastest of ``repeats`` timings, each of enough passes to last ``min_time``."""
    if not gemms:
        return 0.0
    calls = [_call(g, device) for g in gemms]

    def one_pass():
        for c in calls:
            c()

    one_pass()  # warm-up: first-call costs, allocator
    sync(device)
    t = time.perf_counter()
    one_pass()
    sync(device)
    n = max(1, int(min_time / max(time.perf_counter() - t, 1e-9)))
    best = float("inf")
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        for _ in range(n):
            one_pass()
        sync(device)
        best = min(best, (time.perf_counter() - t) / n)
    return best


def measure_floor(
    step: Callable[[], object],
    steps: int = 5,
    device: str | torch.device = "cpu",
    repeats: int = 3,
    min_time: float = 0.05,
) -> Floor:
    """Profile ``steps`` calls of ``step()`` and time replaying their GEMMs."""
    gemms = profile_gemms(step, steps)
    return Floor(replay_seconds(gemms, device, repeats, min_time) / steps, steps, gemms)


def summary(gemms: list[Gemm]) -> list[tuple[str, int, int]]:
    """``(description, count, flops of one)`` of each distinct GEMM, most frequent first."""
    counts = Counter(g.describe() for g in gemms)
    flops = {g.describe(): g.flops for g in gemms}
    return [(d, n, flops[d]) for d, n in counts.most_common()]


class TaskSteps:
    """Real training steps of a :class:`~contrastlab.engine.Task`, exactly as the engine
    does them (``Engine.step``: the batch from ``task.batches``, forward, backward and
    the optimiser update), for timing and profiling.

    Rounds are entered as the engine does (``task.begin_round(r)`` before
    ``task.batches(r)``), cycling through the task's rounds; ``begin_round`` (e.g. an
    epoch's fresh samples) is neither timed nor inside the profiled step range.
    """

    def __init__(self, task, device: str | torch.device = "cpu", opt=None, engine=None):
        from contrastlab.engine import Engine

        self.task = task
        self.device = torch.device(device)
        self.engine = engine or Engine(task, config={}, log=lambda m: None)
        self.opt = opt if opt is not None else task.optimizer()
        self.mark: str | None = None
        self._round = 0
        self._it = None

    def _enter_round(self) -> None:
        n = max(1, int(self.task.n_rounds))
        self.task.begin_round(self._round % n)
        self._it = iter(self.task.batches(self._round % n))
        self._round += 1

    def step(self) -> float:
        """One optimiser step; returns its seconds (batch drawing included)."""
        from torch.profiler import record_function

        for _ in range(3):
            if self._it is None:
                self._enter_round()
            with record_function(self.mark) if self.mark else nullcontext():
                t = time.perf_counter()
                try:
                    batch = next(self._it)
                except StopIteration:
                    self._it = None
                    continue
                self.engine.step(self.opt, batch)
                sync(self.device)
                return time.perf_counter() - t
        raise RuntimeError(f"{type(self.task).__name__} yields no batches")

    def time(self, steps: int) -> float:
        """Seconds per step over ``steps`` steps."""
        return sum(self.step() for _ in range(steps)) / steps

    def best_time(self, steps: int, repeats: int, warmup: int = 0) -> float:
        """Fastest of ``repeats`` timings of ``steps`` steps each, after ``warmup`` steps."""
        for _ in range(warmup):
            self.step()
        return min(self.time(steps) for _ in range(max(1, repeats)))

    def floor(self, steps: int = 5, repeats: int = 3, min_time: float = 0.05) -> Floor:
        """The matmul-only floor of this task's step (profiles ``steps`` real steps)."""
        self.mark = STEP_MARK
        try:
            with profiling() as prof:
                for _ in range(steps):
                    self.step()
        finally:
            self.mark = None
        gemms = collect_gemms(prof.events(), STEP_MARK)
        return Floor(replay_seconds(gemms, self.device, repeats, min_time) / steps, steps, gemms)


def main() -> None:
    import argparse
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_family import experiments

    from contrastlab.config import expand_experiment, validate_config
    from contrastlab.registry import get_family

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", required=True)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=5, help="profiled steps")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(__file__).resolve().parents[1]
    exps = validate_config(
        {"experiments": experiments(args.family)}, root / "workflow/schemas/config.schema.yaml"
    )["experiments"]
    name, exp = next(iter(exps.items()))
    point = expand_experiment(name, exp)[0]
    fam = get_family(args.family)
    cfg = fam.config(point.config)
    seeds = list(range(args.seeds))
    task = fam.task(cfg, fam.synthesize(cfg, seeds), seeds, torch.device("cpu"))
    steps = TaskSteps(task)
    real = steps.best_time(20, 3, warmup=5)
    fl = steps.floor(args.steps)
    print(f"{name} {point.label}: {args.seeds} seeds, {torch.get_num_threads()} thread(s)")
    print(f"{'count/step':>10} {'MFLOP':>8}  GEMM")
    for desc, n, flops in summary(fl.gemms):
        print(f"{n / fl.steps:10.1f} {flops / 1e6:8.3f}  {desc}")
    print(
        f"real step {1e3 * real:.3f} ms, floor {1e3 * fl.per_step_s:.3f} ms "
        f"({fl.gemms_per_step:.0f} GEMMs, {fl.flops_per_step / 1e6:.2f} MFLOP, "
        f"{fl.gflops:.1f} GFLOP/s), ratio {real / fl.per_step_s:.1f}x"
    )


if __name__ == "__main__":
    main()
