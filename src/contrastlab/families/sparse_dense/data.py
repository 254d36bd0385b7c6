"""The sparse-dictionary + dense-noise data model of Wen & Li 2021, Sec. 3.

x = M z + xi in R^{d1}:
    * M (d1 x d): orthonormal, delocalised columns ("atoms"), the QR factor of
      a Gaussian matrix (signs fixed so R has a positive diagonal);
    * z in {-1, 0, +1}^d: each coordinate non-zero with probability
      ``sparsity``, with a random sign;
    * xi ~ N(0, noise_std^2 I): the dense features / noise.

Every seed has its own dictionary, training set and held-out set, drawn from
the seed's ``sparse_dense/data`` stream, so a batch of seeds equals each seed alone.
"""

from __future__ import annotations

import torch
import xarray as xr

from contrastlab.engine import streams
from contrastlab.families.sparse_dense.config import SparseDenseConfig
from contrastlab.params import to_sections
from contrastlab.results import cf


def sample_dictionary(d1: int, d: int, g: torch.Generator) -> torch.Tensor:
    """Orthonormal d1 x d dictionary from the QR of a Gaussian matrix."""
    a = torch.randn(d1, d, generator=g, dtype=torch.float64)
    q, r = torch.linalg.qr(a)
    return q * torch.sign(torch.diagonal(r))  # unique: R with positive diagonal


def sample_sparse(n: int, d: int, p: float, g: torch.Generator) -> torch.Tensor:
    """z in {-1, 0, +1}^{n x d}: non-zero w.p. p, sign uniform."""
    support = torch.rand(n, d, generator=g, dtype=torch.float64) < p
    negative = torch.rand(n, d, generator=g, dtype=torch.float64) < 0.5
    return support.double() * (1.0 - 2.0 * negative.double())


def make_sparse_dense(cfg: SparseDenseConfig, seeds) -> xr.Dataset:
    """Dictionary, training set and held-out set for every seed.

    Returns:
        Dataset with ``M (seed, dim, atom)``, ``x_train (seed, sample, dim)``,
        ``z_train (seed, sample, atom)``, ``x_eval (seed, eval_sample, dim)``,
        ``z_eval (seed, eval_sample, atom)``; the generator parameters are in
        the attrs.
    """
    out = {k: [] for k in ("M", "x_train", "z_train", "x_eval", "z_eval")}
    for g in streams(seeds, "sparse_dense", "data"):
        M = sample_dictionary(cfg.d1, cfg.d, g)
        out["M"].append(M)
        for split, n in (("train", cfg.n_train), ("eval", cfg.n_eval)):
            z = sample_sparse(n, cfg.d, cfg.sparsity, g)
            xi = cfg.sigma * torch.randn(n, cfg.d1, generator=g, dtype=torch.float64)
            out[f"x_{split}"].append(z @ M.T + xi)
            out[f"z_{split}"].append(z)
    stack = {k: torch.stack(v).float().numpy() for k, v in out.items()}
    ds = xr.Dataset(
        {
            "M": (("seed", "dim", "atom"), stack["M"], cf("dictionary atoms M_j", "1")),
            "x_train": (("seed", "sample", "dim"), stack["x_train"], cf("training input x", "1")),
            "z_train": (
                ("seed", "sample", "atom"),
                stack["z_train"].astype("int8"),
                cf("sparse features z of training inputs", "1"),
            ),
            "x_eval": (
                ("seed", "eval_sample", "dim"),
                stack["x_eval"],
                cf("held-out input x", "1"),
            ),
            "z_eval": (
                ("seed", "eval_sample", "atom"),
                stack["z_eval"].astype("int8"),
                cf("sparse features z of held-out inputs", "1"),
            ),
        },
        coords={
            "seed": ("seed", list(seeds), cf("seed", "1")),
            "dim": ("dim", list(range(cfg.d1)), cf("input coordinate", "1")),
            "atom": ("atom", list(range(cfg.d)), cf("dictionary atom j", "1")),
            "sample": ("sample", list(range(cfg.n_train)), cf("training sample", "1")),
            "eval_sample": ("eval_sample", list(range(cfg.n_eval)), cf("held-out sample", "1")),
        },
        attrs={
            f"data_{k}": ("none" if v is None else v) for k, v in to_sections(cfg)["data"].items()
        }
        | {"data_sigma": cfg.sigma, "title": "Wen & Li sparse/dense data"},
    )
    return ds
