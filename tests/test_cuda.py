"""The CUDA path: every family trains on the GPU (batched seeds and fused points) with
the numbers of the CPU run, to float tolerance. Skipped where torch sees no GPU."""

import copy

import numpy as np
import pytest
import torch
from fuse_helpers import FUSABLE, point_configs

from contrastlab.pipeline import run_point, synthesize, train, train_job
from contrastlab.registry import families

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def quiet(msg):
    pass


@pytest.mark.parametrize("family", list(families()))
def test_family_trains_on_cuda_as_on_cpu(family):
    exp = {"family": family, **copy.deepcopy(families()[family].tiny)}
    cpu = run_point(exp, [0, 1], device="cpu", log=quiet)
    gpu = run_point(exp, [0, 1], device="cuda", log=quiet)
    assert gpu.attrs["device"].startswith("cuda"), gpu.attrs["device"]
    assert set(gpu.data_vars) == set(cpu.data_vars)
    # the initialisation is drawn on the CPU: round 0 agrees to float precision; training
    # then follows the same path up to float rounding (different kernels)
    round_dim = [d for d in ("step", "epoch") if d in gpu.dims][0]
    for var in gpu.data_vars:
        a, b = cpu[var], gpu[var]
        if round_dim in a.dims:
            a, b = a.isel({round_dim: 0}), b.isel({round_dim: 0})
        np.testing.assert_allclose(
            b.values, a.values, rtol=1e-3, atol=1e-4, err_msg=f"{family}: {var}"
        )
    loss = gpu["loss"].isel({round_dim: -1}).values
    assert np.isfinite(loss).all()
    np.testing.assert_allclose(loss, cpu["loss"].isel({round_dim: -1}).values, rtol=0.05)


@pytest.mark.parametrize("family", FUSABLE)
def test_fused_points_on_cuda_equal_their_solo_jobs(family):
    cfgs = point_configs(family, n=2)
    datas = [synthesize(c, [0, 1]) for c in cfgs]
    fused = train_job(datas, cfgs, "cuda", log=quiet)
    for data, cfg, got in zip(datas, cfgs, fused, strict=True):
        solo = train(data, cfg, "cuda", log=quiet)
        for var in solo.data_vars:
            np.testing.assert_allclose(
                got[var].values, solo[var].values, rtol=1e-4, atol=1e-5, err_msg=var
            )
