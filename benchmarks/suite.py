"""The benchmark suite: one command, one table of where the time goes, on this machine.

    .venv/bin/python benchmarks/suite.py                 # everything (~15 min on 2 cores)
    .venv/bin/python benchmarks/suite.py --no-workflow   # without the end-to-end run
    .venv/bin/python benchmarks/suite.py --quick         # ~1 min smoke run (tests)

Sections (see benchmarks/README.md for how to read them):

  families          every registered family, the first sweep point(s) of each of its
                    experiments in config/config.yaml: step time per step, per seed and
                    per model, and its ratio to the matmul-only floor of the same model
                    measured in this run (benchmarks/floor.py)
  batched_seeds     K seeds batched vs a Python loop vs one process per seed
                    (bench_batched_seeds.measure)
  k_scaling         per-model-step time and its floor vs K of the Wen & Li model (only
                    when bench_batched_seeds.measure gives no floor)
  width             Wen & Li step time and its floor vs model width, K = 8 batched
  hltm_epoch        one HLTM epoch per seed for 1 and 8 seeds (bench_hltm.measure)
  conv_encoder      the ConvNet's step per member for K = 1, 4, 8, 16 batched vs a loop vs
                    one process per member, and its conv/GEMM floor (bench_conv.measure)
  fused_vs_unfused  the 7 InfoNCE tau points of experiment temperature as one fused job
                    (pipeline.train_job) vs one job per point (pipeline.train)
  workflow, stages  the default Snakemake run end to end in a fresh copy of the repository,
                    and its per-rule benchmark files summed by stage (benchmarks/stages.py)

Writes to --out (default results/benchmarks/): benchmark.csv (long format: section, name,
K, quantity, value, unit), machine.json (machine, versions, settings, the status of each
section), benchmark_cost.png; with the workflow also stages.csv and snakemake.log.
A section whose function is not there yet (another engineer's) is skipped with a message.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import importlib
import json
import math
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (str(ROOT / "src"), str(HERE)):  # the package, installed or not; the benchmarks
    if _p not in sys.path:
        sys.path.insert(0, _p)

import floor  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import stages  # noqa: E402
import torch  # noqa: E402

SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"
CSV_COLUMNS = ["section", "name", "K", "quantity", "value", "unit"]
WIDTHS = (25, 50, 100, 200)


# -- settings ---------------------------------------------------------------------------
@dataclass
class Settings:
    """What the suite runs; ``--quick`` shrinks every knob."""

    seeds: int = 5  # K of the families section (config n_seeds)
    points: int | None = 1  # first points of each experiment (None: all)
    warmup: int = 10
    steps: int = 50  # steps per timed repeat
    repeats: int = 3
    profile_steps: int = 5
    replay_repeats: int = 5  # floor: fastest of these replays ...
    replay_min_time: float = 0.1  # ... of at least this many seconds each
    ks: tuple[int, ...] = (1, 4, 16, 32, 64)  # one process per seed only up to K = 32
    batched_steps: int = 300
    batched_threads: int = 2
    batched_jobs: int = 2
    batched_modes: tuple[str, ...] = ("batched", "loop", "processes")
    hltm_seeds: tuple[int, ...] = (1, 8)
    conv_ks: tuple[int, ...] = (1, 4, 8, 16)
    conv_steps: int = 30
    conv_processes: bool = True
    hltm_samples: int = 64000
    hltm_repeats: int = 3
    fused_steps: int = 100
    fused_seeds: int = 2
    widths: tuple[int, ...] = WIDTHS
    width_k: int = 8
    first_experiment_only: bool = False

    @classmethod
    def quick(cls) -> Settings:
        return cls(
            seeds=2,
            points=1,
            warmup=3,
            steps=10,
            repeats=2,
            profile_steps=2,
            replay_repeats=2,
            replay_min_time=0.02,
            ks=(1, 4),
            batched_steps=20,
            batched_modes=("batched", "loop"),
            hltm_samples=4000,
            hltm_repeats=1,
            conv_ks=(1, 2),
            conv_steps=2,
            conv_processes=False,
            fused_steps=10,
            widths=(25, 50, 100, 200),
            first_experiment_only=True,
        )


# -- results ----------------------------------------------------------------------------
@dataclass
class Results:
    """The rows of benchmark.csv and the status of every section; saved after each one."""

    out: Path
    rows: list[dict] = field(default_factory=list)
    status: dict[str, str] = field(default_factory=dict)
    machine: dict = field(default_factory=dict)

    def add(self, section: str, name: str, K, quantity: str, value, unit: str = "1") -> None:
        self.rows.append(
            {
                "section": section,
                "name": name,
                "K": int(K) if K is not None else None,
                "quantity": quantity,
                "value": float(value) if value is not None else float("nan"),
                "unit": unit,
            }
        )

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows, columns=CSV_COLUMNS)
        df["K"] = df["K"].astype("Int64")
        return df

    def save(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        self.frame().to_csv(self.out / "benchmark.csv", index=False)
        self.machine["sections"] = self.status
        self.machine["loadavg_end"] = list(os.getloadavg())
        (self.out / "machine.json").write_text(json.dumps(self.machine, indent=2) + "\n")

    def print_section(self, section: str) -> None:
        df = self.frame()
        print(format_section(df[df.section == section]))


def _fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if float(v).is_integer() and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.4g}"


def format_section(df: pd.DataFrame) -> str:
    """One section as a wide table: a row per (name, K), a column per quantity [unit]."""
    if df.empty:
        return "  (no rows)"
    cols = list(dict.fromkeys(zip(df.quantity, df.unit, strict=True)))
    keys = list(dict.fromkeys(zip(df.name, df.K, strict=True)))
    table = []
    for name, K in keys:
        sub = df[(df.name == name) & (df.K.isna() if K is pd.NA else df.K == K)]
        vals = {(q, u): v for q, u, v in zip(sub.quantity, sub.unit, sub.value, strict=True)}
        table.append(
            [name, "" if K is pd.NA else str(K)] + [_fmt(vals.get(c, float("nan"))) for c in cols]
        )
    header = ["name", "K"] + [q if u == "1" else f"{q} [{u}]" for q, u in cols]
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(header)]
    lines = [
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        )
    ]
    for r in table:
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    return "\n".join(lines)


# -- machine info -----------------------------------------------------------------------
def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: torch.device, args: argparse.Namespace, settings: Settings) -> dict:
    """Everything a timing depends on, for machine.json."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        available = os.cpu_count()
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "hostname": socket.gethostname(),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "cores_available": available,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "torch_version": torch.__version__,
        "device": str(device),
        "device_name": (
            torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()
        ),
        "cuda_available": torch.cuda.is_available(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain")),  # untracked files count too
        "loadavg_start": list(os.getloadavg()),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "quick": bool(args.quick),
        "settings": asdict(settings),
    }
    return info


