"""The exact, training-free part of Wang & Liu 2021: the hardness-aware relative penalty.

For an anchor i with positive similarity s_ii and negative similarities s_ik
(k != i), the contrastive loss (Eq. 1 of [0])

    L(x_i) = -log( e^{s_ii/tau} / (sum_{k != i} e^{s_ik/tau} + e^{s_ii/tau}) )

has the gradients (Sec. 3 of [0])

    dL/ds_ii = -(1/tau) sum_{k != i} P_ik,    dL/ds_ij = (1/tau) P_ij,
    P_ij = e^{s_ij/tau} / (sum_{k != i} e^{s_ik/tau} + e^{s_ii/tau}),

and the share of the gradient a negative j gets among the negatives is the
relative penalty, a Boltzmann distribution over the negatives

    r_i(s_ij) = e^{s_ij/tau} / sum_{k != i} e^{s_ik/tau}.

Limits (the paper's Eq. 7 and the text around it), with N negatives:

* tau -> inf: tau dL/ds_ij -> 1/(N+1) for every negative and tau dL/ds_ii ->
  -N/(N+1): the same direction as the simple loss -s_ii + lambda sum s_ij with
  lambda = 1/N (uniform penalty, no hardness-awareness);
* tau -> 0+: tau L -> max(s_max - s_ii, 0), the triplet loss with margin 0
  against the hardest negative only; its gradient goes to the hardest
  negative (tau dL/ds_{i,argmax} -> 1, tau dL/ds_ii -> -1) when
  s_max > s_ii, and to nothing when s_ii > s_max.

Fig. 3 of [0] draws r_i(s) for s ~ U[-1, 1] at several tau; here the
similarities are drawn per seed from the stream ``temperature/analytic``
(numpy float64), and everything else is exact arithmetic on them.

References:
    - [0] Wang & Liu 2021, Understanding the Behaviour of Contrastive Loss,
      https://arxiv.org/abs/2012.09740
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr
from scipy.special import logsumexp, softmax

from contrastlab.results import cf
from contrastlab.utils import seed_for

HARD_THRESHOLD = 0.9
CURVE_POINTS = 201


def draw_similarities(seed: int, n: int) -> np.ndarray:
    """n negative similarities s ~ U[-1, 1] of one seed (stream ``temperature/analytic``).

    Returns:
        Shape: (n,), float64.
    """
    rng = np.random.default_rng(seed_for(seed, "temperature/analytic"))
    return rng.uniform(-1.0, 1.0, n)


def relative_penalty(s_neg: np.ndarray, tau: float) -> np.ndarray:
    """r_i(s_ij) = e^{s_ij/tau} / sum_k e^{s_ik/tau} over the last axis (the negatives).

    Args:
        s_neg: negative similarities. Shape: (..., N).
        tau: temperature > 0.

    Returns:
        Sums to 1 over the last axis. Shape: (..., N).
    """
    return softmax(np.asarray(s_neg, dtype=np.float64) / tau, axis=-1)


def entropy(r: np.ndarray) -> np.ndarray:
    """Shannon entropy -sum r log r (nats) over the last axis (0 log 0 = 0).

    Shape: (..., N) -> (...).
    """
    r = np.asarray(r, dtype=np.float64)
    logr = np.log(np.where(r > 0, r, 1.0))
    return -(r * logr).sum(-1)


def hard_mass(s_neg: np.ndarray, r: np.ndarray, threshold: float = HARD_THRESHOLD) -> np.ndarray:
    """The share of the penalty on the hardest negatives: sum of r over s > threshold.

    Shape: (..., N) -> (...).
    """
    return (np.asarray(r) * (np.asarray(s_neg) > threshold)).sum(-1)


def contrastive_gradients(
    s_pos: float | np.ndarray, s_neg: np.ndarray, tau: float
) -> tuple[np.ndarray, np.ndarray]:
    """Exact gradients of L(x_i) (Eq. 1) with respect to s_ii and each s_ij.

    Args:
        s_pos: s_ii. Shape: (...).
        s_neg: s_ij, j != i. Shape: (..., N).
        tau: temperature > 0.

    Returns:
        ``(dL/ds_ii, dL/ds_ij)``. Shape: (...) and (..., N).
    """
    s_pos = np.asarray(s_pos, dtype=np.float64)
    s_neg = np.asarray(s_neg, dtype=np.float64)
    logits = np.concatenate([s_pos[..., None], s_neg], axis=-1) / tau
    P = softmax(logits, axis=-1)  # P[..., 0] is the positive's, P[..., 1:] = P_ij
    g_neg = P[..., 1:] / tau
    return -g_neg.sum(-1), g_neg


def contrastive_loss(s_pos: float | np.ndarray, s_neg: np.ndarray, tau: float) -> np.ndarray:
    """L(x_i) of Eq. 1 (stable log-sum-exp). Shape: (..., N) -> (...)."""
    s_pos = np.asarray(s_pos, dtype=np.float64)
    logits = np.concatenate([s_pos[..., None], np.asarray(s_neg, dtype=np.float64)], -1) / tau
    return logsumexp(logits, axis=-1) - s_pos / tau


def limit_large_tau(n_neg: int) -> tuple[float, np.ndarray]:
    """lim_{tau->inf} tau * (dL/ds_ii, dL/ds_ij) = (-N/(N+1), 1/(N+1) each).

    Equal to N/(N+1) times the gradient (-1, lambda) of the simple loss with
    lambda = 1/N: every negative is penalised alike.
    """
    return -n_neg / (n_neg + 1.0), np.full(n_neg, 1.0 / (n_neg + 1.0))


def limit_small_tau(s_pos: float, s_neg: np.ndarray) -> tuple[float, np.ndarray]:
    """lim_{tau->0+} tau * (dL/ds_ii, dL/ds_ij): the margin-0 triplet loss's gradient.

    (-1, e_argmax) if the hardest negative beats the positive (s_max > s_ii),
    (0, 0) if the positive wins. Ties are excluded (the limit depends on how
    tau goes to 0 there).
    """
    s_neg = np.asarray(s_neg, dtype=np.float64)
    out = np.zeros_like(s_neg)
    j = int(np.argmax(s_neg))
    if np.sum(s_neg == s_neg[j]) > 1 or s_neg[j] == s_pos:
        raise ValueError("the tau -> 0 limit is defined without ties")
    if s_neg[j] > s_pos:
        out[j] = 1.0
        return -1.0, out
    return 0.0, out


def triplet_limit(s_pos: float | np.ndarray, s_neg: np.ndarray) -> np.ndarray:
    """lim_{tau->0+} tau L(x_i) = max(s_max - s_ii, 0) (triplet loss with margin 0)."""
    return np.maximum(np.max(s_neg, axis=-1) - np.asarray(s_pos), 0.0)


def analytic_dataset(taus: Sequence[float], n_draws: int, seeds: Sequence[int]) -> xr.Dataset:
    """The paper's Fig. 3 and its summaries for every seed and tau.

    Per seed, ``n_draws`` similarities s_k ~ U[-1, 1] play the negatives of
    one anchor; for every tau the relative penalty r(s_k) is computed exactly.

    Args:
        taus: temperatures.
        n_draws: negatives per seed.
        seeds: the seeds.

    Returns:
        Dataset with dims ``seed``, ``tau``, ``sim``:
        ``penalty_curve`` (seed, tau, sim) = e^{s/tau} / sum_k e^{s_k/tau} on a
        grid of s (the curve through the drawn points), ``penalty_entropy_analytic``,
        ``hard_mass_analytic`` (mass of r on s > 0.9), ``penalty_max_analytic``
        (the hardest negative's share) and ``penalty_tv_uniform`` (total
        variation distance of r from the uniform distribution, 0 as for the
        simple loss), each (seed, tau).
    """
    taus = np.asarray(taus, dtype=np.float64)
    grid = np.linspace(-1.0, 1.0, CURVE_POINTS)
    S, T = len(seeds), len(taus)
    curve = np.empty((S, T, CURVE_POINTS))
    ent, mass, rmax, tv = (np.empty((S, T)) for _ in range(4))
    for i, seed in enumerate(seeds):
        s = draw_similarities(int(seed), n_draws)
        for j, tau in enumerate(taus):
            r = relative_penalty(s, tau)
            curve[i, j] = np.exp(grid / tau - logsumexp(s / tau))
            ent[i, j] = entropy(r)
            mass[i, j] = hard_mass(s, r)
            rmax[i, j] = r.max()
            tv[i, j] = 0.5 * np.abs(r - 1.0 / n_draws).sum()
    st = ("seed", "tau")
    return xr.Dataset(
        {
            "penalty_curve": (
                ("seed", "tau", "sim"),
                curve,
                cf("relative penalty r_i(s) (analytic, s ~ U[-1, 1])", "1"),
            ),
            "penalty_entropy_analytic": (
                st,
                ent,
                cf(f"entropy of r_i over {n_draws} negatives s ~ U[-1, 1] (analytic)", "nat"),
            ),
            "hard_mass_analytic": (
                st,
                mass,
                cf(f"share of r_i on negatives with s > {HARD_THRESHOLD} (analytic)", "1"),
            ),
            "penalty_max_analytic": (
                st,
                rmax,
                cf("largest r_i: the hardest negative's share (analytic)", "1"),
            ),
            "penalty_tv_uniform": (
                st,
                tv,
                cf("total variation of r_i from uniform (0 = simple loss) (analytic)", "1"),
            ),
        },
        coords={
            "seed": ("seed", np.asarray(seeds, dtype=np.int64), cf("seed", "1")),
            "tau": ("tau", taus, cf("temperature tau (analytic)", "1")),
            "sim": ("sim", grid, cf("similarity s", "1")),
        },
    )
