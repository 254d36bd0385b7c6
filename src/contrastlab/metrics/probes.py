"""Linear probes, batched over a leading seed dimension.

A probe reads a target linearly from frozen features:

* :func:`ridge_fit_predict` -- ridge regression solved in closed form (normal
  equations), exact, fast for the small feature counts of these experiments,
  and batched over seeds;
* :func:`probe_accuracy` -- a class read-out: scikit-learn's logistic
  regression on the frozen embeddings (fit on the training split, accuracy on
  the held-out split) [design: standardised features, C = 1, the newton-cg
  solver (converges in ~10 iterations where lbfgs needs hundreds on a nearly
  collapsed embedding)], one fit per seed.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import rankdata


def ridge_fit_predict(
    a_train: torch.Tensor,
    y_train: torch.Tensor,
    a_test: torch.Tensor,
    ridge: float = 1e-3,
    intercept: bool = True,
) -> torch.Tensor:
    """Ridge regression y ~ a beta (+ intercept) fitted on train, predicted on test.

    beta = (A^T A + ridge * n I)^{-1} A^T Y, in float64, one fit per leading index
    (the intercept is penalised like the other coefficients; with the small
    ``ridge`` used here this does not matter).

    Args:
        a_train: features. Shape: (*lead, n, p).
        y_train: targets. Shape: (*lead, n, q).
        a_test: features to predict from. Shape: (*lead, m, p).
        ridge: penalty per sample.
        intercept: add a constant feature.

    Returns:
        Predictions. Shape: (*lead, m, q), float64.
    """
    A, Y, T = a_train.double(), y_train.double(), a_test.double()
    if intercept:
        A = torch.cat([A, torch.ones_like(A[..., :1])], dim=-1)
        T = torch.cat([T, torch.ones_like(T[..., :1])], dim=-1)
    n = A.shape[-2]
    gram = A.transpose(-1, -2) @ A + ridge * n * torch.eye(A.shape[-1], dtype=A.dtype)
    beta = torch.linalg.solve(gram, A.transpose(-1, -2) @ Y)
    return T @ beta


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


def probe_accuracy(
    z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, y_test: np.ndarray
) -> np.ndarray:
    """Held-out accuracy of a logistic-regression probe per seed.

    Args:
        z_train: training embeddings. Shape: (seed, n_train, dim).
        y_train: their classes. Shape: (seed, n_train).
        z_test: held-out embeddings. Shape: (seed, n_test, dim).
        y_test: their classes. Shape: (seed, n_test).

    Returns:
        NaN for a seed with non-finite embeddings. Shape: (seed,).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    out = np.empty(len(z_train))
    # One BLAS thread: on a small machine OpenBLAS's own thread pool makes these small
    # fits up to ~40x slower, and a fixed thread count keeps the numbers reproducible.
    with threadpool_limits(limits=1):
        for s in range(len(z_train)):
            if not (np.isfinite(z_train[s]).all() and np.isfinite(z_test[s]).all()):
                out[s] = np.nan  # a diverged seed: the engine's guard reports it
                continue
            clf = make_pipeline(
                StandardScaler(), LogisticRegression(C=1.0, solver="newton-cg", max_iter=1000)
            )
            clf.fit(np.asarray(z_train[s], np.float64), y_train[s])
            out[s] = clf.score(np.asarray(z_test[s], np.float64), y_test[s])
    return out
