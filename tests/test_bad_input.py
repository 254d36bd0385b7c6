"""Bad input is stopped before any job runs, with the key (or file) named; damaged
checkpoints and result files are named and nothing already computed is lost."""

from __future__ import annotations

import copy
import subprocess

import numpy as np
import pytest
import torch
import yaml

from contrastlab.checkpoint import load_checkpoint, save_checkpoint
from contrastlab.config import ConfigError, load_config_files, load_yaml, validate_config
from contrastlab.errors import ResultFileError
from contrastlab.results import read_netcdf

from wf_helpers import ROOT, snakemake_cmd

SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"


@pytest.fixture
def cfg():
    return load_yaml(ROOT / "config/config.yaml")


def wenli(c):
    return c["experiments"]["wenli"]


def hltm(c):
    return c["experiments"]["hltm"]


# (mutation, text the error must contain: the key, and the sweep point where one is bad)
BAD = {
    "lr nan": (lambda c: wenli(c)["train"].update(lr=float("nan")), "experiments.wenli.train.lr"),
    "lr inf": (lambda c: hltm(c)["train"].update(lr=float("inf")), "experiments.hltm.train.lr"),
    "lr 0": (lambda c: hltm(c)["train"].update(lr=0), "experiments.hltm.train.lr"),
    "lr negative": (lambda c: wenli(c)["train"].update(lr=-1), "experiments.wenli.train.lr"),
    "d > d1": (lambda c: wenli(c)["data"].update(d=60), "data.d (60) must be <= data.d1"),
    "delta_lower > delta_upper in one point": (
        lambda c: (
            hltm(c)["sweep"].update({"data.delta_lower": [0.7, 0.95]})
            or hltm(c)["data"].update(delta_upper=0.9)
        ),
        "sweep point hid=2__delta_lower=0.95",
    ),
    "batch > data": (
        lambda c: wenli(c)["train"].update(batch_size=5000),
        "train.batch_size (5000) must be <= data.n_train",
    ),
    "batch > samples": (
        lambda c: hltm(c)["train"].update(batch_size=10**5),
        "train.batch_size (100000) must be <= train.samples_per_epoch",
    ),
    "width 1e7": (lambda c: wenli(c)["model"].update(width=10**7), "wenli.model.width"),
    "n_train 1e9": (lambda c: wenli(c)["data"].update(n_train=10**9), "wenli.data.n_train"),
    "samples 1e9": (
        lambda c: hltm(c)["train"].update(samples_per_epoch=10**9),
        "hltm.train.samples_per_epoch",
    ),
    "hid 1e6": (lambda c: hltm(c)["model"].update(hid=10**6), "experiments.hltm.model.hid"),
    "unknown key": (lambda c: wenli(c)["train"].update(lrate=1), "experiments.wenli.train.lrate"),
    "unknown family": (lambda c: wenli(c).update(family="nope"), "experiments.wenli.family"),
    "nothing active": (
        lambda c: [e.update(activate=False) for e in c["experiments"].values()],
        "every experiment has activate: false",
    ),
    "n_seeds 0": (lambda c: c.update(n_seeds=0), "n_seeds"),
    "string number": (lambda c: wenli(c)["train"].update(steps="many"), "wenli.train.steps"),
    "memory limit": (lambda c: c.update(max_job_memory_gb=0.001), "max_job_memory_gb"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_config_rejected_naming_the_key(cfg, case):
    mutate, needle = BAD[case]
    bad = copy.deepcopy(cfg)
    mutate(bad)
    with pytest.raises(ConfigError) as err:
        validate_config(bad, SCHEMA)
    assert needle in str(err.value)


def test_epochs_zero_warns(cfg):
    hltm(cfg)["train"]["epochs"] = 0
    warnings = []
    validate_config(cfg, SCHEMA, warn=warnings.append)
    assert any("experiments.hltm" in w and "train.epochs is 0" in w for w in warnings)


def test_yaml_1_2_numbers_and_duplicate_keys(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("n_seeds: 2\nexperiments:\n  a:\n    family: hltm\n    train: {lr: 1e-3}\n")
    cfg = validate_config(load_config_files([good]), SCHEMA)
    assert cfg["experiments"]["a"]["train"]["lr"] == 0.001
    dup = tmp_path / "dup.yaml"
    dup.write_text("n_seeds: 2\nexperiments: {}\nn_seeds: 3\n")
    with pytest.raises(ConfigError, match=r"dup.yaml.*duplicate key 'n_seeds'"):
        load_config_files([dup])


@pytest.mark.parametrize(
    "text,needle",
    [("", "is empty: expected a YAML mapping with an `experiments:`"), ("- 1\n", "mapping")],
)
def test_empty_or_wrong_config_file_says_what_is_expected(tmp_path, text, needle):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_config_files([path])
    with pytest.raises(ConfigError, match="not found"):
        load_config_files([tmp_path / "missing.yaml"])


def test_config_overrides_are_validated_too(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("experiments:\n  a:\n    family: hltm\n")
    with pytest.raises(ConfigError, match="n_seeds"):
        validate_config(load_config_files([path], {"n_seeds": -1}), SCHEMA)


# --- checkpoints ----------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip_a_byte"])
def test_damaged_checkpoint_is_ignored_with_a_warning(tmp_path, damage):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"w": torch.arange(1000.0), "step": 3}, "fp")
    assert load_checkpoint(path, "fp", log=lambda m: None)["step"] == 3
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = bytearray(b"not a checkpoint" * 10)
    else:  # an altered weight that still loads: only the checksum can tell
        i = data.find(np.float32(500.0).tobytes())
        assert i > 0
        data[i] ^= 1
    path.write_bytes(bytes(data))
    lines = []
    assert load_checkpoint(path, "fp", log=lines.append) is None
    assert lines and "damaged" in lines[0] and str(path) in lines[0]


# --- result files ---------------------------------------------------------------------


def test_unreadable_result_file_is_named(tmp_path):
    bad = tmp_path / "metrics.nc"
    bad.write_bytes(b"\x89HDF garbage")
    with pytest.raises(ResultFileError, match=r"metrics.nc cannot be read .* delete it and rerun"):
        read_netcdf(bad)


CONFIG = """
device: cpu
n_seeds: 2
fuse: none
experiments:
  wenli:
    family: sparse_dense
    data: {d1: 12, d: 4, n_train: 200, n_eval: 100}
    model: {width: 8}
    train: {steps: 20, batch_size: 32, eval_every: 10}
    sweep:
      augmentation.masking: [none, complementary]
"""


def run(work, cfg, *args):
    return subprocess.run(snakemake_cmd(work, cfg, *args), capture_output=True, text=True)


@pytest.mark.slow
def test_workflow_names_a_corrupted_file_and_keeps_the_rest(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG)
    work = tmp_path / "wf"
    assert run(work, cfg).returncode == 0
    point = work / "results/train/wenli/masking=none/metrics.nc"
    other = work / "results/train/wenli/masking=complementary/metrics.nc"
    before = other.stat().st_mtime_ns
    point.write_bytes(point.read_bytes()[:300])  # truncated
    (work / "results/aggregate/wenli.nc").unlink()
    res = run(work, cfg)
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert f"result file {point.relative_to(work)} cannot be read" in out
    assert "delete it and rerun" in out
    assert other.stat().st_mtime_ns == before and point.exists()  # nothing else lost
    point.unlink()  # what the message says to do
    assert run(work, cfg).returncode == 0


@pytest.mark.slow
def test_diverging_run_fails_naming_point_seed_and_step(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        CONFIG.replace("eval_every: 10}", "eval_every: 10, lr: 1.0e+6}").replace(
            "[none, complementary]", "[complementary]"
        )
    )
    res = run(tmp_path / "wf", cfg)
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "experiment wenli, point masking=complementary, seed" in out
    assert "exploded" in out and "by step" in out
    assert not (tmp_path / "wf/results/claims").exists()  # no verdict from diverged numbers


@pytest.mark.slow
@pytest.mark.parametrize(
    "text,needle",
    [
        ("n_seeds: 2\nn_seeds: 3\nexperiments: {a: {family: hltm}}\n", "duplicate key"),
        ("experiments:\n  a: {family: hltm, activate: false}\n", "activate: false"),
        (
            "experiments:\n  a: {family: sparse_dense, data: {d1: 5, d: 10}}\n",
            "experiments.a: data.d (10) must be <= data.d1 (5)",
        ),
    ],
)
def test_dry_run_refuses_before_any_job(tmp_path, text, needle):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    res = run(tmp_path / "wf", cfg, "-n")
    assert res.returncode != 0
    assert needle in res.stdout + res.stderr
    assert not (tmp_path / "wf/results").exists()


@pytest.mark.slow
def test_read_only_results_is_a_clear_error(tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root ignores file permissions")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG)
    work = tmp_path / "wf"
    (work / "results").mkdir(parents=True)
    (work / "results").chmod(0o500)
    try:
        res = run(work, cfg, "-n")
    finally:
        (work / "results").chmod(0o700)
    assert res.returncode != 0 and "is not writable" in res.stdout + res.stderr


def test_shipped_yaml_loads_the_same_strictly():
    assert load_yaml(ROOT / "config/config.yaml") == yaml.safe_load(
        (ROOT / "config/config.yaml").read_text()
    )


def test_unwritable_output_folder_is_named(tmp_path, monkeypatch):
    """(Root ignores permissions, so the check is exercised through os.access.)"""
    import os

    from contrastlab.config import check_writable

    (tmp_path / "results").mkdir()
    monkeypatch.chdir(tmp_path)
    real = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if str(p) == "results" else real(p, mode)
    )
    with pytest.raises(ConfigError, match=r"results is not writable"):
        check_writable(["results", "logs"])
    check_writable(["logs"])  # absent: the working directory must be writable, and is
