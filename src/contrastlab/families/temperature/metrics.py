"""Held-out metrics of the temperature family beyond :mod:`contrastlab.metrics.embedding`.

* the entropy of the relative penalty r_i (Wang & Liu 2021, Sec. 3) on real
  embeddings: r_i(s_ik) = softmax_{k != i}(s_ik / tau), anchors from view 1
  and negatives from view 2 of the held-out images;
* the linear probe: scikit-learn's logistic regression on the frozen
  embeddings (fit on the training split, accuracy on the held-out split)
  [design: standardised features, C = 1, the newton-cg solver (converges in ~10
  iterations where lbfgs needs hundreds on a nearly collapsed embedding)];
* a 2-D PCA picture of the held-out embeddings.

References:
    - [0] Wang & Liu 2021, Understanding the Behaviour of Contrastive Loss,
      https://arxiv.org/abs/2012.09740
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def penalty_entropy(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> torch.Tensor:
    """Mean over anchors of the entropy (nats) of r_i(s_ik) = softmax_{k != i}(s_ik / tau).

    Args:
        z1, z2: embeddings of the two views. Shape: (*lead, n, dim).
        tau: temperature > 0.

    Returns:
        Shape: (*lead,).
    """
    n = z1.shape[-2]
    sim = F.normalize(z1, dim=-1) @ F.normalize(z2, dim=-1).transpose(-1, -2)
    eye = torch.eye(n, dtype=torch.bool, device=z1.device)
    logits = (sim / tau).masked_fill(eye, -math.inf)
    logr = torch.log_softmax(logits, dim=-1)
    r = logr.exp()
    ent = -(r * logr.masked_fill(eye, 0.0)).sum(-1)
    return ent.mean(-1)


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


def pca_2d(z: np.ndarray) -> np.ndarray:
    """Projection of every seed's embeddings on their first two principal components.

    Signs are fixed so that the largest-magnitude loading of each component is
    positive (the same picture on every platform).

    Args:
        z: embeddings. Shape: (seed, n, dim).

    Returns:
        Shape: (seed, n, 2).
    """
    from threadpoolctl import threadpool_limits

    out = np.empty(z.shape[:2] + (2,))
    with threadpool_limits(limits=1):  # see probe_accuracy
        for s in range(len(z)):
            x = np.asarray(z[s], np.float64)
            if not np.isfinite(x).all():
                out[s] = np.nan
                continue
            x = x - x.mean(0)
            _, _, vt = np.linalg.svd(x, full_matrices=False)
            comps = vt[:2]
            sign = np.sign(comps[np.arange(2), np.abs(comps).argmax(1)])
            out[s] = x @ (comps * sign[:, None]).T
    return out
