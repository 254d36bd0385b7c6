"""The hard contrastive losses of Wang & Liu 2021 (Sec. 5), batched over leading (seed) dims.

Only the nearest negatives of an anchor enter the loss: with in-batch
negatives, the K = max(1, ceil(alpha * (B - 1))) negatives of largest
similarity s_ik (k != i), the upper-alpha quantile of [0]'s s_alpha^(i).

* hard contrastive (InfoNCE on the nearest negatives):
  ``L_hard(x_i) = -log( e^{s_ii/tau} / (sum_{k in top-K(i)} e^{s_ik/tau} + e^{s_ii/tau}) )``;
* HardSimple: the simple loss on the same negatives,
  ``L_hardsimple(x_i) = -s_ii + lambda * sum_{k in top-K(i)} s_ik``.

With alpha = 1 they are the ordinary contrastive loss (Eq. 1 of [0]; as
:func:`contrastlab.losses.infonce.infonce_in_batch`) and the simple loss
(:func:`contrastlab.losses.simple.simple_in_batch`). The selection is a
``topk`` of the similarities; gradients flow through the selected values.

References:
    - [0] Wang & Liu 2021, Understanding the Behaviour of Contrastive Loss,
      https://arxiv.org/abs/2012.09740 (they keep the 4095 nearest of a
      memory bank, alpha = 0.0819 on CIFAR-10).
"""

from __future__ import annotations

import math

import torch

from contrastlab.losses.simple import cosine_matrix


def n_hard(batch: int, fraction: float) -> int:
    """K = max(1, ceil(fraction * (batch - 1))) nearest negatives, at most batch - 1."""
    if batch < 2:
        raise ValueError(f"a batch needs >= 2 samples for in-batch negatives, got {batch}")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"hard fraction alpha must lie in (0, 1], got {fraction}")
    # the small tolerance keeps e.g. 0.1 * 10 = 1.0000000000000002 from becoming 2
    return min(batch - 1, max(1, math.ceil(fraction * (batch - 1) - 1e-9)))


def hardest_negatives(sim: torch.Tensor, k: int) -> torch.Tensor:
    """The k largest s_ik (k != i) of every row, largest first.

    Args:
        sim: s_ik, anchors on rows. Shape: (*lead, batch, batch).
        k: negatives kept per anchor, 1 <= k <= batch - 1.

    Returns:
        Shape: (*lead, batch, k).
    """
    B = sim.shape[-1]
    eye = torch.eye(B, dtype=torch.bool, device=sim.device)
    masked = sim.masked_fill(eye, -math.inf)
    return masked.topk(k, dim=-1).values


def _hard_infonce_rows(sim: torch.Tensor, temperature: float, k: int) -> torch.Tensor:
    diag = torch.diagonal(sim, dim1=-2, dim2=-1)  # (*lead, B)
    neg = hardest_negatives(sim, k)  # (*lead, B, k)
    logits = torch.cat([diag[..., None], neg], dim=-1) / temperature  # positive first
    return (torch.logsumexp(logits, dim=-1) - logits[..., 0]).mean(-1)


def _hard_simple_rows(sim: torch.Tensor, lam: float, k: int) -> torch.Tensor:
    diag = torch.diagonal(sim, dim1=-2, dim2=-1)
    neg = hardest_negatives(sim, k)
    return (-diag + lam * neg.sum(-1)).mean(-1)


def hard_infonce_in_batch(
    z1: torch.Tensor,
    z2: torch.Tensor,
    temperature: float,
    fraction: float,
    symmetric: bool = True,
) -> torch.Tensor:
    """Hard contrastive loss: InfoNCE over the positive and the K nearest in-batch negatives.

    ``L_i = -log( e^{s_ii/tau} / (sum_{k in top-K(i)} e^{s_ik/tau} + e^{s_ii/tau}) )``,
    K = :func:`n_hard` (B, fraction), mean over anchors.

    Args:
        z1: embeddings of view 1 (normalised here). Shape: (*lead, batch, dim).
        z2: embeddings of view 2. Shape: (*lead, batch, dim).
        temperature: tau > 0.
        fraction: alpha in (0, 1], the fraction of the B - 1 negatives kept.
        symmetric: average both directions (view 1 as anchors, then view 2).

    Returns:
        Loss per leading index. Shape: (*lead,).
    """
    sim = cosine_matrix(z1, z2)
    k = n_hard(sim.shape[-1], fraction)
    loss = _hard_infonce_rows(sim, temperature, k)
    if symmetric:
        loss = 0.5 * (loss + _hard_infonce_rows(sim.transpose(-1, -2), temperature, k))
    return loss


def hard_simple_in_batch(
    z1: torch.Tensor,
    z2: torch.Tensor,
    lam: float,
    fraction: float,
    symmetric: bool = True,
) -> torch.Tensor:
    """HardSimple: ``L_i = -s_ii + lam * sum_{k in top-K(i)} s_ik``, mean over anchors.

    Args:
        z1: embeddings of view 1 (normalised here). Shape: (*lead, batch, dim).
        z2: embeddings of view 2. Shape: (*lead, batch, dim).
        lam: lambda >= 0, the weight of every kept negative.
        fraction: alpha in (0, 1], the fraction of the B - 1 negatives kept.
        symmetric: average both directions (view 1 as anchors, then view 2).

    Returns:
        Loss per leading index. Shape: (*lead,).
    """
    sim = cosine_matrix(z1, z2)
    k = n_hard(sim.shape[-1], fraction)
    loss = _hard_simple_rows(sim, lam, k)
    if symmetric:
        loss = 0.5 * (loss + _hard_simple_rows(sim.transpose(-1, -2), lam, k))
    return loss
