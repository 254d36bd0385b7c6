"""Feature-learning metrics for the Wen & Li experiment ([design], see papers.md §2)."""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import rankdata


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


def auc(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """ROC AUC along the last axis (Mann-Whitney U with average ranks for ties).

    Args:
        scores: Shape: (..., n).  labels: boolean, same shape.

    Returns:
        Shape: (...). NaN where a row has only one class.
    """
    ranks = rankdata(scores, axis=-1)
    labels = labels.astype(bool)
    n_pos = labels.sum(-1)
    n_neg = labels.shape[-1] - n_pos
    u = (ranks * labels).sum(-1) - n_pos * (n_pos + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan)


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
    phi = feats.abs().double()
    phi = torch.cat([phi, torch.ones_like(phi[..., :1])], dim=-1)  # intercept column
    y = (z != 0).double()
    n = phi.shape[1] // 2
    A, Y = phi[:, :n], y[:, :n]
    gram = A.transpose(1, 2) @ A + ridge * n * torch.eye(A.shape[-1], dtype=A.dtype)
    beta = torch.linalg.solve(gram, A.transpose(1, 2) @ Y)  # (seed, m+1, d)
    scores = (phi[:, n:] @ beta).transpose(1, 2).cpu().numpy()  # (seed, d, n_test)
    labels = y[:, n:].transpose(1, 2).cpu().numpy()
    return auc(scores, labels)
