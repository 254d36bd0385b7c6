"""The Wen & Li claims on synthetic aggregates with a known answer."""

import numpy as np
import xarray as xr

from contrastlab.families.sparse_dense.claims import CLAIMS
from contrastlab.families.sparse_dense.claims import claims as wenli_claims


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
    assert list(table.name) == list(CLAIMS)  # flat names, one row each
    assert (table.figure == "sparse_dense_dynamics").all()


def test_claims_are_named_after_the_two_maskings_and_the_quantity():
    assert list(CLAIMS) == [
        "independent_none_align",
        "independent_none_dense",
        "complementary_none_align",
        "complementary_none_dense",
        "complementary_none_probe",
        "complementary_independent_align",
        "complementary_independent_dense",
    ]
    claim, a, b, var, sign = CLAIMS["complementary_independent_dense"]
    assert (a, b, var, sign) == ("complementary", "independent", "dense_fraction", -1)
    assert claim.name == "complementary_independent_dense" and claim.test == "paired_t"


def test_wenli_claims_contradicted_when_the_data_disagree():
    table = wenli_claims(_agg([0.9, 0.5, 0.2], [0.5, 0.7, 0.9]))
    assert (table.verdict == "contradicted").all()


def test_wenli_claims_skip_missing_maskings():
    agg = _agg([0.2, 0.5, 0.9], [0.9, 0.7, 0.5]).sel(masking=["none", "complementary"])
    table = wenli_claims(agg)
    assert len(table) == 3 and not table.claim.str.contains("independent").any()
    assert list(table.name) == [
        "complementary_none_align",
        "complementary_none_dense",
        "complementary_none_probe",
    ]
