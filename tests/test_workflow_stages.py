"""End to end: ``n_seeds: {start, step, max}`` (seeds added until decided) on a tiny
config: stages run only where a claim is undecided, each stage's seeds train as their own
jobs, the final results hold every stage's seeds, and a rerun runs nothing."""

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from contrastlab.results import read_netcdf, read_point

from wf_helpers import snakemake_cmd

pytestmark = pytest.mark.slow

CONFIG = {
    "device": "cpu",
    "n_seeds": 2,
    "base_seed": 0,
    "claims": {"correction": "holm"},
    "experiments": {
        "wenli": {
            "family": "sparse_dense",
            "n_seeds": {"start": 3, "step": 2, "max": 7},
            "data": {"d1": 12, "d": 4, "sparsity": 0.2, "n_train": 200, "n_eval": 100},
            "model": {"width": 8},
            "train": {"steps": 40, "batch_size": 32, "eval_every": 10},
            "sweep": {"augmentation.masking": ["none", "complementary"]},
        },
        "hltm": {
            "family": "hltm",
            "n_seeds": {"start": 3, "step": 2, "max": 5},
            "data": {"depth": 3, "num_children": 2},
            "model": {"hid": 4},
            "train": {"epochs": 2, "samples_per_epoch": 2048, "batch_size": 64},
            "sweep": {"model.hid": [2, 4]},
        },
    },
}


def _run(work: Path, *args: str) -> subprocess.CompletedProcess:
    cfg = work / "config.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        snakemake_cmd(work, cfg, *args), capture_output=True, text=True, timeout=900, env=env
    )


@pytest.fixture(scope="module")
def staged_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("stages")
    res = _run(work)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return work


def _decisions(work: Path, exp: str) -> list[dict]:
    files = sorted((work / "results/stages" / exp).glob("decision@s*.json"))
    return [json.loads(f.read_text()) for f in files]


def test_a_stage_follows_only_an_undecided_claim(staged_run):
    went_on = 0
    for exp in CONFIG["experiments"]:
        decisions = _decisions(staged_run, exp)
        assert [d["stage"] for d in decisions] == list(range(1, len(decisions) + 1))
        for d, nxt in zip(decisions, decisions[1:], strict=False):
            assert d["more"] and d["undecided"], f"{exp}: stage {nxt['stage']} without cause"
            went_on += 1
        assert not decisions[-1]["more"] or decisions[-1]["stage"] == 3
        # the last stage's table is the experiment's raw claims table
        last = decisions[-1]["stage"]
        staged = pd.read_csv(staged_run / f"results/stages/{exp}/claims@s{last}.tsv", sep="\t")
        raw = pd.read_csv(staged_run / f"results/claims/raw/{exp}.tsv", sep="\t")
        pd.testing.assert_frame_equal(staged, raw)
    assert went_on >= 1  # this config's wenli needs a second stage (seeded: always)


def test_each_stage_trains_only_its_new_seeds_and_the_aggregate_has_them_all(staged_run):
    decisions = _decisions(staged_run, "wenli")
    n = decisions[-1]["seeds"]
    jobs = sorted((staged_run / "results/train/wenli").iterdir())
    stage2 = [j for j in jobs if j.name.endswith("@s2")]
    assert stage2, [j.name for j in jobs]
    ds = read_netcdf(stage2[0] / "metrics.nc")
    if "fused_points" in ds.attrs:
        ds = read_point(stage2[0] / "metrics.nc", json.loads(ds.attrs["fused_points"])[0])
    assert [int(s) for s in ds.seed.values] == [3, 4]
    agg = read_netcdf(staged_run / "results/aggregate/wenli.nc")
    assert [int(s) for s in agg.seed.values] == list(range(n))
    table = pd.read_csv(staged_run / "results/claims/wenli.tsv", sep="\t")
    assert table["stage"].astype(str).str.match(r"^(\d/3|undecided after \d/3)$").all()
    assert table["p_adjusted"].notna().all()


def test_rerun_with_nothing_new_runs_no_job(staged_run):
    res = _run(staged_run, "-n")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Nothing to be done" in res.stdout + res.stderr


def test_deleted_stage_files_are_remade_with_everything_after_them(staged_run, tmp_path):
    """Deleting a staged experiment's stage claims and decisions (a checkpoint's outputs)
    and following the repair plan of scripts/reproduce.sh brings every stage back, with
    the same claims."""
    from contrastlab.results import repair_plan

    stages = staged_run / "results/stages/wenli"
    before = {p.name: p.read_text() for p in sorted(stages.glob("*@s*.*")) if p.suffix != ".nc"}
    final = (staged_run / "results/claims/wenli.tsv").read_text()
    for name in before:
        (stages / name).unlink()
    cfg = staged_run / "config.yaml"
    args = ["--snakefile", str(snakemake_cmd(staged_run, cfg)[2]), "--directory",
            str(staged_run), "--configfile", str(cfg)]  # fmt: skip
    force = repair_plan(args, log=lambda _m: None)
    assert "results/claims/raw/wenli.tsv" in force
    res = _run(staged_run, "--forcerun", *force)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    after = {p.name: p.read_text() for p in sorted(stages.glob("*@s*.*")) if p.suffix != ".nc"}
    assert after == before
    assert (staged_run / "results/claims/wenli.tsv").read_text() == final
