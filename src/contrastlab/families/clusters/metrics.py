"""Metrics of the clusters family (HaoChen & Ma 2023; papers.md §3), batched over leading dims.

* :func:`probe_relative_mse` -- a held-out linear probe (closed-form ridge, fitted on
  the training points' features) of a label, scored as the fraction of the label's
  variance left unexplained: ``sum_j mean_i (yhat_ij - y_ij)^2 / sum_j var_i(y_ij)``
  on the held-out points (0 = solved; 1 = no better than the mean). For a one-hot
  label this pools the classes.
* :func:`whitened_pair_distance` -- the paper's phi: whiten f so that the empirical
  E[f f^T] = I / k, then the mean squared distance of the positive pairs.
* :func:`invariant_angles` -- principal angles between a linear encoder's (dominant)
  row space and span(e_1..e_s).

References:
    - [0] HaoChen & Ma 2023, A Theoretical Study of Inductive Biases in Contrastive
      Learning, https://arxiv.org/abs/2211.14699 (Table 1 for phi).
"""

from __future__ import annotations

import torch

from contrastlab.metrics.probes import ridge_fit_predict
from contrastlab.metrics.subspace import principal_angles


def relative_mse(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``sum_j mean_i (pred_ij - y_ij)^2 / sum_j var_i(y_ij)`` (1 - R^2, pooled over j).

    Args:
        pred, y: predictions and targets. Shape: (*lead, n, q).

    Returns:
        NaN where the label is constant. Shape: (*lead,).
    """
    pred, y = pred.double(), y.double()
    err = (pred - y).pow(2).mean(-2).sum(-1)
    var = (y - y.mean(-2, keepdim=True)).pow(2).mean(-2).sum(-1)
    return torch.where(var > 0, err / torch.where(var > 0, var, 1.0), torch.nan)


def probe_relative_mse(
    f_train: torch.Tensor,
    y_train: torch.Tensor,
    f_test: torch.Tensor,
    y_test: torch.Tensor,
    ridge: float = 1e-3,
) -> torch.Tensor:
    """Ridge probe fitted on (f_train, y_train), relative MSE on (f_test, y_test).

    Args:
        f_train: features of the training points. Shape: (*lead, n, k).
        y_train: their labels. Shape: (*lead, n, q) (broadcast over extra lead dims).
        f_test: features of the held-out points. Shape: (*lead, m, k).
        y_test: their labels. Shape: (*lead, m, q).
        ridge: penalty per sample (:func:`contrastlab.metrics.probes.ridge_fit_predict`).

    Returns:
        Shape: (*lead,).
    """
    lead = f_train.shape[:-2]
    y_train = y_train.expand(*lead, *y_train.shape[-2:])
    y_test = y_test.expand(*lead, *y_test.shape[-2:])
    pred = ridge_fit_predict(f_train, y_train, f_test, ridge)
    return relative_mse(pred, y_test)


def whitened_pair_distance(
    f1: torch.Tensor, f2: torch.Tensor, rank_tol: float = 1e-3
) -> torch.Tensor:
    """phi: the positive-pair distance of the whitened outputs (Table 1 of [0]).

    With C = (F1^T F1 + F2^T F2) / (2n) the empirical E[f f^T] over both views of
    the n positive pairs and fbar = C^{-1/2} f / sqrt(k) (so that the empirical
    E[fbar fbar^T] = I / k and E|fbar|^2 = 1)::

        phi = mean_i |fbar(x_i) - fbar(x+_i)|^2 = tr(C^{-1} D) / k,
        D = mean_i (f1_i - f2_i)(f1_i - f2_i)^T,

    the mean over a C-orthonormal basis of the Rayleigh quotients
    E[(u^T (f(x) - f(x+)))^2] / E[(u^T f(x))^2], each in [0, 4]. phi is invariant
    to any invertible linear map of f, so it measures the partition f implements,
    not its scale: for f the indicators of k balanced clusters, phi = 2 * (fraction
    of positive pairs whose views fall in different clusters); 0 = no positive pair
    leaks across the partition.

    A collapsed encoder (outputs that do not span k dimensions) implements fewer
    than k clusters and its constant directions would count as perfectly
    invariant: phi is NaN where the smallest eigenvalue of C is below ``rank_tol``
    times the largest.

    Args:
        f1, f2: outputs on the two views. Shape: (*lead, n, k).
        rank_tol: relative eigenvalue below which C counts as rank-deficient.

    Returns:
        Shape: (*lead,).
    """
    f1, f2 = f1.double(), f2.double()
    n, k = f1.shape[-2], f1.shape[-1]
    C = (f1.transpose(-1, -2) @ f1 + f2.transpose(-1, -2) @ f2) / (2 * n)
    evals, evecs = torch.linalg.eigh(C)
    top = evals[..., -1:].clamp_min(1e-300)
    full = evals[..., 0] >= rank_tol * top[..., 0]
    w = evecs * evals.clamp_min(rank_tol * top).rsqrt()[..., None, :]  # C^{-1/2} up to rotation
    phi = ((f1 - f2) @ w).pow(2).sum(-1).mean(-1) / k
    return torch.where(full, phi, torch.nan)


def invariant_angles(W: torch.Tensor, s: int) -> torch.Tensor:
    """Principal angles between a linear encoder's row space and span(e_1..e_s), degrees.

    For k <= s the row space of W (k directions); for k > s its dominant
    s-dimensional part (the top-s right singular vectors), so that the angles say
    whether the encoder's strongest directions are the invariant ones.

    Args:
        W: encoder weights f(x) = W x. Shape: (*lead, k, d).
        s: invariant coordinates.

    Returns:
        min(k, s) angles, smallest first. Shape: (*lead, min(k, s)).
    """
    W = W.double()
    k, d = W.shape[-2], W.shape[-1]
    if k <= s:
        rows = W.transpose(-1, -2)  # (*lead, d, k)
    else:
        _, _, vh = torch.linalg.svd(W, full_matrices=False)
        rows = vh[..., :s, :].transpose(-1, -2)  # (*lead, d, s)
    e = torch.eye(d, dtype=W.dtype, device=W.device)[:, :s]
    return principal_angles(rows, e.expand(*W.shape[:-2], d, s))
