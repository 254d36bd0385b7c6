"""The spectral contrastive loss (HaoChen et al. 2021; HaoChen & Ma 2023), batched.

The population objective of HaoChen & Ma 2023 [1] for an encoder
f: X -> R^k and a weight lambda > 0::

    L_lambda(f) = E_{(x, x+)} |f(x) - f(x+)|^2 + lambda * |E_x[f(x) f(x)^T] - I_k|_F^2

(the positive-pair term pulls the two views of a natural point together, the
regulariser asks for whitened, non-collapsed outputs). Its mini-batch forms,
for B positive pairs (f1_i, f2_i) = (f(x_i), f(x+_i)):

* :func:`spectral_loss_plugin` -- the plug-in estimate: batch means in place of
  both expectations, C_hat = (F1^T F1 + F2^T F2) / (2B). Consistent, but the
  regulariser is biased upwards by the variance of C_hat (O(1/B)).
* :func:`spectral_loss` -- unbiased for every lambda: |C - I|_F^2 =
  E_{x, x'}[(f(x)^T f(x'))^2] - 2 E|f(x)|^2 + k with x, x' independent, the first
  expectation estimated on the off-diagonal pairs (f1_i, f2_j), i != j, of the batch.
* :func:`spectral_contrastive` -- the common mini-batch loss of HaoChen et al.
  2021 [0]::

      L(f) = -2 E_{(x, x+)}[f(x)^T f(x+)] + E_{x, x-}[(f(x)^T f(x-))^2],

  negatives x- = the other samples of the batch. With lambda = 1 and views of
  equal marginals, E[L(f)] = L_1(f) - k: the two forms agree in expectation
  up to the constant k (and per batch, :func:`spectral_loss` with lambda = 1
  equals ``spectral_contrastive + k``).

Every function is batched over leading (seed, ...) dims and returns one value per
leading index, so training on ``loss.sum()`` gives each model its own gradient.

References:
    - [0] HaoChen, Wei, Gaidon & Ma 2021, Provable Guarantees for Self-Supervised
      Deep Learning with Spectral Contrastive Loss, https://arxiv.org/abs/2106.04156
    - [1] HaoChen & Ma 2023, A Theoretical Study of Inductive Biases in Contrastive
      Learning, https://arxiv.org/abs/2211.14699
"""

from __future__ import annotations

import torch


def second_moment(f1: torch.Tensor, f2: torch.Tensor) -> torch.Tensor:
    """C_hat = (F1^T F1 + F2^T F2) / (2B): the batch estimate of E[f(x) f(x)^T].

    Args:
        f1, f2: outputs on the two views. Shape: (*lead, batch, k).

    Returns:
        Shape: (*lead, k, k).
    """
    b = f1.shape[-2]
    return (f1.transpose(-1, -2) @ f1 + f2.transpose(-1, -2) @ f2) / (2 * b)


def spectral_terms(f1: torch.Tensor, f2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The two plug-in terms of L_lambda: mean |f1_i - f2_i|^2 and |C_hat - I|_F^2.

    Args:
        f1, f2: outputs on the two views of B natural points. Shape: (*lead, batch, k).

    Returns:
        ``(positive, regulariser)``. Shape: (*lead,) each.
    """
    pos = (f1 - f2).pow(2).sum(-1).mean(-1)
    eye = torch.eye(f1.shape[-1], dtype=f1.dtype, device=f1.device)
    reg = (second_moment(f1, f2) - eye).pow(2).sum((-1, -2))
    return pos, reg


def spectral_loss_plugin(f1: torch.Tensor, f2: torch.Tensor, lam: torch.Tensor | float):
    """Plug-in L_lambda = mean_i |f1_i - f2_i|^2 + lambda |C_hat - I|_F^2.

    Args:
        f1, f2: outputs on the two views. Shape: (*lead, batch, k).
        lam: lambda, a number or one per leading index. Shape: () or (*lead,).

    Returns:
        Shape: (*lead,).
    """
    pos, reg = spectral_terms(f1, f2)
    return pos + lam * reg


def spectral_loss(f1: torch.Tensor, f2: torch.Tensor, lam: torch.Tensor | float):
    """Unbiased mini-batch L_lambda (HaoChen & Ma 2023).

    ``mean_i |f1_i - f2_i|^2 + lambda * (U - 2 * mean_i (|f1_i|^2 + |f2_i|^2) / 2 + k)``
    with ``U = mean_{i != j} (f1_i^T f2_j)^2`` (x_i, x_j independent for i != j), so
    that E[U] = |E ff^T|_F^2 and the expectation over batches is L_lambda exactly.

    Args:
        f1, f2: outputs on the two views, B >= 2. Shape: (*lead, batch, k).
        lam: lambda, a number or one per leading index. Shape: () or (*lead,).

    Returns:
        Shape: (*lead,).
    """
    b, k = f1.shape[-2], f1.shape[-1]
    if b < 2:
        raise ValueError(f"the unbiased spectral loss needs a batch of >= 2 pairs, got {b}")
    pos = (f1 - f2).pow(2).sum(-1).mean(-1)
    gram = (f1 @ f2.transpose(-1, -2)).pow(2)  # (*lead, B, B)
    off = (gram.sum((-1, -2)) - torch.diagonal(gram, dim1=-2, dim2=-1).sum(-1)) / (b * (b - 1))
    norms = 0.5 * (f1.pow(2).sum(-1) + f2.pow(2).sum(-1)).mean(-1)
    return pos + lam * (off - 2.0 * norms + k)


def spectral_contrastive(f1: torch.Tensor, f2: torch.Tensor) -> torch.Tensor:
    """HaoChen et al. 2021's mini-batch loss -2 E[f(x)^T f(x+)] + E[(f(x)^T f(x-))^2].

    ``-2 mean_i f1_i^T f2_i + mean_{i != j} (f1_i^T f2_j)^2``: unbiased for
    L_1(f) - k when the two views have the same marginal.

    Args:
        f1, f2: outputs on the two views, B >= 2. Shape: (*lead, batch, k).

    Returns:
        Shape: (*lead,).
    """
    b = f1.shape[-2]
    if b < 2:
        raise ValueError(f"the spectral contrastive loss needs >= 2 pairs, got {b}")
    pos = (f1 * f2).sum(-1).mean(-1)
    gram = (f1 @ f2.transpose(-1, -2)).pow(2)
    off = (gram.sum((-1, -2)) - torch.diagonal(gram, dim1=-2, dim2=-1).sum(-1)) / (b * (b - 1))
    return -2.0 * pos + off
