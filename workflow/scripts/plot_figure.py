"""Rules plot_*: draw one figure of an experiment from its aggregated results."""

from contrastlab.pipeline import figure
from contrastlab.results import read_netcdf
from contrastlab.utils import job_logger

sm = snakemake  # noqa: F821
log = job_logger(sm.log[0])
figure(read_netcdf(sm.input[0]), sm.params.family, sm.params.figure, sm.output[0])
log(f"wrote {sm.output[0]}")
