"""InfoNCE losses, batched over leading (seed) dims.

Two forms, both ``-log softmax`` of the positive's logit among the positive
and the negatives:

* :func:`infonce_in_batch` -- logits are cosine similarities / tau, the
  negatives of an anchor are the other samples of the batch of the other
  view (SimCLR [1]; Wang & Liu 2021 [2], Eq. 1):
  ``L_i = -log( exp(s_ii / tau) / sum_k exp(s_ik / tau) )``;
* :func:`infonce_distance` -- logits are minus half squared distances / tau,
  with a separate set of independent negatives (Tian et al. 2020 [3], Sec. 3):
  ``L_i = -log( e^{-d2+_i/tau} / (e^{-d2+_i/tau} + sum_k e^{-d2-_ik/tau}) )``.

References:
    - [0] Oord et al. 2018, Representation Learning with Contrastive Predictive
      Coding, https://arxiv.org/abs/1807.03748
    - [1] Chen et al. 2020, SimCLR, https://arxiv.org/abs/2002.05709
    - [2] Wang & Liu 2021, Understanding the Behaviour of Contrastive Loss,
      https://arxiv.org/abs/2012.09740
    - [3] Tian, Yu, Chen & Ganguli 2020, Understanding Self-supervised Learning
      with Dual Deep Networks, https://arxiv.org/abs/2010.00578
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def infonce_in_batch(
    z1: torch.Tensor, z2: torch.Tensor, temperature: float, symmetric: bool = True
) -> torch.Tensor:
    """InfoNCE with in-batch negatives on cosine similarities.

    For anchor i with u_i = z1_i/|z1_i|, v_k = z2_k/|z2_k| and s_ik = <u_i, v_k>:
    ``L_i = -log( exp(s_ii / tau) / sum_k exp(s_ik / tau) )``, the sum running
    over the whole batch of the other view (the positive and the B - 1
    in-batch negatives). The loss is the mean of L_i over anchors; with
    ``symmetric`` the average of both directions (view 1 as anchors, then view 2).

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


def infonce_distance(
    f: torch.Tensor, f_pos: torch.Tensor, f_neg: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Per-anchor InfoNCE on distances, with the B independent negatives of the batch.

    ``L_i = -log( e^{-d2+_i/tau} / (e^{-d2+_i/tau} + sum_{k=1}^{B} e^{-d2-_ik/tau}) )``
    with the paper's d^2(a, b) = 1/2 |a - b|^2, d2+_i = d^2(f_i, f+_i),
    d2-_ik = d^2(f_i, f-_k): H = B negatives per anchor, all valid since the
    negatives are independent of every anchor.

    Args:
        f, f_pos, f_neg: anchors, positives, negatives. Shape: (*lead, B, d).
        temperature: tau > 0.

    Returns:
        Mean over anchors. Shape: (*lead,).
    """
    d2_pos = 0.5 * (f - f_pos).pow(2).sum(-1)  # (*lead, B)
    # (*lead, B anchors, B negatives); explicit differences (cdist's mm path loses precision)
    d2_neg = 0.5 * (f[..., :, None, :] - f_neg[..., None, :, :]).pow(2).sum(-1)
    logits = torch.cat([-d2_pos[..., None], -d2_neg], dim=-1) / temperature  # (*lead, B, 1 + B)
    return (torch.logsumexp(logits, dim=-1) - logits[..., 0]).mean(-1)
