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


def _design(a: torch.Tensor, intercept: bool) -> torch.Tensor:
    """``a`` in float64, with a last column of ones for the intercept: written in one
    pass into its buffer (the values of ``cat([a.double(), ones])``)."""
    if not intercept:
        return a.double()
    out = a.new_empty((*a.shape[:-1], a.shape[-1] + 1), dtype=torch.float64)
    out[..., :-1].copy_(a)
    out[..., -1] = 1.0
    return out


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
    A, T, Y = _design(a_train, intercept), _design(a_test, intercept), y_train.double()
    n = A.shape[-2]
    gram = A.transpose(-1, -2) @ A + ridge * n * torch.eye(A.shape[-1], dtype=A.dtype)
    beta = torch.linalg.solve(gram, A.transpose(-1, -2) @ Y)
    return T @ beta


def auc(scores, labels) -> np.ndarray:
    """ROC AUC along the last axis (Mann-Whitney U with average ranks for ties).

    U counts, over the positive-negative pairs, 1 for a positive scored above the
    negative and 1/2 for a tie: for each positive, the negatives below it plus half
    those equal to it, two binary searches in the row's sorted negatives (no ranks
    of the whole row needed). The counts are integers and halves, exact in float64,
    so this equals the rank-sum formula (``scipy.stats.rankdata``) bit for bit.

    Args:
        scores: Shape: (..., n). A numpy array or a tensor (any device).
        labels: boolean, same shape.

    Returns:
        Shape: (...). NaN where a row has only one class or a NaN score.
    """
    s = torch.as_tensor(scores).double()
    y = torch.as_tensor(labels, device=s.device).bool()
    lead, n = s.shape[:-1], s.shape[-1]
    s, y = s.reshape(lead.numel(), n), y.reshape(lead.numel(), n)
    n_pos = y.sum(-1)
    n_neg = n - n_pos
    neg = s.masked_fill(y, float("inf"))  # the row's negatives, then +inf once sorted
    if neg.device.type == "cpu":  # numpy's vectorised sort: ~6x torch's here
        neg = torch.from_numpy(np.sort(neg.numpy(), -1))
    else:
        neg = neg.sort(-1).values
    # the row's positives, packed to the left (-inf after them: no negative lies below)
    k = int(n_pos.max()) if s.numel() else 0
    slot = torch.where(y, y.cumsum(-1) - 1, k)  # a positive's place; others: a spare column
    pos = s.new_full((s.shape[0], k + 1), -float("inf")).scatter_(1, slot, s)[:, :k].contiguous()
    below = torch.searchsorted(neg, pos)  # negatives < the positive (+inf never counts)
    upto = torch.searchsorted(neg, pos, right=True)  # negatives <= the positive
    u2 = (below + upto).sum(-1)  # 2 U: integers
    out = (u2.double() / 2 / (n_pos * n_neg).double()).cpu().numpy()
    bad = ((n_pos == 0) | (n_neg == 0) | s.isnan().any(-1)).cpu().numpy()
    out[bad] = np.nan
    return out.reshape(tuple(lead))


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
