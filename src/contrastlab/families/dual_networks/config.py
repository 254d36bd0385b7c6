"""Config of the ``dual_networks`` family (Tian et al. 2020, Sec. 7: the exact-covariance
and beta variants of SimCLR on images). One flat dataclass; every field says its config
section, range and meaning (see :mod:`contrastlab.params`). Light to import: no torch.

References:
    - [0] Tian, Yu, Chen & Ganguli 2020, Understanding Self-supervised Learning with Dual
      Deep Networks, https://arxiv.org/abs/2010.00578
"""

from __future__ import annotations

from dataclasses import dataclass

from contrastlab.encoders.config import EncoderConfig
from contrastlab.families.image_config import (
    check_image_job,
    eval_every_param,
    image_job_memory,
    momentum_param,
    weight_decay_param,
)
from contrastlab.images.config import LEVELS, ImageAugmentConfig, ImageDataConfig
from contrastlab.params import param

VARIANTS = ("nt_xent", "exact_cov")
OPTIMIZERS = ("adam", "sgd")


@dataclass
class DualNetworksConfig(ImageDataConfig, ImageAugmentConfig, EncoderConfig):
    """One sweep point of the dual_networks family (all seeds share it)."""

    # -- augmentation ----------------------------------------------------------------------------
    strength: str = param(
        "strong",
        "augmentation",
        "The views' augmentation level (none, weak or strong; the level's keys below).",
        choices=LEVELS,
    )
    # -- loss --------------------------------------------------------------------------------------
    variant: str = param(
        "nt_xent",
        "loss",
        "nt_xent (SimCLR's loss, 2B - 2 negatives, cosine) or exact_cov (Tian et al.'s "
        "exact-covariance loss: r = 1 - cos, detached weights; Theorem 4).",
        choices=VARIANTS,
    )
    beta: float = param(
        0.0,
        "loss",
        "Tian et al.'s intra-pair weight beta (0 = off): nt_xent: (L - beta mean s_pos / tau) "
        "/ (1 + beta); exact_cov: + beta mean(w_pos r_pos).",
        exclusive_minimum=-1.0,
    )
    temperature: float = param(0.5, "loss", "Temperature tau (0.5 as the authors').",
                               exclusive_minimum=0.0)  # fmt: skip
    # -- train -------------------------------------------------------------------------------------
    steps: int = param(200, "train", "Optimiser steps.", minimum=1)
    batch_size: int = param(
        128, "train", "Images per step (2B views: 2B - 2 negatives per anchor).", minimum=2
    )
    lr: float = param(0.01, "train", "Learning rate.", exclusive_minimum=0.0)
    optimizer: str = param("adam", "train", "adam or sgd.", choices=OPTIMIZERS)
    momentum: float = momentum_param()
    weight_decay: float = weight_decay_param()
    eval_every: int = eval_every_param()
    checkpoint_every: int = param(
        1, "train", "Evaluation rounds between two checkpoints.", minimum=1
    )

    def memory_estimate(self, n_seeds: int) -> dict[str, float]:
        """Bytes a training job needs, by the key that sets each part
        (:func:`contrastlab.families.image_config.image_job_memory`)."""
        return image_job_memory(self, n_seeds)

    def check(self) -> None:
        """Cross-field rules; the message names the key."""
        check_image_job(self)
