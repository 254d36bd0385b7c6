"""The held-out metric of the temperature family beyond the shared ones.

The entropy of the relative penalty r_i (Wang & Liu 2021, Sec. 3) on real
embeddings: r_i(s_ik) = softmax_{k != i}(s_ik / tau), anchors from view 1 and
negatives from view 2 of the held-out images. (Uniformity, alignment, tolerance,
local separation and the PCA picture are in :mod:`contrastlab.metrics.embedding`,
the linear probe in :mod:`contrastlab.metrics.probes`.)

References:
    - [0] Wang & Liu 2021, Understanding the Behaviour of Contrastive Loss,
      https://arxiv.org/abs/2012.09740
"""

from __future__ import annotations

import math

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
