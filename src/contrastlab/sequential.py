"""Seeds added until decided: a group-sequential design over stages of seeds.

``n_seeds: {start: 5, step: 5, max: 20}`` trains ``start`` seeds, decides the claims, and
adds ``step`` seeds (new training jobs; the earlier seeds' numbers are kept) to an
experiment only while one of its claims is undecided and could be decided within ``max``
seeds. Looking at the data after every stage would inflate the error rate of a fixed
level; the design keeps it at each claim's alpha with a **group-sequential boundary**:
Lan & DeMets' (1983) alpha-spending function of the O'Brien-Fleming type,

    spent(t) = 2 - 2 Phi(z_(1 - alpha/2) / sqrt(t)),   t = seeds so far / max seeds,

spends a tiny part of alpha at the first looks and nearly all of it at the last. Stage
k's one-sided boundary c_k solves

    P(Z_1 < c_1, ..., Z_(k-1) < c_(k-1), Z_k >= c_k) = spent(t_k) - spent(t_(k-1))

for the test statistics Z_k of the accumulating seeds (a Brownian motion in the
information t: corr(Z_i, Z_j) = sqrt(t_i / t_j)), by recursive numerical integration
(Armitage, McPherson & Rowe 1969; Jennison & Turnbull 2000, ch. 19), not by Monte Carlo:
the same boundaries every run. A claim is decided at the first stage where its one-sided
p-value is at most the stage's nominal level 1 - Phi(c_k) (and the claim's interval at
that level, a repeated confidence interval, clears its smallest effect); its reported
p-value is the stage-wise ordering p-value (the probability under the null of deciding
at an earlier stage, or at this stage with a larger statistic), which the run's
multiplicity correction then adjusts like any other. Each claim is tested in both
directions (supported / contradicted), each side at alpha, as with a fixed n.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import stats

GRID = 2001  # points of the integration grid per stage (error < 1e-5 on the levels)


@dataclass(frozen=True)
class Design:
    """The stages of seeds of ``n_seeds: {start, step, max}``.

    Attributes:
        start: seeds of the first stage.
        step: seeds added at each further stage.
        max: seeds of the last stage (the last step may be shorter).
    """

    start: int
    step: int
    max: int

    def __post_init__(self) -> None:
        if not 2 <= self.start <= self.max or self.step < 1:
            raise ValueError(
                f"n_seeds needs 2 <= start <= max and step >= 1, got start {self.start}, "
                f"step {self.step}, max {self.max}"
            )

    @classmethod
    def from_config(cls, value) -> Design | None:
        """The design of an ``n_seeds`` value (None for a fixed number)."""
        if isinstance(value, dict):
            return cls(int(value["start"]), int(value["step"]), int(value["max"]))
        return None

    @property
    def totals(self) -> list[int]:
        """Seeds after each stage, e.g. [5, 10, 15, 20]."""
        out = list(range(self.start, self.max, self.step)) + [self.max]
        return out if out[0] == self.start else [self.start]

    @property
    def stages(self) -> int:
        return len(self.totals)

    @property
    def fractions(self) -> tuple[float, ...]:
        """Information fractions t_k = seeds after stage k / max."""
        return tuple(n / self.max for n in self.totals)

    def new_seeds(self, base_seed: int, stage: int) -> list[int]:
        """The seeds that stage ``stage`` (1-based) trains (its new jobs)."""
        totals = [0, *self.totals]
        return [base_seed + i for i in range(totals[stage - 1], totals[stage])]


def spent(alpha: float, t: float) -> float:
    """Lan-DeMets O'Brien-Fleming-type alpha spent by information fraction ``t``
    (one-sided level ``alpha``)."""
    if t <= 0:
        return 0.0
    return float(2 - 2 * stats.norm.cdf(stats.norm.ppf(1 - alpha / 2) / math.sqrt(t)))


def _step_density(grid: np.ndarray, dens: np.ndarray, new_grid: np.ndarray, var: float):
    """Density on ``new_grid`` of S + N(0, var), S having sub-density ``dens`` on ``grid``."""
    w = np.gradient(grid)  # trapezoid-like weights of a uniform grid
    kernel = stats.norm.pdf((new_grid[:, None] - grid[None, :]) / math.sqrt(var))
    return kernel @ (dens * w) / math.sqrt(var)


def _tail(grid: np.ndarray, dens: np.ndarray, level: float, var: float) -> float:
    """P(S + N(0, var) >= level, S continuing) for S's sub-density ``dens`` on ``grid``."""
    w = np.gradient(grid)
    return float(np.sum(dens * w * stats.norm.sf((level - grid) / math.sqrt(var))))


@cache
def boundaries(alpha: float, fractions: tuple[float, ...]) -> tuple[float, ...]:
    """One-sided z boundaries c_1..c_K of the spending function :func:`spent`.

    Works on the score scale S_k = Z_k sqrt(t_k) (independent increments of variance
    t_k - t_(k-1)); the sub-density of S on the continuation region is carried from stage
    to stage on a grid.
    """
    bounds: list[float] = []
    grid = dens = None
    prev_t, prev_spent = 0.0, 0.0
    for t in fractions:
        target = spent(alpha, t) - prev_spent
        dt = t - prev_t
        if grid is None:
            c = float(stats.norm.isf(target)) if target > 0 else math.inf
            bounds.append(c)
            upper = c * math.sqrt(t)
            grid = np.linspace(-8 * math.sqrt(t), upper, GRID)
            dens = stats.norm.pdf(grid / math.sqrt(t)) / math.sqrt(t)
        else:
            lo, hi = -12.0, 12.0  # bisection on c: the crossing probability falls in c
            for _ in range(80):
                mid = (lo + hi) / 2
                if _tail(grid, dens, mid * math.sqrt(t), dt) > target:
                    lo = mid
                else:
                    hi = mid
            c = (lo + hi) / 2
            bounds.append(c)
            new_grid = np.linspace(-8 * math.sqrt(t), c * math.sqrt(t), GRID)
            dens = _step_density(grid, dens, new_grid, dt)
            grid = new_grid
        prev_t, prev_spent = t, spent(alpha, t)
    return tuple(bounds)


