"""Where the workflow's time goes: Snakemake's benchmark files summed by stage.

Every rule with a ``benchmark:`` directive writes one TSV per job to
``logs/benchmark/<rule>/<wildcards...>.tsv`` with Snakemake's columns ``s``, ``h:m:s``,
``max_rss``, ``max_vms``, ``max_uss``, ``max_pss``, ``io_in``, ``io_out``,
``mean_load``, ``cpu_time`` (``s`` = wall seconds, ``cpu_time`` = user + system CPU
seconds, ``max_rss`` in MB; "-" or "NA" where unmeasured). This script reads every
TSV under a folder; the stage of a file is its rule, the first folder below that
folder. A file with several rows (``benchmark: repeat(..., n)``) counts once, with
the mean of its rows. Per stage: the number of jobs, the sum of their wall seconds
and of their CPU seconds, the mean wall seconds of a job and the largest max_rss.

    .venv/bin/python benchmarks/stages.py [logs/benchmark] [--csv stages.csv]

The sum of the jobs' wall seconds exceeds the run's end-to-end wall time when jobs
run side by side (``--cores 2``); it leaves out Snakemake's own start-up and DAG work.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

COLUMNS = ["stage", "jobs", "wall_s", "cpu_time_s", "mean_wall_s", "max_rss_mb"]


def read_tsv(path: Path) -> dict[str, float]:
    """The wall seconds, CPU seconds and max_rss (MB) of one benchmark file (mean of
    its rows; NaN where unmeasured)."""
    df = pd.read_csv(path, sep="\t", na_values=["-", "NA", "n/a", ""])
    out = {}
    for col, key in (("s", "wall_s"), ("cpu_time", "cpu_time_s"), ("max_rss", "max_rss_mb")):
        vals = pd.to_numeric(df[col], errors="coerce") if col in df else pd.Series(dtype=float)
        out[key] = float(vals.mean()) if vals.notna().any() else float("nan")
    return out


def job_table(bench_dir: str | Path) -> pd.DataFrame:
    """One row per benchmark file: stage, job (the path below the stage), wall_s,
    cpu_time_s, max_rss_mb."""
    bench_dir = Path(bench_dir)
    rows = []
    for path in sorted(bench_dir.rglob("*.tsv")):
        rel = path.relative_to(bench_dir)
        stage = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        job = str(Path(*rel.parts[1:]).with_suffix("")) if len(rel.parts) > 1 else rel.stem
        rows.append({"stage": stage, "job": job, **read_tsv(path)})
    return pd.DataFrame(rows, columns=["stage", "job", "wall_s", "cpu_time_s", "max_rss_mb"])


def summarize(bench_dir: str | Path, total: bool = True) -> pd.DataFrame:
    """Per stage: jobs, wall_s (sum), cpu_time_s (sum), mean_wall_s, max_rss_mb (max),
    sorted by wall_s, largest first; with ``total`` a last row ``TOTAL``."""
    jobs = job_table(bench_dir)
    if jobs.empty:
        return pd.DataFrame(columns=COLUMNS)
    g = jobs.groupby("stage")
    table = pd.DataFrame(
        {
            "jobs": g.size(),
            "wall_s": g["wall_s"].sum(min_count=1),
            "cpu_time_s": g["cpu_time_s"].sum(min_count=1),
            "mean_wall_s": g["wall_s"].mean(),
            "max_rss_mb": g["max_rss_mb"].max(),
        }
    ).reset_index()
    table = table.sort_values("wall_s", ascending=False, kind="stable").reset_index(drop=True)
    if total:
        table.loc[len(table)] = {
            "stage": "TOTAL",
            "jobs": int(table["jobs"].sum()),
            "wall_s": table["wall_s"].sum(min_count=1),
            "cpu_time_s": table["cpu_time_s"].sum(min_count=1),
            "mean_wall_s": jobs["wall_s"].mean(),
            "max_rss_mb": table["max_rss_mb"].max(),
        }
    table["jobs"] = table["jobs"].astype(int)
    return table[COLUMNS]


def format_table(table: pd.DataFrame) -> str:
    return table.to_string(
        index=False,
        formatters={
            "wall_s": "{:.1f}".format,
            "cpu_time_s": "{:.1f}".format,
            "mean_wall_s": "{:.2f}".format,
            "max_rss_mb": "{:.0f}".format,
        },
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench_dir", nargs="?", default="logs/benchmark")
    ap.add_argument("--csv", default=None, help="also write the table to this CSV file")
    args = ap.parse_args(argv)
    if not Path(args.bench_dir).is_dir():
        print(f"no benchmark folder {args.bench_dir}", file=sys.stderr)
        return 1
    table = summarize(args.bench_dir)
    if table.empty:
        print(f"no benchmark TSV files under {args.bench_dir}", file=sys.stderr)
        return 1
    print(format_table(table))
    if args.csv:
        table.to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
