"""Rule train_model: train all seeds of one sweep point (one batched model)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: F821 (the package, installed or not)

import torch  # noqa: E402

from contrastlab.pipeline import train  # noqa: E402
from contrastlab.results import read_netcdf, write_netcdf  # noqa: E402
from contrastlab.utils import job_logger  # noqa: E402

sm = snakemake  # noqa: F821
log = job_logger(sm.log[0])
torch.set_num_threads(sm.threads)
data = read_netcdf(sm.input.data)
ds = train(
    data,
    sm.params.config,
    device=sm.params.device,
    log=log,
    checkpoint_path=sm.params.checkpoint,
    where=f"experiment {sm.wildcards.experiment}, point {sm.wildcards.point}",
)
write_netcdf(ds, sm.output[0])
log(f"wrote {sm.output[0]}")
