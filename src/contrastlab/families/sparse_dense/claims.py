"""The claims of Wen & Li 2021, evaluated on aggregated results."""

from __future__ import annotations

import pandas as pd
import xarray as xr

from contrastlab.claims import claims_frame, paired_claim

PAPER = "Wen & Li 2021"


def _final(agg: xr.Dataset, var: str) -> xr.DataArray:
    """Per (masking, seed) value at the last step, averaged over any other sweep axis."""
    da = agg[var].isel(step=-1)
    extra = [d for d in da.dims if d not in ("masking", "seed")]
    return da.mean(extra) if extra else da


def claims(agg: xr.Dataset) -> pd.DataFrame:
    """Paper claims as rows with per-seed paired differences (same seed = same data/init).

    Claims (positive difference = as the paper says):
      * masking (independent or complementary) gives higher median atom
        alignment than no augmentation, and a lower dense fraction;
      * stronger decoupling (complementary vs independent masks) gives a
        clearer effect: higher alignment and lower dense fraction;
      * masking makes the sparse support linearly readable (probe AUC).
    Claims whose masking values are not in the sweep are left out.
    """
    if "masking" not in agg.dims:
        return claims_frame([])
    have = set(agg.masking.values.tolist())
    align = _final(agg, "align_median")
    dense = _final(agg, "dense_fraction")
    probe = _final(agg, "probe_auc")
    rows = []

    def add(claim, measure, diffs):
        rows.append(paired_claim(PAPER, claim, measure, diffs.values))

    for m in ("independent", "complementary"):
        if {m, "none"} <= have:
            add(
                f"{m} masking learns the sparse atoms better than no augmentation",
                f"final median alignment: {m} - none",
                align.sel(masking=m) - align.sel(masking="none"),
            )
            add(
                f"{m} masking learns less of the dense features than no augmentation",
                f"final dense fraction: none - {m}",
                dense.sel(masking="none") - dense.sel(masking=m),
            )
    if {"independent", "complementary"} <= have:
        add(
            "stronger decoupling (complementary masks) gives higher alignment",
            "final median alignment: complementary - independent",
            align.sel(masking="complementary") - align.sel(masking="independent"),
        )
        add(
            "stronger decoupling (complementary masks) gives a lower dense fraction",
            "final dense fraction: independent - complementary",
            dense.sel(masking="independent") - dense.sel(masking="complementary"),
        )
    if {"complementary", "none"} <= have:
        add(
            "complementary masking makes the sparse support linearly readable",
            "final support-probe AUC: complementary - none",
            probe.sel(masking="complementary") - probe.sel(masking="none"),
        )
    return claims_frame(rows)
