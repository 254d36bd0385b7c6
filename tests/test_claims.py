"""The claims machinery on synthetic numbers with a known effect."""

import math

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from contrastlab.claims import (
    CLAIM_COLUMNS,
    Claim,
    claims_frame,
    contrast,
    equivalence,
    seeds_needed,
    trend,
)

PAIRED = Claim("p", "b beats a", "Fig. 1", "paper", "b - a", "paired_t")
PAGE = Claim("p", "rises with k", "Fig. 2", "design", "y rising with k", "page")


def rng(seed=0):
    return np.random.default_rng(seed)


@pytest.mark.parametrize(
    "mean, verdict",
    [(1.0, "supported"), (0.0, "inconclusive"), (-1.0, "contradicted")],
)
def test_known_paired_effect_gets_its_verdict(mean, verdict):
    diffs = mean + 0.3 * rng().standard_normal(8)
    if mean == 0.0:
        diffs = diffs - diffs.mean() + 0.01  # a null effect, exactly
    row = contrast(PAIRED, diffs)
    assert row["verdict"] == verdict and row["n_seeds"] == 8
    assert set(row) == set(CLAIM_COLUMNS)


def test_too_few_seeds_or_a_small_effect_is_inconclusive():
    assert contrast(PAIRED, [0.5])["verdict"] == "inconclusive"
    assert contrast(PAIRED, [])["verdict"] == "inconclusive"
    small = Claim("p", "c", "s", "paper", "q", "paired_t", min_effect=1.0)
    assert contrast(small, [0.5, 0.51, 0.49, 0.5])["verdict"] == "inconclusive"


def test_interval_is_the_t_interval_and_p_the_one_sided_t_test():
    row = contrast(PAIRED, [1.0, 2.0, 3.0])
    # mean 2, sd 1, n 3: half width t_{0.975,2} / sqrt(3) = 4.302653 / 1.7320508
    assert row["ci_low"] == pytest.approx(2 - 2.4841377, rel=1e-6)
    assert row["p_value"] == pytest.approx(stats.ttest_1samp([1, 2, 3], 0).pvalue / 2)


def test_the_paired_test_decides_where_the_unpaired_one_cannot():
    """Seeds differ a lot (data, init), the effect within a seed is small but steady."""
    r = rng(1)
    seed_level = 5.0 * r.standard_normal(6)
    a = seed_level + 0.05 * r.standard_normal(6)
    b = seed_level + 0.5 + 0.05 * r.standard_normal(6)
    assert stats.ttest_ind(b, a, alternative="greater").pvalue > 0.05  # unpaired: no
    assert contrast(PAIRED, b - a)["verdict"] == "supported"  # paired: yes


def test_blocks_are_reported_and_nan_blocks_skipped():
    diffs = np.array([[0.5, 0.4, np.nan], [0.6, 0.5, 0.7], [0.4, 0.6, 0.5]])  # seed x block
    row = contrast(PAIRED, diffs)
    assert row["n_seeds"] == 3 and row["blocks"] == "3/3 > 0"
    assert row["effect"] == pytest.approx(np.mean([0.45, 0.6, 0.5]))


def _levels(slope, seeds=4, blocks=3, noise=0.1, seed=2):
    r = rng(seed)
    k = np.array([1, 2, 5])
    base = 3 * r.standard_normal((seeds, blocks, 1))  # seed x block offsets
    y = base + slope * k + noise * r.standard_normal((seeds, blocks, 3))
    return xr.DataArray(y, dims=("seed", "delta", "k"), coords={"k": k})


@pytest.mark.parametrize("slope, verdict", [(0.3, "supported"), (-0.3, "contradicted")])
def test_page_trend_over_blocks(slope, verdict):
    row = trend(PAGE, _levels(slope), "k")
    assert row["verdict"] == verdict
    assert row["effect"] == pytest.approx(float(_levels(slope).isel(k=-1).mean() -
                                                _levels(slope).isel(k=0).mean()))  # fmt: skip


def test_page_trend_with_no_order_is_inconclusive():
    flat = _levels(0.0, noise=0.0) + xr.DataArray(np.array([0.0, 0.2, -0.2]), dims="k")
    flat = flat.copy(data=np.where(np.arange(4)[:, None, None] % 2, flat, flat[..., ::-1]))
    assert trend(PAGE, flat, "k")["verdict"] == "inconclusive"


def test_page_p_value_is_scipys():
    y = _levels(0.2)
    table = y.transpose("seed", "delta", "k").values.reshape(-1, 3)
    ref = stats.page_trend_test(table, predicted_ranks=[1, 2, 3]).pvalue
    assert trend(PAGE, y, "k")["p_value"] == pytest.approx(ref)


def test_missing_axis_is_inconclusive_with_no_seeds():
    row = trend(PAGE, _levels(0.3).isel(k=0), "k")
    assert row["verdict"] == "inconclusive" and row["n_seeds"] == 0


def test_seeds_needed_matches_a_reference_power_calculation():
    # one-sided one-sample/paired t, d = 0.5, alpha 0.05, power 0.8: n = 27 (G*Power 3.1)
    assert seeds_needed(0.5, 1.0, 0.05) == 27
    # d = 0.8: n = 12 (G*Power 3.1); a zero effect never decides
    assert seeds_needed(0.8, 1.0, 0.05) == 12
    assert seeds_needed(0.0, 1.0, 0.05) == math.inf


def test_declarations_are_checked():
    with pytest.raises(ValueError, match="test"):
        Claim("p", "c", "s", "paper", "q", "t-test")
    with pytest.raises(ValueError, match="setting"):
        Claim("p", "c", "s", "ours", "q")
    assert list(claims_frame([]).columns) == CLAIM_COLUMNS


EQUIV = Claim("P", "about the same", "s", "design", "a - b", test="tost", min_effect=0.05)


@pytest.mark.parametrize(
    ("mean", "sd", "verdict"),
    [(0.0, 0.01, "supported"), (0.2, 0.01, "contradicted"), (-0.2, 0.01, "contradicted"),
     (0.04, 0.2, "inconclusive")],
)  # fmt: skip
def test_equivalence_by_two_one_sided_tests(mean, sd, verdict):
    x = mean + sd * stats.norm.ppf(np.linspace(0.05, 0.95, 12))
    row = equivalence(EQUIV, x)
    assert row["verdict"] == verdict and row["n_seeds"] == 12


def test_equivalence_p_is_statsmodels_ttost_paired():
    from statsmodels.stats.weightstats import ttost_paired

    rng = np.random.default_rng(3)
    a, b = rng.normal(0.8, 0.02, 9), rng.normal(0.8, 0.02, 9)
    row = equivalence(EQUIV, a - b)
    p_ref = ttost_paired(a, b, -0.05, 0.05)[0]
    assert abs(row["p_value"] - p_ref) < 1e-12
    with pytest.raises(ValueError, match="tost"):
        contrast(EQUIV, a - b)
    with pytest.raises(ValueError, match="margin"):
        equivalence(Claim("P", "c", "s", "design", "q", test="tost"), a - b)
