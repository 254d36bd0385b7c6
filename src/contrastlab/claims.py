"""Claims tables: a paper's claim, declared before the run, decided by the sweep's data.

A family declares each claim as a :class:`Claim` in its code: the words, where in the
paper it comes from, whether the setting is the paper's or our design, the quantity, the
test, the level alpha and the smallest effect that counts. Nothing is tuned after seeing
the data; the verdict is whatever the numbers say:

* ``supported``    -- significant (one-sided, at alpha) in the claimed direction and the
  mean effect is at least ``min_effect``;
* ``contradicted`` -- significant in the opposite direction, with an effect at least
  ``min_effect`` the other way;
* ``inconclusive`` -- neither (too few seeds, or too small/variable an effect).

The design of the sweep is used. The seed is the unit of replication: all settings of one
seed share its data, tree or initial draw, so settings are compared **paired, per seed**.
Other sweep axes are **blocks**:

* :func:`contrast` (two settings): per seed, the difference averaged over the blocks (the
  between-seed variation is the right error term for the mean effect), tested with a
  one-sided paired t-test (``paired_t``) or Wilcoxon signed-rank test (``wilcoxon``); the
  table also says in how many blocks the mean difference has the claimed sign;
* :func:`trend` (an ordering over three or more levels): Page's L test
  (``scipy.stats.page_trend_test``), ranking the levels within every (seed x block) cell
  against the predicted order; one test, so no multiple-comparison correction is needed.

For every claim the table gives n (seeds), the effect (mean per-seed difference; for a
trend, last level - first level) with its 95% t-interval, the p-value, and the number of
seeds a one-sided paired t-test at alpha would need for power 0.8 at the observed effect
and spread (``statsmodels``), so an inconclusive verdict says whether more seeds would
help. Seeds whose runs collapsed are counted in ``degenerate`` (the family decides what
collapsing means, e.g. HLTM root units that died), not silently folded into the interval.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

CLAIM_COLUMNS = [
    "paper",
    "source",
    "setting",
    "claim",
    "quantity",
    "test",
    "n_seeds",
    "effect",
    "ci_low",
    "ci_high",
    "p_value",
    "alpha",
    "min_effect",
    "seeds_needed",
    "blocks",
    "degenerate",
    "verdict",
]

TESTS = ("paired_t", "wilcoxon", "page", "tost")
VERDICTS = ("supported", "contradicted", "inconclusive")
POWER = 0.8
MAX_SEEDS = 10_000


@dataclass(frozen=True)
class Claim:
    """A claim of a paper and how it is decided, declared before the run.

    Attributes:
        paper: e.g. ``"Tian et al. 2020"``.
        text: the claim in words, e.g. ``"training raises the root correlation"``.
        source: where the paper makes it, e.g. ``"Sec. 6, Fig. 5"``.
        setting: ``"paper"`` (the paper's own setting) or ``"design"`` (our substitute).
        quantity: the per-seed quantity whose sign the claim predicts (positive = as
            claimed), e.g. ``"best_corr(root): last epoch - epoch 0"``.
        test: ``paired_t``, ``wilcoxon``, ``page`` (an ordering over >= 3 levels) or
            ``tost`` (an equivalence: "about the same", two one-sided tests).
        alpha: one-sided level.
        min_effect: the smallest mean effect (in the quantity's units) that counts; for
            ``tost`` the equivalence margin m (the claim says |effect| < m).
    """

    paper: str
    text: str
    source: str
    setting: str
    quantity: str
    test: str = "paired_t"
    alpha: float = 0.05
    min_effect: float = 0.0

    def __post_init__(self) -> None:
        if self.test not in TESTS:
            raise ValueError(f"Claim.test must be one of {TESTS}, got {self.test!r}")
        if self.setting not in ("paper", "design"):
            raise ValueError(f"Claim.setting must be 'paper' or 'design', got {self.setting!r}")
        if not 0 < self.alpha < 1 or self.min_effect < 0:
            raise ValueError("Claim.alpha must lie in (0, 1) and min_effect be >= 0")


def seeds_needed(effect: float, sd: float, alpha: float, power: float = POWER) -> float:
    """Seeds a one-sided paired t-test at ``alpha`` needs for ``power`` at this effect/spread.

    ``inf`` when the effect is 0 (no number of seeds decides it); at least 2.
    """
    from statsmodels.stats.power import TTestPower

    if not (math.isfinite(effect) and math.isfinite(sd)):
        return math.nan
    if effect == 0:
        return math.inf
    if sd == 0:
        return 2.0
    nobs = np.arange(2, MAX_SEEDS + 1)
    reach = TTestPower().power(
        effect_size=abs(effect) / sd, nobs=nobs, alpha=alpha, alternative="larger"
    )
    hit = np.flatnonzero(reach >= power)
    return float(nobs[hit[0]]) if hit.size else math.inf


def _interval(x: np.ndarray) -> tuple[float, float, float, float]:
    """Mean, sd and 95% t-interval of per-seed values."""
    n = x.size
    mean = float(x.mean()) if n else math.nan
    if n < 2:
        return mean, math.nan, math.nan, math.nan
    sd = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return mean, sd, mean - half, mean + half


def _verdict(claim: Claim, mean: float, p_for: float, p_against: float) -> str:
    if math.isfinite(p_for) and p_for < claim.alpha and mean >= claim.min_effect:
        return "supported"
    if math.isfinite(p_against) and p_against < claim.alpha and mean <= -claim.min_effect:
        return "contradicted"
    return "inconclusive"


def _row(claim: Claim, **values) -> dict:
    row = {
        "paper": claim.paper,
        "source": claim.source,
        "setting": claim.setting,
        "claim": claim.text,
        "quantity": claim.quantity,
        "test": claim.test,
        "alpha": claim.alpha,
        "min_effect": claim.min_effect,
        "blocks": "",
        "degenerate": "",
    }
    row.update(values)
    return row


def _as_seed_blocks(diffs) -> tuple[np.ndarray, np.ndarray]:
    """(per-seed mean over blocks, per-block mean over seeds) of an array whose first
    axis is the seed (or an xarray object with a ``seed`` dim)."""
    if isinstance(diffs, xr.DataArray):
        diffs = diffs.transpose("seed", ...).values
    d = np.asarray(diffs, dtype=float)
    if d.size == 0:
        return np.array([]), np.array([])
    d = d.reshape(d.shape[0] if d.ndim else 1, -1)  # (seed, block)
    d = d[np.isfinite(d).any(axis=1)]  # a seed counts if any block is finite
    if not d.size:
        return np.array([]), np.array([])
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN block
        per_block = np.nanmean(d, axis=0)
    return np.nanmean(d, axis=1), per_block[np.isfinite(per_block)]


def _blocks(per_block: np.ndarray) -> str:
    """``"k/n > 0"``: how many blocks (other sweep axes) agree in sign ("" for one)."""
    return f"{int((per_block > 0).sum())}/{per_block.size} > 0" if per_block.size > 1 else ""


def contrast(claim: Claim, diffs, degenerate: str = "") -> dict:
    """Decide a two-setting claim from per-seed paired differences.

    Args:
        claim: the declared claim (``paired_t`` or ``wilcoxon``).
        diffs: differences, positive = as claimed; seed first, then any block axes
            (an array of Shape (seed, ...) or a DataArray with a ``seed`` dim). NaN
            blocks are skipped; a seed with no finite block is left out.
        degenerate: a note on collapsed seeds (e.g. ``"2 of 5 seeds: root units died"``).

    Returns:
        One table row (dict with the keys of :data:`CLAIM_COLUMNS`).
    """
    if claim.test in ("page", "tost"):
        raise ValueError(
            "contrast() decides two-setting claims; use trend() for 'page', "
            "equivalence() for 'tost'"
        )
    x, per_block = _as_seed_blocks(diffs)
    n = int(x.size)
    mean, sd, lo, hi = _interval(x)
    p_for = p_against = math.nan
    if n >= 2 and sd > 0:
        if claim.test == "paired_t":
            p_for = float(stats.ttest_1samp(x, 0.0, alternative="greater").pvalue)
            p_against = float(stats.ttest_1samp(x, 0.0, alternative="less").pvalue)
        else:
            p_for = float(stats.wilcoxon(x, alternative="greater").pvalue)
            p_against = float(stats.wilcoxon(x, alternative="less").pvalue)
    elif n >= 2 and mean != 0:  # every seed the same non-zero difference
        p_for, p_against = (0.0, 1.0) if mean > 0 else (1.0, 0.0)
    p = p_for if not (math.isfinite(mean) and mean < 0) else p_against
    blocks = _blocks(per_block)
    return _row(
        claim,
        n_seeds=n,
        effect=mean,
        ci_low=lo,
        ci_high=hi,
        p_value=p,
        seeds_needed=seeds_needed(mean, sd, claim.alpha) if n >= 2 else math.nan,
        blocks=blocks,
        degenerate=degenerate,
        verdict=_verdict(claim, mean, p_for, p_against),
    )


def equivalence(claim: Claim, diffs, degenerate: str = "") -> dict:
    """Decide an equivalence claim ("about the same") from per-seed paired differences
    by two one-sided t-tests (TOST, Schuirmann 1987) with the margin m = ``min_effect``.

    Supported when both one-sided tests reject at ``alpha`` (mean > -m and mean < m: the
    90% interval lies inside (-m, m) for alpha 0.05); contradicted when the mean lies
    beyond the margin significantly (a one-sided t-test of |mean| > m on the side of the
    mean); inconclusive otherwise. ``p_value`` is the TOST p (the larger of the two);
    ``seeds_needed`` that of the one-sided test against the nearer margin.

    Args:
        claim: the declared claim (``test="tost"``, ``min_effect`` = the margin > 0).
        diffs: differences of the two settings, seed first, then any block axes.
        degenerate: a note on collapsed seeds.
    """
    if claim.test != "tost" or claim.min_effect <= 0:
        raise ValueError("equivalence() needs a claim with test='tost' and a margin min_effect > 0")
    m = claim.min_effect
    x, per_block = _as_seed_blocks(diffs)
    n = int(x.size)
    mean, sd, lo, hi = _interval(x)
    p_tost = p_beyond = math.nan
    if n >= 2 and sd > 0:
        p_low = float(stats.ttest_1samp(x, -m, alternative="greater").pvalue)
        p_high = float(stats.ttest_1samp(x, m, alternative="less").pvalue)
        p_tost = max(p_low, p_high)
        p_beyond = float(
            stats.ttest_1samp(x, m, alternative="greater").pvalue
            if mean >= 0
            else stats.ttest_1samp(x, -m, alternative="less").pvalue
        )
    elif n >= 2:  # every seed the same difference
        p_tost, p_beyond = (0.0, 1.0) if abs(mean) < m else (1.0, 0.0)
    if math.isfinite(p_tost) and p_tost < claim.alpha:
        verdict = "supported"
    elif math.isfinite(p_beyond) and p_beyond < claim.alpha:
        verdict = "contradicted"
    else:
        verdict = "inconclusive"
    room = m - abs(mean) if math.isfinite(mean) else math.nan
    needed = math.inf if math.isfinite(room) and room <= 0 else seeds_needed(room, sd, claim.alpha)
    blocks = _blocks(per_block)
    return _row(
        claim,
        n_seeds=n,
        effect=mean,
        ci_low=lo,
        ci_high=hi,
        p_value=p_tost,
        seeds_needed=needed if n >= 2 else math.nan,
        blocks=blocks,
        degenerate=degenerate,
        verdict=verdict,
    )


def trend(
    claim: Claim,
    values: xr.DataArray,
    level_dim: str,
    increasing: bool = True,
    degenerate: str = "",
) -> dict:
    """Decide an ordering claim over the levels of ``level_dim`` with Page's L test.

    Every (seed x other sweep axes) cell is a block whose levels are ranked; the
    predicted ranks are the levels' order in ``values`` (ascending if ``increasing``).
    The effect is the per-seed mean (over blocks) of the last level minus the first, in
    the claimed direction, with its t-interval; ``seeds_needed`` is that of a paired
    t-test on it (an approximation of the Page test's power, stated as such).

    Args:
        claim: the declared claim (``test="page"``).
        values: a quantity with dims ``seed``, ``level_dim`` and any blocks.
        level_dim: the ordered sweep axis.
        increasing: the claim predicts values rising along ``level_dim``.
        degenerate: a note on collapsed seeds.
    """
    if claim.test != "page":
        raise ValueError("trend() uses Page's test: declare the claim with test='page'")
    k = values.sizes.get(level_dim, 0)
    sign = 1.0 if increasing else -1.0
    if k < 2 or "seed" not in values.dims:
        return _row(
            claim,
            n_seeds=0,
            effect=math.nan,
            ci_low=math.nan,
            ci_high=math.nan,
            p_value=math.nan,
            seeds_needed=math.nan,
            degenerate=degenerate,
            verdict="inconclusive",
        )
    extreme = sign * (values.isel({level_dim: -1}) - values.isel({level_dim: 0}))
    x, per_block = _as_seed_blocks(extreme)
    mean, sd, lo, hi = _interval(x)
    others = [d for d in values.dims if d != level_dim]
    table = values.transpose(*others, level_dim).values.reshape(-1, k)
    table = table[np.isfinite(table).all(axis=1)]
    p_for = p_against = math.nan
    if k >= 3 and table.shape[0] >= 2:
        ranks = np.arange(1, k + 1) if increasing else np.arange(k, 0, -1)
        p_for = float(stats.page_trend_test(table, predicted_ranks=ranks).pvalue)
        p_against = float(stats.page_trend_test(table, predicted_ranks=ranks[::-1]).pvalue)
    elif k == 2 and x.size >= 2 and sd > 0:  # two levels: Page's test is the sign of a pair
        p_for = float(stats.ttest_1samp(x, 0.0, alternative="greater").pvalue)
        p_against = float(stats.ttest_1samp(x, 0.0, alternative="less").pvalue)
    p = p_for if not (math.isfinite(mean) and mean < 0) else p_against
    blocks = _blocks(per_block)
    return _row(
        claim,
        n_seeds=int(x.size),
        effect=mean,
        ci_low=lo,
        ci_high=hi,
        p_value=p,
        seeds_needed=seeds_needed(mean, sd, claim.alpha) if x.size >= 2 else math.nan,
        blocks=blocks,
        degenerate=degenerate,
        verdict=_verdict(claim, mean, p_for, p_against),
    )


def paired_claim(paper: str, claim: str, measure: str, diffs: Sequence[float] | np.ndarray):
    """A paired-t contrast of an undeclared claim (kept for callers that predate
    :class:`Claim`; new code declares a :class:`Claim` and calls :func:`contrast`)."""
    return contrast(Claim(paper, claim, source="", setting="design", quantity=measure), diffs)


def claims_frame(rows: Sequence[dict]) -> pd.DataFrame:
    """Stack claim rows into a table with the standard columns."""
    return pd.DataFrame(list(rows), columns=CLAIM_COLUMNS)


def summary(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per experiment: how many claims are supported / contradicted / inconclusive."""
    rows = []
    for exp, table in tables.items():
        counts = table["verdict"].value_counts()
        rows.append({"experiment": exp, **{v: int(counts.get(v, 0)) for v in VERDICTS}})
    return pd.DataFrame(rows, columns=["experiment", *VERDICTS])
