"""The training job of the digits_augment family: InfoNCE on the digits at one strength.

The encoder, batches and shared metrics are
:class:`contrastlab.digits_task.DigitsContrastTask`'s (the same as the temperature
family's): a batched MLP per seed on two views of ``batch_size`` training digits a step.
The views are made at the point's augmentation strength
(:meth:`DigitsAugmentConfig.level`; ``none``: two identical copies), the loss is
InfoNCE with in-batch negatives (symmetric over the views), and every ``eval_every``
steps the held-out split gives the probe accuracy, -L_unif and the alignment of its
two views (drawn once, at the same strength); after training, a 2-D PCA of the
held-out embedding.

References:
    - [0] Wen & Li 2021, Toward Understanding the Feature Learning Process of
      Self-supervised Contrastive Learning, https://arxiv.org/abs/2105.15134
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from contrastlab.digits import Augment
from contrastlab.digits_task import DigitsContrastTask
from contrastlab.families.digits_augment.config import DigitsAugmentConfig
from contrastlab.losses.infonce import infonce_in_batch


class DigitsAugmentTask(DigitsContrastTask):
    """All seeds of one sweep point (one augmentation strength) of digits_augment: the
    arguments of :class:`DigitsContrastTask`, ``data`` from :func:`.data.synthesize`."""

    family = "digits_augment"

    def augmentation(self, cfg: DigitsAugmentConfig) -> Augment:
        return Augment(**cfg.level())

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        v1, v2 = batch
        return infonce_in_batch(self.embed(v1), self.embed(v2), self.cfg.temperature)

    @torch.no_grad()
    def evaluate(self, r: int) -> dict[str, np.ndarray]:
        return self.shared_metrics(*self.embeddings())

    def point_attrs(self, cfg: DigitsAugmentConfig) -> dict:
        """Title, augmentation strength and its parameters, and tau of one point."""
        level = cfg.level()
        views = ", ".join(f"{k} {v:g}" for k, v in level.items())
        if cfg.strength == "none":
            views = "identical views"
        return {
            "title": f"Wen & Li 2021 on the digits: {cfg.strength} augmentation ({views})",
            "augmentation_strength": cfg.strength,
            **{f"augmentation_{k}": float(v) for k, v in level.items()},
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