# -- helpers ----------------------------------------------------------------------------
@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run a block with ``n`` intra-op threads, then restore the previous number."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def optional_function(module: str, name: str):
    """``module.name`` if the module imports and has it, else (None, why)."""
    try:
        mod = importlib.import_module(module)
    except Exception as err:  # noqa: BLE001 (a half-written module must not stop the suite)
        return None, f"import {module} failed: {type(err).__name__}: {err}"
    fn = getattr(mod, name, None)
    if fn is None:
        return None, f"{module}.{name} does not exist (yet)"
    return fn, ""


def family_points(family: str, first_experiment_only: bool = False) -> list:
    """The validated sweep points of ``family``'s experiments in config/config.yaml
    (its tiny block if it has none), as bench_family.py finds them."""
    from bench_family import experiments

    from contrastlab.config import expand_experiment, validate_config

    exps = validate_config({"experiments": experiments(family)}, SCHEMA)["experiments"]
    out = []
    for name, exp in exps.items():
        out.append((name, expand_experiment(name, exp)))
        if first_experiment_only:
            break
    return out


def unit_of(key: str) -> str:
    """A unit guessed from a result key of another module's measure()."""
    k = key.lower()
    if "speedup" in k or "speed_up" in k or "ratio" in k or k.endswith("_x"):
        return "x"
    if k.endswith("_ms") or "_ms_" in k:
        return "ms"
    if k.endswith("_us") or "_us_" in k:
        return "us"
    if k.endswith("_s") or "_s_" in k or "wall" in k or "sec" in k or "time" in k:
        return "s"
    if k.split(".")[-1] in ("batched", "loop", "processes", "total", "sample", "metrics", "train"):
        return "s"  # wall seconds per mode / per phase, as the measure() docstrings say
    return "1"


