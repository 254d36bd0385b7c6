"""The batched MLP encoder: a ReLU MLP per seed on flat inputs of any size.

A generic encoder, not tied to one family or data set: the image families use it on
flattened pixels (``model.encoder: mlp``; on the 8x8 digits it stands in for the papers'
ResNets [design]), and any family may use it on its own features (``depth`` 0 is a linear
map to the unit sphere: the skeleton of ``python -m contrastlab.families new``).

One MLP per seed, all seeds in one set of tensors: layer l has weights of
shape (seed, in, out) and biases (seed, out), applied with ``baddbmm``. The
output is L2-normalised (the unit-sphere embedding of Wang & Liu 2021,
inherited from Wu et al.'s memory-bank setup).

References:
    - [0] Wang & Liu 2021, Understanding the Behaviour of Contrastive Loss,
      https://arxiv.org/abs/2012.09740
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def init_mlp(
    dims: Sequence[int], gens: Sequence[torch.Generator], dtype=torch.float32
) -> list[torch.Tensor]:
    """Weights and biases of one MLP per seed, torch.nn.Linear's default init.

    W, b ~ U(-1/sqrt(in), 1/sqrt(in)) per layer, drawn from each seed's
    generator in the order W_0, b_0, W_1, b_1, ... (so a seed gets the same
    weights alone or in a batch).

    Args:
        dims: layer widths ``[in, hidden..., out]``.
        gens: one generator per seed (the ``init`` stream).

    Returns:
        ``[W_0, b_0, W_1, b_1, ...]``. Shape: (seed, in, out) and (seed, out).
    """
    per_seed = []
    for g in gens:
        params = []
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            bound = 1.0 / a**0.5
            params.append((torch.rand(a, b, generator=g, dtype=torch.float64) * 2 - 1) * bound)
            params.append((torch.rand(b, generator=g, dtype=torch.float64) * 2 - 1) * bound)
        per_seed.append(params)
    return [torch.stack([p[i] for p in per_seed]).to(dtype) for i in range(len(per_seed[0]))]


def mlp_embed(x: torch.Tensor, params: Sequence[torch.Tensor]) -> torch.Tensor:
    """ReLU MLP (no activation after the last layer), then L2 normalisation.

    Args:
        x: inputs. Shape: (seed, n, in).
        params: ``[W_0, b_0, ...]`` of :func:`init_mlp`.

    Returns:
        Unit-norm embeddings. Shape: (seed, n, out).
    """
    h = x
    n_layers = len(params) // 2
    for layer in range(n_layers):
        W, b = params[2 * layer], params[2 * layer + 1]
        h = torch.baddbmm(b.unsqueeze(1), h, W)
        if layer < n_layers - 1:
            h = torch.relu(h)
    return F.normalize(h, dim=-1)


class BatchedMLP:
    """An MLP encoder per seed (``in_dim`` -> ``depth`` x ``width`` -> ``embed_dim``).

    Args:
        in_dim: input size (e.g. 64 pixels of the 8x8 digits, or a family's features).
        width: hidden units per hidden layer.
        depth: hidden layers (0 = linear).
        embed_dim: embedding dimension.
        gens: one generator per seed (the ``init`` stream).
        device: where the weights live.
    """

    def __init__(
        self,
        in_dim: int,
        width: int,
        depth: int,
        embed_dim: int,
        gens: Sequence[torch.Generator],
        device: str | torch.device = "cpu",
    ) -> None:
        dims = [in_dim] + [width] * depth + [embed_dim]
        self.params = [p.to(device).requires_grad_() for p in init_mlp(dims, gens)]

    kind = "mlp"

    def named(self) -> dict[str, torch.Tensor]:
        """``{"W0": ..., "b0": ..., ...}``, seed first."""
        return {f"{'Wb'[i % 2]}{i // 2}": p for i, p in enumerate(self.params)}

    def buffers(self) -> dict[str, torch.Tensor]:
        """None: the MLP has no state besides its parameters."""
        return {}

    def train(self, mode: bool = True) -> None:
        """Nothing to switch (no BatchNorm); kept so every encoder has the same methods."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Shape: (seed, n, in) -> (seed, n, embed_dim)."""
        return mlp_embed(x, self.params)
