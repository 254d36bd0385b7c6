"""Rule claims_table: one experiment's claims table, every claim of the run adjusted for
multiplicity together (claims.correction) and decided by the one rule."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: F821 (the package, installed or not)

from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402

from contrastlab.claims import adjust  # noqa: E402
from contrastlab.registry import get_family  # noqa: E402
from contrastlab.report import claims_html  # noqa: E402
from contrastlab.utils import job_logger  # noqa: E402

sm = snakemake  # noqa: F821
log = job_logger(sm.log[0])
raw = {
    exp: pd.read_csv(path, sep="\t", keep_default_na=True)
    for exp, path in zip(sm.params.experiments, sm.input, strict=True)
}
exp = sm.wildcards.experiment
table = adjust(raw, sm.params.correction)[exp]
table.to_csv(sm.output.tsv, sep="\t", index=False)
fam = get_family(sm.params.family)
title = f"{fam.title}: claims, experiment {exp}"
Path(sm.output.html).write_text(
    claims_html(table, title, fam.description, table.attrs["correction"])
)
log(table.to_string())
