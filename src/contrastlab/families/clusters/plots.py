"""Figures of the clusters family (HaoChen & Ma 2023), drawn with the shared helpers.

Every function takes the aggregated Dataset and an output path. The encoder and k
of every sweep point are read from its config (:func:`.claims.point_configs`), so
a figure works whichever axes were swept (one point gives one marker). Lines are
means over seeds, bands +-1 sd; with a lambda grid, values are taken at the
lambda of each seed's smallest final phi.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from contrastlab.families.clusters.claims import MODEL_AXES, architecture, point_configs
from contrastlab.plotting import band_over_seeds, label, order_of, save

PROBES = ("mse_x1", "mse_lin", "mse_cluster", "mse_sub")


def _arch(agg: xr.Dataset, point: dict, cfg) -> str:
    """The encoder's name, plus the values of other swept axes (with more than one value)."""
    extra = [f"{a}={v}" for a, v in point.items() if a not in MODEL_AXES and agg.sizes[a] > 1]
    return ", ".join([architecture(cfg), *extra])


def _lam_at_best(sub: xr.Dataset) -> xr.Dataset:
    """The point's variables at each seed's lambda of the smallest final phi."""
    if "lam" not in sub.dims:
        return sub
    if sub.sizes["lam"] == 1:
        return sub.isel(lam=0, drop=True)
    p = sub["phi"].isel(step=-1).transpose("seed", "lam").values
    finite = np.isfinite(p)
    idx = np.where(finite.any(-1), np.argmin(np.where(finite, p, np.inf), -1), 0)
    pick = xr.DataArray(idx, dims="seed", coords={"seed": sub.seed.values})
    return sub.isel(lam=pick, drop=True)


def _frame(agg: xr.Dataset, variables, final: bool, lam: str = "best") -> pd.DataFrame:
    """Long frame: one row per (point, seed[, step], variable) with k and the encoder's name.

    ``lam``: ``best`` takes each seed's lambda of the smallest final phi, ``min`` the
    minimum of the variable over the lambda grid.
    """
    frames = []
    for point, cfg in point_configs(agg):
        sub = agg.sel(point) if point else agg
        sub = _lam_at_best(sub) if lam == "best" else sub
        if final:
            sub = sub.isel(step=-1)
        for var in variables:
            da = sub[var]
            if "lam" in da.dims:  # lam == "min"
                da = da.min("lam")
            keep = [d for d in da.dims if d in ("seed", "step")]
            da = da.mean([d for d in da.dims if d not in keep]) if set(da.dims) - set(keep) else da
            df = da.to_dataframe(name="value").reset_index()[[*keep, "value"]]
            df["metric"] = label(agg[var])
            df["k"] = cfg.k
            df["encoder"] = _arch(agg, point, cfg)
            df["kind"] = cfg.data_kind
            frames.append(df)
    if not frames:
        return pd.DataFrame(columns=["seed", "value", "metric", "k", "encoder", "kind"])
    return pd.concat(frames, ignore_index=True)


def _k_axis(g, ks) -> None:
    ks = sorted(set(int(k) for k in ks))
    for ax in g.axes.flat:
        if len(ks) > 2 and ks[-1] / ks[0] >= 8:
            ax.set_xscale("log", base=2)
        ax.set_xticks(ks)
        ax.set_xticklabels([str(k) for k in ks])
        ax.minorticks_off()


PROBE_TITLES = {
    "mse_x1": "y = x_1",
    "mse_lin": "y = v^T x_(1..s)",
    "mse_cluster": "cluster one-hot",
    "mse_sub": "sub-cluster one-hot",
}


