"""The simple loss of Wang & Liu 2021, batched over leading (seed) dims.

    L_simple(x_i) = -s_ii + lambda * sum_{j != i} s_ij

on cosine similarities s_ij = <u_i, v_j> of L2-normalised embeddings, the
negatives of an anchor being the other samples of the batch of the other view
(as :func:`contrastlab.losses.infonce.infonce_in_batch`). It is the tau -> inf
limit of the contrastive loss (Eq. 1 of [0]) up to scale: every negative gets
the same gradient lambda, whatever its similarity (no hardness-awareness,
Sec. 3 of [0]).

References:
    - [0] Wang & Liu 2021, Understanding the Behaviour of Contrastive Loss,
      https://arxiv.org/abs/2012.09740
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cosine_matrix(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """s_ik = <z1_i/|z1_i|, z2_k/|z2_k|>.

    Args:
        z1, z2: embeddings of the two views. Shape: (*lead, batch, dim).

    Returns:
        Shape: (*lead, batch, batch).
    """
    return F.normalize(z1, dim=-1) @ F.normalize(z2, dim=-1).transpose(-1, -2)


def simple_from_similarities(sim: torch.Tensor, lam: float) -> torch.Tensor:
    """Mean over anchors (rows) of -s_ii + lam * sum_{j != i} s_ij.

    Args:
        sim: s_ik, anchors on rows. Shape: (*lead, batch, batch).
        lam: lambda >= 0, the weight of every negative.

    Returns:
        Shape: (*lead,).
    """
    diag = torch.diagonal(sim, dim1=-2, dim2=-1)  # (*lead, B)
    off = sim.sum(-1) - diag
    return (-diag + lam * off).mean(-1)


def simple_in_batch(
    z1: torch.Tensor, z2: torch.Tensor, lam: float, symmetric: bool = True
) -> torch.Tensor:
    """The simple loss L_simple(x_i) = -s_ii + lam * sum_{j != i} s_ij, mean over anchors.

    Args:
        z1: embeddings of view 1 (normalised here). Shape: (*lead, batch, dim).
        z2: embeddings of view 2. Shape: (*lead, batch, dim).
        lam: lambda >= 0.
        symmetric: average both directions (view 1 as anchors, then view 2);
            for this loss both directions are equal up to rounding (the sum of
            the off-diagonal similarities is the same by rows and by columns).

    Returns:
        Loss per leading index. Shape: (*lead,).
    """
    sim = cosine_matrix(z1, z2)
    loss = simple_from_similarities(sim, lam)
    if symmetric:
        loss = 0.5 * (loss + simple_from_similarities(sim.transpose(-1, -2), lam))
    return loss
