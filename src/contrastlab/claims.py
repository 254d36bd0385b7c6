"""Claims tables: a paper's qualitative claim, checked against the data.

Every claim is reduced to a set of per-seed differences ``d_s`` whose sign the
claim predicts (positive = as the paper says).  The verdict is read from a
two-sided 95% Student-t interval of the mean difference over seeds:

* ``supported``    -- the interval lies entirely above 0;
* ``contradicted`` -- the interval lies entirely below 0;
* ``inconclusive`` -- the interval contains 0 (or fewer than 2 seeds).

The effect size is Cohen's d of the differences (mean / sd).  Nothing is ever
forced: the verdict is whatever the numbers say.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

CLAIM_COLUMNS = [
    "paper",
    "claim",
    "measure",
    "mean_diff",
    "ci_low",
    "ci_high",
    "cohens_d",
    "n_seeds",
    "verdict",
]


def paired_claim(paper: str, claim: str, measure: str, diffs: Sequence[float] | np.ndarray) -> dict:
    """One row of a claims table from per-seed differences.

    Args:
        paper: short paper tag, e.g. ``"Wen & Li 2021"``.
        claim: the claim in words, e.g. ``"masking raises atom alignment"``.
        measure: how ``diffs`` was computed, e.g.
            ``"median alignment (complementary) - (none), final step"``.
        diffs: per-seed differences, positive when the claim holds.
            NaNs are dropped.

    Returns:
        dict with the keys of :data:`CLAIM_COLUMNS`.
    """
    d = np.asarray(diffs, dtype=float).ravel()
    d = d[np.isfinite(d)]
    n = int(d.size)
    mean = float(d.mean()) if n else math.nan
    if n >= 2:
        sd = float(d.std(ddof=1))
        half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
        lo, hi = mean - half, mean + half
        cohens_d = mean / sd if sd > 0 else math.copysign(math.inf, mean) if mean else 0.0
    else:
        lo = hi = cohens_d = math.nan
    if n >= 2 and lo > 0:
        verdict = "supported"
    elif n >= 2 and hi < 0:
        verdict = "contradicted"
    else:
        verdict = "inconclusive"
    return {
        "paper": paper,
        "claim": claim,
        "measure": measure,
        "mean_diff": mean,
        "ci_low": lo,
        "ci_high": hi,
        "cohens_d": cohens_d,
        "n_seeds": n,
        "verdict": verdict,
    }


def claims_frame(rows: Sequence[dict]) -> pd.DataFrame:
    """Stack claim rows into a table with the standard columns."""
    return pd.DataFrame(list(rows), columns=CLAIM_COLUMNS)
