"""Figures of the digits_augment family (seaborn, via :mod:`contrastlab.plotting`).

Each figure is ``f(agg, path)`` on the aggregated dataset of one experiment. The
``strength`` axis may be missing (one strength, drawn as "this run"); any other sweep
axis is pooled into the band (training curves) or held at its first value (embedding).

References:
    - [0] Wen & Li 2021, Toward Understanding the Feature Learning Process of
      Self-supervised Contrastive Learning, https://arxiv.org/abs/2105.15134
"""

from __future__ import annotations

import xarray as xr

from contrastlab import plotting
from contrastlab.families.digits_augment.config import STRENGTHS

CURVES = ("probe_acc", "neg_unif", "align")


def _by_strength(agg: xr.Dataset) -> xr.Dataset:
    """The aggregate with a ``strength`` axis in the order none, weak, strong."""
    if "strength" not in agg.dims:
        return agg.expand_dims(strength=["this run"])
    order = plotting.order_of(agg["strength"].values.tolist(), STRENGTHS)
    return agg.sel(strength=order)


def plot_dynamics(agg: xr.Dataset, path) -> None:
    """Probe accuracy, -L_unif and alignment (held out) against the step, one line per
    strength (mean over seeds, band +-1 sd)."""
    ds = _by_strength(agg)
    df = plotting.long_frame(ds, CURVES)
    g = plotting.band_over_seeds(
        df,
        x="step",
        hue="strength",
        hue_order=list(ds["strength"].values),
        col="metric",
        facet_kws={"sharey": False},
    )
    g.set_titles("{col_name}", size="small")
    g.set_axis_labels(plotting.label(ds, "step"), "")
    g.figure.suptitle("held-out metrics over training, per augmentation strength", y=1.04)
    plotting.save(g, path)


def plot_embedding(agg: xr.Dataset, path) -> None:
    """The final held-out embedding of the first seed on its first two principal
    components, one panel per strength, coloured by digit."""
    ds = _by_strength(agg)
    keep = ("strength", "seed", "test_sample", "component")
    ds = ds.isel({d: 0 for d in ds["pca"].dims if d not in keep})
    seed = ds["seed"].values[0]
    panels = []
    for strength in ds["strength"].values:
        pt = ds.sel(strength=strength, seed=seed)
        acc = float(pt["probe_acc"].isel(step=-1))
        panels.append(
            (
                f"{strength} augmentation (probe {acc:.3f})",
                pt["pca"].transpose("test_sample", "component").values,
                pt["y_test"].values,
            )
        )
    plotting.embedding_panels(
        panels, path, f"held-out embedding, first two principal components (seed {seed})"
    )


def plot_factors(agg: xr.Dataset, path) -> None:
    """The final held-out probe accuracy of every nuisance factor of ``shapes`` (the fixed
    noise pattern first: Wen & Li's dense feature), one point per strength (mean over
    seeds, bar +-1 sd), the factor's chance level as a grey tick."""
    import seaborn as sns

    ds = _by_strength(agg)
    ds = ds.isel({d: 0 for d in ds["factor_probe"].dims if d not in ("strength", "seed", "factor")})
    df = ds["factor_probe"].to_dataframe(name="accuracy").reset_index()
    chance = ds["factor_chance"].mean([d for d in ds["factor_chance"].dims if d != "factor"])
    g = sns.catplot(
        data=df,
        x="factor",
        y="accuracy",
        hue="strength",
        hue_order=list(ds["strength"].values),
        kind="point",
        errorbar="sd",
        dodge=0.4 if ds.sizes["strength"] > 1 else False,
        linestyle="none",
        height=3.2,
        aspect=1.6,
    )
    ax = g.ax
    for i, factor in enumerate(ds["factor"].values):
        ax.hlines(float(chance.sel(factor=factor)), i - 0.35, i + 0.35, colors="grey")
    g.set_axis_labels("nuisance factor of the shapes", "final probe accuracy (held out) [1]")
    g.figure.suptitle("what the representation keeps of each nuisance factor", y=1.04)
    plotting.save(g, path)
