"""The benchmark suite's parts: stage sums of Snakemake benchmark files, the matmul floor's
GEMM recording, and (slow) a --quick run of the suite."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import floor  # noqa: E402
import stages  # noqa: E402

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def write_tsv(path: Path, *rows: tuple) -> None:
    """A Snakemake benchmark file with rows (s, max_rss, cpu_time)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{s}\t0:00:01\t{rss}\t900\t80\t85\t0.1\t0.2\t95.0\t{cpu}\n" for s, rss, cpu in rows]
    path.write_text(HEADER + "".join(lines))


def test_stages_sums_benchmark_files_by_rule(tmp_path):
    bench = tmp_path / "logs/benchmark"
    write_tsv(bench / "train_model/wenli/masking=none.tsv", (10.0, 300.5, 9.0))
    write_tsv(bench / "train_model/wenli/masking=complementary.tsv", (12.5, 350.0, 11.5))
    write_tsv(bench / "train_model/hltm/hid=2__delta_lower=0.7.tsv", (2.5, 120.0, 2.0))
    # a rule benchmarked with repeat(): the job counts once, with the mean of its rows
    write_tsv(bench / "synth_data/wenli/base.tsv", (3.0, 100.0, 2.0), (5.0, 140.0, 4.0))
    write_tsv(bench / "plot_figure/wenli/sparse_dense_dynamics.tsv", (4.0, "-", "NA"))
    (bench / "notes.txt").write_text("not a benchmark file")

    jobs = stages.job_table(bench)
    assert len(jobs) == 5
    assert set(jobs.job[jobs.stage == "train_model"]) == {
        "wenli/masking=none",
        "wenli/masking=complementary",
        "hltm/hid=2__delta_lower=0.7",
    }

    table = stages.summarize(bench).set_index("stage")
    assert list(table.index) == ["train_model", "plot_figure", "synth_data", "TOTAL"]
    t = table.loc["train_model"]
    assert t.jobs == 3
    assert t.wall_s == pytest.approx(25.0)
    assert t.cpu_time_s == pytest.approx(22.5)
    assert t.mean_wall_s == pytest.approx(25.0 / 3)
    assert t.max_rss_mb == pytest.approx(350.0)
    s = table.loc["synth_data"]
    assert (s.jobs, s.wall_s, s.cpu_time_s, s.max_rss_mb) == (1, 4.0, 3.0, 120.0)
    p = table.loc["plot_figure"]  # unmeasured values are NaN, not 0
    assert p.wall_s == 4.0 and pd.isna(p.cpu_time_s) and pd.isna(p.max_rss_mb)
    total = table.loc["TOTAL"]
    assert total.jobs == 5
    assert total.wall_s == pytest.approx(33.0)
    assert total.cpu_time_s == pytest.approx(25.5)
    assert total.max_rss_mb == pytest.approx(350.0)

    out = tmp_path / "stages.csv"
    assert stages.main([str(bench), "--csv", str(out)]) == 0
    assert pd.read_csv(out).stage.tolist()[-1] == "TOTAL"
    assert stages.summarize(tmp_path / "empty").empty


