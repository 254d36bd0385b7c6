"""Fused sweep points: one HLTM job training several points' seeds in one batch.

The task then gets the points' data concatenated along ``seed`` (seed values
repeat) and one config per member: each member must use its own position's
tree and its seed's streams, and give its solo run's numbers bit for bit.
"""

from __future__ import annotations

import pytest
import torch
import xarray as xr

from contrastlab.engine import Engine
from contrastlab.families.hltm.config import HLTMConfig
from contrastlab.families.hltm.data import HLTMSampler
from contrastlab.params import to_sections
from contrastlab.pipeline import concat_points, synthesize
from contrastlab.registry import get_family

BASE = HLTMConfig(depth=4, hid=4, epochs=2, samples_per_epoch=640, batch_size=64, cov_samples=200)
SEEDS = [0, 1]
DELTAS = (0.7, 0.9)


def quiet(_msg: str) -> None:
    pass


concat = concat_points  # the points' data along seed, as a fused job receives them


@pytest.fixture(scope="module")
def points():
    fam = get_family("hltm")
    cfgs = []
    for d in DELTAS:
        exp = {"family": "hltm", **to_sections(BASE)}
        exp["data"] = {**exp["data"], "delta_lower": d}
        cfgs.append(exp)
    return fam, [fam.config(c) for c in cfgs], [synthesize(c, SEEDS) for c in cfgs]


def run(fam, cfg, data, seeds, members=None) -> xr.Dataset:
    task = fam.task(cfg, data, seeds, torch.device("cpu"), members=members)
    return Engine(task, config={}, log=quiet).run()


def test_sampler_reads_a_concatenation_by_position(points):
    _, _, datas = points
    fused = HLTMSampler.from_dataset(concat(datas))
    assert fused.seeds == SEEDS + SEEDS
    for i, data in enumerate(datas):
        solo = HLTMSampler.from_dataset(data)
        assert torch.equal(fused.rho[2 * i : 2 * i + 2], solo.rho)


def test_fused_points_equal_solo_runs_bit_for_bit(points):
    fam, typed, datas = points
    members = [cfg for cfg in typed for _ in SEEDS]
    fused = run(fam, typed[0], concat(datas), SEEDS * len(typed), members)
    assert list(fused["seed"].values) == SEEDS * len(typed)
    for i, (cfg, data) in enumerate(zip(typed, datas, strict=True)):
        solo = run(fam, cfg, data, SEEDS)
        part = fused.isel(seed=slice(i * len(SEEDS), (i + 1) * len(SEEDS)))
        xr.testing.assert_equal(part, solo)  # every variable, exactly


def test_member_config_must_match_its_data(points):
    fam, typed, datas = points
    swapped = [cfg for cfg in typed[::-1] for _ in SEEDS]  # 0.9 members on the 0.7 trees
    with pytest.raises(ValueError, match="do not match the config"):
        fam.task(typed[0], concat(datas), SEEDS * 2, torch.device("cpu"), members=swapped)
