"""Contrastive losses of the HLTM experiment, one value per seed.

All losses take the normalised outputs of the anchors f = f(x), positives
f+ = f(x+) and negatives f- = f(x-), each of Shape (seed, B, d), and return a
loss per seed, Shape (seed,). Training on ``loss.sum()`` gives every seed the
gradient of its own loss.

Batch-level losses, exactly the authors' code (``simCLR_hltm.py``, main loop):

    pos = MSE(f, f+) = 1/(B d) sum_{i, k} (f_ik - f+_ik)^2
    neg = MSE(f, f-) = 1/(B d) sum_{i, k} (f_ik - f-_ik)^2
    nce:      L = -exp(-pos/tau) / (exp(-pos/tau) + exp(-neg/tau))
                = -sigmoid((neg - pos) / tau)       (same value, no 0/0 underflow)
    subtract: L = pos - neg

Per-anchor losses of the paper's analysis (Tian et al. 2020, Sec. 3), with the
paper's distances d^2(a, b) = 1/2 |f(a) - f(b)|^2:

    infonce:      L = 1/B sum_i -log[ exp(-d2+_i/tau) /
                        (exp(-d2+_i/tau) + sum_{k=1}^{B} exp(-d2-_ik/tau)) ]
                  d2+_i = 1/2 |f_i - f+_i|^2,  d2-_ik = 1/2 |f_i - f-_k|^2:
                  H = B negatives per anchor, the batch's independent samples
                  x-_1..x-_B (all are valid negatives: they are independent of x_i);
    soft_triplet: L = 1/B sum_i tau * log(1 + exp((d2+_i - d2-_i + d0^2) / tau))
                  with the anchor's own negative (H = 1) and margin d0^2 >= 0.

(With H = 1, InfoNCE would be soft-triplet / tau with d0 = 0; we use H = B for
InfoNCE so that the two per-anchor losses differ, as in SimCLR.)

References:
    - [0] Tian, Yu, Chen & Ganguli 2020, Understanding Self-supervised Learning
      with Dual Deep Networks, https://arxiv.org/abs/2010.00578 (Sec. 3: L_simp,
      L_tri, L_nce; Sec. 6: HLTM experiments)
    - [1] facebookresearch/luckmatters, ssl/hltm/simCLR_hltm.py (nce, subtract)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared difference over batch and dims. (seed, B, d) -> (seed,)."""
    return (a - b).pow(2).mean(dim=(-2, -1))


def nce_loss(
    f: torch.Tensor, f_pos: torch.Tensor, f_neg: torch.Tensor, temperature: float
) -> torch.Tensor:
    """The authors' batch-level NCE: -e^{-pos/tau} / (e^{-pos/tau} + e^{-neg/tau}).

    Args:
        f, f_pos, f_neg: anchors, positives, negatives. Shape: (seed, B, d).
        temperature: tau > 0.

    Returns:
        Shape: (seed,).
    """
    pos, neg = _mse(f, f_pos), _mse(f, f_neg)
    return -torch.sigmoid((neg - pos) / temperature)


def subtract_loss(f: torch.Tensor, f_pos: torch.Tensor, f_neg: torch.Tensor) -> torch.Tensor:
    """The authors' simple contrastive loss pos - neg (batch-level MSEs). Shape: (seed,)."""
    return _mse(f, f_pos) - _mse(f, f_neg)


def infonce_loss(
    f: torch.Tensor, f_pos: torch.Tensor, f_neg: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Per-anchor InfoNCE with the B negatives of the batch (see module docstring).

    Args:
        f, f_pos, f_neg: Shape: (seed, B, d).
        temperature: tau > 0.

    Returns:
        Mean over anchors. Shape: (seed,).
    """
    d2_pos = 0.5 * (f - f_pos).pow(2).sum(-1)  # (seed, B)
    # (seed, B anchors, B negatives); explicit differences (cdist's mm path loses precision)
    d2_neg = 0.5 * (f[:, :, None] - f_neg[:, None]).pow(2).sum(-1)
    logits = torch.cat([-d2_pos[..., None], -d2_neg], dim=-1) / temperature  # (seed, B, 1 + B)
    return (torch.logsumexp(logits, dim=-1) - logits[..., 0]).mean(-1)


def soft_triplet_loss(
    f: torch.Tensor,
    f_pos: torch.Tensor,
    f_neg: torch.Tensor,
    temperature: float,
    margin: float = 0.0,
) -> torch.Tensor:
    """Per-anchor soft triplet tau log(1 + e^{(d2+ - d2- + d0^2)/tau}), own negative.

    Args:
        f, f_pos, f_neg: Shape: (seed, B, d).
        temperature: tau > 0.
        margin: d0^2 >= 0.

    Returns:
        Mean over anchors. Shape: (seed,).
    """
    d2_pos = 0.5 * (f - f_pos).pow(2).sum(-1)  # (seed, B)
    d2_neg = 0.5 * (f - f_neg).pow(2).sum(-1)
    return (temperature * F.softplus((d2_pos - d2_neg + margin) / temperature)).mean(-1)


def hltm_loss(
    name: str,
    f: torch.Tensor,
    f_pos: torch.Tensor,
    f_neg: torch.Tensor,
    temperature: float,
    margin: float = 0.0,
) -> torch.Tensor:
    """Dispatch on the config's ``loss`` name. Shape: (seed, B, d) x 3 -> (seed,)."""
    if name == "nce":
        return nce_loss(f, f_pos, f_neg, temperature)
    if name == "subtract":
        return subtract_loss(f, f_pos, f_neg)
    if name == "infonce":
        return infonce_loss(f, f_pos, f_neg, temperature)
    if name == "soft_triplet":
        return soft_triplet_loss(f, f_pos, f_neg, temperature, margin)
    raise ValueError(f"unknown HLTM loss {name!r}")
