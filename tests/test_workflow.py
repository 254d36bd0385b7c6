"""End to end: Snakemake on the tiny config in a temporary directory."""

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

from contrastlab.claims import VERDICTS
from contrastlab.registry import get_family
from contrastlab.results import read_netcdf, read_point

from wf_helpers import ROOT, snakemake_cmd

pytestmark = pytest.mark.slow


def run_snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    cmd = snakemake_cmd(workdir, ROOT / ".test/config/config.yaml", *args)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def figure_names(family: str) -> list[str]:
    return [f.name for f in get_family(family).figures]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("wf")
    res = run_snakemake(work)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return work


def test_results_are_tidy_netcdf_with_provenance(finished_run):
    agg = read_netcdf(finished_run / "results/aggregate/wenli.nc")
    assert agg.align_median.dims == ("masking", "seed", "step")
    assert agg.masking.values.tolist() == ["none", "complementary"]
    assert agg.seed.values.tolist() == [0, 1]
    assert agg.step.values.tolist() == [0, 10, 20, 30, 40]
    for name in list(agg.data_vars) + list(agg.coords):
        assert "long_name" in agg[name].attrs and "units" in agg[name].attrs, name
    # the two masking points trained as one fused job, one netCDF group per point
    job = finished_run / "results/train/wenli/fused=masking/metrics.nc"
    assert read_netcdf(job).attrs["fused_points"] == '["masking=none", "masking=complementary"]'
    point = read_point(job, "masking=none")
    assert point.attrs["fused_job_points"] == 2
    cfg = json.loads(point.attrs["config"])
    assert cfg["augmentation"]["masking"] == "none" and cfg["train"]["steps"] == 40
    assert point.attrs["device"].startswith("cpu") and point.attrs["wall_time_s"] > 0
    assert json.loads(point.attrs["seeds"]) == [0, 1]
    assert "contrastlab" in point.attrs["source"]
    prov = json.loads(agg.attrs["points_provenance"])
    assert [p["point"] for p in prov] == [{"masking": "none"}, {"masking": "complementary"}]
    assert json.loads(prov[0]["config"])["augmentation"]["masking"] == "none"
    log = (finished_run / "logs/train_model/wenli/fused=masking.log").read_text()
    assert "step 40 (round 4/4)" in log and "steps/s" in log and "eta" in log


def test_figures_and_claims(finished_run):
    for fig in figure_names("sparse_dense"):
        svg = (finished_run / f"results/figures/wenli/{fig}.svg").read_text()
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    tsv = (finished_run / "results/claims/wenli.tsv").read_text().splitlines()
    assert tsv[0].split("\t")[-1] == "verdict" and len(tsv) == 4  # header + 3 claims
    assert tsv[0].split("\t")[:5] == ["name", "paper", "source", "setting", "claim"]
    assert all(line.split("\t")[-1] in set(VERDICTS) for line in tsv[1:])


def test_claims_are_adjusted_together_and_no_supported_interval_holds_the_null(finished_run):
    """Every claim of the run is corrected together (Holm, statsmodels); a supported claim's
    interval lies on the claimed side of 0 (inside the margin for an equivalence)."""
    import pandas as pd
    from statsmodels.stats.multitest import multipletests

    tables = {
        p.stem: pd.read_csv(p, sep="\t") for p in sorted(finished_run.glob("results/claims/*.tsv"))
    }
    raw = pd.concat(tables.values())
    tested = raw[raw["p_value"].notna() & (raw["verdict"] != "not tested")]
    assert tested["p_adjusted"].tolist() == pytest.approx(
        multipletests(tested["p_value"].tolist(), method="holm")[1].tolist()
    )
    for r in raw.to_dict("records"):
        if r["verdict"] == "supported":
            assert r["p_adjusted"] < r["alpha"]
            if r["test"] == "tost":
                assert -r["min_effect"] < r["ci_low"] and r["ci_high"] < r["min_effect"]
            else:
                floor = 0 if r["test"] == "page" else r["min_effect"]
                assert r["ci_low"] > 0 and r["ci_low"] >= floor
    summary = (finished_run / "results/summary.html").read_text()
    assert "Holm" in summary and f"over the {len(tested)} claims" in summary