def plot_probe(agg: xr.Dataset, path) -> None:
    """Final held-out probe relative MSE vs k, hue = encoder, one panel per label (same
    y scale: the fraction of the label's variance left unexplained)."""
    present = [v for v in PROBES if v in agg and np.isfinite(agg[v].values).any()]
    df = _frame(agg, present, final=True).dropna(subset=["value"])
    titles = {label(agg[v]): PROBE_TITLES[v] for v in present}
    df["label"] = df["metric"].map(titles)
    g = band_over_seeds(
        df,
        x="k",
        hue="encoder",
        hue_order=order_of(df["encoder"]),
        col="label",
        col_order=[PROBE_TITLES[v] for v in present],
        col_wrap=min(len(present), 4),
        marker="o",
    )
    g.set_titles("{col_name}")
    g.set_axis_labels("output dimension k", "probe relative MSE [1]")
    for ax in g.axes.flat:
        ax.set_ylim(-0.03, max(1.03, float(df["value"].max()) + 0.03))
    _k_axis(g, df["k"])
    save(g, path)


def plot_angle(agg: xr.Dataset, path) -> None:
    """Largest principal angle to span(e_1..e_s) vs step for the linear encoders, hue = k
    (drawn only for an experiment with a linear encoder on the hypercube:
    :func:`contrastlab.families.clusters.linear_on_hypercube`)."""
    df = _frame(agg, ["angle_max"], final=False).dropna(subset=["value"])
    df["k"] = "k = " + df["k"].astype(str)
    g = band_over_seeds(
        df,
        x="step",
        hue="k",
        hue_order=order_of(df["k"]),
        col="encoder" if df["encoder"].nunique() > 1 else None,
    )
    g.set_axis_labels(label(agg["step"]), label(agg["angle_max"]))
    for ax in g.axes.flat:
        ax.set_ylim(bottom=0)
    save(g, path)


def plot_phi(agg: xr.Dataset, path) -> None:
    """Final phi_m (minimum over the lambda grid) vs m = k, hue = encoder.

    Where phi is undefined at every point and seed (every output collapsed: E[ff^T] rank
    deficient at every lambda), the figure shows the result instead: the held-out whitening
    residual |E ff^T - I|_F^2 (the least over the lambda grid; each collapsed direction
    adds about 1) against m.
    """
    df = _frame(agg, ["phi_min"], final=True).dropna(subset=["value"])
    y_label, title = label(agg["phi_min"]), None
    if df.empty:
        df = _frame(agg, ["loss_reg"], final=True, lam="min").dropna(subset=["value"])
        y_label = "least " + label(agg["loss_reg"])
        title = (
            "phi_m undefined at every point (collapsed outputs);\n"
            "shown: their distance from whitened (~1 per collapsed direction)"
        )
    col = "kind" if df["kind"].nunique() > 1 else None
    g = band_over_seeds(
        df, x="k", hue="encoder", hue_order=order_of(df["encoder"]), col=col, marker="o"
    )
    g.set_axis_labels("m (output dimension k)", y_label)
    _k_axis(g, df["k"])
    if title:
        g.figure.suptitle(title, y=1.1, fontsize=9)
    save(g, path)


def table_phi(agg: xr.Dataset, path) -> None:
    """The paper's Table 1 layout: phi_m (minimum over the lambda grid) per encoder and
    m = k, mean +- sd over seeds (seeds whose phi is undefined are left out, and counted)."""
    from contrastlab.report import page, table_html

    df = _frame(agg, ["phi_min"], final=True)  # every point has a row (NaN: undefined)
    g = df.groupby(["encoder", "k"])["value"]
    stats = g.agg(["mean", "std"]).join(g.apply(lambda v: int(v.isna().sum())).rename("nan"))
    cells = stats.apply(
        lambda r: (
            ("undefined" if pd.isna(r["mean"]) else f"{r['mean']:.3f} ± {r['std']:.3f}")
            + (f" ({int(r['nan'])} seeds undefined)" if r["nan"] else "")
        ),
        axis=1,
    )
    table = cells.unstack("k")
    table.columns = [f"m = {k}" for k in table.columns]
    body = (
        "<p>phi_m: the whitened positive-pair distance of the learned m-dimensional "
        "features, at each seed's best lambda of the grid (smaller = the encoder's partition "
        "leaks less across positive pairs); mean ± sd over seeds. The paper's Table 1 shows "
        "phi_m rising with m for every encoder.</p>" + table_html(table.reset_index(), None)
    )
    Path(path).write_text(page("phi_m by encoder and m (Table 1 layout)", body))
