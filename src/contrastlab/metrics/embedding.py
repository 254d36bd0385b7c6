"""Alignment, uniformity, tolerance and local separation of embeddings on the sphere.

Every function L2-normalises its embeddings first and is batched over a
leading (seed) dimension.

* uniformity (Wang & Isola 2020 [0], Sec. 4.1):
  ``L_unif = log E_{x != y} exp(-t |f(x) - f(y)|^2)``, t = 2; Wang & Liu [1]
  report ``-L_unif`` (larger = more uniform; 0 for a collapsed embedding,
  -> 2t = 4 for uniform points on a high-dimensional sphere, where
  E|x - y|^2 = 2; about 3.94 on S^127);
* alignment ([0], Sec. 4.1): ``L_align = E |f(x) - f(x+)|^2`` over positive pairs;
* tolerance ([1], Sec. 4): the mean cosine similarity over pairs of distinct
  samples of the same class;
* local separation ([1], Sec. 4): each anchor's positive similarity s_ii and
  the mean of its k = 10 largest negative similarities s_ik (k != i);
* a 2-D picture: the projection on the first two principal components
  (:func:`pca_2d`, numpy, not normalised first).

References:
    - [0] Wang & Isola 2020, Understanding Contrastive Representation Learning
      through Alignment and Uniformity on the Hypersphere,
      https://arxiv.org/abs/2005.10242
    - [1] Wang & Liu 2021, Understanding the Behaviour of Contrastive Loss,
      https://arxiv.org/abs/2012.09740
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def neg_uniformity(z: torch.Tensor, t: float = 2.0) -> torch.Tensor:
    """-L_unif = -log mean_{i != j} exp(-t |u_i - u_j|^2), u = z / |z|.

    Uses |u_i - u_j|^2 = 2 - 2 <u_i, u_j> (clamped at 0).

    Args:
        z: embeddings. Shape: (*lead, n, dim), n >= 2.
        t: the kernel's scale (the paper's t = 2).

    Returns:
        Shape: (*lead,).
    """
    n = z.shape[-2]
    if n < 2:
        raise ValueError(f"uniformity needs >= 2 samples, got {n}")
    u = F.normalize(z, dim=-1)
    d2 = (2.0 - 2.0 * (u @ u.transpose(-1, -2))).clamp_min(0.0)
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    logits = (-t * d2).masked_fill(eye, -math.inf).flatten(-2)
    return -(torch.logsumexp(logits, dim=-1) - math.log(n * (n - 1)))


def alignment(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """L_align = mean_i |u_i - v_i|^2 of the normalised positive pairs.

    Args:
        z1, z2: embeddings of the two views. Shape: (*lead, n, dim).

    Returns:
        Shape: (*lead,).
    """
    u, v = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
    return (u - v).pow(2).sum(-1).mean(-1)


def tolerance(z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cosine similarity over ordered pairs (i, j), i != j, of the same class.

    Args:
        z: embeddings. Shape: (*lead, n, dim).
        labels: class of every sample (integers). Shape: (*lead, n) or (n,).

    Returns:
        NaN where no class has two samples. Shape: (*lead,).
    """
    u = F.normalize(z, dim=-1)
    sim = u @ u.transpose(-1, -2)
    labels = labels.to(z.device).expand(z.shape[:-1])
    same = labels[..., :, None] == labels[..., None, :]
    n = z.shape[-2]
    same = same & ~torch.eye(n, dtype=torch.bool, device=z.device)
    w = same.to(sim.dtype)
    return (sim * w).sum((-1, -2)) / w.sum((-1, -2))


def local_separation(
    z1: torch.Tensor, z2: torch.Tensor, k: int = 10
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per anchor: the positive similarity s_ii and the mean of the k largest s_ik, k != i.

    s_ik = <u_i, v_k> with u, v the normalised embeddings of the two views
    (anchors from view 1, positive and negatives from view 2, as in training).

    Args:
        z1, z2: embeddings of the two views. Shape: (*lead, n, dim).
        k: negatives averaged per anchor (the paper's 10), 1 <= k <= n - 1.

    Returns:
        ``(pos, neg_top)``. Shape: (*lead, n) each.
    """
    n = z1.shape[-2]
    if not 1 <= k <= n - 1:
        raise ValueError(f"top-k negatives need 1 <= k <= n - 1 = {n - 1}, got {k}")
    sim = F.normalize(z1, dim=-1) @ F.normalize(z2, dim=-1).transpose(-1, -2)
    pos = torch.diagonal(sim, dim1=-2, dim2=-1)
    eye = torch.eye(n, dtype=torch.bool, device=z1.device)
    neg = sim.masked_fill(eye, -math.inf).topk(k, dim=-1).values.mean(-1)
    return pos, neg


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
    with threadpool_limits(limits=1):  # see contrastlab.metrics.probes.probe_accuracy
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


def spread(h: torch.Tensor) -> torch.Tensor:
    """The share of a representation's energy that varies across inputs, per seed:
    tr Cov(h) / E|h|^2, in [0, 1] (0: every input has the same representation; not
    normalised first, so a probe's standardisation cannot hide a collapse; below
    :data:`contrastlab.claims.COLLAPSED_SPREAD` a representation counts as collapsed).

    Args:
        h: Shape (seed, n, dim).

    Returns:
        Shape (seed,).
    """
    h = h.double()
    total = h.pow(2).sum(-1).mean(-1)
    varying = (h - h.mean(1, keepdim=True)).pow(2).sum(-1).mean(-1)
    return torch.where(total > 0, varying / total.clamp_min(1e-300), torch.zeros_like(total))
