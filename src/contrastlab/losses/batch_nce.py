"""The batch-level losses of the HLTM code (Tian et al. 2020; luckmatters ``ssl/hltm``).

Computed on batch-level mean squared differences, one negative per anchor:

    pos = MSE(f, f+) = 1/(B d) sum_{i, k} (f_ik - f+_ik)^2
    neg = MSE(f, f-) = 1/(B d) sum_{i, k} (f_ik - f-_ik)^2
    nce:      L = -exp(-pos/tau) / (exp(-pos/tau) + exp(-neg/tau))
                = -sigmoid((neg - pos) / tau)       (same value, no 0/0 underflow)
    subtract: L = pos - neg                          (the paper's simple loss L_simp)

References:
    - [0] Tian, Yu, Chen & Ganguli 2020, Understanding Self-supervised Learning
      with Dual Deep Networks, https://arxiv.org/abs/2010.00578 (Sec. 3, Sec. 6)
    - [1] facebookresearch/luckmatters, ssl/hltm/simCLR_hltm.py (main loop)
"""

from __future__ import annotations

import torch


def _mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared difference over batch and dims. (*lead, B, d) -> (*lead,)."""
    return (a - b).pow(2).mean(dim=(-2, -1))


def batch_nce(
    f: torch.Tensor, f_pos: torch.Tensor, f_neg: torch.Tensor, temperature: float
) -> torch.Tensor:
    """The code's batch-level NCE, -e^{-pos/tau} / (e^{-pos/tau} + e^{-neg/tau}).

    Args:
        f, f_pos, f_neg: anchors, positives, negatives. Shape: (*lead, B, d).
        temperature: tau > 0.

    Returns:
        Shape: (*lead,).
    """
    pos, neg = _mse(f, f_pos), _mse(f, f_neg)
    return -torch.sigmoid((neg - pos) / temperature)


def batch_subtract(f: torch.Tensor, f_pos: torch.Tensor, f_neg: torch.Tensor) -> torch.Tensor:
    """The code's simple contrastive loss pos - neg (batch-level MSEs).

    Args:
        f, f_pos, f_neg: Shape: (*lead, B, d).

    Returns:
        Shape: (*lead,).
    """
    return _mse(f, f_pos) - _mse(f, f_neg)
