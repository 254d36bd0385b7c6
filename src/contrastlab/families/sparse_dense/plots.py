"""Figures of the sparse/dense family (Wen & Li 2021), drawn with the shared helpers."""

from __future__ import annotations

import numpy as np
import xarray as xr

from contrastlab.families.sparse_dense.config import MASKINGS
from contrastlab.plotting import band_over_seeds, heatmap_grid, label, long_frame, order_of, save

DYNAMICS = ("align_max", "align_median", "align_min", "dense_fraction", "probe_auc")


def plot_dynamics(agg: xr.Dataset, path) -> None:
    """Alignment (max/median/min), dense fraction and probe AUC vs step, one hue per
    masking; the band is +-1 sd over seeds (and over any other sweep axis)."""
    df = long_frame(agg, DYNAMICS)
    hue = "masking" if "masking" in df else None
    g = band_over_seeds(
        df,
        x="step",
        hue=hue,
        hue_order=order_of(df[hue], MASKINGS) if hue else None,
        col="metric",
        col_wrap=3,
        facet_kws={"sharey": False},
    )
    g.set_titles("{col_name}")
    g.set_axis_labels(label(agg["step"]), "")
    save(g, path)


def plot_cosine(agg: xr.Dataset, path, seed_index: int = 0) -> None:
    """Final |cos(w_i, M_j)| matrix (atoms x neurons) per masking, first seed.

    Neurons are sorted by the atom they align with best, then by how well,
    so a learned dictionary shows as a staircase of bright blocks.
    """
    cos = agg["cos_final"].isel(seed=seed_index)
    extra = [d for d in cos.dims if d not in ("masking", "neuron", "atom")]
    if extra:
        cos = cos.isel({d: 0 for d in extra})
    if "masking" not in cos.dims:
        cos = cos.expand_dims(masking=["(single)"])
    mats = {}
    for m in order_of(cos.masking.values.tolist(), MASKINGS):
        c = cos.sel(masking=m).transpose("atom", "neuron").values
        mats[m] = c[:, np.lexsort((-c.max(0), c.argmax(0)))]
    g = heatmap_grid(
        mats,
        "neuron i (sorted by best atom)",
        "atom j",
        title=f"final |cos(w_i, M_j)|, seed {int(agg.seed[seed_index])}",
        vmin=0,
        vmax=1,
    )
    save(g, path)
