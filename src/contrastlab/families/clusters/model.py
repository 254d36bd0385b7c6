"""Encoders of the clusters family, batched over seeds and the lambda grid.

Every weight has the leading dims (seed, lam): one independent model per seed
and per lambda of the grid (all lambdas of a seed start from the same
initialisation, so lambda is the only difference), evaluated with ``torch.bmm``
on the flattened (seed * lam) batch.

* ``linear``: f(x) = W x, W in R^{k x d} (no bias; the linear class of [0]'s hypercube example).
* ``mlp``: f(x) = W_L relu(... relu(W_1 x + b_1) ...) + b_L with ``depth`` hidden
  layers of ``width`` ReLU units (unrestricted).
* ``smooth``: the same MLP with every layer's weight used as
  ``W * min(1, c / |W|_2)``, c = lipschitz^(1 / (depth + 1)) (a differentiable
  clip of the spectral norm), so that the encoder is ``lipschitz``-Lipschitz
  (ReLU is 1-Lipschitz): the capacity-limited (Lipschitz) class of [0]'s manifold example.

Initialisation from the seed's ``clusters/init`` stream: W ~ N(0, gain^2 / fan_in),
gain sqrt(2) before a ReLU and 1 otherwise, biases 0.

References:
    - [0] HaoChen & Ma 2023, A Theoretical Study of Inductive Biases in Contrastive
      Learning, https://arxiv.org/abs/2211.14699
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from contrastlab.families.clusters.config import ClustersConfig


def layer_sizes(cfg: ClustersConfig) -> list[tuple[int, int]]:
    """``(out, in)`` of every layer."""
    d = cfg.input_dim
    if cfg.encoder == "linear":
        return [(cfg.k, d)]
    dims = [d] + [cfg.width] * cfg.depth + [cfg.k]
    return [(dims[i + 1], dims[i]) for i in range(len(dims) - 1)]


def init_encoder(
    cfg: ClustersConfig, gens: Sequence[torch.Generator], n_lam: int
) -> dict[str, torch.Tensor]:
    """Weights ``W0..`` (and biases ``b0..`` for the MLPs), one model per seed and lambda.

    Args:
        cfg: the encoder's config.
        gens: one ``clusters/init`` generator per seed.
        n_lam: models per seed (the lambda grid); they share the seed's initialisation.

    Returns:
        ``{"W<i>": Shape (seed, lam, out, in), "b<i>": Shape (seed, lam, out)}``, float32.
    """
    sizes = layer_sizes(cfg)
    per_seed = []
    for g in gens:
        ws = []
        for i, (out, inp) in enumerate(sizes):
            gain = math.sqrt(2.0) if i < len(sizes) - 1 else 1.0
            ws.append(torch.randn(out, inp, generator=g) * (gain / math.sqrt(inp)))
        per_seed.append(ws)
    params = {}
    S = len(per_seed)
    for i, (out, _) in enumerate(sizes):
        W = torch.stack([ws[i] for ws in per_seed])  # (S, out, in)
        params[f"W{i}"] = W.unsqueeze(1).repeat(1, n_lam, 1, 1).contiguous()
        if cfg.encoder != "linear":
            params[f"b{i}"] = torch.zeros(S, n_lam, out)
    return params


def spectral_norm(W: torch.Tensor) -> torch.Tensor:
    """|W|_2, the largest singular value, as sqrt of the top eigenvalue of the smaller Gram
    matrix (cheaper than an SVD; differentiable).

    Args:
        W: Shape: (..., out, in).

    Returns:
        Shape: (...,).
    """
    Wt = W.transpose(-1, -2)
    gram = W @ Wt if W.shape[-2] <= W.shape[-1] else Wt @ W
    return torch.linalg.eigvalsh(gram)[..., -1].clamp_min(0.0).sqrt()


def clip_spectral(W: torch.Tensor, limit: float) -> torch.Tensor:
    """``W * min(1, limit / |W|_2)`` per matrix: spectral norm at most ``limit``.

    Args:
        W: Shape: (..., out, in).

    Returns:
        Shape: (..., out, in).
    """
    scale = torch.clamp(limit / spectral_norm(W).clamp_min(1e-12), max=1.0)
    return W * scale[..., None, None]


def effective_weights(params: dict[str, torch.Tensor], cfg: ClustersConfig) -> list[torch.Tensor]:
    """The weights the forward pass uses (clipped for ``smooth``). Shape: (seed, lam, out, in)."""
    n = sum(1 for name in params if name.startswith("W"))
    Ws = [params[f"W{i}"] for i in range(n)]
    if cfg.encoder == "smooth":
        c = cfg.lipschitz ** (1.0 / n)
        Ws = [clip_spectral(W, c) for W in Ws]
    return Ws


def encode(
    params: dict[str, torch.Tensor],
    x: torch.Tensor,
    cfg: ClustersConfig,
    Ws: list[torch.Tensor] | None = None,
) -> torch.Tensor:
    """f(x) of every model of every seed.

    Args:
        params: from :func:`init_encoder`.
        x: inputs, shared by the lambdas of a seed. Shape: (seed, batch, d).
        cfg: the encoder's config.
        Ws: the :func:`effective_weights` if already computed.

    Returns:
        Shape: (seed, lam, batch, k).
    """
    Ws = effective_weights(params, cfg) if Ws is None else Ws
    S, L = Ws[0].shape[:2]
    B = x.shape[1]
    h = x.unsqueeze(1).expand(S, L, B, x.shape[2]).reshape(S * L, B, x.shape[2])
    for i, W in enumerate(Ws):
        Wt = W.reshape(S * L, W.shape[2], W.shape[3]).transpose(1, 2)
        if f"b{i}" in params:
            h = torch.baddbmm(params[f"b{i}"].reshape(S * L, 1, -1), h, Wt)
        else:
            h = torch.bmm(h, Wt)
        if i < len(Ws) - 1:
            h = torch.relu(h)
    return h.reshape(S, L, B, -1)


def lipschitz_bound(params: dict[str, torch.Tensor], cfg: ClustersConfig) -> torch.Tensor:
    """Product of the layers' spectral norms (an upper bound of the Lipschitz constant).

    Returns:
        Shape: (seed, lam).
    """
    out = None
    for W in effective_weights(params, cfg):
        sigma = spectral_norm(W.double())
        out = sigma if out is None else out * sigma
    return out
