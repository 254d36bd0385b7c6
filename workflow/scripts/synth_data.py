"""Rule synth_data: synthesise one experiment's data for every seed."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: F821 (the package, installed or not)

from contrastlab.pipeline import synthesize  # noqa: E402
from contrastlab.results import write_netcdf  # noqa: E402
from contrastlab.utils import job_logger  # noqa: E402

log = job_logger(snakemake.log[0])  # noqa: F821
cfg = snakemake.params.config  # noqa: F821
seeds = snakemake.params.seeds  # noqa: F821
log(f"synthesising {cfg['family']} data for seeds {seeds}")
ds = synthesize(cfg, seeds)
write_netcdf(ds, snakemake.output[0])  # noqa: F821
log(f"wrote {snakemake.output[0]}")  # noqa: F821
