"""Tian et al. 2020's exact-covariance contrastive loss (Sec. 7, Theorem 4), batched
over leading (seed) dims.

With the 2B views of a batch as anchors (view 1 then view 2), r = 1 - cos the distance
of two L2-normalised embeddings, r_pos,a that of anchor a to its positive and r_neg,aj
those to its 2B - 2 negatives (the other images' two views), the weights are computed
from the current distances and *detached* (no gradient flows through them):

    ``w_aj = sg[ e_aj / (1 + e_aj) ] / tau / (2B - 2)``, ``e_aj = exp(-r_neg,aj / tau)``,
    ``w_pos,a = sum_j w_aj``,

    ``L = mean_a ( w_pos,a r_pos,a - sum_j w_aj r_neg,aj ) + beta mean_a w_pos,a r_pos,a``.

Its gradient is then exactly the weighted covariance-operator update of the paper's
Theorem 4 (the weights frozen at their current value), with the beta term an extra
pull on the positive pairs (the authors' ``loss_type=exact_cov``, ``beta``).

References:
    - [0] Tian, Yu, Chen & Ganguli 2020, Understanding Self-supervised Learning with Dual
      Deep Networks, https://arxiv.org/abs/2010.00578 (Sec. 7; code: luckmatters
      ``ssl/real-dataset/loss/nt_xent.py``)
"""

from __future__ import annotations

import torch

from contrastlab.losses.ntxent import pair_similarities, per_lead


def exact_cov(z1: torch.Tensor, z2: torch.Tensor, temperature, beta=0.0) -> torch.Tensor:
    """The exact-covariance loss L of the module docstring.

    Args:
        z1: embeddings of view 1. Shape: (*lead, B, dim).
        z2: embeddings of view 2 (row i is the positive of row i of ``z1``).
            Shape: (*lead, B, dim).
        temperature: tau > 0, a number or one per leading index ((*lead,) or (*lead, 1, 1)).
        beta: the intra-pair weight, a number or one per leading index.

    Returns:
        Loss per leading index. Shape: (*lead,).
    """
    s_pos, s_neg = pair_similarities(z1, z2)
    lead = s_pos.shape[:-1]
    tau = per_lead(temperature, lead, s_pos)[..., None, None]  # (*lead, 1, 1)
    beta = per_lead(beta, lead, s_pos)
    r_pos, r_neg = 1 - s_pos, 1 - s_neg
    e = torch.exp(-r_neg.detach() / tau)
    w = e / (1 + e) / tau / s_neg.shape[-1]
    w_pos = w.sum(-1)  # (*lead, 2B)
    pull = (w_pos * r_pos).mean(-1)
    return pull - (w * r_neg).sum(-1).mean(-1) + beta * pull
