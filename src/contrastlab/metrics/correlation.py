"""Correlations between a variable and a set of units, batched over leading dims."""

from __future__ import annotations

import torch


def pearson_best_corr(z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Direct (non-streaming) best |corr| of a latent with a node's units.

    Args:
        z: latent values. Shape: (..., n).
        h: unit activations. Shape: (..., n, units).

    Returns:
        max over units of |Pearson(z, h_u)|, 0 where a variance is 0. Shape: (...,).
    """
    z = z.double()
    h = h.double()
    zc = z - z.mean(-1, keepdim=True)
    hc = h - h.mean(-2, keepdim=True)
    cov = (zc[..., None] * hc).mean(-2)
    denom = torch.sqrt(zc.pow(2).mean(-1)[..., None] * hc.pow(2).mean(-2))
    corr = torch.where(denom > 0, cov / torch.where(denom > 0, denom, 1.0), 0.0)
    return corr.abs().clamp(max=1).amax(-1)
