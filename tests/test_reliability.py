"""Reliability (issue #21): checksummed result files, recovery that works by following the
error message, the runaway-growth guard, one reproduce.sh per folder, device: cuda without
a reachable GPU refused, checkpoint status reported, checkpoints that never run code."""

from __future__ import annotations

import ast
import io
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from contrastlab.checkpoint import (
    FORMAT,
    load_checkpoint,
    load_checkpoint_status,
    save_checkpoint,
    wrap_payload,
)
from contrastlab.config import ConfigError, check_experiment, check_gpu_reachable
from contrastlab.engine import DivergenceError, Engine
from contrastlab.errors import ResultFileError
from contrastlab.params import to_sections
from contrastlab.pipeline import run_point, synthesize, train, train_job
from contrastlab.registry import get_family
from contrastlab.results import (
    POINT_GROUP,
    RERUN_ENV,
    read_netcdf,
    read_point,
    reproduce_command,
    write_netcdf,
    write_points,
)

from wf_helpers import ROOT, snakemake_cmd


def quiet(_msg: str) -> None:
    pass


def tiny(name: str, **sections) -> dict:
    """A family's tiny experiment config, validated, with ``sections`` merged in."""
    exp = {"family": name, **get_family(name).tiny}
    for section, values in sections.items():
        exp[section] = {**exp.get(section, {}), **values}
    return {"family": name, **to_sections(check_experiment(exp))}


# --- 2. checksummed result files ------------------------------------------------------


@pytest.fixture(scope="module")
def result_files(tmp_path_factory) -> tuple[Path, Path]:
    """A data file and a fused training job's metrics file (two netCDF groups), written
    as the workflow writes them."""
    tmp = tmp_path_factory.mktemp("files")
    cfgs = [tiny("sparse_dense", augmentation={"masking": m}) for m in ("none", "complementary")]
    data = synthesize(cfgs[0], [0, 1])
    write_netcdf(data, tmp / "data.nc")
    labels = ["masking=none", "masking=complementary"]
    results = train_job([data, data], cfgs, "cpu", log=quiet, labels=labels)
    write_points(dict(zip(labels, results, strict=True)), tmp / "metrics.nc")
    return tmp / "data.nc", tmp / "metrics.nc"


def read_whole(path: Path) -> list[xr.Dataset]:
    """The file's root and every point group of a fused job's file."""
    root = read_netcdf(path)
    groups = json.loads(root.attrs.get("fused_points", "[]"))
    return [root] + [read_netcdf(path, POINT_GROUP.format(i)) for i in range(len(groups))]


