"""Checkpoint claims_stage: a staged experiment's claims after one stage of seeds, at the
stage's group-sequential boundary (contrastlab.sequential), and whether to add seeds."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: F821 (the package, installed or not)

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402

from contrastlab.pipeline import claims  # noqa: E402
from contrastlab.results import read_netcdf  # noqa: E402
from contrastlab.sequential import Design, stage_table  # noqa: E402
from contrastlab.utils import job_logger  # noqa: E402

sm = snakemake  # noqa: F821
log = job_logger(sm.log[0])
stage = int(sm.wildcards.stage)
design = Design.from_config(sm.params.design)
agg = read_netcdf(sm.input.agg)
previous = pd.read_csv(sm.input.previous[0], sep="\t") if sm.input.previous else None
table, more = stage_table(
    lambda: claims(agg, sm.params.family, sm.params.names), design, stage, previous
)
table.to_csv(sm.output.tsv, sep="\t", index=False)
undecided = [str(n) for n, s in zip(table["name"], table["stage"], strict=True)
             if str(s).startswith("undecided")]  # fmt: skip
Path(sm.output.decision).write_text(
    json.dumps(
        {
            "stage": stage,
            "seeds": int(agg.sizes["seed"]),
            "more": bool(more),
            "undecided": undecided,
        },
        indent=1,
    )  # fmt: skip
)
log(table.to_string())
log(f"stage {stage}/{design.stages} ({agg.sizes['seed']} seeds): "
    + (f"undecided {undecided}: adding {design.step} seeds" if more else "done"))  # fmt: skip
