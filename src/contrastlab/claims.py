"""Claims tables: a paper's claim, declared before the run, decided by the sweep's data.

A family declares each claim as a :class:`Claim` in its code: a short name, the words,
where in the paper it comes from, whether the setting is the paper's or our design, the
quantity, the test, the level alpha and the smallest effect that counts. Nothing is tuned
after seeing the data; the verdict is whatever the numbers say.

**One rule decides every verdict** (:func:`decide`), from one analysis per claim: the
test's p-value (adjusted for multiplicity across the run, :func:`adjust`) and the
interval of the *same* statistic the test decides on, at level 1 - 2 alpha (the interval
that excludes 0 exactly when the one-sided test at alpha rejects):

* ``supported``    -- the (adjusted) p is below alpha, the interval lies on the claimed
  side of 0 and clears the smallest effect that counts (``min_effect``; for a trend, the
  mean span last - first level in the quantity's units must reach it);
* ``contradicted`` -- the same, on the opposite side;
* ``inconclusive`` -- neither (too few seeds, or too small/variable an effect);
* ``not tested``   -- the claim needs a trained model and the job did not train (0 steps)
  or its embedding collapsed (:func:`not_tested`): no verdict either way.

The design of the sweep is used. The seed is the unit of replication: all settings of one
seed share its data, tree or initial draw, so settings are compared **paired, per seed**.
Other sweep axes are **blocks**:

* :func:`contrast` (two settings): per seed, the difference averaged over the blocks,
  tested with a one-sided paired t-test (``paired_t``; effect: the mean, interval: the
  t-interval) or Wilcoxon's signed-rank test (``wilcoxon``; effect: the Hodges-Lehmann
  estimate, interval: the signed-rank (Walsh-average) interval);
* :func:`trend` (an ordering over three or more levels): Page's L test
  (``scipy.stats.page_trend_test``), ranking the levels within every (seed x block) cell
  against the predicted order. Effect: Page's statistic as a correlation, rho_L = the mean
  Spearman correlation of a cell's ranks with the predicted order (-1..1, linear in L),
  with a seed-bootstrap interval (``scipy.stats.bootstrap``, seeds resampled with all
  their cells); ``span``: the mean last - first level in the claimed direction;
* :func:`equivalence` (``tost``, "about the same"): two one-sided t-tests against the
  margin +-``min_effect``; supported when both reject (the interval lies inside the
  margin), contradicted when the mean lies significantly beyond it.

For every claim the table gives n (seeds), the effect with its interval, the raw and the
adjusted p-value, and the number of seeds a one-sided paired t-test at alpha would need
for power 0.8 at the observed effect and spread (``statsmodels``), so an inconclusive
verdict says whether more seeds would help. Seeds whose runs collapsed are counted in
``degenerate`` (the family decides what collapsing means, e.g. HLTM root units that died),
not silently folded into the interval. ``stage`` is the stage of a sequential design
(:mod:`contrastlab.sequential`, ``n_seeds: auto``) at which the claim was decided.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

CLAIM_COLUMNS = [
    "name",
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
    "span",
    "p_value",
    "p_adjusted",
    "alpha",
    "min_effect",
    "seeds_needed",
    "blocks",
    "degenerate",
    "stage",
    "figure",
    "trained",
    "verdict",
]

TESTS = ("paired_t", "wilcoxon", "page", "tost")
VERDICTS = ("supported", "contradicted", "inconclusive", "not tested")
CORRECTIONS = {"holm": "holm", "bh": "fdr_bh", "none": None}
POWER = 0.8
MAX_SEEDS = 10_000
BOOTSTRAP_RESAMPLES = 4999
# A representation whose spread tr Cov(h) / E|h|^2 (contrastlab.metrics.embedding.spread)
# is under this has collapsed: declared before any run; a healthy encoder's held-out
# representations vary by far more than 0.1% of their energy, a collapsed one maps every
# input to (nearly) the same point, and a probe on it (standardised features) reads noise.
COLLAPSED_SPREAD = 1e-3
RULE = (
    "supported: the p-value, adjusted for multiplicity over the run's claims, is below "
    "alpha, and the effect's interval (level 1 - 2 alpha, the interval of the statistic "
    "the test decides on) lies on the claimed side of 0 and clears min_effect (for a "
    "trend: the mean span last - first level reaches min_effect); contradicted: the same "
    "on the other side; inconclusive: neither; not tested: the claim needs a trained "
    "model and the job did not train or its embedding collapsed."
)


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
        name: short identifier, unique in the family (an experiment's ``claims`` key
            lists names; :func:`named` sets them from a dict's keys).
        trained: the claim is about a trained model (False: an analytic quantity,
            the same in every experiment; decided even when nothing trained).
        figure: the name of the family's figure that shows the claim's quantity.
    """

    paper: str
    text: str
    source: str
    setting: str
    quantity: str
    test: str = "paired_t"
    alpha: float = 0.05
    min_effect: float = 0.0
    name: str = ""
    trained: bool = True
    figure: str = ""

    def __post_init__(self) -> None:
        if self.test not in TESTS:
            raise ValueError(f"Claim.test must be one of {TESTS}, got {self.test!r}")
        if self.setting not in ("paper", "design"):
            raise ValueError(f"Claim.setting must be 'paper' or 'design', got {self.setting!r}")
        if not 0 < self.alpha < 0.5 or self.min_effect < 0:
            raise ValueError("Claim.alpha must lie in (0, 0.5) and min_effect be >= 0")