def flip_sweep(path: Path, work: Path, n_trials: int = 300) -> dict[str, int]:
    """Invert 16 bytes at every k-th offset of ``path`` (each trial on a fresh copy) and
    read the copy back: equal to the original, a ResultFileError, or silently different."""
    original = path.read_bytes()
    reference = read_whole(path)
    k = max(1, len(original) // n_trials)
    counts = {"equal": 0, "error": 0, "silently different": 0}
    trial = work / path.name
    for offset in range(0, len(original), k):
        damaged = bytearray(original)
        for i in range(offset, min(offset + 16, len(damaged))):
            damaged[i] ^= 0xFF
        trial.write_bytes(damaged)
        try:
            got = read_whole(trial)
        except ResultFileError:
            counts["error"] += 1
            continue
        try:
            assert len(got) == len(reference)
            for a, b in zip(got, reference, strict=True):
                xr.testing.assert_identical(a, b)  # values, coords and attributes
            counts["equal"] += 1
        except AssertionError:
            counts["silently different"] += 1
    return counts


@pytest.mark.parametrize("which", ["data", "metrics"])
def test_bit_flip_sweep_is_never_silently_different(result_files, which, tmp_path):
    path = result_files[0] if which == "data" else result_files[1]
    t0 = time.perf_counter()
    counts = flip_sweep(path, tmp_path)
    assert sum(counts.values()) >= 300
    assert counts["silently different"] == 0, counts
    assert counts["error"] > 0
    assert time.perf_counter() - t0 < 30


@pytest.mark.parametrize("keep", [0, 10, 1000, -85, -1])
def test_truncated_result_file_is_a_named_error(result_files, keep, tmp_path):
    data = result_files[0].read_bytes()
    bad = tmp_path / "data.nc"
    bad.write_bytes(data[:keep])
    with pytest.raises(ResultFileError, match=rf"{re.escape(str(bad))} cannot be read .*damaged"):
        read_netcdf(bad)


def test_result_file_round_trip_is_identical(result_files):
    data, metrics = result_files
    for label in ("masking=none", "masking=complementary"):
        point = read_point(metrics, label)
        assert point.attrs["point_label"] == label and "step" in point.coords
    ds = read_netcdf(data)
    assert ds.attrs["contrastlab_version"] and "seed" in ds.coords


def test_file_without_checksum_is_refused(tmp_path):
    """A netCDF file that did not come from contrastlab's writer (or an older one) has no
    checksum to check it by: refused, not trusted."""
    plain = tmp_path / "plain.nc"
    xr.Dataset({"y": ("x", [1.0, 2.0])}).to_netcdf(plain, engine="netcdf4")
    with pytest.raises(ResultFileError, match="no contrastlab checksum"):
        read_netcdf(plain)
    with pytest.raises(ResultFileError, match="missing"):
        read_netcdf(tmp_path / "nothing.nc")


def test_message_names_the_repair_command(result_files, tmp_path, monkeypatch):
    bad = tmp_path / "m.nc"
    bad.write_bytes(b"\x89HDF garbage")
    cmd = "bash scripts/reproduce.sh --configfile 'my config.yaml' --cores 2"
    monkeypatch.setenv(RERUN_ENV, cmd)
    with pytest.raises(ResultFileError) as err:
        read_netcdf(bad)
    assert str(bad) in str(err.value) and f"run: {cmd}" in str(err.value)
    monkeypatch.delenv(RERUN_ENV)
    with pytest.raises(ResultFileError, match="run: bash scripts/reproduce.sh"):
        read_netcdf(bad)


def test_reproduce_command_repeats_the_arguments(monkeypatch, tmp_path):
    monkeypatch.setenv("PWD", str(ROOT))
    args = ["--configfile", "a b.yaml", "--cores", "2"]
    assert (
        reproduce_command(args, ROOT)
        == "bash scripts/reproduce.sh --configfile 'a b.yaml' --cores 2"
    )
    monkeypatch.setenv("PWD", str(tmp_path))
    assert reproduce_command([], ROOT) == f"bash {ROOT / 'scripts/reproduce.sh'}"


# --- 3. runaway growth ----------------------------------------------------------------


def test_hltm_sgd_at_lr_1e6_stops_with_the_divergence_message():
    """HLTM trains with plain SGD; at lr 1e6 its weights reach ~5e5, below the absolute
    bound (1e6), so only the growth guard (1e4 x the initial norm) catches it."""
    exp = {"family": "hltm", **get_family("hltm").tiny}
    exp["train"] = {**exp["train"], "lr": 1e6}
    with pytest.raises(DivergenceError) as err:
        run_point(exp, [0, 1], log=quiet)
    msg = str(err.value)
    assert re.search(r"seed \d: weights exploded \(parameter norm .* > max_growth 10000\)", msg)
    assert "by step" in msg and "lower train.lr and rerun" in msg


def test_without_the_growth_guard_hltm_at_lr_1e6_ran_to_the_end():
    """What the guard is for: the same run with max_growth = inf finishes, its weights far
    from their start yet under max_abs_weight."""
    cfg = tiny("hltm", train={"lr": 1e6})
    fam = get_family("hltm")
    data = synthesize(cfg, [0, 1])
    task = fam.task(fam.config(cfg), data, [0, 1], torch.device("cpu"))
    engine = Engine(task, cfg, log=quiet, max_growth=math.inf)
    engine.run()
    grown = (engine.member_norms() / engine.init_norm).max().item()
    biggest = max(p.detach().abs().max().item() for p in task.parameters().values())
    assert grown > 1e4 and biggest < 1e6


# --- 6. device: cuda with no GPU to get -----------------------------------------------


def test_device_cuda_refused_only_where_no_job_can_get_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    check_gpu_reachable({"device": "cpu"}, local_exec=True)
    check_gpu_reachable({"device": "auto"}, local_exec=True)
    check_gpu_reachable({"device": "cuda"}, local_exec=False)  # e.g. --executor slurm
    with pytest.raises(ConfigError, match="config error at device: 'cuda'.*local executor"):
        check_gpu_reachable({"device": "cuda"}, local_exec=True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    check_gpu_reachable({"device": "cuda"}, local_exec=True)


# --- 7. checkpoint status -------------------------------------------------------------


def test_checkpoint_status_is_kept_in_the_results(tmp_path):
    cfg = tiny("sparse_dense")
    data = synthesize(cfg, [0, 1])
    ckpt = tmp_path / "ck.pt"
    fresh = train(data, cfg, "cpu", log=quiet, checkpoint_path=ckpt)
    assert fresh.attrs["checkpoint"] == "none"
    resumed = train(data, cfg, "cpu", log=quiet, checkpoint_path=ckpt)
    steps = cfg["train"]["steps"]
    assert resumed.attrs["checkpoint"] == f"resumed from step {steps}"
    xr.testing.assert_equal(resumed, fresh)
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    damaged = train(data, cfg, "cpu", log=quiet, checkpoint_path=ckpt)
    assert damaged.attrs["checkpoint"].startswith(f"started afresh: checkpoint {ckpt} is damaged")
    other = {**cfg, "train": {**cfg["train"], "lr": cfg["train"]["lr"] / 2}}
    moved = train(data, other, "cpu", log=quiet, checkpoint_path=ckpt)
    assert "belongs to another config" in moved.attrs["checkpoint"]
    path = tmp_path / "m.nc"
    write_netcdf(damaged, path)
    assert read_netcdf(path).attrs["checkpoint"] == damaged.attrs["checkpoint"]


def test_engine_docs_count_checkpoint_every_in_rounds():
    """checkpoint_every counts evaluation rounds (README "Interrupted training resumes")."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Interrupted training resumes")[1].split("\n## ")[0]
    assert "evaluation rounds" in section and "checkpoint_every` steps" not in section


# --- 8. checkpoints never execute code ------------------------------------------------


class _Pwn:
    """Unpickling this runs a shell command (what a crafted checkpoint could do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def _crafted_checkpoint(path: Path, payload_obj) -> None:
    """A checkpoint with the current FORMAT and its own correct checksum whose inner
    pickle holds ``payload_obj``."""
    buf = io.BytesIO()
    torch.save(payload_obj, buf)
    path.write_bytes(wrap_payload(buf.getvalue()))


def test_crafted_checkpoint_is_refused_and_runs_nothing(tmp_path):
    marker = Path(f"/tmp/pwned_{uuid.uuid4().hex}")
    path = tmp_path / "ck.pt"
    _crafted_checkpoint(path, {"step": 3, "fingerprint": "fp", "model": _Pwn(marker)})
    try:
        lines = []
        state, status = load_checkpoint_status(path, "fp", log=lines.append)
        assert state is None and status.startswith("started afresh:")
        assert "damaged" in status and str(path) in status and "refused to unpickle" in status
        assert lines and "damaged" in lines[0]
        assert not marker.exists(), "unpickling the checkpoint ran a command"
    finally:
        marker.unlink(missing_ok=True)
    # the outer layer is read the same way
    evil = io.BytesIO()
    torch.save({"format": FORMAT, "x": _Pwn(marker)}, evil)
    path.write_bytes(evil.getvalue())
    assert load_checkpoint(path, "fp", log=quiet) is None
    assert not marker.exists()


def test_checkpoint_round_trip_keeps_numpy_values_bit_for_bit(tmp_path):
    state = {
        "model": {"W": torch.randn(2, 3), "b": torch.zeros(2, dtype=torch.float64)},
        "optimizer": {"lr": 0.1, "betas": (0.9, 0.999), "buffers": [None, torch.ones(2)]},
        "rng": [torch.Generator().manual_seed(3).get_state()],
        "history": [{"loss": np.array([np.nan, 1.5]), "n": np.arange(4, dtype=np.int32)}],
        "last_loss": np.float64(0.25),
        "labels": np.array(["a", "bb"]),
        "empty": np.zeros((0, 3)),
        "step": 7,
    }
    path = tmp_path / "ck.pt"
    save_checkpoint(path, state, "fp")
    back = load_checkpoint(path, "fp", log=quiet)
    assert back["step"] == 7 and back["fingerprint"] == "fp"
    assert torch.equal(back["model"]["W"], state["model"]["W"])
    assert back["optimizer"]["betas"] == (0.9, 0.999) and back["optimizer"]["buffers"][0] is None
    assert torch.equal(back["rng"][0], state["rng"][0])
    np.testing.assert_array_equal(back["history"][0]["loss"], state["history"][0]["loss"])
    assert back["history"][0]["n"].dtype == np.int32
    assert isinstance(back["last_loss"], np.float64) and back["last_loss"] == 0.25
    assert back["labels"].tolist() == ["a", "bb"] and back["empty"].shape == (0, 3)
    with pytest.raises(TypeError, match="object arrays"):
        save_checkpoint(path, {"x": np.array([object()])}, "fp")


def test_every_torch_load_reads_weights_only():
    """No torch.load in the package can unpickle arbitrary objects."""
    calls = 0
    for path in (ROOT / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "load"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "torch"
            ):
                calls += 1
                kw = {k.arg: k.value for k in node.keywords}
                assert "weights_only" in kw, f"{path}:{node.lineno}"
                assert isinstance(kw["weights_only"], ast.Constant), f"{path}:{node.lineno}"
                assert kw["weights_only"].value is True, f"{path}:{node.lineno}"
    assert calls >= 2


# --- workflow drills (slow) -----------------------------------------------------------

CONFIG = """
device: cpu
n_seeds: 2
experiments:
  wenli:
    family: sparse_dense
    data: {d1: 12, d: 4, n_train: 200, n_eval: 100}
    model: {width: 8}
    train: {steps: 20, batch_size: 32, eval_every: 10, checkpoint_every: 1}
    sweep:
      augmentation.masking: [none, complementary]
"""
DATA = "results/data/wenli/base.nc"
METRICS = "results/train/wenli/fused=masking/metrics.nc"
AGGREGATE = "results/aggregate/wenli.nc"
CHECKPOINT = "checkpoints/wenli/fused=masking.pt"


def run(cmd: list[str], timeout: int = 600, env: dict | None = None):
    env = {**os.environ, "PWD": str(ROOT), **(env or {})}
    env.pop(RERUN_ENV, None)
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def golden(tmp_path_factory) -> tuple[Path, Path]:
    """A finished run of the tiny workflow (its config file, its working folder)."""
    tmp = tmp_path_factory.mktemp("golden")
    cfg = tmp / "cfg.yaml"
    cfg.write_text(CONFIG)
    res = run(snakemake_cmd(tmp / "wf", cfg))
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    return cfg, tmp / "wf"


def copy_run(golden, dest: Path) -> Path:
    cfg, work = golden
    shutil.copytree(work, dest, symlinks=True)
    shutil.rmtree(dest / ".snakemake/locks", ignore_errors=True)
    return dest


def damage(path: Path, kind: str, keep_mtime: bool) -> None:
    """Truncate, overwrite with garbage or invert 16 bytes in the middle of ``path``;
    ``keep_mtime``: with its old modification time (Snakemake sees nothing new)."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    if kind == "truncated":
        data = data[: len(data) // 3]
    elif kind == "garbage":
        data = bytearray(os.urandom(len(data)))
    else:
        mid = len(data) // 2
        data[mid : mid + 16] = bytes(b ^ 0xFF for b in data[mid : mid + 16])
    path.write_bytes(bytes(data))
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def assert_results_equal(work: Path, golden_work: Path) -> None:
    """Every result file of ``work`` holds the golden run's values (not bytes: provenance
    holds wall times)."""
    names = sorted(str(p.relative_to(golden_work)) for p in golden_work.glob("results/**/*"))
    for name in names:
        a, b = work / name, golden_work / name
        assert a.exists(), name
        if name.endswith(".nc"):
            for x, y in zip(read_whole(a), read_whole(b), strict=True):
                xr.testing.assert_equal(x, y)
                assert x.attrs.get("config") == y.attrs.get("config"), name
        elif name.endswith(".tsv"):
            assert a.read_text() == b.read_text(), name


FILES = [DATA, METRICS, AGGREGATE]
KINDS = ["truncated", "garbage", "bit-flipped"]


@pytest.mark.slow
def test_damaged_results_come_back_by_following_the_message(golden, tmp_path):
    """Three drills, each damaging the data, metrics and aggregate files in one of three ways
    (every file x every kind once). One damaged file looks new, so a plain rerun makes its
    consumer read it: the job fails with the message, and the command it names brings
    back every damaged file and everything made from it, equal to an undamaged run."""
    cfg, gold = golden
    for trial in range(3):
        work = copy_run(golden, tmp_path / f"trial{trial}")
        for f, name in enumerate(FILES):
            damage(work / name, KINDS[(f + trial) % 3], keep_mtime=f != trial)
        if trial == 0:  # and its training checkpoint: started afresh, said on the terminal
            damage(work / CHECKPOINT, "garbage", keep_mtime=True)
        res = run(snakemake_cmd(work, cfg))
        out = res.stdout + res.stderr
        assert res.returncode != 0, out[-3000:]
        found = re.search(rf"result file {re.escape(FILES[trial])} cannot be read .*", out)
        assert found, out[-3000:]
        command = re.search(r"run: (bash \S*reproduce\.sh [^\n]*?)  \(", found.group(0))
        assert command, found.group(0)
        repair = run(shlex.split(command.group(1)))
        out = repair.stdout + repair.stderr
        assert repair.returncode == 0, out[-4000:]
        for f, name in enumerate(FILES):
            if f != trial + 1:  # the failed job's output was deleted by Snakemake
                assert f"== {name} is damaged" in out, (name, out[-3000:])
        if trial == 0:
            assert "started afresh: checkpoint checkpoints/wenli/fused=masking.pt is damaged" in out
            point = read_point(work / METRICS, "masking=none")
            assert point.attrs["checkpoint"].startswith("started afresh")
        assert_results_equal(work, gold)
        again = run(snakemake_cmd(work, cfg))
        assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
def test_deleted_intermediate_files_come_back(golden, tmp_path):
    """Deleting a data or aggregate file and rerunning Snakemake does nothing (its consumers
    exist); scripts/reproduce.sh brings them back, and what is made from them."""
    cfg, gold = golden
    work = copy_run(golden, tmp_path / "wf")
    for name in (DATA, AGGREGATE):
        (work / name).unlink()
    res = run(snakemake_cmd(work, cfg, "-n"))
    assert "Nothing to be done" in res.stdout + res.stderr  # Snakemake alone
    args = ["--snakefile", str(ROOT / "Snakefile"), "--directory", str(work)]
    res = run(["bash", "scripts/reproduce.sh", *args, "--configfile", str(cfg), "--cores", "2"])
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert f"== {DATA} is missing although files made from it exist" in out
    assert_results_equal(work, gold)
    assert "resumed from step 20" in out  # training resumed from its last checkpoint


@pytest.mark.slow
def test_device_cuda_on_the_local_executor_without_cuda_is_refused(golden, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: device: cuda is fine here")
    cfg, _ = golden
    work = copy_run(golden, tmp_path / "wf")
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in work.glob("results/**/*.*")}
    res = run(snakemake_cmd(work, cfg, "--config", "device=cuda"))
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "config error at device: 'cuda'" in out and "local executor" in out
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in work.glob("results/**/*.*")}
    assert after == before  # nothing removed or rewritten
    dry = run(snakemake_cmd(work, cfg, "--config", "device=cuda", "-n"))
    assert dry.returncode == 0, dry.stderr[-2000:]  # a dry run plans (README: GPUs)


@pytest.mark.slow
def test_device_cuda_is_accepted_for_a_cluster_executor(golden, tmp_path):
    """--executor slurm on a submit host without a GPU: not refused (the jobs get GPUs on
    the compute nodes). Where no SLURM is reachable the submission itself then fails."""
    if not shutil.which("sbatch"):
        pytest.skip("no sbatch: the SLURM executor plugin cannot start")
    cfg, _ = golden
    work = tmp_path / "wf"
    res = run(
        snakemake_cmd(work, cfg, "--config", "device=cuda", "--executor", "slurm", "--jobs", "1")
        + [DATA],
        timeout=300,
    )
    out = res.stdout + res.stderr
    assert "config error at device" not in out
    assert "Select jobs to execute" in out, out[-3000:]  # past the check, scheduling jobs


ONE_EXPERIMENT = """
device: cpu
n_seeds: 2
experiments:
  {name}:
    family: sparse_dense
    data: {{d1: 12, d: 4, n_train: 200, n_eval: 100}}
    model: {{width: 8}}
    train: {{steps: 20, batch_size: 32, eval_every: 10}}
"""


@pytest.mark.slow
def test_two_reproduce_runs_in_one_folder_exactly_one_runs(tmp_path):
    """Two scripts/reproduce.sh started together on disjoint experiments in one folder
    (which Snakemake's own lock would let both run): one runs, the other is refused,
    naming the first."""
    work = tmp_path / "wf"
    procs = []
    for name in ("first", "second"):
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(ONE_EXPERIMENT.format(name=name))
        args = ["--snakefile", str(ROOT / "Snakefile"), "--directory", str(work)]
        cmd = ["bash", "scripts/reproduce.sh", *args, "--configfile", str(cfg), "--cores", "1"]
        procs.append((name, cmd))
    env = {**os.environ, "PWD": str(ROOT)}
    started = [
        (name, subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True))
        for name, cmd in procs
    ]  # fmt: skip
    outs = {name: (p.communicate(timeout=600)[0], p.returncode) for name, p in started}
    ok = [name for name, (_, rc) in outs.items() if rc == 0]
    assert len(ok) == 1, {n: (rc, o[-1500:]) for n, (o, rc) in outs.items()}
    winner = ok[0]
    loser = "second" if winner == "first" else "first"
    text = outs[loser][0]
    assert "another scripts/reproduce.sh is running in" in text, text[-2000:]
    assert f"{winner}.yaml" in text  # names the other run
    assert (work / f"results/claims/{winner}.tsv").exists()
    assert not (work / f"results/claims/{loser}.tsv").exists()
