"""The qualitative claims of Tian et al. 2020, Sec. 6 (HLTM), decided on a sweep.

Each claim is declared below (:data:`CLAIMS`: quantity, direction, test, alpha, minimum
effect) before any run, and decided by :mod:`contrastlab.claims` using the sweep's design:
for one seed all cells of the sweep share the tree and data streams (see
:mod:`contrastlab.families.hltm.data`), so comparisons are paired per seed, and the other
sweep axis is a block:

1. training raises the root correlation: best_corr(root, last epoch) - (epoch 0), paired t
   over seeds, every (hid, delta_lower) cell a block;
2. more over-parameterisation gives a higher root correlation: Page's trend test over the
   ``hid`` levels, blocks = seed x delta_lower;
3. stronger polarity gives a higher root correlation: Page's test over ``delta_lower``,
   blocks = seed x hid;
4. latents nearer the root are harder: Page's test of the final mean best corr falling with
   height (1 = parents of the leaves .. L = root), blocks = seed x sweep cell;
5. the covariance operator grows during training: log10(cov_op_norm(root, last) / (epoch 0)),
   paired t, with a minimum effect of one order of magnitude.

Degenerate runs: a seed *collapses* in a cell when its root units die (final root best_corr
below :data:`COLLAPSED`); the rows count such seeds (mostly at hid = 2) instead of hiding
them in a wider interval. An axis with a single value (or missing) leaves its claim
inconclusive with n = 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from contrastlab.claims import Claim, claims_frame, contrast, named, trend

PAPER = "Tian et al. 2020"
SWEEP_DIMS = ("hid", "delta_lower")
COLLAPSED = 0.05  # final root best |corr| below this: the root units died


ROOT_FIG = "hltm_root_corr"


def _claim(text: str, quantity: str, test: str, figure: str, min_effect: float = 0.0) -> Claim:
    return Claim(PAPER, text, "Sec. 6 (root-correlation table)", "paper", quantity, test,
                 alpha=0.05, min_effect=min_effect, figure=figure)  # fmt: skip


# name: the declared claim, with the family's figure that shows its quantity.
CLAIMS: dict[str, Claim] = named(
    {
        "training": _claim(
            "training raises the correlation of the root node with the root latent",
            "best_corr(root): last epoch - epoch 0, per seed (blocks: sweep cells)",
            "paired_t",
            ROOT_FIG,
        ),
        "hid": _claim(
            "more over-parameterisation (hid) gives higher root correlation",
            "best_corr(root, last epoch) rising with hid (effect: largest - smallest hid)",
            "page",
            ROOT_FIG,
        ),
        "polarity": _claim(
            "stronger polarity (larger delta_lower) gives higher root correlation",
            "best_corr(root, last epoch) rising with delta_lower (effect: largest - smallest)",
            "page",
            ROOT_FIG,
        ),
        "depth": _claim(
            "latents nearer the root are harder (lower correlation)",
            "mean best_corr at the last epoch falling with height (effect: height 1 - root)",
            "page",
            "hltm_corr_by_height",
        ),
        "cov_op": _claim(
            "the covariance operator of the root grows during training",
            "log10(cov_op_norm(root): last epoch / epoch 0), per seed (blocks: sweep cells)",
            "paired_t",
            "hltm_cov_op",
            min_effect=1.0,  # "orders of magnitude": at least one
        ),
    }
)


def collapsed_seeds(agg: xr.Dataset) -> xr.DataArray:
    """Per sweep cell and seed: the root units died (final root best_corr < COLLAPSED)."""
    root = int(agg["node"].values[np.argmax(agg["node_height"].values)])
    return agg["best_corr"].sel(node=root).isel(epoch=-1) < COLLAPSED


def _collapse_note(collapsed: xr.DataArray) -> str:
    by_seed = collapsed.any([d for d in collapsed.dims if d != "seed"])
    n = int(by_seed.sum())
    if not n:
        return ""
    where = []
    for dim in SWEEP_DIMS:
        if dim in collapsed.dims:
            hit = collapsed.any([d for d in collapsed.dims if d != dim])
            where.append(f"{dim} {', '.join(str(v) for v in collapsed[dim].values[hit.values])}")
    return f"{n} of {by_seed.size} seeds collapsed (root units died; {'; '.join(where)})"


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
    by_height = agg["best_corr_height"].sel(epoch=last)
    cov_root = agg["cov_op_norm"].sel(node=root)
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.log10(cov_root.sel(epoch=last) / cov_root.sel(epoch=first))
    note = _collapse_note(collapsed_seeds(agg))

    def ordered(da: xr.DataArray, dim: str) -> xr.DataArray:
        return da.sortby(dim) if dim in da.dims else da

    rows = [
        contrast(CLAIMS["training"], final - corr_root.sel(epoch=first), note),
        trend(CLAIMS["hid"], ordered(final, "hid"), "hid", degenerate=note),
        trend(CLAIMS["polarity"], ordered(final, "delta_lower"), "delta_lower", degenerate=note),
        trend(
            CLAIMS["depth"],
            ordered(by_height, "height"),
            "height",
            increasing=False,
            degenerate=note,
        ),  # fmt: skip
        contrast(CLAIMS["cov_op"], growth.where(np.isfinite(growth)), note),
    ]
    return claims_frame(rows)
