"""The training job of the dual_networks family: SimCLR's NT-Xent or Tian et al.'s
exact-covariance loss, with the beta term, on an image source.

The encoder, batches and shared metrics are
:class:`contrastlab.families.image_task.ImageContrastTask`'s: an encoder per seed on two
views of ``batch_size`` training images a step, at the point's augmentation level. The
loss is :func:`contrastlab.losses.ntxent.nt_xent` or
:func:`contrastlab.losses.exact_cov.exact_cov` with the point's beta and tau (both
fusable: a fused job's members each use their own). Every ``eval_every`` steps the
held-out split gives the linear-probe accuracy, -L_unif and the alignment of its two
views; after training, a 2-D PCA of the held-out embedding. The covariance operator of
the last layer is not computed (see the family's description).

References:
    - [0] Tian, Yu, Chen & Ganguli 2020, Understanding Self-supervised Learning with Dual
      Deep Networks, https://arxiv.org/abs/2010.00578
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from contrastlab.families.dual_networks.config import DualNetworksConfig
from contrastlab.families.image_task import ImageContrastTask
from contrastlab.losses.exact_cov import exact_cov
from contrastlab.losses.ntxent import nt_xent


class DualNetworksTask(ImageContrastTask):
    """All seeds of one sweep point (or of fused points) of dual_networks: the arguments
    of :class:`ImageContrastTask`, ``data`` from :func:`.data.synthesize`."""

    family = "dual_networks"

    def __init__(self, cfg, data, seeds, device="cpu", members=None) -> None:
        super().__init__(cfg, data, seeds, device, members)
        self.beta = self.member_tensor(cfg, "beta", self.device)
        self.tau = self.member_tensor(cfg, "temperature", self.device)
        variants = self.member_values(cfg, "variant")
        self.exact = torch.tensor([v == "exact_cov" for v in variants], device=self.device)
        self.kinds = sorted(set(variants))

    def strength(self, cfg: DualNetworksConfig) -> str:
        return cfg.strength

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        z1, z2 = (self.embed(v) for v in batch)
        if self.kinds == ["exact_cov"]:
            return exact_cov(z1, z2, self.tau, self.beta)
        if self.kinds == ["nt_xent"]:
            return nt_xent(z1, z2, self.tau, self.beta)
        # a fused job with both variants: each member its own
        return torch.where(
            self.exact, exact_cov(z1, z2, self.tau, self.beta), nt_xent(z1, z2, self.tau, self.beta)
        )

    @torch.no_grad()
    def evaluate(self, r: int) -> dict[str, np.ndarray]:
        return self.shared_metrics(*self.embeddings())

    def point_attrs(self, cfg: DualNetworksConfig) -> dict:
        """Title, loss variant, beta and tau of one point."""
        name = {"nt_xent": "NT-Xent", "exact_cov": "exact-covariance loss"}[cfg.variant]
        return {
            "title": f"Tian et al. 2020, Sec. 7 on {cfg.source}: {name}, beta = {cfg.beta:g}",
            "loss_variant": cfg.variant,
            "loss_beta": float(cfg.beta),
            "loss_temperature": float(cfg.temperature),
        }

    def to_dataset(
        self, history: dict[str, np.ndarray], coords: np.ndarray, final: dict[str, np.ndarray]
    ) -> xr.Dataset:
        return xr.Dataset(
            self.shared_variables(history, final),
            coords=self.shared_coords(coords),
            attrs=self.point_attrs(self.cfg) if self.members is None else {},
        )
