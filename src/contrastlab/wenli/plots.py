"""Figures of the Wen & Li experiment (seaborn figure-level functions)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import xarray as xr  # noqa: E402

DYNAMICS = ("align_max", "align_median", "align_min", "dense_fraction", "probe_auc")
ORDER = ["none", "independent", "complementary"]


def label(da: xr.DataArray) -> str:
    """``long_name [units]`` of a variable, as xarray labels its plots."""
    units = da.attrs.get("units", "")
    name = da.attrs.get("long_name", da.name)
    return f"{name} [{units}]" if units else name


def _hue_order(values) -> list:
    present = list(dict.fromkeys(values))
    return [m for m in ORDER if m in present] + [m for m in present if m not in ORDER]


def plot_dynamics(agg: xr.Dataset, path) -> None:
    """Alignment (max/median/min), dense fraction and probe AUC vs step, one hue per
    masking; the band is +-1 sd over seeds (and over any other sweep axis)."""
    frames = []
    for var in DYNAMICS:
        df = agg[var].to_dataframe(name="value").reset_index()
        df["metric"] = label(agg[var])
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    hue = "masking" if "masking" in df else None
    g = sns.relplot(
        data=df,
        x="step",
        y="value",
        hue=hue,
        hue_order=_hue_order(df[hue]) if hue else None,
        col="metric",
        col_wrap=3,
        kind="line",
        errorbar="sd",
        height=2.8,
        aspect=1.2,
        facet_kws={"sharey": False},
    )
    g.set_titles("{col_name}")
    g.set_axis_labels(label(agg["step"]), "")
    g.savefig(path)
    plt.close(g.figure)


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
    maskings = _hue_order(cos.masking.values.tolist())

    def draw(data, color=None):
        c = cos.sel(masking=data["masking"].iloc[0]).transpose("atom", "neuron").values
        best = c.argmax(0)
        order = np.lexsort((-c.max(0), best))
        sns.heatmap(c[:, order], vmin=0, vmax=1, cmap="viridis", cbar=True, ax=plt.gca())
        plt.gca().set_xticks([])

    g = sns.FacetGrid(pd.DataFrame({"masking": maskings}), col="masking", height=3, aspect=1.6)
    g.map_dataframe(draw)
    g.set_titles("{col_name}")
    g.set_axis_labels("neuron i (sorted by best atom)", "atom j")
    g.figure.suptitle(f"final |cos(w_i, M_j)|, seed {int(agg.seed[seed_index])}", y=1.04)
    g.savefig(path)
    plt.close(g.figure)
