"""InfoNCE and the hard contrastive loss against a memory bank of EMA features (Wu et al.
2018, the negatives of Wang & Liu 2021), batched over leading (seed) dims.

The bank holds one L2-normalised feature v_n per training image. For the anchors f_i
(L2-normalised embeddings of a batch's images), the positive is the bank's entry of the
same image and the negatives are K entries drawn from the bank for the step (one draw
shared by the batch's anchors [design: Wu et al. draw per anchor; sharing keeps the
logits at B x K]):

    ``L_i = -log( e^{f_i.v_i/tau} / (e^{f_i.v_i/tau} + sum_{k in N} e^{f_i.v_k/tau}) )``,

N all K drawn negatives (InfoNCE) or the ceil(alpha K) nearest of them (the hard
contrastive loss, Wang & Liu Eq. 5: alpha = 0.0819 keeps 335 of 4095). After the step the
bank's entries of the batch move towards the new features (Wu et al. Eq. 6):
``v_i <- normalise(m v_i + (1 - m) f_i)``.

References:
    - [0] Wu, Xiong, Yu & Lin 2018, Unsupervised Feature Learning via Non-Parametric
      Instance Discrimination, https://arxiv.org/abs/1805.01978
    - [1] Wang & Liu 2021, Understanding the Behaviour of Contrastive Loss,
      https://arxiv.org/abs/2012.09740
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def n_bank_hard(k: int, fraction: float) -> int:
    """The nearest ceil(fraction * k) of k bank negatives, at least 1."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"hard fraction alpha must lie in (0, 1], got {fraction}")
    return min(k, max(1, math.ceil(fraction * k - 1e-9)))


def bank_infonce(
    f: torch.Tensor,
    positive: torch.Tensor,
    negatives: torch.Tensor,
    temperature,
    hard_fraction: float | None = None,
) -> torch.Tensor:
    """InfoNCE (or, with ``hard_fraction``, the hard loss) of anchors against the bank.

    Args:
        f: the anchors' embeddings (normalised here). Shape: (*lead, B, dim).
        positive: each anchor's bank entry. Shape: (*lead, B, dim).
        negatives: the step's bank negatives. Shape: (*lead, K, dim).
        temperature: tau, a number or one per leading index (Shape (*lead, 1, 1)).
        hard_fraction: alpha: keep the ceil(alpha K) largest negative similarities of
            every anchor (None: all K).

    Returns:
        The mean loss over anchors. Shape: (*lead,).
    """
    u = F.normalize(f, dim=-1)
    s_pos = (u * positive).sum(-1, keepdim=True)  # (*lead, B, 1)
    s_neg = u @ negatives.transpose(-1, -2)  # (*lead, B, K)
    if hard_fraction is not None:
        s_neg = s_neg.topk(n_bank_hard(s_neg.shape[-1], hard_fraction), dim=-1).values
    logits = torch.cat([s_pos, s_neg], dim=-1) / temperature
    return (torch.logsumexp(logits, dim=-1) - logits[..., 0]).mean(-1)


@torch.no_grad()
def ema_update(bank: torch.Tensor, idx: torch.Tensor, f: torch.Tensor, momentum: float) -> None:
    """``bank[s, idx[s, i]] <- normalise(m bank[s, idx[s, i]] + (1 - m) f[s, i])`` in place.

    Args:
        bank: the bank. Shape: (seed, N, dim).
        idx: the batch's images. Shape: (seed, B), distinct within a seed.
        f: their new embeddings (normalised here). Shape: (seed, B, dim).
        momentum: m in [0, 1).
    """
    rows = torch.arange(bank.shape[0], device=bank.device)[:, None]
    mixed = momentum * bank[rows, idx] + (1 - momentum) * F.normalize(f, dim=-1)
    bank[rows, idx] = F.normalize(mixed, dim=-1)
