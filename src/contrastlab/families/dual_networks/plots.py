"""Figures of the dual_networks family (seaborn, via :mod:`contrastlab.plotting`).

Each figure is ``f(agg, path)`` on the aggregated dataset of one experiment. The
``variant`` and ``beta`` axes may be missing (one point: drawn as "this run").

References:
    - [0] Tian, Yu, Chen & Ganguli 2020, Understanding Self-supervised Learning with Dual
      Deep Networks, https://arxiv.org/abs/2010.00578
"""

from __future__ import annotations

import xarray as xr

from contrastlab import plotting
from contrastlab.families.dual_networks.config import VARIANTS
from contrastlab.results import point_attr


def _axes(agg: xr.Dataset) -> xr.Dataset:
    """The aggregate with ``variant`` and ``beta`` axes (a missing one of length 1), any
    other sweep axis pooled into the seeds' band."""
    ds = agg
    if "variant" not in ds.dims:
        ds = ds.expand_dims(variant=[str(point_attr(agg, "loss_variant", "this run"))])
    else:
        ds = ds.sel(variant=plotting.order_of(ds["variant"].values.tolist(), VARIANTS))
    if "beta" not in ds.dims:
        ds = ds.expand_dims(beta=[float(point_attr(agg, "loss_beta", 0.0))])
    return ds


def plot_dynamics(agg: xr.Dataset, path) -> None:
    """Held-out probe accuracy against the step, one line per loss variant, one panel
    per beta (mean over seeds, band +-1 sd)."""
    ds = _axes(agg)
    df = ds["probe_acc"].to_dataframe(name="value").reset_index()
    g = plotting.band_over_seeds(
        df,
        x="step",
        hue="variant",
        hue_order=list(ds["variant"].values),
        col="beta",
    )
    g.set_titles("beta = {col_name}", size="small")
    g.set_axis_labels(plotting.label(ds, "step"), plotting.label(ds["probe_acc"]))
    g.figure.suptitle("linear-probe accuracy over training, per loss variant", y=1.04)
    plotting.save(g, path)


def plot_beta(agg: xr.Dataset, path) -> None:
    """Final probe accuracy and -L_unif against beta, one line per loss variant (mean
    over seeds, band +-1 sd)."""
    ds = _axes(agg).isel(step=-1)
    df = plotting.long_frame(ds, ("probe_acc", "neg_unif"))
    g = plotting.band_over_seeds(
        df,
        x="beta",
        hue="variant",
        hue_order=list(ds["variant"].values),
        col="metric",
        facet_kws={"sharey": False},
        marker="o",
    )
    g.set_titles("{col_name}", size="small")
    g.set_axis_labels("beta", "")
    g.figure.suptitle("after training, against beta", y=1.04)
    plotting.save(g, path)
