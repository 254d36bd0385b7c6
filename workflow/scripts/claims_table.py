"""Rule claims_table: the paper's claims, evaluated on the aggregated results."""

from pathlib import Path

from contrastlab.pipeline import claims, claims_html
from contrastlab.results import read_netcdf
from contrastlab.utils import job_logger

sm = snakemake  # noqa: F821
log = job_logger(sm.log[0])
table = claims(read_netcdf(sm.input[0]), sm.params.family)
table.to_csv(sm.output.tsv, sep="\t", index=False)
Path(sm.output.html).write_text(claims_html(table, f"Claims: {sm.wildcards.experiment}"))
log(table.to_string())
