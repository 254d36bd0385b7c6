"""Rule claims_table: the paper's claims, evaluated on the aggregated results."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: F821 (the package, installed or not)

from pathlib import Path  # noqa: E402

from contrastlab.pipeline import claims  # noqa: E402
from contrastlab.registry import get_family  # noqa: E402
from contrastlab.report import claims_html  # noqa: E402
from contrastlab.results import read_netcdf  # noqa: E402
from contrastlab.utils import job_logger  # noqa: E402

sm = snakemake  # noqa: F821
log = job_logger(sm.log[0])
table = claims(read_netcdf(sm.input[0]), sm.params.family)
table.to_csv(sm.output.tsv, sep="\t", index=False)
fam = get_family(sm.params.family)
title = f"{fam.title}: claims, experiment {sm.wildcards.experiment}"
Path(sm.output.html).write_text(claims_html(table, title, fam.description))
log(table.to_string())
