"""The claims machinery on synthetic numbers with a known effect."""

import math

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from contrastlab.claims import (
    CLAIM_COLUMNS,
    Claim,
    adjust,
    claims_frame,
    contrast,
    equivalence,
    named,
    not_tested,
    seeds_needed,
    select,
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
    # mean 2, sd 1, n 3, alpha 0.05: the 90% interval, half width t_{0.95,2} / sqrt(3)
    # (it excludes 0 exactly when the one-sided test rejects)
    assert row["ci_low"] == pytest.approx(2 - 2.9199856 / 3**0.5, rel=1e-6)
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
    assert row["span"] == pytest.approx(float(_levels(slope).isel(k=-1).mean() -
                                              _levels(slope).isel(k=0).mean()))  # fmt: skip
    # effect: Page's L as a correlation, the mean Spearman rho of the cells' rankings
    y = _levels(slope).transpose("seed", "delta", "k").values.reshape(-1, 3)
    rho = np.mean([stats.spearmanr(row_, [1, 2, 3]).statistic for row_ in y])
    assert row["effect"] == pytest.approx(rho)
    assert row["ci_low"] <= row["effect"] <= row["ci_high"]


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


WILCOX = Claim("p", "b beats a", "Fig. 1", "paper", "b - a", "wilcoxon")


def test_wilcoxon_interval_is_the_signed_rank_interval_of_its_estimate():
    """Hodges-Lehmann estimate and interval, against a naive loop over the Walsh averages
    and the exact signed-rank null distribution by enumeration."""
    import itertools

    x = np.array([0.3, -0.1, 0.5, 0.8, 0.2, 0.45, 0.05, 0.6])
    row = contrast(WILCOX, x)
    walsh = sorted((x[i] + x[j]) / 2 for i in range(8) for j in range(i, 8))
    assert row["effect"] == pytest.approx(np.median(walsh))
    sums = [sum(r for r, s in zip(range(1, 9), signs, strict=True) if s)
            for signs in itertools.product([0, 1], repeat=8)]  # fmt: skip
    cdf = lambda c: np.mean(np.array(sums) <= c)  # noqa: E731
    c = max(c for c in range(37) if cdf(c - 1) <= 0.05)  # lower bound: Walsh average c
    assert row["ci_low"] == pytest.approx(walsh[c - 1])
    assert row["ci_high"] == pytest.approx(walsh[len(walsh) - c])
    # the interval excludes 0 exactly when the one-sided test rejects
    assert (row["ci_low"] > 0) == (stats.wilcoxon(x, alternative="greater").pvalue < 0.05)


@pytest.mark.parametrize("shift", [0.0, 0.15, 0.4])
def test_no_supported_verdict_has_an_interval_that_contains_the_null(shift):
    for seed in range(12):
        x = shift + 0.3 * rng(seed).standard_normal(5)
        for claim in (PAIRED, WILCOX):
            row = contrast(claim, x)
            if row["verdict"] == "supported":
                assert row["ci_low"] > 0
        y = _levels(shift, seeds=5, noise=1.0, seed=seed)
        row = trend(PAGE, y, "k")
        if row["verdict"] == "supported":
            assert row["ci_low"] > 0 and row["p_value"] < 0.05


def test_the_interval_must_clear_the_smallest_effect_that_counts():
    claim = Claim("p", "c", "s", "paper", "q", "paired_t", min_effect=0.5)
    x = np.array([0.3, 0.6, 0.9, 0.45, 0.75])  # mean 0.6 >= 0.5, but the interval reaches 0.5
    row = contrast(claim, x)
    assert row["p_value"] < 0.01 and row["ci_low"] < 0.5 and row["verdict"] == "inconclusive"
    assert contrast(claim, x + 0.2)["verdict"] == "supported"


@pytest.mark.parametrize("method, ref", [("holm", "holm"), ("bh", "fdr_bh")])
def test_adjust_matches_statsmodels_and_redecides(method, ref):
    from statsmodels.stats.multitest import multipletests

    tables = {
        f"e{i}": claims_frame([contrast(PAIRED, 0.2 * i + 0.3 * rng(i + j).standard_normal(6))
                               for j in range(3)])
        for i in range(4)
    }  # fmt: skip
    tables["e0"].loc[0, "verdict"] = "not tested"  # takes no part
    out = adjust(tables, method)
    raw = [p for e, t in tables.items() for p, v in zip(t.p_value, t.verdict, strict=True)
           if v != "not tested"]  # fmt: skip
    got = [p for t in out.values() for p in t.p_adjusted if np.isfinite(p)]
    assert got == pytest.approx(multipletests(raw, method=ref)[1])
    assert "11 claims" in out["e1"].attrs["correction"]
    for t in out.values():
        for r in t.to_dict("records"):
            if r["verdict"] == "supported":
                assert r["p_adjusted"] < r["alpha"] and r["ci_low"] > 0
    # the raw p of a barely significant claim no longer suffices after the correction
    none = adjust(tables, "none")
    assert sum((t.verdict == "supported").sum() for t in none.values()) >= sum(
        (t.verdict == "supported").sum() for t in out.values()
    )
    with pytest.raises(ValueError, match="correction"):
        adjust(tables, "bonferroni-ish")


def test_not_tested_and_select_and_named():
    analytic = Claim("p", "exact", "s", "paper", "q", trained=False)
    named_claims = named({"a": PAIRED, "b": (analytic, "var", +1)})
    assert named_claims["a"].name == "a" and named_claims["b"][0].name == "b"
    table = claims_frame([contrast(named_claims["a"], [1.0, 1.1, 0.9]),
                          contrast(named_claims["b"][0], [1.0, 1.1, 0.9])])  # fmt: skip
    out = not_tested(table, "the job trained 0 steps")
    assert list(out.verdict) == ["not tested", "supported"]
    assert np.isnan(out.p_value[0]) and out.degenerate[0] == "the job trained 0 steps"
    assert list(select(table, ["b"]).name) == ["b"] and len(select(table, None)) == 2
