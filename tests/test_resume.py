"""Kill -9 a running workflow mid-training, rerun it: the results equal an uninterrupted run."""

import os
import random
import signal
import subprocess
import time

import numpy as np
import pytest

from contrastlab.results import read_netcdf

from wf_helpers import snakemake_cmd

pytestmark = pytest.mark.slow

CONFIG = """
device: cpu
n_seeds: 2
experiments:
  wenli:
    family: sparse_dense
    data: {d1: 12, d: 4, sparsity: 0.2, n_train: 200, n_eval: 100}
    model: {width: 8}
    augmentation: {masking: complementary}
    train: {steps: 3000, batch_size: 32, eval_every: 50, checkpoint_every: 2}
"""


def test_kill_9_during_training_then_rerun_equals_uninterrupted(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(CONFIG)
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    res = subprocess.run(
        snakemake_cmd(clean, cfg, cores=1), capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stderr[-3000:]

    # start a run, and kill the whole process group (snakemake + job) at a random step
    kill_after = random.Random().choice(range(300, 2500, 50))
    log = killed / "logs/train_model/wenli/base.log"
    proc = subprocess.Popen(
        snakemake_cmd(killed, cfg, cores=1),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            text = log.read_text() if log.exists() else ""
            if f"step {kill_after} (round" in text:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail(f"training never reached step {kill_after}")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert not (killed / "results/train/wenli/base/metrics.nc").exists()
    assert (killed / "checkpoints/wenli/base.pt").exists()

    # rerun (after --unlock, as after any kill -9): Snakemake sees the incomplete job
    # (profiles/default sets rerun-incomplete) and training resumes from the checkpoint
    unlock = [*snakemake_cmd(killed, cfg, cores=1), "--unlock"]
    assert subprocess.run(unlock, capture_output=True, timeout=120).returncode == 0
    res = subprocess.run(
        snakemake_cmd(killed, cfg, cores=1), capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "resuming from checkpoint" in log.read_text()
    # said on the terminal too, and kept in the results' provenance
    assert "experiment wenli, point base: resumed from step" in res.stdout + res.stderr

    a = read_netcdf(clean / "results/train/wenli/base/metrics.nc")
    b = read_netcdf(killed / "results/train/wenli/base/metrics.nc")
    for var in a.data_vars:
        np.testing.assert_array_equal(a[var].values, b[var].values, err_msg=var)
    assert a.attrs["config"] == b.attrs["config"]
    assert a.attrs["checkpoint"] == "none"
    step = int(b.attrs["checkpoint"].removeprefix("resumed from step "))
    assert 0 < step < 3000  # not from the start, not from the end


def test_second_run_on_the_same_directory_is_refused_while_the_first_runs(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(CONFIG)
    work = tmp_path / "wf"
    first = subprocess.Popen(
        snakemake_cmd(work, cfg, cores=1),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        log = work / "logs/train_model/wenli/base.log"
        deadline = time.monotonic() + 300
        while not (log.exists() and "step" in log.read_text()):
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.1)
        second = subprocess.run(
            snakemake_cmd(work, cfg, cores=1), capture_output=True, text=True, timeout=120
        )
        assert second.returncode != 0
        assert "lock" in (second.stdout + second.stderr).lower()
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)


def test_reproduce_script_unlocks_a_stale_lock(root):
    """After a kill -9 the lock stays; scripts/reproduce.sh sees that no snakemake runs in
    the checkout, says so and unlocks (a dry run of the tiny config here)."""
    locks = root / ".snakemake/locks"
    if locks.exists() and any(locks.iterdir()):
        pytest.skip("this checkout holds a lock of its own; not touching it")
    locks.mkdir(parents=True, exist_ok=True)
    stale = locks / "0.input.lock"
    stale.write_text("results/x\n")
    try:
        res = subprocess.run(
            ["bash", "scripts/reproduce.sh", "-n", "--configfile", ".test/config/config.yaml"],
            cwd=root, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    finally:
        stale.unlink(missing_ok=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "left a lock" in res.stdout and "unlocking" in res.stdout