def flatten(d: dict, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a (nested) dict as ``{"a.b": value}``."""
    out: dict[str, float] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        elif isinstance(v, bool):
            out[key] = float(v)
        elif isinstance(v, int | float | np.integer | np.floating):
            out[key] = float(v)
    return out


K_KEYS = ("K", "k", "n_seeds", "seeds", "ks")


def run_section(res: Results, section: str, fn, *args, **kwargs) -> None:
    """Run one section; a failure is recorded and printed, and the suite goes on."""
    print(f"\n== {section} ==", flush=True)
    t0 = time.perf_counter()
    try:
        status = fn(res, *args, **kwargs) or "ok"
    except Exception as err:  # noqa: BLE001
        traceback.print_exc()
        status = f"error: {type(err).__name__}: {err}"
    res.status[section] = status
    if status.startswith("ok"):
        res.print_section(section)
    else:
        print(f"  {section}: {status}")
    print(f"  ({time.perf_counter() - t0:.1f} s)", flush=True)
    res.save()


# -- (a) families -----------------------------------------------------------------------
def time_task(task, device, s: Settings) -> dict[str, float]:
    """Real step time (fastest of the repeats) and the matmul-only floor of a task."""
    steps = floor.TaskSteps(task, device)
    real = steps.best_time(s.steps, s.repeats, warmup=s.warmup)
    fl = steps.floor(s.profile_steps, s.replay_repeats, s.replay_min_time)
    return {
        "step": real,
        "floor": fl.per_step_s,
        "gemms": fl.gemms_per_step,
        "flops": fl.flops_per_step,
        "gflops": fl.gflops,
    }


def add_step_rows(res, section, name, K, models, t) -> None:
    ms = 1e3
    res.add(section, name, K, "models", models)
    res.add(section, name, K, "step", ms * t["step"], "ms")
    res.add(section, name, K, "step_per_seed", ms * t["step"] / K, "ms")
    res.add(section, name, K, "step_per_model", ms * t["step"] / models, "ms")
    res.add(section, name, K, "floor_step", ms * t["floor"], "ms")
    res.add(section, name, K, "floor_per_model", ms * t["floor"] / models, "ms")
    ratio = t["step"] / t["floor"] if t["floor"] > 0 else float("nan")
    res.add(section, name, K, "ratio", ratio, "x")
    res.add(section, name, K, "gemms_per_step", t["gemms"])
    res.add(section, name, K, "mflop_per_step", t["flops"] / 1e6, "MFLOP")
    res.add(section, name, K, "floor_gflop_s", t["gflops"], "GFLOP/s")


def section_families(res: Results, s: Settings, device: torch.device) -> str:
    from contrastlab.registry import families

    seeds = list(range(s.seeds))
    errors = []
    for fam_name, fam in families().items():
        for exp_name, points in family_points(fam_name, s.first_experiment_only):
            for point in points[: s.points] if s.points else points:
                name = f"{fam_name}:{exp_name}/{point.label}"
                try:
                    cfg = fam.config(point.config)
                    data = fam.synthesize(cfg, seeds)
                    task = fam.task(cfg, data, seeds, device)
                    t = time_task(task, device, s)
                except Exception as err:  # noqa: BLE001
                    errors.append(f"{name}: {type(err).__name__}: {err}")
                    print(f"  {name}: {errors[-1]}", flush=True)
                    continue
                models = len(seeds) * len(getattr(cfg, "grid", [None]))
                add_step_rows(res, "families", name, len(seeds), models, t)
                ratio = t["step"] / t["floor"] if t["floor"] > 0 else float("nan")
                print(
                    f"  {name}: {1e3 * t['step']:.3f} ms/step, floor {1e3 * t['floor']:.3f} ms "
                    f"({ratio:.1f}x)",
                    flush=True,
                )
    return "ok" if not errors else f"ok with errors: {'; '.join(errors)}"


# -- Wen & Li model: scaling in K and in width ---------------------------------------------
def wenli_task(width: int | None, K: int, device: torch.device):
    """The Wen & Li training job of config/config.yaml (complementary masking, or its
    first point) at ``width`` neurons for K seeds."""
    from contrastlab.registry import get_family

    points = family_points("sparse_dense")[0][1]
    point = next((p for p in points if p.values.get("masking") == "complementary"), points[0])
    exp = copy.deepcopy(point.config)
    if width is not None:
        exp["model"]["width"] = int(width)
    fam = get_family("sparse_dense")
    cfg = fam.config(exp)
    seeds = list(range(K))
    return fam.task(cfg, fam.synthesize(cfg, seeds), seeds, device), cfg


def section_width(res: Results, s: Settings, device: torch.device) -> str:
    for width in s.widths:
        task, _ = wenli_task(width, s.width_k, device)
        t = time_task(task, device, s)
        add_step_rows(res, "width", f"wenli width={width}", s.width_k, s.width_k, t)
    return "ok"


def section_k_scaling(res: Results, s: Settings, device: torch.device) -> str:
    for K in s.ks:
        task, cfg = wenli_task(None, K, device)
        t = time_task(task, device, s)
        add_step_rows(res, "k_scaling", f"wenli width={cfg.width}", K, K, t)
    return "ok"


# -- (b) batched seeds, HLTM epoch ------------------------------------------------------
def section_batched_seeds(res: Results, s: Settings) -> str:
    measure, why = optional_function("bench_batched_seeds", "measure")
    if measure is None:
        return f"skipped: {why}"
    with torch_threads(None):
        out = measure(
            list(s.ks),
            steps=s.batched_steps,
            threads=s.batched_threads,
            jobs=s.batched_jobs,
            modes=tuple(s.batched_modes),
        )
    if isinstance(out, dict):
        out = [out]
    for i, rec in enumerate(out):
        vals = flatten(rec)
        K = next((vals.pop(k) for k in K_KEYS if k in vals), s.ks[i] if i < len(s.ks) else None)
        for key, v in vals.items():
            res.add("batched_seeds", "wenli", K, key, v, unit_of(key))
    return "ok"


def section_hltm(res: Results, s: Settings) -> str:
    measure, why = optional_function("bench_hltm", "measure")
    if measure is None:
        return f"skipped: {why}"
    for n in s.hltm_seeds:
        with torch_threads(None):
            out = measure(n, threads=1, samples=s.hltm_samples, repeats=s.hltm_repeats)
        vals = flatten(out)
        for k in K_KEYS:
            vals.pop(k, None)
        for key, v in vals.items():
            unit = unit_of(key)
            res.add(
                "hltm_epoch", f"hltm N={s.hltm_samples}", n, key, v, "s" if unit == "1" else unit
            )
    return "ok"


def section_conv(res: Results, s: Settings) -> str:
    """The ConvNet's step per member: batched vs loop vs one process per member, and its
    floor (:mod:`bench_conv`)."""
    measure, why = optional_function("bench_conv", "measure")
    if measure is None:
        return f"skipped: {why}"
    with torch_threads(None):
        rows = measure(list(s.conv_ks), steps=s.conv_steps, threads=1, processes=s.conv_processes)
    for row in rows:
        K = row.pop("K")
        for key, v in row.items():
            res.add("conv_encoder", "convnet 16-32-64, 16x16", K, key, v, "s")
    return "ok"


# -- (c) fused vs unfused sweep points --------------------------------------------------
def temperature_points(kind: str = "infonce", steps: int = 100) -> list:
    """The points of experiment ``temperature`` with ``loss.kind == kind`` (7 taus),
    shortened to ``steps`` steps with one evaluation round."""
    points = dict(family_points("temperature"))["temperature"]
    out = []
    for p in points:
        if p.config.get("loss", {}).get("kind") != kind:
            continue
        cfg = copy.deepcopy(p.config)
        cfg["train"].update(steps=int(steps), eval_every=int(steps))
        cfg.setdefault("family", "temperature")
        out.append((p, cfg))
    return out


def fused_vs_unfused(
    steps: int = 100, n_seeds: int = 2, device: str = "cpu", kind: str = "infonce", log=None
) -> dict | None:
    """Wall seconds of the temperature experiment's ``kind`` points (7 taus) trained as
    one fused job, ``contrastlab.pipeline.train_job(datasets, cfgs, ...)``, vs one job
    per point, ``contrastlab.pipeline.train(data, cfg, ...)``, on the same data, in this
    process; and the largest difference between their metrics (0: the same numbers).
    None when ``train_job`` does not exist yet."""
    from contrastlab import pipeline

    quiet = log or (lambda m: None)
    if not hasattr(pipeline, "train_job"):
        return None
    pts = temperature_points(kind, steps)
    seeds = list(range(n_seeds))
    data_of: dict[str, object] = {}
    for p, cfg in pts:  # points that agree on the data share it
        if p.data_label not in data_of:
            data_of[p.data_label] = pipeline.synthesize(cfg, seeds)
    datasets = [data_of[p.data_label] for p, _ in pts]
    cfgs = [cfg for _, cfg in pts]
    warm = copy.deepcopy(cfgs[0])
    warm["train"].update(steps=2, eval_every=2)
    pipeline.train(datasets[0], warm, device, log=quiet)  # first-call costs, not timed
    t = time.perf_counter()
    fused = pipeline.train_job(datasets, cfgs, device=device, log=quiet)
    t_fused = time.perf_counter() - t
    t = time.perf_counter()
    solo = [pipeline.train(d, c, device, log=quiet) for d, c in zip(datasets, cfgs, strict=True)]
    t_solo = time.perf_counter() - t
    diff = 0.0
    for a, b in zip(fused, solo, strict=True):
        for v in set(a.data_vars) & set(b.data_vars):
            x, y = np.asarray(a[v].values), np.asarray(b[v].values)
            if x.shape == y.shape and np.issubdtype(x.dtype, np.number):
                d = np.abs(x.astype(float) - y.astype(float))
                if np.isfinite(d).any():
                    diff = max(diff, float(np.nanmax(d)))
    return {
        "points": len(pts),
        "fused": t_fused,
        "unfused": t_solo,
        "speedup": t_solo / t_fused if t_fused > 0 else float("nan"),
        "max_abs_diff": diff,
    }


def section_fused(res: Results, s: Settings, device: torch.device) -> str:
    out = fused_vs_unfused(s.fused_steps, s.fused_seeds, str(device))
    if out is None:
        return "skipped: contrastlab.pipeline.train_job does not exist (yet)"
    name = f"temperature infonce, {out['points']} taus, {s.fused_steps} steps"
    res.add("fused_vs_unfused", name, s.fused_seeds, "points", out["points"])
    res.add("fused_vs_unfused", name, s.fused_seeds, "fused_wall", out["fused"], "s")
    res.add("fused_vs_unfused", name, s.fused_seeds, "unfused_wall", out["unfused"], "s")
    res.add("fused_vs_unfused", name, s.fused_seeds, "speedup", out["speedup"], "x")
    res.add("fused_vs_unfused", name, s.fused_seeds, "max_abs_diff", out["max_abs_diff"])
    return "ok"


# -- (d) the whole default run ------------------------------------------------------------
def copy_tracked(dest: Path) -> int:
    """Copy the repository's tracked files (as they are in the working tree) to ``dest``
    and link its .venv; returns the number of files copied."""
    files = _git("ls-files", "-z").split("\0")
    n = 0
    for rel in filter(None, files):
        src = ROOT / rel
        if not (src.exists() or src.is_symlink()):
            continue  # deleted in the working tree
        dst = dest / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dst.symlink_to(os.readlink(src))
        elif src.is_file():
            shutil.copy2(src, dst)
        else:
            continue
        n += 1
    if (ROOT / ".venv").exists():
        (dest / ".venv").symlink_to(ROOT / ".venv")
    return n


def _snakemake(work: Path, args: list[str], log_path: Path, timeout: float | None) -> float:
    exe = work / ".venv/bin/snakemake"
    cmd = [str(exe) if exe.exists() else "snakemake", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "a") as log:
        log.write(f"\n$ {' '.join(cmd)}  (in {work})\n")
        log.flush()
        t = time.perf_counter()
        proc = subprocess.run(
            cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=timeout
        )
        wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}); see {log_path}")
    return wall


def section_workflow(
    res: Results, configfile: str | None, cores: int, keep: bool, timeout: float | None
) -> str:
    work = Path(tempfile.mkdtemp(prefix="contrastlab_workflow_"))
    log_path = res.out / "snakemake.log"
    log_path.write_text("")
    extra = ["--configfile", str(Path(configfile).resolve())] if configfile else []
    try:
        n = copy_tracked(work)
        print(f"  {n} tracked files copied to {work}; snakemake --cores {cores}", flush=True)
        wall = _snakemake(work, ["--cores", str(cores), *extra], log_path, timeout)
        text = log_path.read_text()
        done = re.findall(r"(\d+) of (\d+) steps", text)
        jobs = int(done[-1][0]) if done else float("nan")
        print(f"  workflow: {wall:.1f} s, {jobs} jobs; building the report", flush=True)
        report = _snakemake(work, ["--report", "report.html", *extra], log_path, timeout)
        name = "default run" if not configfile else f"run of {configfile}"
        res.add("workflow", name, None, "wall", wall, "s")
        res.add("workflow", name, None, "jobs", jobs)
        res.add("workflow", name, None, "report_wall", report, "s")
        res.add("workflow", name, None, "cores", cores)
        bench = work / "logs/benchmark"
        if not bench.is_dir():
            return "ok (no logs/benchmark: the rules have no benchmark: directive yet)"
        table = stages.summarize(bench)
        table.to_csv(res.out / "stages.csv", index=False)
        total = table[table.stage == "TOTAL"]
        if not total.empty and wall > 0:
            job_wall = float(total.wall_s.iloc[0])
            res.add("workflow", name, None, "jobs_wall_sum", job_wall, "s")
            res.add("workflow", name, None, "parallel_efficiency", job_wall / (wall * cores))
        for row in table.itertuples():
            for q, unit in (
                ("jobs", "1"),
                ("wall_s", "s"),
                ("cpu_time_s", "s"),
                ("mean_wall_s", "s"),
                ("max_rss_mb", "MB"),
            ):
                res.add(
                    "stages",
                    row.stage,
                    None,
                    q.removesuffix("_s").removesuffix("_mb"),
                    getattr(row, q),
                    unit,
                )
        print("  per stage (benchmarks/stages.py):")
        print("  " + stages.format_table(table).replace("\n", "\n  "))
        res.status["stages"] = "ok"
        return "ok"
    finally:
        if keep:
            print(f"  kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


# -- (e) the plot -------------------------------------------------------------------------
def _pick(df: pd.DataFrame, want_floor: bool) -> pd.DataFrame | None:
    """From bench_batched_seeds' rows: the batched per-model-step time (or its floor) in ms."""

    def ok(q: str) -> bool:
        q = q.lower()
        return "model" in q and ("floor" in q) == want_floor

    names = list(dict.fromkeys(q for q in df.quantity if ok(q)))
    if not names:
        return None
    # several modes may report it: the batched one, else the shortest name
    q = min(names, key=lambda n: ("batched" not in n.lower(), len(n)))
    sub = df[df.quantity == q].copy()
    scale = {"s": 1e3, "ms": 1.0, "us": 1e-3}.get(sub.unit.iloc[0], 1e3)
    sub["ms"] = sub.value * scale
    return sub


def cost_vs_k(df: pd.DataFrame) -> tuple[pd.DataFrame, str] | None:
    """(K, per_model_ms, floor_ms) vs K: from batched_seeds if it has both, else k_scaling."""
    b = df[df.section == "batched_seeds"]
    t, f = _pick(b, False), _pick(b, True)
    if t is not None and f is not None:
        m = t[["K", "ms"]].merge(f[["K", "ms"]], on="K", suffixes=("_step", "_floor"))
        return m.rename(columns={"ms_step": "step", "ms_floor": "floor"}), "bench_batched_seeds"
    k = df[df.section == "k_scaling"]
    if k.empty:
        return None
    piv = k.pivot_table(index="K", columns="quantity", values="value").reset_index()
    m = piv[["K", "step_per_model", "floor_per_model"]]
    return m.rename(columns={"step_per_model": "step", "floor_per_model": "floor"}), "k_scaling"


def _log_axes(ax, xs) -> None:
    """Log-log axes with plain-number tick labels and a tick at every x."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plain = FuncFormatter(lambda v, _: f"{v:g}")

    def some(v, _):  # minor ticks: label only 2, 3 and 5 x 10^n
        lead = round(v / 10 ** math.floor(math.log10(v))) if v > 0 else 0
        return f"{v:g}" if lead in (2, 3, 5) else ""

    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(list(xs))
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(FuncFormatter(some))
    ax.tick_params(axis="y", which="minor", labelsize=6)


def plot_cost(df: pd.DataFrame, path: Path, title: str = "") -> bool:
    """Per-model-step time and its floor vs K, and step time and floor vs width (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    kdata = cost_vs_k(df)
    w = df[df.section == "width"]
    if kdata is None and w.empty:
        return False
    sns.set_theme(style="whitegrid", context="paper", font_scale=0.9)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    ax = axes[0]
    if kdata is not None:
        m, src = kdata
        m = m.dropna().sort_values("K")
        ax.plot(m.K, m.step, "o-", label="real step")
        ax.plot(m.K, m.floor, "s--", label="matmul floor")
        _log_axes(ax, m.K)
        ax.set_xlabel("K (seeds batched)")
        ax.set_ylabel("ms per model-step")
        ax.set_title(f"Wen & Li: cost per model vs K ({src})", fontsize=8)
        ax.legend(fontsize=7)
    else:
        ax.set_axis_off()
    ax = axes[1]
    if not w.empty:
        piv = w.pivot_table(index="name", columns="quantity", values="value")
        piv["width"] = [int(n.split("=")[-1]) for n in piv.index]
        piv = piv.sort_values("width")
        ax.plot(piv.width, piv.step, "o-", label="real step")
        ax.plot(piv.width, piv.floor_step, "s--", label="matmul floor")
        _log_axes(ax, piv.width)
        K = int(w.K.dropna().iloc[0]) if w.K.notna().any() else 0
        ax.set_xlabel("width m (neurons)")
        ax.set_ylabel(f"ms per step (K = {K} batched)")
        ax.set_title("Wen & Li: step time vs width", fontsize=8)
        ax.legend(fontsize=7)
    else:
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


# -- main ---------------------------------------------------------------------------------
def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="See benchmarks/README.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--quick", action="store_true", help="few steps, small K, no workflow (~1 min)")
    ap.add_argument("--out", default=str(ROOT / "results/benchmarks"), help="output folder")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of the families, width and fused sections (default 1, "
        "as a workflow job)",
    )
    ap.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    ap.add_argument("--seeds", type=int, default=None, help="K of the families section")
    ap.add_argument(
        "--points",
        default=None,
        help="first N sweep points of each experiment, or 'all' (default 1)",
    )
    ap.add_argument("--ks", type=int, nargs="+", default=None, help="K values of batched_seeds")
    ap.add_argument(
        "--sections",
        nargs="+",
        default=None,
        help="run only these sections (families batched_seeds width hltm_epoch "
        "conv_encoder fused_vs_unfused workflow)",
    )
    wf = ap.add_mutually_exclusive_group()
    wf.add_argument(
        "--workflow",
        dest="workflow",
        action="store_true",
        default=None,
        help="run the whole workflow in a fresh copy (default, not with --quick)",
    )
    wf.add_argument("--no-workflow", dest="workflow", action="store_false")
    ap.add_argument("--configfile", default=None, help="passed to snakemake (e.g. a tiny config)")
    ap.add_argument("--cores", type=int, default=2, help="snakemake --cores (default 2)")
    ap.add_argument("--keep-workdir", action="store_true", help="keep the workflow's copy")
    ap.add_argument("--workflow-timeout", type=float, default=None, help="seconds")
    ap.add_argument(
        "--docs-plot", action="store_true", help="also write the plot to docs/benchmark_cost.png"
    )
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    s = Settings.quick() if args.quick else Settings()
    if args.seeds:
        s.seeds = args.seeds
    elif not args.quick:
        import yaml

        s.seeds = int(yaml.safe_load((ROOT / "config/config.yaml").read_text()).get("n_seeds", 5))
    if args.points:
        s.points = None if args.points == "all" else int(args.points)
    if args.ks:
        s.ks = tuple(args.ks)
    workflow = (not args.quick) if args.workflow is None else args.workflow
    wanted = set(args.sections) if args.sections else None

    def want(name: str) -> bool:
        return wanted is None or name in wanted

    from contrastlab.utils import resolve_device

    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res = Results(out)
    res.machine = machine_info(device, args, s)
    m = res.machine
    print(
        f"contrastlab benchmark suite{' (quick)' if args.quick else ''}: {m['hostname']}, "
        f"{m['cpu_model']}, {m['cores_available']}/{m['cores']} cores, torch {m['torch_version']} "
        f"({m['torch_threads']} thread(s)), {m['device']}, commit {m['git_commit'][:10]}"
        f"{' (dirty)' if m['git_dirty'] else ''}, load {m['loadavg_start'][0]:.1f}",
        flush=True,
    )
    t0 = time.perf_counter()
    if want("families"):
        run_section(res, "families", section_families, s, device)
    if want("batched_seeds"):
        run_section(res, "batched_seeds", section_batched_seeds, s)
        if cost_vs_k(res.frame()) is None or cost_vs_k(res.frame())[1] != "bench_batched_seeds":
            run_section(res, "k_scaling", section_k_scaling, s, device)
    if want("width"):
        run_section(res, "width", section_width, s, device)
    if want("hltm_epoch"):
        run_section(res, "hltm_epoch", section_hltm, s)
    if want("conv_encoder"):
        run_section(res, "conv_encoder", section_conv, s)
    if want("fused_vs_unfused"):
        run_section(res, "fused_vs_unfused", section_fused, s, device)
    if workflow and want("workflow"):
        run_section(
            res,
            "workflow",
            section_workflow,
            args.configfile,
            args.cores,
            args.keep_workdir,
            args.workflow_timeout,
        )
    elif want("workflow"):
        res.status["workflow"] = "skipped: --no-workflow" + (" (--quick)" if args.quick else "")
    title = (
        f"{m['cpu_model']}, {m['torch_threads']} thread(s), torch {m['torch_version']}, "
        f"{m['date'][:10]}, load {m['loadavg_start'][0]:.1f}"
    )
    png = out / "benchmark_cost.png"
    try:
        if plot_cost(res.frame(), png, title):
            print(f"\nplot: {png} ({png.stat().st_size // 1024} kB)")
            if args.docs_plot:
                docs = ROOT / "docs/benchmark_cost.png"
                docs.parent.mkdir(exist_ok=True)
                shutil.copyfile(png, docs)
                print(f"plot: {docs}")
            res.status["plot"] = "ok"
        else:
            res.status["plot"] = "skipped: no width or K data"
    except Exception as err:  # noqa: BLE001
        traceback.print_exc()
        res.status["plot"] = f"error: {type(err).__name__}: {err}"
    res.save()
    print("\nsections: " + ", ".join(f"{k} {v}" for k, v in res.status.items()))
    wall = time.perf_counter() - t0
    print(f"wrote {out / 'benchmark.csv'} and {out / 'machine.json'} ({wall:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
