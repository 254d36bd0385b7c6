"""The soft-triplet loss (Tian et al. 2020, Sec. 3, L_tri), batched over leading dims.

    L = 1/B sum_i tau * log(1 + exp((d2+_i - d2-_i + d0^2) / tau))

with the paper's distances d^2(a, b) = 1/2 |a - b|^2, each anchor's own
negative (H = 1) and margin d0^2 >= 0. As tau -> 0 it tends to the hinge
triplet loss max(0, d2+ - d2- + d0^2).

References:
    - [0] Tian, Yu, Chen & Ganguli 2020, Understanding Self-supervised Learning
      with Dual Deep Networks, https://arxiv.org/abs/2010.00578
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_triplet(
    f: torch.Tensor,
    f_pos: torch.Tensor,
    f_neg: torch.Tensor,
    temperature: float,
    margin: float = 0.0,
) -> torch.Tensor:
    """Per-anchor soft triplet tau log(1 + e^{(d2+ - d2- + d0^2)/tau}), own negative.

    Args:
        f, f_pos, f_neg: anchors, positives, negatives. Shape: (*lead, B, d).
        temperature: tau > 0.
        margin: d0^2 >= 0.

    Returns:
        Mean over anchors. Shape: (*lead,).
    """
    d2_pos = 0.5 * (f - f_pos).pow(2).sum(-1)  # (*lead, B)
    d2_neg = 0.5 * (f - f_neg).pow(2).sum(-1)
    return (temperature * F.softplus((d2_pos - d2_neg + margin) / temperature)).mean(-1)
