"""The group-sequential design of ``n_seeds: {start, step, max}`` (contrastlab.sequential):
boundaries against known values and Monte Carlo, and the whole procedure by simulation
(no training): its error rate under a null effect and its power at a declared effect."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from contrastlab.claims import Claim, adjust, claims_frame, contrast
from contrastlab.sequential import (
    Design,
    boundaries,
    nominal_level,
    spent,
    stage_table,
    stagewise_p,
)

DESIGN = Design(5, 5, 20)
CLAIM = Claim("p", "b beats a", "Fig. 1", "paper", "b - a", "paired_t", name="c")


def test_design_stages_and_seeds():
    assert DESIGN.totals == [5, 10, 15, 20] and DESIGN.fractions == (0.25, 0.5, 0.75, 1.0)
    assert DESIGN.new_seeds(0, 1) == [0, 1, 2, 3, 4] and DESIGN.new_seeds(100, 3)[0] == 110
    assert Design(5, 10, 20).totals == [5, 15, 20]
    with pytest.raises(ValueError, match="start"):
        Design(1, 5, 20)


def test_boundaries_are_the_obrien_fleming_type_spending_boundaries():
    """Four equally spaced looks, one-sided 0.05 (Lan-DeMets OBF spending): the published
    z boundaries 3.75, 2.54, 2.02, 1.72 (e.g. R gsDesign / Jennison & Turnbull), and by
    Monte Carlo of the Brownian motion the crossing probability is alpha."""
    c = boundaries(0.05, DESIGN.fractions)
    assert c == pytest.approx([3.7496, 2.5400, 2.0163, 1.7207], abs=2e-3)
    t = np.array(DESIGN.fractions)
    inc = np.random.default_rng(0).standard_normal((200_000, 4)) * np.sqrt(np.diff(t, prepend=0))
    z = inc.cumsum(1) / np.sqrt(t)
    assert (z >= np.array(c)).any(1).mean() == pytest.approx(0.05, abs=0.002)
    # the last look's level is close to alpha, the first spends almost nothing
    assert nominal_level(0.05, DESIGN.fractions, 1) < 1e-3
    assert 0.04 < nominal_level(0.05, DESIGN.fractions, 4) < 0.05
    assert spent(0.05, 1.0) == pytest.approx(0.05)


def test_stagewise_p_at_the_boundary_is_the_alpha_spent():
    for k in range(1, 5):
        p = stagewise_p(nominal_level(0.05, DESIGN.fractions, k), 0.05, DESIGN.fractions, k)
        assert p == pytest.approx(spent(0.05, DESIGN.fractions[k - 1]), abs=1e-5)


def _run(draws: np.ndarray, design: Design = DESIGN) -> tuple[str, int]:
    """The procedure on one simulated experiment with one claim: (final verdict, seeds)."""
    table = None
    for stage, n in enumerate(design.totals, start=1):
        table, more = stage_table(
            lambda n=n: claims_frame([contrast(CLAIM, draws[:n])]), design, stage, table
        )
        if not more:
            break
    final = adjust({"e": table}, "none")["e"]
    return final["verdict"][0], n


def _simulate(effect: float, runs: int, seed: int) -> tuple[float, float, float]:
    rng = np.random.default_rng(seed)
    out = [_run(effect + rng.standard_normal(DESIGN.max)) for _ in range(runs)]
    verdicts = np.array([v for v, _ in out])
    return (
        float((verdicts == "supported").mean()),
        float((verdicts == "contradicted").mean()),
        float(np.mean([n for _, n in out])),
    )


@pytest.mark.slow
def test_error_rate_under_the_null_stays_at_alpha():
    """2000 simulated runs with no effect: the share called supported is at most alpha
    plus 2.33 Monte Carlo standard errors (one-sided 99%)."""
    runs = 2000
    supported, contradicted, _ = _simulate(0.0, runs, seed=1)
    mc = 2.33 * np.sqrt(0.05 * 0.95 / runs)
    assert supported <= 0.05 + mc and contradicted <= 0.05 + mc


@pytest.mark.slow
def test_power_at_the_declared_effect():
    """A true effect of 0.6 sd: a fixed 20-seed t-test has power 0.83 for it; the design
    (which stops early on success, and for a claim that even the optimistic end of its
    interval could not decide within max) supports it about as often (measured 0.83 over
    300 runs, 2026-12-03) with 16 seeds on average instead of 20."""
    fixed = stats.nct.sf(stats.t.isf(0.05, 19), 19, 0.6 * np.sqrt(20))
    assert fixed == pytest.approx(0.83, abs=0.01)
    supported, contradicted, mean_n = _simulate(0.6, 300, seed=2)
    assert supported > 0.7 and contradicted == 0
    assert mean_n < 18


def test_decided_claims_keep_their_stage_and_numbers():
    draws = np.r_[np.full(5, 2.0) + 0.1 * np.arange(5), np.zeros(15)]
    t1, more = stage_table(lambda: claims_frame([contrast(CLAIM, draws[:5])]), DESIGN, 1)
    assert t1["stage"][0] == "1/4" and t1["verdict"][0] == "supported" and not more
    t2, _ = stage_table(lambda: claims_frame([contrast(CLAIM, draws[:10])]), DESIGN, 2, t1)
    pd.testing.assert_frame_equal(t1, t2)


def test_an_undecided_claim_asks_for_more_seeds_only_if_max_could_decide_it():
    rng = np.random.default_rng(5)
    small = 0.8 + rng.standard_normal(5)  # promising, not yet decided at the first look
    t1, more = stage_table(lambda: claims_frame([contrast(CLAIM, small)]), DESIGN, 1)
    assert t1["stage"][0] == "undecided after 1/4" and t1["verdict"][0] == "inconclusive"
    assert more == (t1["seeds_needed"][0] <= 20)
    # no effect, and even the upper end of the interval is far below the smallest effect
    # that counts: no number of seeds up to max could support it: stop
    big = Claim("p", "b beats a by 1", "Fig. 1", "paper", "b - a", min_effect=1.0, name="c")
    flat = np.array([0.1, -0.1, 0.05, -0.05, 0.0])
    t1, more = stage_table(lambda: claims_frame([contrast(big, flat)]), DESIGN, 1)
    assert t1["verdict"][0] == "inconclusive" and not more
