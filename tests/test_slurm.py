"""The tiny workflow on a real one-node SLURM cluster (munge, slurmctld, slurmd, fake GPUs).

The cluster is brought up from Debian's packages by scripts/slurm/start-local-cluster.sh
and stopped by pid afterwards. Without root (or apt) the test is skipped, saying why.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from contrastlab.registry import get_family
from contrastlab.results import read_netcdf

from slurm_helpers import (
    ClusterUnavailable,
    alive_daemons,
    completed_jobs,
    queued_jobs,
    start_cluster,
    stop_cluster,
)
from wf_helpers import ROOT, snakemake_cmd

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

CONFIG = ROOT / ".test/config/config.yaml"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    try:
        info = start_cluster(tmp_path_factory.mktemp("slurm"), timeout=180)
    except ClusterUnavailable as err:
        pytest.skip(f"no local SLURM cluster on this machine: {err.reason}")
    yield info
    stop_cluster(info)
    assert alive_daemons(info) == {}, "a SLURM daemon outlived the test"


def test_workflow_runs_through_slurm_with_a_gpu_request(cluster, tmp_path):
    env = dict(cluster.env)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    slurm_dir, local_dir = tmp_path / "slurm", tmp_path / "local"
    # device: cpu (the fake GPUs cannot run CUDA), but every training job asks SLURM for a GPU
    cmd = snakemake_cmd(
        slurm_dir, CONFIG, "--workflow-profile", str(ROOT / "profiles/slurm-local-test"),
        "--set-resources", "train_model:gpu=1",
    )  # fmt: skip
    t0 = time.monotonic()
    res = subprocess.run(
        ["timeout", "-k", "10", "480", *cmd],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=500,
    )  # fmt: skip
    out = res.stdout[-4000:] + res.stderr[-4000:]
    assert res.returncode == 0, f"snakemake under SLURM failed ({res.returncode}):\n{out}"
    print(f"SLURM run: {time.monotonic() - t0:.0f} s")

    # SLURM's own records: every job went through it and completed
    jobs = completed_jobs(cluster, work_dir=slurm_dir)
    assert jobs, "SLURM recorded no job"
    assert all(j["state"] == "COMPLETED" for j in jobs), jobs
    assert queued_jobs(cluster) == []
    comments = " ".join(str(j.get("comment", "")) for j in jobs)
    for rule in ("synth_data", "train_model", "aggregate_results"):
        assert rule in comments, f"no SLURM job ran {rule}: {comments}"
    train_jobs = [j for j in jobs if "train_model" in str(j.get("comment", ""))]
    assert all("gpu" in str(j.get("gpus", "")) for j in train_jobs), train_jobs

    # the same workflow run locally gives the same numbers
    local = snakemake_cmd(local_dir, CONFIG, "--workflow-profile", "none")
    res = subprocess.run(local, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    a = read_netcdf(slurm_dir / "results/aggregate/wenli.nc")
    b = read_netcdf(local_dir / "results/aggregate/wenli.nc")
    assert a.sizes == b.sizes
    for var in a.data_vars:
        np.testing.assert_array_equal(a[var].values, b[var].values, err_msg=var)
    for fig in get_family("sparse_dense").figures:
        assert (slurm_dir / f"results/figures/wenli/{fig.name}.svg").stat().st_size > 1000
    assert (slurm_dir / "results/claims/wenli.tsv").read_text() == (
        local_dir / "results/claims/wenli.tsv"
    ).read_text()
