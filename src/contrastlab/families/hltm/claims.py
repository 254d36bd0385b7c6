"""The qualitative claims of Tian et al. 2020, Sec. 6 (HLTM), checked on a sweep.

Every claim becomes per-seed differences (positive = as the paper says) fed to
:func:`contrastlab.claims.paired_claim`, which gives the verdict from a 95%
t-interval over seeds; nothing is forced. A seed's difference averages over
the sweep cells the claim does not compare (the other sweep axis), so
``n_seeds`` is the number of seeds, and for one seed all cells share the tree
and data streams (see :mod:`contrastlab.families.hltm.data`), which makes the
comparisons paired.

Claims (paper = "Tian et al. 2020"):

1. training raises the root correlation: best_corr(root, last epoch) -
   best_corr(root, epoch 0);
2. more over-parameterisation gives a higher root correlation:
   best_corr(root, last epoch) at the largest ``hid`` - at the smallest;
3. stronger polarity gives a higher root correlation: the same across
   ``delta_lower`` (largest - smallest);
4. latents nearer the root are harder (lower correlation): mean best corr at
   height 1 - mean best corr at the root height, last epoch;
5. the covariance operator grows during training: log10(cov_op_norm(root,
   last) / cov_op_norm(root, 0)).

A sweep axis with a single value (or missing) makes claim 2 or 3 impossible
to test: its row is kept, with no differences, so ``n_seeds = 0`` and the
verdict is ``inconclusive``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from contrastlab.claims import claims_frame, paired_claim

PAPER = "Tian et al. 2020"
SWEEP_DIMS = ("hid", "delta_lower")


def _per_seed(da: xr.DataArray) -> np.ndarray:
    """Average over every dim but ``seed`` (NaN-aware), one value per seed."""
    other = [d for d in da.dims if d != "seed"]
    return da.mean(dim=other, skipna=True).transpose("seed").values


def _extreme_diff(da: xr.DataArray, dim: str) -> np.ndarray:
    """Per-seed (largest - smallest value of ``dim``), or empty if ``dim`` has < 2 values."""
    if dim not in da.dims or da.sizes[dim] < 2:
        return np.array([])
    vals = np.sort(da[dim].values)
    return _per_seed(da.sel({dim: vals[-1]}) - da.sel({dim: vals[0]}))


def claims(agg: xr.Dataset) -> pd.DataFrame:
    """Claims table of the HLTM sweep.

    Args:
        agg: the aggregated metrics: the HLTM task's (:mod:`contrastlab.families.hltm.task`)
            Dataset with sweep dims ``hid`` and ``delta_lower`` in front (a
            missing sweep dim is treated as a single value).

    Returns:
        One row per claim, columns :data:`contrastlab.claims.CLAIM_COLUMNS`.
    """
    for dim in ("seed", "epoch", "node", "height"):
        if dim not in agg.dims:
            raise ValueError(f"aggregated dataset lacks the {dim!r} dim")
    root = int(agg["node"].values[np.argmax(agg["node_height"].values)])
    first, last = agg["epoch"].values.min(), agg["epoch"].values.max()
    corr_root = agg["best_corr"].sel(node=root)
    final = corr_root.sel(epoch=last)
    heights = agg["height"].values
    by_height = agg["best_corr_height"].sel(epoch=last)
    cov_root = agg["cov_op_norm"].sel(node=root)
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.log10(cov_root.sel(epoch=last) / cov_root.sel(epoch=first))

    rows = [
        paired_claim(
            PAPER,
            "training raises the correlation of the root node with the root latent",
            f"best_corr(root): epoch {last} - epoch {first}, mean over the sweep grid",
            _per_seed(final - corr_root.sel(epoch=first)),
        ),
        paired_claim(
            PAPER,
            "more over-parameterisation (hid) gives higher root correlation",
            f"best_corr(root, epoch {last}): largest hid - smallest hid, mean over delta_lower",
            _extreme_diff(final, "hid"),
        ),
        paired_claim(
            PAPER,
            "stronger polarity (larger delta_lower) gives higher root correlation",
            f"best_corr(root, epoch {last}): largest delta_lower - smallest, mean over hid",
            _extreme_diff(final, "delta_lower"),
        ),
        paired_claim(
            PAPER,
            "latents nearer the root are harder (lower correlation)",
            f"mean best_corr at height {heights.min()} - at height {heights.max()} (root), "
            f"epoch {last}, mean over the sweep grid",
            _per_seed(by_height.sel(height=heights.min()) - by_height.sel(height=heights.max()))
            if heights.size > 1
            else np.array([]),
        ),
        paired_claim(
            PAPER,
            "the covariance operator of the root grows during training",
            f"log10(cov_op_norm(root, epoch {last}) / cov_op_norm(root, epoch {first})), "
            "mean over the sweep grid",
            _per_seed(growth.where(np.isfinite(growth))),
        ),
    ]
    return claims_frame(rows)
