"""Rule claims_raw: the paper's claims evaluated on an experiment's aggregate (effects,
intervals, raw p-values), or a staged experiment's last stage's claims as they are."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: F821 (the package, installed or not)

import shutil  # noqa: E402

from contrastlab.pipeline import claims  # noqa: E402
from contrastlab.results import read_netcdf  # noqa: E402
from contrastlab.utils import job_logger  # noqa: E402

sm = snakemake  # noqa: F821
log = job_logger(sm.log[0])
source = str(sm.input[0])
if source.endswith(".tsv"):  # a staged experiment: decided stage by stage
    shutil.copyfile(source, sm.output[0])
    log(f"claims of the last stage: {source}")
else:
    table = claims(read_netcdf(source), sm.params.family, sm.params.names)
    table.to_csv(sm.output[0], sep="\t", index=False)
    log(table.to_string())