def test_floor_records_the_gemms_of_a_linear_model():
    torch.manual_seed(0)
    model = torch.nn.Linear(7, 5)
    x = torch.randn(4, 7, requires_grad=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def step():
        opt.zero_grad()
        model(x).square().sum().backward()
        opt.step()

    gemms = floor.profile_gemms(step, steps=2)
    got = sorted((g.op, g.shapes) for g in gemms)
    one_step = [
        ("addmm", ((5,), (4, 7), (7, 5))),  # forward: bias + x W^T (aten::linear's child)
        ("mm", ((4, 5), (5, 7))),  # grad of x
        ("mm", ((5, 4), (4, 7))),  # grad of W
    ]
    assert got == sorted(one_step * 2)  # each GEMM once, not also as linear / matmul
    assert {g.dtype for g in gemms} == {"float"}
    # the forward's weight operand is W transposed: its strides are replayed as recorded
    fwd = next(g for g in gemms if g.op == "addmm")
    assert fwd.strides[2] == (1, 7)
    assert fwd.flops == 2 * 4 * 7 * 5

    fl = floor.Floor(floor.replay_seconds(gemms, repeats=1, min_time=0.001) / 2, 2, gemms)
    assert fl.per_step_s > 0 and fl.gemms_per_step == 3
    assert fl.flops_per_step == 3 * 2 * 4 * 7 * 5


def test_floor_of_a_family_task_through_the_engine_step():
    from contrastlab.registry import get_family

    fam = get_family("sparse_dense")
    cfg = fam.config(fam.tiny)  # d1 = 12, width 8, batch 32
    seeds = [0, 1]
    task = fam.task(cfg, fam.synthesize(cfg, seeds), seeds, torch.device("cpu"))
    steps = floor.TaskSteps(task)
    assert steps.time(2) > 0
    fl = steps.floor(steps=2, repeats=1, min_time=0.001)
    # the forward x W^T: (seed, rows, d1 = 12) @ (seed, 12, width = 8), rows = the batch
    # of 32 (or both views at once, 64)
    forward = [g.shapes for g in fl.gemms if g.op == "bmm" and g.shapes[1][1:] == (12, 8)]
    assert forward and all(a[0] == 2 and a[1] % 32 == 0 for a, _ in forward), fl.gemms
    assert all(g.op in ("bmm", "baddbmm") for g in fl.gemms) and fl.per_step_s > 0


@pytest.mark.slow
def test_quick_suite_writes_the_table(tmp_path):
    from contrastlab.registry import families

    res = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/suite.py"), "--quick", "--no-workflow"]
        + ["--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    df = pd.read_csv(tmp_path / "benchmark.csv")
    assert list(df.columns) == ["section", "name", "K", "quantity", "value", "unit"]
    assert {"families", "width"} <= set(df.section)
    assert {"batched_seeds", "k_scaling"} & set(df.section)  # the cost-vs-K data
    fam = df[df.section == "families"]
    assert {n.split(":")[0] for n in fam.name} == set(families())
    for q in ("step", "step_per_seed", "step_per_model", "floor_step", "ratio"):
        vals = fam[fam.quantity == q].value
        assert len(vals) == len(families()) and (vals > 0).all(), q
    widths = df[(df.section == "width") & (df.quantity == "floor_step")]
    assert len(widths) == 4 and (widths.value > 0).all()

    machine = json.loads((tmp_path / "machine.json").read_text())
    for key in ("cpu_model", "cores", "torch_threads", "torch_version", "device", "hostname"):
        assert machine[key] not in (None, ""), key
    assert "date" in machine and "git_commit" in machine
    sections = machine["sections"]
    assert sections["families"] == "ok" and sections["width"] == "ok"
    for name in ("batched_seeds", "hltm_epoch", "fused_vs_unfused"):
        assert sections[name] == "ok" or sections[name].startswith("skipped"), sections[name]
    assert sections["workflow"].startswith("skipped")
    png = tmp_path / "benchmark_cost.png"
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size < 100_000
    assert "families" in res.stdout and "ratio" in res.stdout


def test_suite_reads_the_other_benchmarks_measure_functions(monkeypatch, tmp_path):
    """batched_seeds / hltm_epoch use the other scripts' measure() when it is there, skip
    with a message when it is not; the cost-vs-K plot prefers batched_seeds' numbers."""
    import types

    import suite

    res = suite.Results(tmp_path)
    s = suite.Settings.quick()
    monkeypatch.setitem(sys.modules, "bench_batched_seeds", types.ModuleType("bench_batched_seeds"))
    monkeypatch.setitem(sys.modules, "bench_hltm", types.ModuleType("bench_hltm"))
    assert suite.section_batched_seeds(res, s).startswith("skipped")
    assert suite.section_hltm(res, s).startswith("skipped")
    assert res.rows == []

    def measure(ks, steps=300, threads=2, jobs=2, modes=()):
        return [
            {
                "K": k,
                "wall_s": {"batched": 1.0 * k, "loop": 2.5 * k},
                "speedup_loop": 2.5,
                "per_model_step_s": 1e-3 / k,
                "floor_per_model_step_s": 2e-4,
            }
            for k in ks
        ]

    sys.modules["bench_batched_seeds"].measure = measure
    sys.modules["bench_hltm"].measure = lambda n, threads=1, samples=64000, repeats=2: {
        "total": 1.5,
        "sample": 0.2,
        "metrics": 0.3,
        "train": 1.0,
    }
    assert suite.section_batched_seeds(res, s) == "ok"
    assert suite.section_hltm(res, s) == "ok"
    df = res.frame()
    b = df[df.section == "batched_seeds"].set_index(["K", "quantity"])
    assert b.loc[(4, "wall_s.loop"), "value"] == 10.0 and b.loc[(4, "wall_s.loop"), "unit"] == "s"
    assert b.loc[(1, "speedup_loop"), "unit"] == "x"
    h = df[df.section == "hltm_epoch"]
    assert sorted(set(h.K)) == list(s.hltm_seeds) and set(h.unit) == {"s"}
    kdata, source = suite.cost_vs_k(df)
    assert source == "bench_batched_seeds"
    assert kdata.K.tolist() == list(s.ks)
    assert kdata.step.tolist() == pytest.approx([1e-3 / k * 1e3 for k in s.ks])
    assert kdata.floor.tolist() == pytest.approx([0.2] * len(s.ks))
    print(suite.format_section(df[df.section == "batched_seeds"]))


def test_fused_vs_unfused_skips_without_train_job(monkeypatch):
    import suite

    from contrastlab import pipeline

    monkeypatch.delattr(pipeline, "train_job", raising=False)
    assert suite.fused_vs_unfused(steps=2) is None
    pts = suite.temperature_points("infonce", steps=7)
    assert len(pts) == 7
    assert {cfg["loss"]["kind"] for _, cfg in pts} == {"infonce"}
    assert {cfg["train"]["steps"] for _, cfg in pts} == {7}
