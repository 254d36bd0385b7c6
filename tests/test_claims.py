import numpy as np
import pytest
import xarray as xr

from contrastlab.claims import paired_claim
from contrastlab.wenli.claims import wenli_claims


@pytest.mark.parametrize(
    "diffs, verdict",
    [
        ([0.5, 0.6, 0.4, 0.55], "supported"),
        ([-0.5, -0.6, -0.4], "contradicted"),
        ([0.5, -0.6, 0.1], "inconclusive"),
        ([0.5], "inconclusive"),
        ([], "inconclusive"),
    ],
)
def test_verdict_follows_the_interval(diffs, verdict):
    assert paired_claim("p", "c", "m", diffs)["verdict"] == verdict


def test_interval_is_the_t_interval():
    row = paired_claim("p", "c", "m", [1.0, 2.0, 3.0])
    # mean 2, sd 1, n 3: half width t_{0.975,2} / sqrt(3) = 4.302653 / 1.7320508
    assert row["ci_low"] == pytest.approx(2 - 2.4841377, rel=1e-6)
    assert row["cohens_d"] == pytest.approx(2.0)


def _agg(align, dense):
    """Aggregated dataset with given final median alignment / dense fraction per masking."""
    maskings = ["none", "independent", "complementary"]
    seeds = [0, 1, 2]
    rng = np.random.default_rng(0)

    def var(vals):
        v = np.array(vals)[:, None, None] + 0.01 * rng.standard_normal((3, 3, 2))
        return (("masking", "seed", "step"), v)

    return xr.Dataset(
        {"align_median": var(align), "dense_fraction": var(dense), "probe_auc": var(align)},
        coords={"masking": maskings, "seed": seeds, "step": [0, 100]},
    )


def test_wenli_claims_supported_when_the_data_agree():
    table = wenli_claims(_agg([0.2, 0.5, 0.9], [0.9, 0.7, 0.5]))
    assert len(table) == 7 and (table.verdict == "supported").all()


def test_wenli_claims_contradicted_when_the_data_disagree():
    table = wenli_claims(_agg([0.9, 0.5, 0.2], [0.5, 0.7, 0.9]))
    assert (table.verdict == "contradicted").all()


def test_wenli_claims_skip_missing_maskings():
    agg = _agg([0.2, 0.5, 0.9], [0.9, 0.7, 0.5]).sel(masking=["none", "complementary"])
    table = wenli_claims(agg)
    assert len(table) == 3 and not table.claim.str.contains("independent").any()
