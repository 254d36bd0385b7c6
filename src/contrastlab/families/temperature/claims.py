"""The claims of Wang & Liu 2021, declared before the run and decided on the aggregate.

Every claim is a :class:`contrastlab.claims.Claim` declared in :data:`CLAIMS` with its
quantity, direction, test and smallest effect that counts; the verdict is whatever the
numbers say. The seed is the unit of replication (all settings of a seed share its
digits split, initial weights and analytic draws); any sweep axis other than ``kind`` and
``temperature`` is a block.

* analytic (the paper's exact setting, s ~ U[-1, 1], Fig. 3): as tau grows the entropy of
  the relative penalty r_i rises, its share on the hardest negatives (s > 0.9) falls and
  it approaches the uniform penalty of the simple loss -- Page's trend test over the tau
  grid, every seed a block;
* trained (the digits substitute: "design"), the ordinary loss (``infonce``), the final
  held-out evaluation: uniformity -L_unif falls, tolerance rises, the positive
  similarity rises and the positive - top-10 negative gap narrows as tau grows -- Page's
  trend test over the swept temperatures;
* the probe accuracy is a reverse U in tau: per seed, the mean accuracy over the interior
  temperatures of the grid within the paper's best band [0.2, 0.5] minus the better of
  the two ends of the grid (paired t);
* the simple loss is the least uniform: the smallest -L_unif of every other loss at any
  tau minus the simple loss's (paired t);
* the hard loss keeps uniformity nearly flat in tau: an equivalence (two one-sided
  t-tests, :func:`contrastlab.claims.equivalence`) of the spread (max - min over tau) of the
  hard loss's final held-out -L_unif with 0, margin 0.1 (in -L_unif units, range 0..4;
  declared before any run). The spread is >= 0, so the test reduces to "the spread is
  below 0.1, significantly"; every seed's spread is over its own temperatures (paired).

A claim whose losses or temperatures are not in the aggregate is left out. A trend's
effect is Page's statistic as a correlation (-1..1); its ``span`` (the value at the
largest tau minus the one at the smallest, in the claimed direction) must reach the
smallest effect that counts. The three analytic claims do not depend on training or on
the experiment (``trained=False``): a config tests them in one experiment only (the
others list the rest in their ``claims`` key).

References:
    - [0] Wang & Liu 2021, Understanding the Behaviour of Contrastive Loss,
      https://arxiv.org/abs/2012.09740
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from contrastlab.claims import Claim, claims_frame, contrast, equivalence, named, trend
from contrastlab.families.temperature import axes

PAPER = "Wang & Liu 2021"
BEST_BAND = (0.2, 0.5)  # the paper: accuracy is best around tau = 0.2 - 0.5


PENALTY = "temperature_penalty"
UNIF_TOL = "temperature_uniformity_tolerance"
SEPARATION = "temperature_separation"


def _claim(text, source, setting, quantity, test, min_effect, figure, trained=True) -> Claim:
    return Claim(
        PAPER,
        text,
        source,
        setting,
        quantity,
        test,
        0.05,
        min_effect,
        figure=figure,
        trained=trained,
    )


# name: (claim, variable or None, +1 = rises with tau / -1 = falls / 0 = an equivalence).
# Smallest effects that count: 0 for the exact analytic quantities; 0.05 for -L_unif
# (range 0..4), 0.1 as the margin of the hard loss's flatness; 0.02 for cosine
# similarities (range -1..1); 0.005 for the probe accuracy (2 of 360 digits).
CLAIMS: dict[str, tuple[Claim, str | None, int]] = named(
    {
        "entropy": (
            _claim(
                "the relative penalty r_i spreads out as tau grows (its entropy rises)",
                "Sec. 3, Fig. 3",
                "paper",
                "entropy of r_i over s ~ U[-1, 1] (analytic), rising with tau",
                "page",
                0.0,
                PENALTY,
                trained=False,
            ),
            "penalty_entropy_analytic",
            +1,
        ),
        "hard_mass": (
            _claim(
                "the penalty on the hardest negatives falls as tau grows",
                "Sec. 3, Fig. 3",
                "paper",
                "share of r_i on negatives with s > 0.9 (analytic), falling with tau",
                "page",
                0.0,
                PENALTY,
                trained=False,
            ),
            "hard_mass_analytic",
            -1,
        ),
        "uniform_limit": (
            _claim(
                "as tau grows the penalty approaches the uniform one of the simple loss",
                "Sec. 3 (tau -> inf limit)",
                "paper",
                "total variation of r_i from uniform (analytic), falling with tau",
                "page",
                0.0,
                PENALTY,
                trained=False,
            ),
            "penalty_tv_uniform",
            -1,
        ),
        "uniformity": (
            _claim(
                "uniformity falls as tau grows (infonce)",
                "Sec. 4 (uniformity vs tau)",
                "design",
                "final held-out -L_unif (t = 2) of infonce, falling with tau",
                "page",
                0.05,
                UNIF_TOL,
            ),
            "neg_unif",
            -1,
        ),
        "tolerance": (
            _claim(
                "tolerance rises as tau grows (infonce)",
                "Sec. 4 (tolerance vs tau)",
                "design",
                "final held-out mean same-class cosine of infonce, rising with tau",
                "page",
                0.02,
                UNIF_TOL,
            ),
            "tolerance",
            +1,
        ),
        "positive": (
            _claim(
                "the positive similarity rises as tau grows (infonce)",
                "Sec. 4 (local separation)",
                "design",
                "final held-out positive similarity s_ii of infonce, rising with tau",
                "page",
                0.02,
                SEPARATION,
            ),
            "pos_sim",
            +1,
        ),
        "gap": (
            _claim(
                "the positive - top-10 negative similarity gap narrows as tau grows (infonce)",
                "Sec. 4 (local separation)",
                "design",
                "final held-out positive - mean top-10 negative similarity of infonce, "
                "falling with tau",
                "page",
                0.02,
                SEPARATION,
            ),
            None,
            -1,
        ),
        "probe": (
            _claim(
                "the probe accuracy is highest at an intermediate tau (reverse U)",
                "Sec. 4, Table 1 (accuracy vs tau)",
                "design",
                "final probe accuracy of infonce: mean over the interior tau in [0.2, 0.5] - "
                "max(smallest tau, largest tau)",
                "paired_t",
                0.005,
                "temperature_probe",
            ),
            "probe_acc",
            +1,
        ),
        "simple": (
            _claim(
                "the simple loss is the least uniform",
                "Sec. 4 (simple loss)",
                "design",
                "final held-out -L_unif: min over every other loss and tau - simple",
                "paired_t",
                0.05,
                "temperature_table1",
            ),
            "neg_unif",
            +1,
        ),
        "hard_flat": (
            _claim(
                "the hard loss keeps uniformity nearly flat in tau",
                "Sec. 5 (hard contrastive loss)",
                "design",
                "spread (max - min over tau) of final held-out -L_unif (t = 2) of the hard "
                "loss, per seed: within the margin 0.1 of 0 (TOST)",
                "tost",
                0.1,
                UNIF_TOL,
            ),
            "neg_unif",
            0,
        ),
    }
)


def _analytic_rows(ds: xr.Dataset) -> list[dict]:
    an = axes.analytic(ds)
    if "tau" not in an.dims or an.sizes["tau"] < 2:
        return []
    an = an.sortby("tau")
    rows = []
    for name in ("entropy", "hard_mass", "uniform_limit"):
        claim, var, direction = CLAIMS[name]
        rows.append(trend(claim, an[var], "tau", increasing=direction > 0))
    return rows


def _trend_rows(ds: xr.Dataset) -> list[dict]:
    if "infonce" not in axes.tau_kinds(ds) or ds.sizes["temperature"] < 2:
        return []
    rows = []
    for name in ("uniformity", "tolerance", "positive", "gap"):
        claim, var, direction = CLAIMS[name]
        if var is None:  # the gap
            values = axes.final(ds, "pos_sim") - axes.final(ds, "neg_top_sim")
        else:
            values = axes.final(ds, var)
        values = values.sel(kind="infonce", drop=True)
        rows.append(trend(claim, values, "temperature", increasing=direction > 0))
    return rows


def _flat_rows(ds: xr.Dataset) -> list[dict]:
    if "hard" not in axes.tau_kinds(ds) or ds.sizes["temperature"] < 2:
        return []
    claim, var, _ = CLAIMS["hard_flat"]
    hard = axes.final(ds, var).sel(kind="hard", drop=True)
    return [equivalence(claim, hard.max("temperature") - hard.min("temperature"))]


def _probe_rows(ds: xr.Dataset) -> list[dict]:
    taus = np.asarray(ds["temperature"].values, dtype=np.float64)
    if "infonce" not in axes.tau_kinds(ds) or taus.size < 3:
        return []
    lo, hi = taus.min(), taus.max()
    band = [t for t in taus if BEST_BAND[0] <= t <= BEST_BAND[1] and lo < t < hi]
    if not band:
        return []
    claim, var, _ = CLAIMS["probe"]
    acc = axes.final(ds, var).sel(kind="infonce", drop=True)
    mid = acc.sel(temperature=band).mean("temperature")
    ends = np.maximum(acc.sel(temperature=lo, drop=True), acc.sel(temperature=hi, drop=True))
    return [contrast(claim, mid - ends)]


def _simple_rows(ds: xr.Dataset) -> list[dict]:
    kinds = ds["kind"].values.tolist()
    if "simple" not in kinds or len(kinds) < 2:
        return []
    claim, var, _ = CLAIMS["simple"]
    unif = axes.final(ds, var)
    others = [k for k in kinds if k != "simple"]
    least_other = unif.sel(kind=others).min(("kind", "temperature"))
    simple = unif.sel(kind="simple", drop=True).mean("temperature", skipna=True)
    return [contrast(claim, least_other - simple)]


def claims(agg: xr.Dataset) -> pd.DataFrame:
    """The declared claims (:data:`CLAIMS`) that the aggregate's losses and
    temperatures allow.

    Args:
        agg: the aggregated dataset; the ``kind`` and ``temperature`` axes may be missing.

    Returns:
        The table of :func:`contrastlab.claims.claims_frame`.
    """
    ds = axes.standardize(agg, average_extra=False).sortby("temperature")
    rows = (
        _analytic_rows(ds) + _trend_rows(ds) + _flat_rows(ds) + _probe_rows(ds) + _simple_rows(ds)
    )
    return claims_frame(rows)
