"""The digits_augment views per strength, the data, and a tiny end-to-end run."""

import numpy as np
import pytest
import torch

from contrastlab.engine import Engine
from contrastlab.families.digits_augment import FAMILY
from contrastlab.families.digits_augment.config import STRENGTHS
from contrastlab.images.digits import Augment, two_views
from contrastlab.results import _check_attrs, combine_points, read_netcdf, write_netcdf

SEEDS = [3, 5]


# the digits source (flat 8x8, the MLP): its views are the digits' own augmentations
DIGITS = {
    **FAMILY.tiny,
    "data": {"source": "digits"},
    "model": {"encoder": "mlp", "width": 16, "embed_dim": 8},
}


def config(strength: str, **aug):
    return FAMILY.config({**DIGITS, "augmentation": {"strength": strength, **aug}})


@pytest.fixture(scope="module")
def data():
    return FAMILY.synthesize(config("none"), SEEDS)


def task(strength, data, seeds=SEEDS, **aug):
    return FAMILY.task(config(strength, **aug), data, seeds, torch.device("cpu"))


def run(strength, data, seeds=SEEDS):
    return Engine(task(strength, data, seeds), config={}, log=lambda m: None).run()


def test_data_is_a_per_seed_split_of_its_own_stream(data):
    _check_attrs(data)
    assert data["x_train"].shape == (2, 1437, 64) and data["x_test"].shape == (2, 360, 64)
    alone = FAMILY.synthesize(config("none"), [5])
    for name in data.data_vars:
        np.testing.assert_array_equal(data[name].sel(seed=5).values, alone[name].sel(seed=5).values)
    from contrastlab.images import digits

    other = digits.split_indices(3, 0.2)  # the temperature family's stream
    assert not np.array_equal(data["test_index"].sel(seed=3).values, other[1])
    images, labels = digits.load()
    idx = data["test_index"].sel(seed=3).values
    np.testing.assert_array_equal(data["x_test"].sel(seed=3).values, images[idx])
    np.testing.assert_array_equal(data["y_test"].sel(seed=3).values, labels[idx])


def test_no_augmentation_gives_two_identical_views_of_the_images(data):
    t = task("none", data)
    assert t.aug == Augment(shift=0, noise=0.0, erase_prob=0.0, erase_size=1)
    for v1, v2 in [next(iter(t.batches(0))), t.eval_views]:
        assert torch.equal(v1, v2)
    assert torch.equal(t.eval_views[0], t.x_test)  # the images themselves
    rec = t.evaluate(0)
    np.testing.assert_array_equal(np.asarray(rec["align"]), 0.0)


@pytest.mark.parametrize(
    ("strength", "want"),
    [("weak", Augment(1, 0.05, 0.0, 2)), ("strong", Augment(2, 0.1, 0.5, 3))],
)
def test_weak_and_strong_views_follow_their_config_keys(data, strength, want):
    t = task(strength, data)
    assert t.aug == want
    v1, v2 = next(iter(t.batches(0)))
    assert v1.shape == v2.shape == (2, 16, 64)
    assert not torch.equal(v1, v2)
    assert (v1 >= 0).all() and (v1 <= 1).all()
    # an edited level key changes the views: no noise, no shift, no erasing = identity
    off = {f"{strength}_{k}": 0 for k in ("shift", "noise", "erase_prob")}
    t = task(strength, data, **off)
    v1, v2 = next(iter(t.batches(0)))
    assert torch.equal(v1, v2)


def test_stronger_augmentation_moves_the_views_further_apart(data):
    """Mean squared pixel difference of the two views of the same images (all 1437)."""
    gaps = {}
    for strength in STRENGTHS:
        t = task(strength, data)
        v1, v2 = two_views(t.x_train, t.aug, t.streams("test"))
        gaps[strength] = float((v1 - v2).pow(2).mean())
    assert gaps["none"] == 0.0 < gaps["weak"] < gaps["strong"]


def test_tiny_end_to_end_claims_and_figures(data, tmp_path):
    dss = [run(s, data) for s in STRENGTHS]
    for ds in dss:
        _check_attrs(ds)
        assert list(ds["step"].values) == [0, 3, 6]
        assert ((ds["probe_acc"] >= 0) & (ds["probe_acc"] <= 1)).all()
        assert ds["pca"].dims == ("seed", "test_sample", "component")
    assert dss[0].attrs["augmentation_strength"] == "none"
    assert dss[2].attrs["augmentation_erase_prob"] == 0.5
    # same seed, same split and initial weights: step 0 is the same at every strength
    for ds in dss[1:]:
        np.testing.assert_array_equal(
            ds["probe_acc"].isel(step=0), dss[0]["probe_acc"].isel(step=0)
        )
    agg = combine_points(dss, [{"strength": s} for s in STRENGTHS])
    write_netcdf(agg, tmp_path / "agg.nc")
    agg = read_netcdf(tmp_path / "agg.nc")
    table = FAMILY.claims(agg)
    assert len(table) == 2 and table["n_seeds"].eq(2).all()
    assert list(table["test"]) == ["page", "paired_t"]
    assert table["paper"].eq("Wen & Li 2021").all() and table["setting"].eq("design").all()
    points = [{"data": {"source": "digits"}}]  # this test's data: the digits
    for fig in FAMILY.figures:
        if not fig.applies_to(points):  # the nuisance factors exist on shapes only
            assert fig.name == "digits_augment_factors"
            continue
        path = tmp_path / f"{fig.name}.png"
        fig.function()(agg, path)
        assert path.stat().st_size > 1000, fig.name
    import matplotlib.pyplot as plt

    assert not plt.get_fignums()


def test_nt_xent_negatives_train_on_images():
    """loss.negatives: nt_xent (SimCLR's 2B - 2 negatives) trains the family's tiny image
    config, with the loss of SimCLR's formula at the first step."""
    from contrastlab.losses.ntxent import nt_xent

    cfg = FAMILY.config({**FAMILY.tiny, "loss": {"negatives": "nt_xent"}})
    data = FAMILY.synthesize(cfg, SEEDS)
    t = FAMILY.task(cfg, data, SEEDS, torch.device("cpu"))
    batch = next(iter(t.batches(0)))
    want = nt_xent(t.embed(batch[0]), t.embed(batch[1]), cfg.temperature)
    t2 = FAMILY.task(cfg, data, SEEDS, torch.device("cpu"))
    torch.testing.assert_close(t2.loss(next(iter(t2.batches(0)))), want)
    out = Engine(t2, config={}, log=lambda m: None).run()
    assert np.isfinite(out["loss"].isel(step=slice(1, None)).values).all()  # step 0: no loss