def test_hltm_results_have_the_sweep_grid(finished_run):
    agg = read_netcdf(finished_run / "results/aggregate/hltm.nc")
    assert agg.best_corr.dims == ("hid", "delta_lower", "seed", "epoch", "node")
    assert agg.hid.values.tolist() == [2, 4] and agg.delta_lower.values.tolist() == [0.7, 0.9]
    assert agg.epoch.values.tolist() == [0, 1, 2] and agg.sizes["node"] == 7  # depth 3
    assert ((agg.best_corr >= 0) & (agg.best_corr <= 1)).all()
    # two delta_lower values -> two data files; the four hid x delta cells share them
    assert len(list((finished_run / "results/data/hltm").glob("*.nc"))) == 2
    for fig in figure_names("hltm"):
        assert (finished_run / f"results/figures/hltm/{fig}.svg").stat().st_size > 1000
    tsv = (finished_run / "results/claims/hltm.tsv").read_text().splitlines()
    assert len(tsv) == 6  # header + 5 claims


def test_report_embeds_figures_and_claims(finished_run):
    res = run_snakemake(finished_run, "--report", "report.html")
    assert res.returncode == 0, res.stderr[-3000:]
    html = (finished_run / "report.html").read_text()
    needles = ["wenli.html", "hltm.html"]
    for family in ("sparse_dense", "hltm"):
        needles.append(json.dumps(get_family(family).title))  # a report category
        needles += [f"{fig}.svg" for fig in figure_names(family)]
    for needle in needles:
        assert needle in html, needle


def chromium() -> str:
    """A headless Chromium: installed from Debian's apt when running as root."""
    exe = shutil.which("chromium")
    if exe:
        return exe
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("no chromium, and not root with apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    res = subprocess.run(
        ["apt-get", "install", "-y", "-q", "chromium"], capture_output=True, text=True, env=env,
        timeout=900,
    )  # fmt: skip
    if res.returncode != 0 or not shutil.which("chromium"):
        pytest.skip(f"apt-get install chromium failed: {res.stderr[-500:]}")
    return shutil.which("chromium")


def render(exe: str, url: str, tmp: Path) -> str:
    """The DOM after the page's scripts ran, as a headless browser shows it."""
    res = subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         f"--user-data-dir={tmp}", "--virtual-time-budget=10000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def visible_text(dom: str) -> str:
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom)))


def test_report_renders_in_a_real_browser(finished_run, tmp_path):
    """The report opens (JavaScript run by Chromium) on the verdict summary; every claims
    table and figure is in it, and the summary page shows every experiment's claims."""
    exe = chromium()
    report = finished_run / "report.html"
    if not report.exists():
        assert run_snakemake(finished_run, "--report", "report.html").returncode == 0
    dom = render(exe, report.as_uri(), tmp_path / "a")
    menu = visible_text(dom)
    assert "Summary of the papers' claims" in menu
    assert menu.index("Summary of the papers' claims") < min(
        menu.index(get_family(f).title) for f in ("sparse_dense", "hltm")
    )  # the first category
    for family in ("sparse_dense", "hltm"):  # the summary's caption links every paper
        title = get_family(family).title
        assert f"showCategory('{quote(title)}')" in dom, title
    for exp, family in (("wenli", "sparse_dense"), ("hltm", "hltm")):
        assert f"results/claims/{exp}.html" in dom
        for fig in figure_names(family):
            assert f"results/figures/{exp}/{fig}.svg" in dom
    summary = visible_text(render(exe, (finished_run / "results/summary.html").as_uri(),
                                  tmp_path / "b"))  # fmt: skip
    assert "supported" in summary and "seeds_needed" in summary
    for exp in ("wenli", "hltm"):
        tsv = (finished_run / f"results/claims/{exp}.tsv").read_text().splitlines()[1:]
        for line in tsv:
            assert line.split("\t")[3] in summary  # every claim, in words


def test_rerun_is_a_no_op_and_bad_config_loses_nothing(finished_run, tmp_path):
    before = (finished_run / "results/aggregate/wenli.nc").stat().st_mtime_ns
    res = run_snakemake(finished_run)
    assert res.returncode == 0 and "Nothing to be done" in res.stdout + res.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("experiments:\n  wenli:\n    family: sparse_dense\n    train: {lr: -1}\n")
    res = run_snakemake(finished_run, "--configfile", str(bad))
    assert res.returncode != 0
    assert "experiments.wenli.train.lr" in res.stdout + res.stderr
    assert (finished_run / "results/aggregate/wenli.nc").stat().st_mtime_ns == before
