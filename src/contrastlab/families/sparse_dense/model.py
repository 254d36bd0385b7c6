"""One-layer symmetric ReLU network with bias, and the masking augmentations.

References:
    - [0] Wen & Li 2021, Toward Understanding the Feature Learning Process of
      Self-supervised Contrastive Learning, https://arxiv.org/abs/2105.15134
"""

from __future__ import annotations

import torch

from contrastlab.families.sparse_dense.config import MASKINGS


def sym_relu(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """h_i(x) = ReLU(<w_i, x> - b_i) - ReLU(-<w_i, x> - b_i), batched over seeds.

    Args:
        x: inputs. Shape: (seed, batch, d1).
        W: weights, one row w_i per neuron. Shape: (seed, m, d1).
        b: biases. Shape: (seed, m).

    Returns:
        Shape: (seed, batch, m).
    """
    u = torch.bmm(x, W.transpose(1, 2))  # (seed, batch, m)
    b = b.unsqueeze(1)
    return torch.relu(u - b) - torch.relu(-u - b)


def init_weights(m: int, d1: int, seeds, gens, bias_init: float, dtype=torch.float32):
    """W_i ~ N(0, I/d1) per seed from that seed's generator; b = bias_init."""
    W = torch.stack([torch.randn(m, d1, generator=g) / d1**0.5 for g in gens]).to(dtype)
    b = torch.full((len(seeds), m), float(bias_init), dtype=dtype)
    return W, b


def views(x: torch.Tensor, masking: str, keep_prob: float, gens) -> tuple:
    """Two augmented views of a batch.

    * ``none``: identical views, x+ = x++ = x (the control);
    * ``independent``: x+ = D1 x / p, x++ = D2 x / p with independent
      D ~ diag(Bernoulli(p)) (p = ``keep_prob``);
    * ``complementary``: x+ = 2 D x, x++ = 2 (I - D) x, D ~ diag(Bernoulli(1/2))
      (Wen & Li's feature decoupling: the dense parts of the views become
      independent while every sparse atom survives in both, in expectation).

    Masks are drawn on the CPU from each seed's generator, then moved to
    ``x``'s device, so a batch of seeds equals each seed alone.

    Args:
        x: Shape: (seed, batch, d1).
    """
    if masking == "none":
        return x, x
    shape = x.shape[1:]
    if masking == "independent":
        d1 = torch.stack([torch.rand(shape, generator=g) < keep_prob for g in gens])
        d2 = torch.stack([torch.rand(shape, generator=g) < keep_prob for g in gens])
        d1, d2 = d1.to(x.device), d2.to(x.device)
        return x * d1 / keep_prob, x * d2 / keep_prob
    if masking == "complementary":
        d = torch.stack([torch.rand(shape, generator=g) < 0.5 for g in gens]).to(x.device)
        return 2 * x * d, 2 * x * (~d)
    raise ValueError(f"augmentation.masking must be one of {MASKINGS}, got {masking!r}")
