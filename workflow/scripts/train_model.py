"""Rule train_model: train all seeds of one sweep point (one batched model), or of
several fused sweep points (one batched model for all of them; one netCDF group per
point in the output, see contrastlab.results.write_points)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: F821 (the package, installed or not)

import torch  # noqa: E402

from contrastlab.pipeline import train_job  # noqa: E402
from contrastlab.results import read_netcdf, write_points  # noqa: E402
from contrastlab.utils import job_logger, keep_freed_memory  # noqa: E402

keep_freed_memory()  # before the first large tensor (contrastlab.utils.keep_freed_memory)
sm = snakemake  # noqa: F821
log = job_logger(sm.log[0])
torch.set_num_threads(sm.threads)
data = {path: read_netcdf(path) for path in dict.fromkeys(sm.params.data)}
labels = list(sm.params.labels)  # the sweep points of this job
results = train_job(
    [data[path] for path in sm.params.data],
    list(sm.params.configs),
    device=sm.params.device,
    log=log,
    checkpoint_path=sm.params.checkpoint,
    where=f"experiment {sm.wildcards.experiment}, "
    + (f"point {labels[0]}" if len(labels) == 1 else f"job {sm.wildcards.job} (fused)"),
    labels=labels,
)
points = dict(zip(labels, results, strict=True)) if len(labels) > 1 else {"": results[0]}
write_points(points, sm.output[0])
log(f"wrote {sm.output[0]}")
