"""Figures of the HLTM experiment (seaborn figure-level functions).

Every function takes the aggregated Dataset (the HLTM task's layout with the
sweep dims ``hid`` and ``delta_lower`` in front; a missing sweep dim just
drops that facet) and an output path (.svg or .png), saves the figure and
closes it. Axis labels come from the variables' ``long_name [units]``; the
band/error bars are +-1 standard deviation over seeds (the min-max range on
the log-scale covariance plot); bootstrap intervals would take seconds per grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
import xarray as xr

from contrastlab.families.hltm.claims import COLLAPSED, SWEEP_DIMS
from contrastlab.plotting import label, save


def _facets(agg: xr.Dataset) -> dict:
    """col/row keywords for the sweep dims present in ``agg``."""
    kw = {}
    if "hid" in agg.dims:
        kw["col"] = "hid"
    if "delta_lower" in agg.dims:
        kw["row"] = "delta_lower"
    return kw


def _root(agg: xr.Dataset) -> int:
    return int(agg["node"].values[np.argmax(agg["node_height"].values)])


def plot_corr_by_height(agg: xr.Dataset, path: str | Path) -> None:
    """Mean best |corr| per height vs epoch; hue = height, col/row = hid x delta_lower."""
    df = agg["best_corr_height"].to_dataframe().reset_index()
    facets = _facets(agg)
    grid = sns.relplot(
        data=df,
        kind="line",
        x="epoch",
        y="best_corr_height",
        hue="height",
        palette="viridis",
        errorbar="sd",
        height=2.6,
        aspect=1.2,
        facet_kws={"margin_titles": True},
        **facets,
    )
    grid.set_axis_labels(label(agg, "epoch"), label(agg, "best_corr_height"))
    grid.legend.set_title(label(agg, "height"))
    sns.move_legend(grid, "upper left", bbox_to_anchor=(1.0, 0.95))  # clear of row titles
    save(grid, path)


def plot_root_corr(agg: xr.Dataset, path: str | Path) -> None:
    """Root best |corr| at initialisation vs after training, x = hid, col = delta_lower."""
    corr = agg["best_corr"].sel(node=_root(agg))
    first, last = agg["epoch"].values.min(), agg["epoch"].values.max()
    parts = []
    for epoch, stage in ((first, "initialisation"), (last, f"trained ({last} epochs)")):
        part = corr.sel(epoch=epoch, drop=True).to_dataframe().reset_index()
        part["stage"] = stage
        parts.append(part)
    df = pd.concat(parts, ignore_index=True)
    for dim in SWEEP_DIMS:  # absent sweep dims: one facet
        if dim not in df:
            df[dim] = "-"
    grid = sns.catplot(
        data=df,
        kind="point",
        x="hid",
        y="best_corr",
        hue="stage",
        col="delta_lower",
        errorbar="sd",
        dodge=0.2,
        height=2.8,
        aspect=1.0,
    )
    # every trained seed as a dot; a seed whose root units died (collapsed) as a red x
    trained = df[df["stage"] != "initialisation"]
    collapsed = trained["best_corr"] < COLLAPSED
    order = list(dict.fromkeys(df["hid"]))
    for delta, ax in grid.axes_dict.items():
        cell = trained[trained["delta_lower"] == delta]
        x = cell["hid"].map({h: i for i, h in enumerate(order)}) + 0.1
        dead = cell["best_corr"] < COLLAPSED
        ax.scatter(x[~dead], cell["best_corr"][~dead], s=8, color="0.4", zorder=3)
        ax.scatter(x[dead], cell["best_corr"][dead], s=30, marker="x", color="red", zorder=4)
    n_dead = trained.loc[collapsed, "seed"].nunique()
    if n_dead:
        grid.figure.suptitle(
            f"red x: {n_dead} of {trained['seed'].nunique()} seeds collapsed in some cell "
            f"(root units died, best |corr| < {COLLAPSED})",
            y=1.05,
            fontsize=9,
        )
    hid_label = label(agg, "hid") if "hid" in agg.coords else "hid"
    grid.set_axis_labels(hid_label, "root " + label(agg, "best_corr"))
    save(grid, path)


def plot_cov_op(agg: xr.Dataset, path: str | Path) -> None:
    """Covariance-operator norm (log scale) vs epoch, mean over the nodes of each height."""
    cov = agg["cov_op_norm"].groupby(agg["node_height"]).mean("node")
    cov = cov.rename({"node_height": "height"}).rename("cov_op_norm")
    df = cov.to_dataframe().reset_index()
    grid = sns.relplot(
        data=df,
        kind="line",
        x="epoch",
        y="cov_op_norm",
        hue="height",
        palette="viridis",
        errorbar=("pi", 100),  # min-max over seeds: stays > 0 on a log axis
        height=2.6,
        aspect=1.2,
        facet_kws={"margin_titles": True},
        **_facets(agg),
    )
    grid.set(yscale="log")
    grid.set_axis_labels(label(agg, "epoch"), "")
    grid.figure.supylabel("mean " + label(agg, "cov_op_norm"), x=0.0)  # one label, no overlap
    grid.legend.set_title(label(agg, "height"))
    sns.move_legend(grid, "upper left", bbox_to_anchor=(1.0, 0.95))  # clear of row titles
    save(grid, path)
