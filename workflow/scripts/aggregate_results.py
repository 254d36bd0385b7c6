"""Rule aggregate_results: one netCDF per experiment, sweep axes as dims."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: F821 (the package, installed or not)

from contrastlab.pipeline import aggregate  # noqa: E402
from contrastlab.results import read_point, write_netcdf  # noqa: E402
from contrastlab.utils import job_logger  # noqa: E402

sm = snakemake  # noqa: F821
log = job_logger(sm.log[0])
datasets = [read_point(path, label) for path, label in sm.params.sources]
agg = aggregate(datasets, sm.params.points, sm.params.sweep_keys)
agg.attrs["title"] = f"contrastlab experiment {sm.wildcards.experiment}"
write_netcdf(agg, sm.output[0])
log(
    f"combined {len(datasets)} sweep points ({len(sm.input)} training jobs) into "
    f"{sm.output[0]}: {dict(agg.sizes)}"
)
