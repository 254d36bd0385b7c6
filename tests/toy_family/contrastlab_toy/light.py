"""Figure and claim of the toy family: no torch here (the light rules run without it)."""

from __future__ import annotations

from contrastlab.claims import Claim, claims_frame, contrast
from contrastlab.plotting import band_over_seeds, save

CLAIM = Claim(
    "toy", "training raises the probe accuracy", "n/a", "design", "final - initial", "paired_t"
)


def claims(agg):
    gain = agg["probe_acc"].isel(step=-1) - agg["probe_acc"].isel(step=0)
    return claims_frame([contrast(CLAIM, gain)])


def plot_probe(agg, path):
    df = agg["probe_acc"].to_dataframe(name="value").reset_index()
    save(band_over_seeds(df, x="step"), path)


def table(agg, path):
    from pathlib import Path

    from contrastlab.report import page, table_html

    df = agg["probe_acc"].isel(step=-1).to_dataframe(name="final probe accuracy").reset_index()
    Path(path).write_text(page("toy", table_html(df, None)))
