"""Rule claims_summary: the report's front page of verdicts, from every claims table."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: F821 (the package, installed or not)

from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402

from contrastlab.report import summary_html  # noqa: E402
from contrastlab.utils import job_logger  # noqa: E402

sm = snakemake  # noqa: F821
log = job_logger(sm.log[0])
tables = {
    exp: pd.read_csv(path, sep="\t")
    for exp, path in zip(sm.params.experiments, sm.input, strict=True)
}
from contrastlab.claims import describe_correction  # noqa: E402

counted = sum(int(t["p_adjusted"].notna().sum()) for t in tables.values())
note = describe_correction(sm.params.correction, counted)
Path(sm.output[0]).write_text(summary_html(tables, sm.params.titles, note))
log(f"summarised {len(tables)} claims tables into {sm.output[0]}")
