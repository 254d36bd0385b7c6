"""Contrastive losses shared by the experiments, batched over a leading seed dim.

References:
    - [0] Oord et al. 2018, Representation Learning with Contrastive Predictive
      Coding (InfoNCE), https://arxiv.org/abs/1807.03748
    - [1] Chen et al. 2020, SimCLR, https://arxiv.org/abs/2002.05709
    - [2] Wang & Liu 2021, Understanding the Behaviour of Contrastive Loss,
      https://arxiv.org/abs/2012.09740 (the per-anchor form written below)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float, symmetric: bool = True):
    """InfoNCE with in-batch negatives, one value per leading (seed) index.

    For anchor i with normalised embeddings u_i = z1_i/|z1_i|, v_k = z2_k/|z2_k|
    and s_ik = <u_i, v_k>:

        L_i = -log( exp(s_ii / tau) / sum_k exp(s_ik / tau) ),

    the sum running over the whole batch of the other view (the positive and
    the B - 1 in-batch negatives). The loss is the mean of L_i over anchors;
    with ``symmetric`` it is the average of the two directions (view 1 as
    anchors, then view 2 as anchors).

    Args:
        z1: embeddings of view 1. Shape: (*lead, batch, dim).
        z2: embeddings of view 2. Shape: (*lead, batch, dim).
        temperature: tau > 0.
        symmetric: average both directions (default True).

    Returns:
        Loss per leading index. Shape: (*lead,).
    """
    u = F.normalize(z1, dim=-1)
    v = F.normalize(z2, dim=-1)
    logits = u @ v.transpose(-1, -2) / temperature  # (*lead, B, B)
    diag = torch.diagonal(logits, dim1=-2, dim2=-1)  # (*lead, B)
    loss = (torch.logsumexp(logits, dim=-1) - diag).mean(-1)
    if symmetric:
        loss_t = (torch.logsumexp(logits, dim=-2) - diag).mean(-1)
        loss = 0.5 * (loss + loss_t)
    return loss
