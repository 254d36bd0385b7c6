"""The training job of the digits_augment family: InfoNCE on an image source at one
augmentation strength.

The encoder, batches and shared metrics are
:class:`contrastlab.families.image_task.ImageContrastTask`'s (the same as the
temperature family's): an encoder per seed on two views of ``batch_size`` training images
a step. The views are made at the point's augmentation strength (``none``: two identical
copies; on the digits the shift/erase/noise levels of :meth:`DigitsAugmentConfig.level`,
on images the SimCLR levels of :meth:`ImageAugmentConfig.image_level`), the loss is
InfoNCE with in-batch negatives (symmetric over the views), and every ``eval_every``
steps the held-out split gives the probe accuracy, -L_unif and the alignment of its two
views (drawn at the same strength); after training, a 2-D PCA of the held-out
embedding and, on ``shapes``, a probe of every nuisance factor (the dense features: the
fixed noise pattern, the texture, the colours).

References:
    - [0] Wen & Li 2021, Toward Understanding the Feature Learning Process of
      Self-supervised Contrastive Learning, https://arxiv.org/abs/2105.15134
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from contrastlab.families.digits_augment.config import DigitsAugmentConfig
from contrastlab.families.image_task import ImageContrastTask, factor_probes, factor_variables
from contrastlab.losses.infonce import infonce_in_batch
from contrastlab.losses.ntxent import nt_xent
from contrastlab.metrics.embedding import pca_2d


class DigitsAugmentTask(ImageContrastTask):
    """All seeds of one sweep point (one augmentation strength) of digits_augment: the
    arguments of :class:`ImageContrastTask`, ``data`` from :func:`.data.synthesize`."""

    family = "digits_augment"

    def strength(self, cfg: DigitsAugmentConfig) -> str:
        return cfg.strength

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        v1, v2 = batch
        loss = nt_xent if self.cfg.negatives == "nt_xent" else infonce_in_batch
        return loss(self.embed(v1), self.embed(v2), self.cfg.temperature)

    @torch.no_grad()
    def evaluate(self, r: int) -> dict[str, np.ndarray]:
        return self.shared_metrics(*self.embeddings())

    @torch.no_grad()
    def final_metrics(self) -> dict[str, np.ndarray]:
        """The PCA of the held-out embedding and, on shapes, the factor probes (one
        forward pass over the held-out images for both)."""
        h_test, z_test = self._chunked("test")
        return {"pca": pca_2d(z_test.double().cpu().numpy()), **factor_probes(self, h_test)}

    def point_attrs(self, cfg: DigitsAugmentConfig) -> dict:
        """Title, augmentation strength and its parameters, and tau of one point."""
        level = cfg.level() if cfg.source == "digits" else cfg.image_level(cfg.strength)
        views = ", ".join(f"{k} {v:g}" for k, v in level.items())
        if cfg.strength == "none":
            views = "identical views"
        return {
            "title": f"Wen & Li 2021 on {cfg.source}: {cfg.strength} augmentation ({views})",
            "augmentation_strength": cfg.strength,
            **{f"augmentation_{k}": float(v) for k, v in level.items()},
            "loss_temperature": float(cfg.temperature),
        }

    def to_dataset(
        self, history: dict[str, np.ndarray], coords: np.ndarray, final: dict[str, np.ndarray]
    ) -> xr.Dataset:
        fvars, fcoords = factor_variables(final)
        return xr.Dataset(
            {**self.shared_variables(history, final), **fvars},
            coords={**self.shared_coords(coords), **fcoords},
            attrs=self.point_attrs(self.cfg) if self.members is None else {},
        )