def nominal_level(alpha: float, fractions: tuple[float, ...], stage: int) -> float:
    """The one-sided p-value a claim must reach at stage ``stage`` (1-based)."""
    return float(stats.norm.sf(boundaries(alpha, fractions)[stage - 1]))


@cache
def _continuation(alpha: float, fractions: tuple[float, ...], stage: int):
    """Grid and sub-density of S_stage = Z_stage sqrt(t_stage) on the continuation region
    (no boundary crossed at stages 1..``stage``)."""
    c = boundaries(alpha, fractions)
    t = fractions[0]
    grid = np.linspace(-8 * math.sqrt(t), c[0] * math.sqrt(t), GRID)
    dens = stats.norm.pdf(grid / math.sqrt(t)) / math.sqrt(t)
    for k in range(1, stage):
        t, dt = fractions[k], fractions[k] - fractions[k - 1]
        new_grid = np.linspace(-8 * math.sqrt(t), c[k] * math.sqrt(t), GRID)
        dens = _step_density(grid, dens, new_grid, dt)
        grid = new_grid
    return grid, dens


def stagewise_p(p: float, alpha: float, fractions: tuple[float, ...], stage: int) -> float:
    """Stage-wise ordering p-value of a one-sided p-value ``p`` observed at ``stage``:
    P_null(decide at an earlier stage) + P_null(reach this stage, Z_stage >= z)."""
    if not math.isfinite(p):
        return math.nan
    z = float(stats.norm.isf(min(max(p, 1e-300), 1.0)))
    if stage == 1:
        return float(stats.norm.sf(z))
    earlier = spent(alpha, fractions[stage - 2])  # the boundaries spend exactly this
    grid, dens = _continuation(alpha, fractions, stage - 1)
    t, dt = fractions[stage - 1], fractions[stage - 1] - fractions[stage - 2]
    return float(min(1.0, earlier + _tail(grid, dens, z * math.sqrt(t), dt)))


def _hopeful(row: dict, design: Design, level: float) -> bool:
    """An undecided claim could still be decided within ``design.max`` seeds: a one-sided
    t-test at the claim's alpha needs at most ``max`` seeds for the effect at the
    optimistic end of its ordinary 1 - 2 alpha interval, less the smallest effect that
    counts (the effect could be that large), at the spread the stage's interval (level
    ``level``) implies. Rows without a t-interval (a trend's rho) use ``seeds_needed``."""
    from contrastlab.claims import seeds_needed

    n, lo, hi = int(row["n_seeds"]), float(row["ci_low"]), float(row["ci_high"])
    alpha, m = float(row["alpha"]), float(row["min_effect"])
    needed = float(row["seeds_needed"])
    if row["test"] in ("paired_t", "tost") and n >= 2 and math.isfinite(hi - lo):
        sd = (hi - lo) / 2 * math.sqrt(n) / float(stats.t.isf(level, n - 1))
        half = float(stats.t.isf(alpha, n - 1)) * sd / math.sqrt(n)
        mean = (hi + lo) / 2
        if row["test"] == "tost":
            reach = m - max(abs(mean) - half, 0.0)
        else:
            reach = abs(mean) + half - m
        needed = seeds_needed(reach, sd, alpha) if reach > 0 else math.inf
    return math.isfinite(needed) and needed <= design.max


def stage_table(compute, design: Design, stage: int, previous=None):
    """The claims table of a sequential design after stage ``stage`` (1-based), and
    whether the experiment needs another stage.

    Args:
        compute: ``compute() -> claims table`` on the seeds of stages 1..``stage`` (the
            family's claims of the stage's aggregate); it runs at the stage's nominal
            levels (:func:`contrastlab.claims.stage_levels`).
        design: the experiment's stages.
        stage: this stage.
        previous: the table after the previous stage (None at the first): its decided
            claims keep their verdict, numbers and stage.

    Returns:
        ``(table, more)``: every row's ``p_value`` is its stage-wise ordering p-value and
        ``stage`` says when it was decided (``"2/4"``) or ``"undecided after 2/4"``;
        ``more`` is True when a claim is undecided, the design has stages left and the
        claim could be decided within ``max`` seeds (:func:`_hopeful`).
    """
    from contrastlab.claims import stage_levels

    fr = design.fractions
    with stage_levels(lambda a: nominal_level(a, fr, stage)):
        table = compute()
    decided = {}
    if previous is not None:
        for r in previous.to_dict("records"):
            s = str(r.get("stage", ""))
            if s and s != "nan" and not s.startswith("undecided"):
                decided[(r["name"], r["claim"])] = r
    rows, more = [], False
    last = design.stages
    for r in table.to_dict("records"):
        key = (r["name"], r["claim"])
        if key in decided:
            rows.append(decided[key])
            continue
        if r["verdict"] == "not tested":
            rows.append(r)
            continue
        r["p_value"] = stagewise_p(float(r["p_value"]), float(r["alpha"]), fr, stage)
        if r["verdict"] in ("supported", "contradicted"):
            r["stage"] = f"{stage}/{last}"
        else:
            r["stage"] = f"undecided after {stage}/{last}"
            r["verdict"] = "inconclusive"
            level = nominal_level(float(r["alpha"]), fr, stage)
            more |= stage < last and _hopeful(r, design, level)
        rows.append(r)
    return type(table)(rows, columns=table.columns), more
