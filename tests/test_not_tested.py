"""No verdict without a trained model: a job that trained 0 steps, or whose every seed's
representation collapsed, gets "not tested" (with the reason) for the claims that need
training, never supported or contradicted; the collapse measure against its definition."""

import numpy as np
import pytest
import torch

from contrastlab.claims import COLLAPSED_SPREAD
from contrastlab.metrics.embedding import spread
from contrastlab.pipeline import aggregate, claims, run_point
from contrastlab.registry import get_family

HLTM_TINY = get_family("hltm").tiny


def quiet(_msg: str) -> None:
    pass


def _hltm(epochs: int, hids=(2, 4)):
    datasets, points = [], []
    for hid in hids:
        exp = {"family": "hltm", **HLTM_TINY}
        exp["model"] = {**exp.get("model", {}), "hid": hid}
        exp["train"] = {**exp.get("train", {}), "epochs": epochs}
        datasets.append(run_point(exp, [0, 1, 2], log=quiet))
        points.append({"hid": hid})
    return aggregate(datasets, points, {"hid": "model.hid"})


def test_zero_epochs_gives_not_tested_with_the_reason():
    table = claims(_hltm(0), "hltm")
    assert len(table) and set(table["verdict"]) == {"not tested"}
    assert table["degenerate"].str.contains("0 steps").all()
    assert table["p_value"].isna().all()


def test_a_trained_job_is_decided():
    table = claims(_hltm(1), "hltm")
    assert "not tested" not in set(table["verdict"])


def test_spread_is_the_share_of_energy_that_varies():
    g = torch.Generator().manual_seed(0)
    h = torch.randn(2, 200, 8, generator=g) + 3.0  # mean 3 in each of 8 dims
    expected = h[0].var(0, unbiased=False).sum() / h[0].pow(2).sum(-1).mean()
    assert spread(h)[0].item() == pytest.approx(expected.item(), rel=1e-6)
    same = torch.ones(1, 50, 8) * 2.5 + 1e-4 * torch.randn(1, 50, 8, generator=g)
    assert spread(same).item() < COLLAPSED_SPREAD
    assert spread(torch.zeros(1, 10, 4)).item() == 0.0


def test_collapsed_points_are_not_tested_and_single_seeds_are_counted():
    name = "digits_augment"
    fam = get_family(name)
    ds = run_point({"family": name, **fam.tiny}, [0, 1], log=quiet)
    assert "spread" in ds
    agg = aggregate([ds, ds.copy(deep=True)], [{"strength": "none"}, {"strength": "strong"}],
                    {"strength": "augmentation.strength"})  # fmt: skip
    healthy = claims(agg, name)
    assert "not tested" not in set(healthy["verdict"])
    one = agg.copy(deep=True)
    one["spread"].loc[{"strength": "strong", "seed": 0}] = 0.0  # one seed collapsed
    note = claims(one, name)
    assert "not tested" not in set(note["verdict"])
    assert note["degenerate"].astype(str).str.contains("1 of 4").all()
    every = agg.copy(deep=True)
    every["spread"].loc[{"strength": "strong"}] = np.zeros((2, every.sizes["step"]))
    table = claims(every, name)
    assert set(table["verdict"]) == {"not tested"}
    assert table["degenerate"].str.contains("collapsed at strength=strong").all()