def named(claims: dict) -> dict:
    """``claims`` with every :class:`Claim` (a value, or the first item of a tuple value)
    named by its key."""

    def name(key, value):
        if isinstance(value, Claim):
            return replace(value, name=str(key))
        return (replace(value[0], name=str(key)), *value[1:])

    return {k: name(k, v) for k, v in claims.items()}


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
    d = abs(effect) / sd
    # power rises with n; scipy's noncentral t returns NaN where the power is 1 to machine
    # precision (large effects), so NaN counts as reached. Small n first: the common case.
    for nobs in (np.arange(2, 201), np.arange(201, MAX_SEEDS + 1)):
        reach = TTestPower().power(effect_size=d, nobs=nobs, alpha=alpha, alternative="larger")
        hit = np.flatnonzero(np.isnan(reach) | (reach >= power))
        if hit.size:
            return float(nobs[hit[0]])
    return math.inf


_LEVEL: ContextVar[Callable[[float], float] | None] = ContextVar("claim_level", default=None)


@contextmanager
def stage_levels(level: Callable[[float], float]) -> Iterator[None]:
    """Within this block, claims are decided at ``level(alpha)`` instead of their alpha,
    with intervals at level 1 - 2 ``level(alpha)`` (a group-sequential stage's nominal
    level and repeated confidence interval, :mod:`contrastlab.sequential`); the rows keep
    the declared alpha."""
    token = _LEVEL.set(level)
    try:
        yield
    finally:
        _LEVEL.reset(token)


def _level(alpha: float) -> float:
    """The level a claim of level ``alpha`` is decided at here (see :func:`stage_levels`)."""
    f = _LEVEL.get()
    return alpha if f is None else float(f(alpha))


def _interval(x: np.ndarray, alpha: float) -> tuple[float, float, float, float]:
    """Mean, sd and the two-sided 1 - 2 alpha t-interval of per-seed values (it excludes
    0 exactly when the one-sided t-test at alpha rejects)."""
    n = x.size
    mean = float(x.mean()) if n else math.nan
    if n < 2:
        return mean, math.nan, math.nan, math.nan
    sd = float(x.std(ddof=1))
    half = float(stats.t.ppf(1 - alpha, n - 1)) * sd / math.sqrt(n)
    return mean, sd, mean - half, mean + half


