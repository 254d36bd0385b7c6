"""Feature-learning metrics for the Wen & Li experiment ([design], see papers.md §2)."""

from __future__ import annotations

import numpy as np
import torch

from contrastlab.metrics.probes import auc, ridge_fit_predict


def cosine_matrix(W: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """|cos(w_i, M_j)| for every neuron i and atom j.

    Args:
        W: Shape: (seed, m, d1).  M: Shape: (seed, d1, d).

    Returns:
        Shape: (seed, m, d).
    """
    Wn = W / W.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    Mn = M / M.norm(dim=-2, keepdim=True).clamp_min(1e-12)
    return torch.bmm(Wn, Mn).abs()


def atom_alignment(W: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """a_j = max_i |cos(w_i, M_j)|. Shape: (seed, d)."""
    return cosine_matrix(W, M).amax(dim=1)


def dense_fraction(W: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """Mean over neurons of |(I - M M^T) w_i|^2 / |w_i|^2. Shape: (seed,).

    0 when every neuron lies in the span of the atoms, (d1 - d)/d1 on
    average for random neurons.
    """
    proj = torch.bmm(torch.bmm(W, M), M.transpose(1, 2))  # (seed, m, d1): M M^T w_i
    resid = (W - proj).pow(2).sum(-1)
    return (resid / W.pow(2).sum(-1).clamp_min(1e-24)).mean(-1)


def support_probe_auc(feats: torch.Tensor, z: torch.Tensor, ridge: float = 1e-3) -> np.ndarray:
    """Held-out linear probe of the sparse support 1[z_j != 0] from |f(x)|.

    The network is odd (h(-x) = -h(x)), so no linear read-out of f(x) itself
    can detect the support of z (an even function of x); the probe reads the
    magnitudes |f(x)| instead. A ridge regression (with intercept, penalty
    ``ridge`` * n) is fitted on the first half of the held-out set for each
    atom, and scored by ROC AUC on the second half (chance = 0.5).

    Args:
        feats: f(x) on the held-out set. Shape: (seed, n, m).
        z: the sparse features of those inputs. Shape: (seed, n, d).

    Returns:
        AUC per seed and atom. Shape: (seed, d).
    """
    phi = feats.abs()
    y = (z != 0).double()
    n = phi.shape[1] // 2
    scores = ridge_fit_predict(phi[:, :n], y[:, :n], phi[:, n:], ridge)  # (seed, n_test, d)
    return auc(scores.transpose(1, 2), y[:, n:].transpose(1, 2))
