"""Configuration of the temperature family (Wang & Liu 2021 on the scikit-learn digits).

One flat dataclass; every field says its config section (``data``, ``model``,
``loss``, ``train``, ``analytic``), range and meaning (see
:mod:`contrastlab.params`). Light to import: no torch (the Snakefile imports it).

References:
    - [0] Wang & Liu 2021, Understanding the Behaviour of Contrastive Loss,
      https://arxiv.org/abs/2012.09740
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from contrastlab.encoders.config import EncoderConfig, encoder_param
from contrastlab.families.image_config import (
    check_image_job,
    image_job_memory,
    momentum_param,
    negatives_param,
    weight_decay_param,
)
from contrastlab.images.config import (
    LEVELS,
    SIDE,
    ImageAugmentConfig,
    ImageDataConfig,
    source_param,
)
from contrastlab.params import param

KINDS = ("infonce", "hard", "simple", "hard_simple")
# Losses that have no temperature: tau only enters their r_i entropy metric.
TAU_FREE = ("simple", "hard_simple")
OPTIMIZERS = ("adam", "sgd")
PAPER_TAUS = [0.07, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0]


@dataclass
class TemperatureConfig(ImageDataConfig, ImageAugmentConfig, EncoderConfig):
    """One sweep point of the temperature family (all seeds share it)."""

    # -- data: the digits by default (the default run's budget: README, "Speed") ------------
    source: str = source_param("digits")
    # -- data: the digits' augmentations (the images' are the augmentation levels) ----------
    shift: int = param(
        1,
        "data",
        "digits: largest random shift of a view in pixels (zero padding).",
        minimum=0,
        maximum=4,
    )
    noise: float = param(
        0.05,
        "data",
        "digits: std of the additive Gaussian pixel noise of a view (pixels in [0, 1]).",
        minimum=0.0,
    )
    erase_prob: float = param(
        0.0,
        "data",
        "digits: probability that a view has a square patch erased.",
        minimum=0.0,
        maximum=1.0,
    )
    erase_size: int = param(
        2, "data", "digits: side of the erased square patch in pixels.", minimum=1, maximum=SIDE
    )
    # -- model: the encoder (EncoderConfig's keys; an embedding of 128 as the paper's) ----
    encoder: str = encoder_param("mlp")
    embed_dim: int = param(
        128,
        "model",
        "Embedding dimension (L2-normalised output), 128 as the paper's.",
        minimum=2,
    )
    # -- augmentation: the level of the image sources' views ---------------------------------
    strength: str = param(
        "strong",
        "augmentation",
        "Images: the augmentation level of the views (none, weak or strong; the level's keys "
        "below). The digits use data.shift, data.noise and data.erase_*.",
        choices=LEVELS,
    )
    # -- loss --------------------------------------------------------------------------------------
    kind: str = param(
        "infonce",
        "loss",
        "infonce (Eq. 1, in-batch negatives), hard (only the nearest alpha fraction of the "
        "negatives), simple (-s_ii + lambda sum s_ij) or hard_simple (simple on the nearest "
        "negatives).",
        choices=KINDS,
    )
    temperature: float = param(
        0.2,
        "loss",
        "Temperature tau of infonce and hard; the simple losses ignore it (it only sets the "
        "tau of their r_i entropy metric).",
        exclusive_minimum=0.0,
    )
    negatives: str = negatives_param(
        ("memory_bank",),
        "; memory_bank (Wu et al., the paper's: view 1 against a bank of EMA features of "
        "every training image, bank_negatives drawn per step)",
    )
    bank_negatives: int = param(
        1024,
        "loss",
        "memory_bank: negatives drawn from the bank per step (the paper: 4096 of CIFAR's "
        "50000; at most the training images).",
        minimum=1,
    )
    bank_momentum: float = param(
        0.5,
        "loss",
        "memory_bank: m of the update v <- normalise(m v + (1 - m) f) (Wu et al.: 0.5).",
        minimum=0.0,
        exclusive_maximum=1.0,
    )
    hard_fraction: float = param(
        0.08,
        "loss",
        "alpha: fraction of the B - 1 in-batch negatives kept by hard and hard_simple "
        "(ceil(alpha (B - 1)), at least 1); the paper keeps 4095 of 50000 (0.0819).",
        exclusive_minimum=0.0,
        maximum=1.0,
    )
    simple_lambda: float | None = param(
        None,
        "loss",
        "lambda: weight of every negative similarity in simple and hard_simple; null = 1/N "
        "with N the negatives per anchor (B - 1, or the K nearest for hard_simple), the "
        "tau -> inf limit of infonce / hard.",
        minimum=0.0,
    )
    # -- train -------------------------------------------------------------------------------------
    steps: int = param(400, "train", "Optimiser steps.", minimum=1)
    batch_size: int = param(
        128,
        "train",
        "Images per step (1 positive + batch_size - 1 in-batch negatives per anchor).",
        minimum=2,
    )
    lr: float = param(0.005, "train", "Learning rate.", exclusive_minimum=0.0)
    optimizer: str = param("adam", "train", "adam or sgd.", choices=OPTIMIZERS)
    momentum: float = momentum_param()
    weight_decay: float = weight_decay_param()
    eval_every: int = param(
        200, "train", "Steps between two evaluations on the held-out split.", minimum=1
    )
    checkpoint_every: int = param(
        1, "train", "Evaluation rounds between two checkpoints.", minimum=1
    )
    # -- analytic: the paper's Fig. 3, no training ------------------------------------------------
    taus: list[float] = param(
        PAPER_TAUS,
        "analytic",
        "Temperatures of the analytic relative penalty r_i(s) (Fig. 3).",
        exclusive_minimum=0.0,
        max_items=32,
    )
    n_draws: int = param(
        4096,
        "analytic",
        "Negative similarities s ~ U[-1, 1] drawn per seed for the analytic r_i.",
        minimum=2,
        maximum=1_000_000,
    )

    def n_negatives(self) -> int:
        """Negatives per anchor: B - 1, or the K nearest for hard and hard_simple."""
        if self.kind in ("hard", "hard_simple"):
            k = math.ceil(self.hard_fraction * (self.batch_size - 1) - 1e-9)
            return min(self.batch_size - 1, max(1, k))
        return self.batch_size - 1

    def lam(self) -> float:
        """lambda of the simple losses (``simple_lambda``, or 1/N when null)."""
        if self.simple_lambda is None:
            return 1.0 / self.n_negatives()
        return float(self.simple_lambda)

    def n_rounds(self) -> int:
        """Evaluation rounds after the initialisation (the last one may be shorter)."""
        return math.ceil(self.steps / self.eval_every)

    def memory_estimate(self, n_seeds: int) -> dict[str, float]:
        """Bytes a training job needs, by the key that sets each part (rough: the image
        job of :func:`contrastlab.families.image_config.image_job_memory`, plus the analytic draws
        in float64)."""
        return {
            **image_job_memory(self, n_seeds),
            "analytic.n_draws": 4.0 * n_seeds * self.n_draws * 8,
        }

    def warnings(self) -> list[str]:
        """Settings that run but do little."""
        out = []
        default = TemperatureConfig.__dataclass_fields__["temperature"].default
        if self.kind in TAU_FREE and self.temperature != default:
            out.append(
                f"loss.temperature ({self.temperature}) does not change the training of "
                f"loss.kind {self.kind} (only the tau of its r_i entropy metric); sweep points "
                "that differ only in it train the same model"
            )
        return out

    def check(self) -> None:
        """Cross-field rules; the message names the key."""
        check_image_job(self)
        if self.negatives == "nt_xent" and self.kind != "infonce":
            raise ValueError(
                f"loss.negatives nt_xent is implemented for loss.kind infonce only, not {self.kind}"
            )
        if self.negatives == "memory_bank":
            if self.kind not in ("infonce", "hard"):
                raise ValueError(
                    f"loss.negatives memory_bank is implemented for loss.kind infonce and "
                    f"hard, not {self.kind}"
                )
            n_train, _ = self.split_sizes()
            if self.bank_negatives > n_train:
                raise ValueError(
                    f"loss.bank_negatives ({self.bank_negatives}) must be <= the training "
                    f"split ({n_train})"
                )
        _, n_test = self.split_sizes()
        if n_test < 11:
            key = "data.test_fraction" if self.source == "digits" else "data.n_test"
            raise ValueError(
                f"{key} ({getattr(self, key[5:])}) leaves {n_test} held-out images; "
                "the top-10 negative similarity needs >= 11"
            )
        if len(set(self.taus)) != len(self.taus):
            raise ValueError(f"analytic.taus ({self.taus}) must be distinct")
