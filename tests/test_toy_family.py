"""The toy check of "Adding a family" (README): a family from another package, found
through the ``contrastlab.families`` entry point, passes the registry tests and runs
through the unchanged workflow (rules, schema, report) end to end."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from contrastlab.results import read_netcdf

from wf_helpers import ROOT, snakemake_cmd

TOY = ROOT / "tests/toy_family"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TOY), os.environ.get("PYTHONPATH", "")])}

CONFIG = """
device: cpu
n_seeds: 2
experiments:
  mine:
    family: toy
    train: {steps: 20}
    sweep:
      augmentation.noise: [0.3, 1.0]
"""


def test_entry_point_family_is_registered():
    code = "from contrastlab.registry import families; print(sorted(families()))"
    out = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True)
    assert "'toy'" in out.stdout, out.stderr
    # without the package on the path it is not there
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "'toy'" not in out.stdout


@pytest.mark.slow
def test_toy_family_passes_the_registry_tests():
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(ROOT / "tests/test_families.py"), "-k", "toy or registry or plugs"],
        env=ENV, capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:]
    assert "passed" in res.stdout and "failed" not in res.stdout


@pytest.mark.slow
def test_workflow_runs_the_toy_family_unchanged(tmp_path):
    cfg = tmp_path / "toy.yaml"
    cfg.write_text(CONFIG)
    work = tmp_path / "wf"
    res = subprocess.run(
        snakemake_cmd(work, cfg), env=ENV, capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    agg = read_netcdf(work / "results/aggregate/mine.nc")
    assert agg.probe_acc.dims == ("noise", "seed", "step")
    assert (work / "results/figures/mine/toy_probe.svg").stat().st_size > 1000
    assert "<table>" in (work / "results/tables/mine/toy_final.html").read_text()
    assert "training raises the probe accuracy" in (work / "results/claims/mine.tsv").read_text()
    res = subprocess.run(
        snakemake_cmd(work, cfg, "--report", "report.html"),
        env=ENV, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    html = (work / "report.html").read_text()
    assert "Toy family (entry point)" in html and "toy_probe.svg" in html
    assert "toy_final.html" in html
