"""Rules aggregate_results and aggregate_stage: one netCDF per experiment (or per stage
of a staged experiment), sweep axes as dims."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: F821 (the package, installed or not)

from contrastlab.pipeline import aggregate, read_sources  # noqa: E402
from contrastlab.results import read_netcdf, write_netcdf  # noqa: E402
from contrastlab.utils import job_logger  # noqa: E402

sm = snakemake  # noqa: F821
log = job_logger(sm.log[0])
if sm.params.sources is None:  # a staged experiment: its last stage's aggregate
    agg = read_netcdf(sm.input[0])
    write_netcdf(agg, sm.output[0])
    log(f"{sm.output[0]}: the last stage's aggregate {sm.input[0]}: {dict(agg.sizes)}")
else:
    datasets = read_sources(sm.params.sources)
    agg = aggregate(datasets, sm.params.points, sm.params.sweep_keys)
    agg.attrs["title"] = f"contrastlab experiment {sm.wildcards.experiment}"
    write_netcdf(agg, sm.output[0])
    log(
        f"combined {len(datasets)} sweep points ({len(sm.input)} training jobs) into "
        f"{sm.output[0]}: {dict(agg.sizes)}"
    )
