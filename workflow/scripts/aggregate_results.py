"""Rule aggregate_results: one netCDF per experiment, sweep axes as dims."""

from contrastlab.pipeline import aggregate
from contrastlab.results import read_netcdf, write_netcdf
from contrastlab.utils import job_logger

sm = snakemake  # noqa: F821
log = job_logger(sm.log[0])
datasets = [read_netcdf(p) for p in sm.input]
agg = aggregate(datasets, sm.params.points, sm.params.sweep_keys)
agg.attrs["title"] = f"contrastlab experiment {sm.wildcards.experiment}"
write_netcdf(agg, sm.output[0])
log(f"combined {len(datasets)} sweep points into {sm.output[0]}: {dict(agg.sizes)}")
