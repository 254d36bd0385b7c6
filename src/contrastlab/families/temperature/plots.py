"""Figures of the temperature family (seaborn, via :mod:`contrastlab.plotting`).

Each figure is ``f(agg, path)`` on the aggregated dataset of one experiment;
any of the ``kind`` and ``temperature`` axes may be missing
(:func:`contrastlab.families.temperature.axes.standardize`). The losses that
have a temperature are drawn against tau (mean line, +-1 sd band over seeds);
Simple and HardSimple, which have none, as horizontal dashed lines with a
+-1 sd band.

References:
    - [0] Wang & Liu 2021, Understanding the Behaviour of Contrastive Loss,
      https://arxiv.org/abs/2012.09740
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from contrastlab import plotting
from contrastlab.families.temperature import axes
from contrastlab.plotting import plt, sns

KIND_ORDER = ("infonce", "hard", "simple", "hard_simple")
KIND_LABEL = {
    "infonce": "contrastive (InfoNCE)",
    "hard": "hard contrastive",
    "simple": "Simple",
    "hard_simple": "HardSimple",
}


def _prepare(agg: xr.Dataset) -> xr.Dataset:
    return axes.standardize(agg).sortby("temperature")


def _final_frame(ds: xr.Dataset, quantities: dict[str, xr.DataArray]) -> pd.DataFrame:
    """Long frame (kind, temperature, seed, value, metric) of (kind, temperature, seed) arrays."""
    frames = []
    for name, da in quantities.items():
        df = (
            da.rename("value")
            .to_dataframe()
            .reset_index()[["kind", "temperature", "seed", "value"]]
        )
        df["metric"] = name
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    df["loss"] = df["kind"].map(lambda k: KIND_LABEL.get(k, k))
    return df


def _vs_tau(ds: xr.Dataset, quantities: dict[str, xr.DataArray], path, title: str) -> None:
    """One panel per quantity: tau-dependent losses against tau, tau-free ones as lines.

    Without any tau-dependent loss, a point per loss (mean +- sd over seeds).
    """
    df = _final_frame(ds, quantities)
    free = axes.free_kinds(ds)
    order = plotting.order_of(df["loss"], [KIND_LABEL[k] for k in KIND_ORDER])
    palette = dict(zip(order, sns.color_palette("colorblind", len(order)), strict=True))
    metrics = list(quantities)
    lines = df[~df["kind"].isin(free)]
    if lines.empty:
        g = sns.catplot(
            data=df,
            x="loss",
            y="value",
            col="metric",
            col_order=metrics,
            kind="point",
            errorbar="sd",
            hue="loss",
            palette=palette,
            height=2.8,
            aspect=1.2,
            sharey=False,
        )
        g.set_titles("{col_name}", size="small")
        g.set_axis_labels("", "")
        g.figure.suptitle(title, y=1.04)
        plotting.save(g, path)
        return
    g = plotting.band_over_seeds(
        lines,
        x="temperature",
        hue="loss",
        hue_order=[o for o in order if o in set(lines["loss"])],
        palette=palette,
        col="metric",
        col_order=metrics,
        marker="o",
        facet_kws={"sharey": False},
    )
    for metric, ax in g.axes_dict.items():
        for kind in free:
            per_seed = (
                df[(df["kind"] == kind) & (df["metric"] == metric)].groupby("seed")["value"].mean()
            )
            m = float(per_seed.mean())
            sd = float(per_seed.std(ddof=1)) if len(per_seed) > 1 else 0.0
            name = KIND_LABEL.get(kind, kind)
            ax.axhline(m, color=palette[name], ls="--", label=name)
            ax.axhspan(m - sd, m + sd, color=palette[name], alpha=0.15, lw=0)
        if ds.sizes["temperature"] > 1:
            ax.set_xscale("log")
            ticks = ds["temperature"].values
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.minorticks_off()
            ax.tick_params(axis="x", labelrotation=45)
    g.set_titles("{col_name}", size="small")
    g.set_axis_labels(plotting.label(ds, "temperature"), "")
    if free:  # relplot's legend lacks the dashed lines: one legend for both
        from matplotlib.lines import Line2D

        handles = [
            Line2D([], [], color=palette[name], marker="o", label=name)
            for name in order
            if name in set(lines["loss"])
        ] + [
            Line2D(
                [],
                [],
                color=palette[KIND_LABEL.get(k, k)],
                ls="--",
                label=f"{KIND_LABEL.get(k, k)} (no tau)",
            )
            for k in free
        ]
        if g.legend is not None:
            g.legend.remove()
        g.figure.legend(
            handles=handles,
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
            title="loss",
            frameon=False,
        )
    g.figure.suptitle(title, y=1.04)
    plotting.save(g, path)


def _final(ds: xr.Dataset, var: str) -> xr.DataArray:
    return axes.final(ds, var)


def plot_penalty(agg: xr.Dataset, path) -> None:
    """Fig. 3 of [0] (analytic): r_i(s) for s ~ U[-1, 1] at every tau, and its summaries."""
    an = axes.analytic(_prepare(agg))
    curve = an["penalty_curve"].to_dataframe(name="r").reset_index()
    curve["tau"] = curve["tau"].map(lambda t: f"{t:g}")
    taus = [f"{t:g}" for t in an["tau"].values]
    fig, axs = plt.subplots(1, 3, figsize=(13, 3.4))
    for ax, logy in zip(axs[:2], (False, True), strict=True):
        sns.lineplot(
            data=curve,
            x="sim",
            y="r",
            hue="tau",
            hue_order=taus,
            errorbar="sd",
            palette="viridis",
            ax=ax,
            legend=not logy,
        )
        ax.set_xlabel(plotting.label(an, "sim"))
        ax.set_ylabel("r_i(s) [1]")
        if logy:
            ax.set_yscale("log")
    axs[0].set_title("relative penalty r_i(s), s ~ U[-1, 1]")
    axs[1].set_title("same, log scale")
    summ = an[["penalty_entropy_analytic", "hard_mass_analytic"]].to_dataframe().reset_index()
    ax = axs[2]
    sns.lineplot(
        data=summ,
        x="tau",
        y="penalty_entropy_analytic",
        marker="o",
        errorbar="sd",
        ax=ax,
        color="C0",
        label="entropy of r_i",
    )
    ax.set_ylabel("entropy of r_i [nat]", color="C0")
    ax.set_xlabel(plotting.label(an, "tau"))
    twin = ax.twinx()
    sns.lineplot(
        data=summ,
        x="tau",
        y="hard_mass_analytic",
        marker="s",
        errorbar="sd",
        ax=twin,
        color="C3",
        label="share on s > 0.9",
    )
    twin.set_ylabel("share of r_i on s > 0.9 [1]", color="C3")
    ax.set_title("hardness-awareness vs tau")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    twin.get_legend().remove()
    ax.legend(h1 + h2, l1 + l2, loc="center right", fontsize="small")
    fig.tight_layout()
    plotting.save(fig, path)


def plot_uniformity_tolerance(agg: xr.Dataset, path) -> None:
    """-L_unif and tolerance (final, held out) against tau, one line per loss."""
    ds = _prepare(agg)
    _vs_tau(
        ds,
        {
            plotting.label(ds, "neg_unif"): _final(ds, "neg_unif"),
            plotting.label(ds, "tolerance"): _final(ds, "tolerance"),
        },
        path,
        "uniformity-tolerance dilemma",
    )


def plot_probe(agg: xr.Dataset, path) -> None:
    """Linear-probe accuracy (final, held out) against tau, one line per loss."""
    ds = _prepare(agg)
    _vs_tau(
        ds,
        {plotting.label(ds, "probe_acc"): _final(ds, "probe_acc")},
        path,
        "linear probe on the frozen embedding",
    )


def plot_separation(agg: xr.Dataset, path) -> None:
    """Positive and top-10 negative similarity (final, held out) and their gap against tau."""
    ds = _prepare(agg)
    pos, neg = _final(ds, "pos_sim"), _final(ds, "neg_top_sim")
    _vs_tau(
        ds,
        {
            "positive similarity s_ii": pos,
            "mean top-10 negative similarity": neg,
            "gap: positive - top-10 negative": pos - neg,
        },
        path,
        "local separation (held out)",
    )


def plot_pca(agg: xr.Dataset, path) -> None:
    """The final held-out embedding of the first seed on its first two principal
    components, at the smallest and the largest tau of each loss, coloured by digit."""
    ds = _prepare(agg)
    seed = ds["seed"].values[0]
    taus = ds["temperature"].values
    panels = []
    for kind in plotting.order_of(ds["kind"].values.tolist(), KIND_ORDER):
        if kind in axes.free_kinds(ds):
            ok = [t for t in taus if np.isfinite(ds["pca"].sel(kind=kind, temperature=t)).all()]
            panels += [(kind, ok[0])] if ok else []
        else:
            panels += [(kind, t) for t in dict.fromkeys([taus.min(), taus.max()])]
    plotting.embedding_panels(
        [
            (
                KIND_LABEL.get(kind, kind)
                if kind in axes.free_kinds(ds)
                else f"{KIND_LABEL.get(kind, kind)}, tau = {tau:g}",
                ds["pca"].sel(kind=kind, temperature=tau, seed=seed).transpose(..., "component"),
                ds["y_test"].sel(kind=kind, temperature=tau, seed=seed).values,
            )
            for kind, tau in panels
        ],
        path,
        f"held-out embedding, first two principal components (seed {seed})",
    )


def table_summary(agg: xr.Dataset, path) -> None:
    """The paper's Table 1 on the digits: per loss and tau, the final held-out probe
    accuracy, -L_unif and tolerance (mean +- sd over seeds)."""
    from contrastlab.report import page, table_html

    ds = _prepare(agg)
    df = _final_frame(
        ds,
        {
            "probe accuracy": _final(ds, "probe_acc"),
            "-L_unif": _final(ds, "neg_unif"),
            "tolerance": _final(ds, "tolerance"),
        },
    ).dropna(subset=["value"])
    free = set(axes.free_kinds(ds))
    df.loc[df["kind"].isin(free), "temperature"] = np.nan  # tau-free losses: one row
    stats = df.groupby(["loss", "temperature", "metric"], dropna=False)["value"].agg(
        ["mean", "std"]
    )
    cells = stats.apply(lambda r: f"{r['mean']:.3f} ± {r['std']:.3f}", axis=1).unstack("metric")
    cells = cells.reset_index()
    cells["temperature"] = cells["temperature"].map(lambda t: "—" if pd.isna(t) else f"{t:g}")
    cells = cells.rename(columns={"temperature": "tau"})
    n = ds.sizes.get("seed", 0)
    body = (
        f"<p>Final values on the held-out digits, mean ± sd over {n} seeds; the losses "
        "without a temperature (Simple, HardSimple) have one row.</p>"
        + table_html(cells[["loss", "tau", "probe accuracy", "-L_unif", "tolerance"]], None)
    )
    Path(path).write_text(page("Table 1 (digits substitute): loss x tau", body))
