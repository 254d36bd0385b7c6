"""Rule synth_data: synthesise one experiment's data for every seed."""

from contrastlab.pipeline import synthesize
from contrastlab.results import write_netcdf
from contrastlab.utils import job_logger

log = job_logger(snakemake.log[0])  # noqa: F821
cfg = snakemake.params.config  # noqa: F821
seeds = snakemake.params.seeds  # noqa: F821
log(f"synthesising {cfg['family']} data for seeds {seeds}")
ds = synthesize(cfg, seeds)
write_netcdf(ds, snakemake.output[0])  # noqa: F821
log(f"wrote {snakemake.output[0]}")  # noqa: F821
