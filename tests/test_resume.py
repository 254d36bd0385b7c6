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

    a = read_netcdf(clean / "results/train/wenli/base/metrics.nc")
    b = read_netcdf(killed / "results/train/wenli/base/metrics.nc")
    for var in a.data_vars:
        np.testing.assert_array_equal(a[var].values, b[var].values, err_msg=var)
    assert a.attrs["config"] == b.attrs["config"]
