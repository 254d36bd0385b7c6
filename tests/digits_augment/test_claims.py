"""The digits_augment claims on synthetic aggregates whose answer is known."""

import numpy as np
import pytest
import xarray as xr

from contrastlab.families.digits_augment import FAMILY
from contrastlab.families.digits_augment.claims import CLAIMS, GAIN, ORDERING

STRENGTHS = ["none", "weak", "strong"]


def aggregate(final: dict, start: float = 0.90, n_seeds: int = 6, noise: float = 0.002, **extra):
    """probe_acc (strength, seed, step) at steps 0, 50, 100: ``start`` at step 0 for every
    strength, ``final[s]`` (+ per-seed noise) at the last step; ``extra`` sweep axes."""
    rng = np.random.default_rng(0)
    strengths = list(final)
    acc = np.empty((len(strengths), n_seeds, 3))
    for i, s in enumerate(strengths):
        acc[i, :, 0] = start
        acc[i, :, 2] = final[s] + noise * rng.standard_normal(n_seeds)
        acc[i, :, 1] = (acc[i, :, 0] + acc[i, :, 2]) / 2
    da = xr.DataArray(
        acc,
        dims=("strength", "seed", "step"),
        coords={"strength": strengths, "seed": np.arange(n_seeds), "step": [0, 50, 100]},
    )
    for axis, values in extra.items():
        da = da.expand_dims({axis: values}).copy()
    return xr.Dataset({"probe_acc": da})


def verdicts(agg) -> dict:
    table = FAMILY.claims(agg)
    return dict(zip(table["claim"], table["verdict"], strict=True))


def test_claims_are_declared_before_the_run():
    assert ORDERING.test == "page" and GAIN.test == "paired_t"
    assert ORDERING.setting == GAIN.setting == "design"
    assert ORDERING.min_effect == GAIN.min_effect == 0.01
    assert "strong > weak > none" in ORDERING.text


def test_supported_when_strong_beats_weak_beats_none_and_training_helps():
    v = verdicts(aggregate({"none": 0.88, "weak": 0.92, "strong": 0.96}))
    assert v == {ORDERING.text: "supported", GAIN.text: "supported"}


def test_contradicted_when_the_order_is_reversed_and_training_hurts():
    v = verdicts(aggregate({"none": 0.96, "weak": 0.92, "strong": 0.85}))
    assert v == {ORDERING.text: "contradicted", GAIN.text: "contradicted"}


def test_inconclusive_when_the_levels_do_not_differ():
    v = verdicts(aggregate({"none": 0.90, "weak": 0.90, "strong": 0.90}))
    assert v == {ORDERING.text: "inconclusive", GAIN.text: "inconclusive"}


def test_a_significant_order_smaller_than_the_smallest_effect_is_inconclusive():
    agg = aggregate({"none": 0.900, "weak": 0.903, "strong": 0.906}, noise=0.0005)
    table = FAMILY.claims(agg)
    row = table.set_index("claim").loc[ORDERING.text]
    assert row["p_value"] < 0.05 and row["span"] == pytest.approx(0.006, abs=0.002)
    assert row["effect"] == 1.0  # Page's rho: every seed in the claimed order
    assert row["verdict"] == "inconclusive"


def test_the_order_of_the_strength_axis_in_the_file_does_not_matter():
    agg = aggregate({"strong": 0.96, "none": 0.88, "weak": 0.92})
    row = FAMILY.claims(agg).set_index("claim").loc[ORDERING.text]
    assert row["verdict"] == "supported" and row["span"] == pytest.approx(0.08, abs=0.01)


def test_layouts_without_every_strength():
    assert FAMILY.claims(aggregate({"none": 0.9}).isel(strength=0)).empty
    only_weak = verdicts(aggregate({"none": 0.88, "weak": 0.95}))
    assert only_weak == {ORDERING.text: "supported"}  # two levels, no strong: no gain
    assert list(verdicts(aggregate({"strong": 0.95}))) == [GAIN.text]


def test_other_sweep_axes_are_blocks():
    agg = aggregate({"none": 0.88, "weak": 0.92, "strong": 0.96}, n_seeds=3, lr=[0.001, 0.01])
    table = FAMILY.claims(agg).set_index("claim")
    assert table.loc[ORDERING.text, "n_seeds"] == 3
    assert table.loc[ORDERING.text, "blocks"] == "2/2 > 0"
    assert table.loc[ORDERING.text, "verdict"] == "supported"
    assert table.loc[GAIN.text, "verdict"] == "supported"


def test_claims_are_named_with_their_figure():
    assert set(CLAIMS) == {"ordering", "gain", "dense"}
    assert (CLAIMS["ordering"], CLAIMS["gain"]) == (ORDERING, GAIN)
    table = FAMILY.claims(aggregate({"none": 0.88, "weak": 0.92, "strong": 0.96}))
    assert list(table["name"]) == ["ordering", "gain"]
    assert set(table["figure"]) == {"digits_augment_dynamics"}