def _signed_rank_counts(n: int) -> np.ndarray:
    """Number of subsets of {1..n} with each rank sum 0..n(n+1)/2 (the exact null
    distribution of Wilcoxon's T+ times 2^n)."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1
    for r in range(1, n + 1):
        counts[r:] = counts[r:] + counts[:-r].copy()
    return counts


def _hodges_lehmann(x: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """The Hodges-Lehmann estimate (median of the Walsh averages) and the signed-rank
    interval of level 1 - 2 alpha (Walsh averages c+1 and M-c, c the one-sided critical
    count; exact null distribution)."""
    n = x.size
    walsh = np.sort([(x[i] + x[j]) / 2 for i in range(n) for j in range(i, n)])
    cdf = np.cumsum(_signed_rank_counts(n)) / 2.0**n
    c = int(np.searchsorted(cdf, alpha, side="right"))  # P(T+ <= c - 1) <= alpha
    m = walsh.size
    if c == 0:  # too few seeds for any interval at this level
        return float(np.median(walsh)), -math.inf, math.inf
    return float(np.median(walsh)), float(walsh[c - 1]), float(walsh[m - c])


def decide(row: dict, p: float | None = None, alpha: float | None = None) -> str:
    """The verdict of a claims row by the one rule (:data:`RULE`), from its p-value
    (``p``, e.g. the adjusted one; default the row's raw ``p_value``), its interval, its
    span (trends) and its declared ``min_effect``, at the row's ``alpha`` (or ``alpha``).
    A claim of a sequential design still undecided at its last stage stays inconclusive."""
    if row.get("verdict") == "not tested":
        return "not tested"
    if str(row.get("stage", "")).startswith("undecided"):
        return "inconclusive"
    p = row["p_value"] if p is None else p
    alpha = float(row["alpha"]) if alpha is None else alpha
    m = float(row["min_effect"])
    if not (isinstance(p, float | int) and math.isfinite(p) and p < alpha):
        return "inconclusive"
    lo, hi, effect = float(row["ci_low"]), float(row["ci_high"]), float(row["effect"])
    if row["test"] == "tost":
        if -m < lo and hi < m:
            return "supported"
        if lo >= m or hi <= -m:
            return "contradicted"
        return "inconclusive"
    size = float(row["span"]) if row["test"] == "page" and _finite(row.get("span")) else None
    floor = 0.0 if size is not None else m
    if effect > 0 and lo > 0 and lo >= floor and (size is None or size >= m):
        return "supported"
    if effect < 0 and hi < 0 and hi <= -floor and (size is None or size <= -m):
        return "contradicted"
    return "inconclusive"


def _finite(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _row(claim: Claim, **values) -> dict:
    row = {
        "name": claim.name,
        "paper": claim.paper,
        "source": claim.source,
        "setting": claim.setting,
        "claim": claim.text,
        "quantity": claim.quantity,
        "test": claim.test,
        "alpha": claim.alpha,
        "min_effect": claim.min_effect,
        "span": math.nan,
        "p_adjusted": math.nan,
        "blocks": "",
        "degenerate": "",
        "stage": "",
        "figure": claim.figure,
        "trained": claim.trained,
    }
    row.update(values)
    if "verdict" not in values:
        row["verdict"] = decide(row, alpha=_level(claim.alpha))
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
        One table row (dict with the keys of :data:`CLAIM_COLUMNS`). ``p_value`` is the
        one-sided p on the side of the effect.
    """
    if claim.test in ("page", "tost"):
        raise ValueError(
            "contrast() decides two-setting claims; use trend() for 'page', "
            "equivalence() for 'tost'"
        )
    x, per_block = _as_seed_blocks(diffs)
    n = int(x.size)
    mean, sd, lo, hi = _interval(x, _level(claim.alpha))
    effect = mean
    p_for = p_against = math.nan
    if n >= 2 and sd > 0:
        if claim.test == "paired_t":
            p_for = float(stats.ttest_1samp(x, 0.0, alternative="greater").pvalue)
            p_against = float(stats.ttest_1samp(x, 0.0, alternative="less").pvalue)
        else:
            p_for = float(stats.wilcoxon(x, alternative="greater").pvalue)
            p_against = float(stats.wilcoxon(x, alternative="less").pvalue)
            effect, lo, hi = _hodges_lehmann(x, _level(claim.alpha))
    elif n >= 2 and mean != 0:  # every seed the same non-zero difference
        p_for, p_against = (0.0, 1.0) if mean > 0 else (1.0, 0.0)
    p = p_for if not (math.isfinite(effect) and effect < 0) else p_against
    return _row(
        claim,
        n_seeds=n,
        effect=effect,
        ci_low=lo,
        ci_high=hi,
        p_value=p,
        seeds_needed=seeds_needed(mean, sd, claim.alpha) if n >= 2 else math.nan,
        blocks=_blocks(per_block),
        degenerate=degenerate,
    )


def equivalence(claim: Claim, diffs, degenerate: str = "") -> dict:
    """Decide an equivalence claim ("about the same") from per-seed paired differences
    by two one-sided t-tests (TOST, Schuirmann 1987) with the margin m = ``min_effect``.

    Supported when both one-sided tests reject at ``alpha`` (the 1 - 2 alpha interval lies
    inside (-m, m)); contradicted when the mean lies beyond the margin significantly (a
    one-sided t-test of |mean| > m on the side of the mean); inconclusive otherwise.
    ``p_value`` is the TOST p (the larger of the two) while the mean lies inside the
    margin, else the p of lying beyond it; ``seeds_needed`` that of the one-sided test
    against the nearer margin.

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
    mean, sd, lo, hi = _interval(x, _level(claim.alpha))
    p = math.nan
    inside = math.isfinite(mean) and abs(mean) < m
    if n >= 2 and sd > 0:
        if inside:
            p_low = float(stats.ttest_1samp(x, -m, alternative="greater").pvalue)
            p_high = float(stats.ttest_1samp(x, m, alternative="less").pvalue)
            p = max(p_low, p_high)
        else:
            p = float(
                stats.ttest_1samp(x, m, alternative="greater").pvalue
                if mean >= 0
                else stats.ttest_1samp(x, -m, alternative="less").pvalue
            )
    elif n >= 2:  # every seed the same difference
        p, lo, hi = 0.0, mean, mean
    room = m - abs(mean) if math.isfinite(mean) else math.nan
    needed = math.inf if math.isfinite(room) and room <= 0 else seeds_needed(room, sd, claim.alpha)
    return _row(
        claim,
        n_seeds=n,
        effect=mean,
        ci_low=lo,
        ci_high=hi,
        p_value=p,
        seeds_needed=needed if n >= 2 else math.nan,
        blocks=_blocks(per_block),
        degenerate=degenerate,
    )


def _page_parts(values: xr.DataArray, level_dim: str, ranks: np.ndarray):
    """Per seed: (sum over its complete cells of L, number of cells), for Page's L with
    the predicted ``ranks``; cells are the (seed x other axes) rows of ``values``."""
    k = values.sizes[level_dim]
    table = values.transpose("seed", ..., level_dim).values.reshape(values.sizes["seed"], -1, k)
    ok = np.isfinite(table).all(axis=-1)  # (seed, cell)
    within = stats.rankdata(np.where(np.isfinite(table), table, 0.0), axis=-1)
    L = (within * ranks).sum(axis=-1)
    return np.where(ok, L, 0.0).sum(axis=1), ok.sum(axis=1)


def page_rho(L_sum: float, cells: int, k: int) -> float:
    """Page's L as a correlation in [-1, 1]: (L - E0[L]) / (max L - E0[L]) over ``cells``
    complete rankings of ``k`` levels (= the mean Spearman correlation of the cells'
    ranks with the predicted order)."""
    if cells == 0:
        return math.nan
    e0 = cells * k * (k + 1) ** 2 / 4
    top = cells * k * (k + 1) * (2 * k + 1) / 6
    return float((L_sum - e0) / (top - e0))


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
    The effect is Page's statistic as a correlation (:func:`page_rho`, in the claimed
    direction) with a seed-bootstrap interval of level 1 - 2 alpha (seeds resampled with
    all their cells, percentile method, a fixed generator: the same numbers every run);
    ``span`` is the per-seed mean (over blocks) of the last level minus the first in the
    claimed direction, the size that ``min_effect`` bounds; ``seeds_needed`` is that of a
    paired t-test on the span (an approximation of the Page test's power). With two
    levels the test is the paired t-test of the span (effect and interval: the span's).

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
        )
    extreme = sign * (values.isel({level_dim: -1}) - values.isel({level_dim: 0}))
    x, per_block = _as_seed_blocks(extreme)
    span, sd, lo, hi = _interval(x, _level(claim.alpha))
    effect = span
    others = [d for d in values.dims if d != level_dim]
    table = values.transpose(*others, level_dim).values.reshape(-1, k)
    table = table[np.isfinite(table).all(axis=1)]
    p = math.nan
    if k >= 3 and table.shape[0] >= 2:
        ranks = np.arange(1, k + 1) if increasing else np.arange(k, 0, -1)
        p_for = float(stats.page_trend_test(table, predicted_ranks=ranks).pvalue)
        p_against = float(stats.page_trend_test(table, predicted_ranks=ranks[::-1]).pvalue)
        L, cells = _page_parts(values, level_dim, ranks)
        effect = page_rho(L.sum(), int(cells.sum()), k)
        p = p_for if effect >= 0 else p_against
        lo, hi = _bootstrap_rho(L, cells, k, _level(claim.alpha))
    elif k == 2 and x.size >= 2 and sd > 0:  # two levels: the paired t-test of the span
        p_for = float(stats.ttest_1samp(x, 0.0, alternative="greater").pvalue)
        p_against = float(stats.ttest_1samp(x, 0.0, alternative="less").pvalue)
        p = p_for if span >= 0 else p_against
    return _row(
        claim,
        n_seeds=int(x.size),
        effect=effect,
        ci_low=lo,
        ci_high=hi,
        span=span,
        p_value=p,
        seeds_needed=seeds_needed(span, sd, claim.alpha) if x.size >= 2 else math.nan,
        blocks=_blocks(per_block),
        degenerate=degenerate,
    )


def _bootstrap_rho(L: np.ndarray, cells: np.ndarray, k: int, alpha: float):
    """Seed-bootstrap percentile interval (level 1 - 2 alpha) of :func:`page_rho`."""
    keep = cells > 0
    L, cells = L[keep], cells[keep]
    if L.size < 2:
        return math.nan, math.nan
    rho = [page_rho(a, c, k) for a, c in zip(L, cells, strict=True)]
    if np.ptp(rho) == 0:  # every seed the same ordering: no spread to resample
        return float(rho[0]), float(rho[0])

    def stat(idx, axis=-1):
        idx = np.asarray(idx, dtype=int)
        Ls, cs = L[idx].sum(axis=axis), cells[idx].sum(axis=axis)
        e0, top = cs * k * (k + 1) ** 2 / 4, cs * k * (k + 1) * (2 * k + 1) / 6
        return (Ls - e0) / (top - e0)

    res = stats.bootstrap(
        (np.arange(L.size),),
        stat,
        confidence_level=1 - 2 * alpha,
        n_resamples=BOOTSTRAP_RESAMPLES,
        method="percentile",
        vectorized=True,
        random_state=np.random.default_rng(0),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def paired_claim(paper: str, claim: str, measure: str, diffs: Sequence[float] | np.ndarray):
    """A paired-t contrast of an undeclared claim (kept for callers that predate
    :class:`Claim`; new code declares a :class:`Claim` and calls :func:`contrast`)."""
    return contrast(Claim(paper, claim, source="", setting="design", quantity=measure), diffs)


def claims_frame(rows: Sequence[dict]) -> pd.DataFrame:
    """Stack claim rows into a table with the standard columns."""
    return pd.DataFrame(list(rows), columns=CLAIM_COLUMNS)


def not_tested(table: pd.DataFrame, reason: str) -> pd.DataFrame:
    """``table`` with every claim about a trained model marked ``not tested`` (the
    reason in ``degenerate``, no p-value): for a job that did not train or collapsed."""
    out = table.copy()
    hit = out["trained"].astype(bool) if "trained" in out else pd.Series(True, out.index)
    out.loc[hit, "verdict"] = "not tested"
    out.loc[hit, "degenerate"] = reason
    out.loc[hit, ["p_value", "p_adjusted"]] = math.nan
    return out


def select(table: pd.DataFrame, names: Sequence[str] | None) -> pd.DataFrame:
    """The rows of the claims named in ``names`` (an experiment's ``claims`` key; None:
    every row)."""
    if names is None:
        return table
    return table[table["name"].isin(list(names))].reset_index(drop=True)


def adjust(tables: dict[str, pd.DataFrame], correction: str = "holm") -> dict[str, pd.DataFrame]:
    """Correct the p-values of every claim of a run together and re-decide the verdicts.

    Holm's step-down method (the family-wise error rate, the default), Benjamini and
    Hochberg's (the false discovery rate, ``bh``) or ``none``, by
    ``statsmodels.stats.multitest.multipletests`` over the claims that have a p-value
    (``not tested`` and undecidable claims take no part). Each table gets ``p_adjusted``
    and the verdict :func:`decide` gives at the adjusted p.

    Returns:
        ``{experiment: table}``, copies; each table's ``attrs["correction"]`` says which
        correction over how many claims.
    """
    from statsmodels.stats.multitest import multipletests

    if correction not in CORRECTIONS:
        raise ValueError(f"claims.correction must be one of {sorted(CORRECTIONS)}")
    out = {exp: t.copy() for exp, t in tables.items()}
    where, ps = [], []
    for exp, t in out.items():
        for i, (p, v) in enumerate(zip(t["p_value"], t["verdict"], strict=True)):
            if v != "not tested" and _finite(p):
                where.append((exp, i))
                ps.append(float(p))
    adjusted = np.asarray(ps, dtype=float)
    if ps and CORRECTIONS[correction]:
        adjusted = multipletests(ps, method=CORRECTIONS[correction])[1]
    for t in out.values():
        t["p_adjusted"] = math.nan
    for (exp, i), p in zip(where, adjusted, strict=True):
        out[exp].loc[out[exp].index[i], "p_adjusted"] = float(p)
    note = describe_correction(correction, len(ps))
    for t in out.values():
        t["verdict"] = [decide(r, r["p_adjusted"]) for r in t.to_dict("records")]
        t.attrs["correction"] = note
    return out


def describe_correction(correction: str, m: int) -> str:
    """One sentence for the report: which correction over how many claims."""
    what = {
        "holm": "Holm's step-down correction (family-wise error rate at each claim's alpha)",
        "bh": "the Benjamini-Hochberg correction (false discovery rate at each claim's alpha)",
        "none": "no correction for multiplicity",
    }[correction]
    return f"p-values adjusted by {what}, over the {m} claims of this run that have a p-value."


def summary(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per experiment: how many claims are supported / contradicted / inconclusive / not
    tested."""
    rows = []
    for exp, table in tables.items():
        counts = table["verdict"].value_counts()
        rows.append({"experiment": exp, **{v: int(counts.get(v, 0)) for v in VERDICTS}})
    return pd.DataFrame(rows, columns=["experiment", *VERDICTS])
