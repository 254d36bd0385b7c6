"""Fused sweep points (fuse: auto): one batched job for the points that differ only in
their family's fusable keys gives every point the numbers of its solo job, bit for bit."""

import numpy as np
import pytest
import xarray as xr
from fuse_helpers import FUSABLE, default_config, point_configs, swept_values

from contrastlab.config import experiment_jobs
from contrastlab.pipeline import synthesize, train, train_job
from contrastlab.registry import families
from contrastlab.results import read_point, write_points


def quiet(msg):
    pass


def test_fusable_families_exist_and_are_swept():
    assert FUSABLE, "no family declares fusable keys"
    for name in FUSABLE:
        assert swept_values(name), f"{name}: config.yaml sweeps none of {families()[name].fusable}"


@pytest.mark.parametrize("family", FUSABLE)
def test_fused_job_equals_solo_jobs_bit_for_bit(family):
    cfgs = point_configs(family)
    seeds = [0, 1]
    datas = [synthesize(c, seeds) for c in cfgs]
    fused = train_job(datas, cfgs, "cpu", log=quiet, labels=[str(i) for i in range(len(cfgs))])
    assert len(fused) == len(cfgs)
    for i, (data, cfg) in enumerate(zip(datas, cfgs, strict=True)):
        solo = train(data, cfg, "cpu", log=quiet)
        xr.testing.assert_equal(fused[i], solo)  # values, dims and coords, exactly
        assert fused[i].attrs["fused_job_points"] == len(cfgs)
        for key in ("config", "seeds", "contrastlab_version"):
            assert fused[i].attrs[key] == solo.attrs[key], key
        for key, value in solo.attrs.items():  # the point's own attributes (e.g. its tau)
            if key not in ("history", "wall_time_s"):
                assert fused[i].attrs.get(key) == value, f"{family} point {i}: attr {key}"


def test_default_config_fuses_the_fusable_axes():
    cfg = default_config()
    jobs = {n: experiment_jobs(cfg, n) for n in cfg["experiments"]}
    fused = {n: [j.label for j in js if j.fused] for n, js in jobs.items()}
    assert fused["temperature"] == [
        "kind=infonce__fused=temperature",
        "kind=hard__fused=temperature",
    ]
    assert [len(j.points) for j in jobs["temperature"]] == [7, 7]
    # every point is in exactly one job, in sweep order within the job
    for name, js in jobs.items():
        labels = [p.label for j in js for p in j.points]
        assert sorted(labels) == sorted(set(labels)), name
    cfg["fuse"] = "none"
    assert all(not j.fused for n in cfg["experiments"] for j in experiment_jobs(cfg, n))
    cfg["fuse"] = "auto"
    cfg["experiments"]["temperature"]["fuse"] = "none"
    assert len(experiment_jobs(cfg, "temperature")) == 14


def test_fused_job_too_big_for_memory_stays_apart():
    cfg = default_config()
    cfg["max_job_memory_gb"] = 1e-6
    # the estimate of one point already exceeds the limit: validate_config would refuse
    # it; experiment_jobs alone keeps points apart rather than fuse beyond the limit
    for name in cfg["experiments"]:
        fam = families()[cfg["experiments"][name]["family"]]
        if fam.fusable and getattr(fam.config_class, "memory_estimate", None):
            assert all(not j.fused for j in experiment_jobs(cfg, name))


def test_write_points_and_read_point_round_trip(tmp_path):
    a = xr.Dataset(
        {"v": (("seed",), np.array([1.0, 2.0]), {"long_name": "v", "units": "1"})},
        coords={"seed": ("seed", [0, 1], {"long_name": "seed", "units": "1"})},
        attrs={"config": "a"},
    )
    b = a.copy(deep=True)
    b["v"] = b["v"] * 10
    b.attrs = {"config": "b"}
    write_points({"tau=0.1": a, "tau=0.2": b}, tmp_path / "m.nc")
    xr.testing.assert_identical(
        read_point(tmp_path / "m.nc", "tau=0.2").drop_attrs(), b.drop_attrs()
    )
    assert read_point(tmp_path / "m.nc", "tau=0.1").attrs["config"] == "a"
    write_points({"": a}, tmp_path / "one.nc")
    xr.testing.assert_equal(read_point(tmp_path / "one.nc", "anything"), a)
    from contrastlab.errors import ResultFileError

    with pytest.raises(ResultFileError, match="no sweep point 'tau=0.3'"):
        read_point(tmp_path / "m.nc", "tau=0.3")
