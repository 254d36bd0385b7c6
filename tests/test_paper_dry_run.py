"""`snakemake -n` with config/paper.yaml plans the paper-scale jobs, the image
experiments reading miniatures of CIFAR-10 and STL-10 written in the official layouts
(README, "Real image data sets"); without the data the plan stops naming the folder."""

import subprocess

import pytest

from images.miniature import write_cifar10, write_stl10
from wf_helpers import ROOT, snakemake_cmd


@pytest.mark.slow
def test_paper_config_plans_its_image_jobs(tmp_path):
    root = write_stl10(write_cifar10(tmp_path / "data"))
    cmd = snakemake_cmd(tmp_path / "wf", ROOT / "config/paper.yaml", "-n", "--quiet", "rules")
    res = subprocess.run(
        [*cmd, "--config", f"data_root={root}"], capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout + res.stderr
    for rule in ("synth_data", "train_model", "claims_summary"):
        assert rule in out, out[-2000:]
    missing = subprocess.run(
        [*cmd, "--config", f"data_root={tmp_path / 'nothing'}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert missing.returncode != 0
    assert "cifar-10-batches-py" in missing.stdout + missing.stderr
