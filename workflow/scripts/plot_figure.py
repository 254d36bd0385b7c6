"""Rules plot_figure and make_table: draw one figure (or render one table) of an
experiment from its aggregated results."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: F821 (the package, installed or not)

from contrastlab.pipeline import figure  # noqa: E402
from contrastlab.results import read_netcdf  # noqa: E402
from contrastlab.utils import job_logger  # noqa: E402

sm = snakemake  # noqa: F821
log = job_logger(sm.log[0])
figure(read_netcdf(sm.input[0]), sm.params.family, sm.wildcards.figure, sm.output[0])
log(f"wrote {sm.output[0]}")
