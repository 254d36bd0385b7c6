"""Seaborn helpers every family's figures share.

Figures are files (the Agg backend, never a window). Axis labels come from the
variables' ``long_name [units]``; bands are +-1 sd over seeds (and over any
other dimension not drawn).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import xarray as xr  # noqa: E402


def label(obj: xr.DataArray | xr.Dataset, name: str | None = None) -> str:
    """``long_name [units]`` of a variable or coordinate (its name if unlabelled).

    Call as ``label(da)`` or ``label(ds, "var")``.
    """
    da = obj[name] if name is not None else obj
    text = da.attrs.get("long_name", da.name)
    units = da.attrs.get("units")
    return f"{text} [{units}]" if units else str(text)


def order_of(values, preferred=()) -> list:
    """Unique values, those in ``preferred`` first in that order, then as they come."""
    present = list(dict.fromkeys(values))
    return [v for v in preferred if v in present] + [v for v in present if v not in preferred]


def save(grid, path: str | Path) -> None:
    """Save a seaborn grid (or a matplotlib figure) to ``path`` and close it."""
    fig = getattr(grid, "figure", grid)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def long_frame(agg: xr.Dataset, variables, name: str = "metric") -> pd.DataFrame:
    """Variables of ``agg`` as one long frame with ``value`` and a ``name`` column
    holding each variable's label (for a facet per variable)."""
    frames = []
    for var in variables:
        df = agg[var].to_dataframe(name="value").reset_index()
        df[name] = label(agg[var])
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def band_over_seeds(df: pd.DataFrame, x: str, y: str = "value", **kw) -> sns.FacetGrid:
    """Mean line with a +-1 sd band over seeds: ``sns.relplot(kind="line", errorbar="sd")``.

    Extra keywords (``hue``, ``col``, ``row``, ``style``, ``facet_kws``...) go to relplot.
    """
    kw.setdefault("height", 2.8)
    kw.setdefault("aspect", 1.2)
    return sns.relplot(data=df, x=x, y=y, kind="line", errorbar="sd", **kw)


def heatmap_grid(
    mats: dict, xlabel: str, ylabel: str, title: str = "", vmin=None, vmax=None, cmap="viridis"
) -> sns.FacetGrid:
    """One heatmap per entry of ``{panel title: 2-D array}``, side by side."""
    names = list(mats)

    def draw(data, color=None):
        sns.heatmap(
            np.asarray(mats[data["panel"].iloc[0]]),
            vmin=vmin,
            vmax=vmax,
            cmap=cmap,
            cbar=True,
            ax=plt.gca(),
        )
        plt.gca().set_xticks([])

    g = sns.FacetGrid(pd.DataFrame({"panel": names}), col="panel", height=3, aspect=1.6)
    g.map_dataframe(draw)
    g.set_titles("{col_name}")
    g.set_axis_labels(xlabel, ylabel)
    if title:
        g.figure.suptitle(title, y=1.04)
    return g


def embedding_panels(panels, path: str | Path, title: str, hue: str = "digit") -> None:
    """Scatter plots of 2-D embeddings side by side (at most 4 a row), coloured by class,
    with one legend for all panels, saved to ``path``.

    Args:
        panels: ``[(panel title, points, classes), ...]``; points Shape: (n, 2) (e.g. the
            first two principal components), classes Shape: (n,) integers 0..9.
        path: the figure file.
        title: the figure's title.
        hue: the legend's title.
    """
    n = len(panels)
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    fig, axs = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), squeeze=False)
    for ax in axs.flat[n:]:
        ax.set_visible(False)
    for ax, (name, points, classes) in zip(axs.flat, panels, strict=False):
        points = np.asarray(points)
        df = pd.DataFrame(
            {"PC1": points[:, 0], "PC2": points[:, 1], hue: np.asarray(classes).astype(int)}
        )
        sns.scatterplot(
            data=df,
            x="PC1",
            y="PC2",
            hue=hue,
            palette="tab10",
            s=10,
            ax=ax,
            legend=ax is axs.flat[0],
            hue_order=list(range(10)),
            linewidth=0,
        )
        ax.set_title(name, fontsize="small")
        ax.set_aspect("equal", adjustable="datalim")
    fig.suptitle(title)
    fig.tight_layout()
    legend = axs.flat[0].get_legend()
    if legend is not None:  # one legend for all panels, outside them
        handles = legend.legend_handles
        labels = [t.get_text() for t in legend.get_texts()]
        legend.remove()
        fig.legend(
            handles,
            labels,
            title=hue,
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
            frameon=False,
            markerscale=2,
        )
    save(fig, path)
