"""The claims of Wen & Li 2021, declared before the run and decided on the aggregate.

Every claim compares two masking settings of the same seed (same data and initial
weights), so it is a paired per-seed contrast (:func:`contrastlab.claims.contrast`, paired
t, one-sided, alpha 0.05); any other sweep axis is a block. The setting is a synthetic
instance of the paper's data model with our constants ("design"); the claims are the
paper's (Sec. 1 and the theorems of Secs. 4-5: masking "decouples" the dense features, so
the network learns the sparse ones; the stronger the decoupling, the clearer the effect).
Claims whose masking values are not in the sweep are left out. Each is declared by name in
:data:`CLAIMS`: ``<a>_<b>_<quantity>`` for masking a against masking b (e.g.
``independent_none_align``).
"""

from __future__ import annotations

import pandas as pd
import xarray as xr

from contrastlab.claims import Claim, claims_frame, contrast, named

PAPER = "Wen & Li 2021"
SOURCE = "Sec. 1, Thms. 4.1/5.1 (feature decoupling)"
FIGURE = "sparse_dense_dynamics"


def _claim(text: str, quantity: str, min_effect: float = 0.02) -> Claim:
    """A paired contrast; an effect under 0.02 (alignment, dense fraction or AUC, all in
    [0, 1]) is too small to count."""
    return Claim(
        PAPER, text, SOURCE, "design", quantity, "paired_t", 0.05, min_effect, figure=FIGURE
    )


def _pair(a: str, b: str, texts=None) -> dict[str, tuple[Claim, str, str, str, int]]:
    """Claims of ``a`` vs ``b``, named ``<a>_<b>_<quantity>``: (claim, a, b, variable,
    +1 if a > b is predicted else -1)."""
    texts = texts or (
        f"{a} masking learns the sparse atoms better than no augmentation",
        f"{a} masking learns less of the dense features than no augmentation",
    )
    return {
        f"{a}_{b}_align": (
            _claim(texts[0], f"final median alignment: {a} - {b}"), a, b, "align_median", +1
        ),
        f"{a}_{b}_dense": (
            _claim(texts[1], f"final dense fraction: {b} - {a}"), a, b, "dense_fraction", -1
        ),
    }  # fmt: skip


# name: (claim, masking a, masking b, variable, +1 if a > b is predicted else -1); every
# claim's quantity is drawn over training in the dynamics figure.
CLAIMS: dict[str, tuple[Claim, str, str, str, int]] = named(
    {
        **_pair("independent", "none"),
        **_pair("complementary", "none"),
        "complementary_none_probe": (
            _claim(
                "complementary masking makes the sparse support linearly readable",
                "final support-probe AUC: complementary - none",
            ),
            "complementary",
            "none",
            "probe_auc",
            +1,
        ),
        **_pair(
            "complementary",
            "independent",
            (
                "stronger decoupling (complementary masks) gives higher alignment",
                "stronger decoupling (complementary masks) gives a lower dense fraction",
            ),
        ),
    }
)


def _final(agg: xr.Dataset, var: str) -> xr.DataArray:
    """Per (masking, seed, other sweep axes) value at the last step."""
    return agg[var].isel(step=-1)


def claims(agg: xr.Dataset) -> pd.DataFrame:
    """The declared claims (:data:`CLAIMS`) whose settings are in the sweep."""
    if "masking" not in agg.dims:
        return claims_frame([])
    have = set(agg.masking.values.tolist())
    rows = []
    for claim, a, b, var, sign in CLAIMS.values():
        if not {a, b} <= have:
            continue
        final = _final(agg, var)
        diffs = sign * (final.sel(masking=a) - final.sel(masking=b))
        rows.append(contrast(claim, diffs))
    return claims_frame(rows)
