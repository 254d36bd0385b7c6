"""Config of the ``digits_augment`` family (Wen & Li 2021's CIFAR-10 figures on the digits).

One flat dataclass; every field says its config section (``data``, ``augmentation``,
``model``, ``loss``, ``train``), range and meaning (see :mod:`contrastlab.params`).
The augmentation strength is one axis, ``augmentation.strength`` in ``none | weak |
strong``; what ``weak`` and ``strong`` mean is spelled out by one key per level and
parameter (``weak_shift``, ``strong_noise``...), so a user can edit a level and the
schema checks its range; ``none`` gives two identical views. Light to import: no torch.

References:
    - [0] Wen & Li 2021, Toward Understanding the Feature Learning Process of
      Self-supervised Contrastive Learning, https://arxiv.org/abs/2105.15134
"""

from __future__ import annotations

from dataclasses import dataclass

from contrastlab.encoders.config import EncoderConfig
from contrastlab.families.image_config import (
    check_image_job,
    eval_every_param,
    image_job_memory,
    momentum_param,
    negatives_param,
    weight_decay_param,
)
from contrastlab.images.config import SIDE, ImageAugmentConfig, ImageDataConfig
from contrastlab.params import param

STRENGTHS = ("none", "weak", "strong")
OPTIMIZERS = ("adam", "sgd")
# What a level's parameter means (the order of contrastlab.images.digits.Augment) and its range.
VIEW_PARAMS = {
    "shift": (
        "digits: largest random shift in pixels (zero padding).",
        {"minimum": 0, "maximum": 4},
    ),
    "noise": ("digits: std of the Gaussian pixel noise (pixels in [0, 1]).", {"minimum": 0.0}),
    "erase_prob": (
        "digits: probability of erasing a square patch.",
        {"minimum": 0.0, "maximum": 1.0},
    ),
    "erase_size": ("digits: side of the erased patch in pixels.", {"minimum": 1, "maximum": SIDE}),
}


def _level_param(level: str, name: str, default):
    """The config key ``augmentation.<level>_<name>``."""
    doc, limits = VIEW_PARAMS[name]
    return param(default, "augmentation", f"{level}: {doc}", **limits)


@dataclass
class DigitsAugmentConfig(ImageDataConfig, ImageAugmentConfig, EncoderConfig):
    """One sweep point of the digits_augment family (all seeds share it)."""

    # -- augmentation: the strength axis and what each level means -------------------------------
    strength: str = param(
        "strong",
        "augmentation",
        "How the two views of an image are made: none (two identical copies), weak or strong "
        "(images: SimCLR's crop, flip, colour jitter, greyscale, blur with the level's keys; "
        "digits: random shift, then erasing, then pixel noise with the level's keys).",
        choices=STRENGTHS,
    )
    weak_shift: int = _level_param("weak", "shift", 1)
    weak_noise: float = _level_param("weak", "noise", 0.05)
    weak_erase_prob: float = _level_param("weak", "erase_prob", 0.0)
    weak_erase_size: int = _level_param("weak", "erase_size", 2)
    strong_shift: int = _level_param("strong", "shift", 2)
    strong_noise: float = _level_param("strong", "noise", 0.1)
    strong_erase_prob: float = _level_param("strong", "erase_prob", 0.5)
    strong_erase_size: int = _level_param("strong", "erase_size", 3)
    # -- loss --------------------------------------------------------------------------------------
    kind: str = param(
        "infonce",
        "loss",
        "InfoNCE with in-batch negatives, symmetric over the two views.",
        const=True,
    )
    temperature: float = param(0.2, "loss", "Temperature tau.", exclusive_minimum=0.0)
    negatives: str = negatives_param()
    # -- train -------------------------------------------------------------------------------------
    steps: int = param(200, "train", "Optimiser steps.", minimum=1)
    batch_size: int = param(
        128,
        "train",
        "Images per step (1 positive + batch_size - 1 in-batch negatives per anchor).",
        minimum=2,
    )
    lr: float = param(0.01, "train", "Learning rate.", exclusive_minimum=0.0)
    optimizer: str = param("adam", "train", "adam or sgd.", choices=OPTIMIZERS)
    momentum: float = momentum_param()
    weight_decay: float = weight_decay_param()
    eval_every: int = eval_every_param()
    checkpoint_every: int = param(
        2, "train", "Evaluation rounds between two checkpoints.", minimum=1
    )

    def level(self, strength: str | None = None) -> dict[str, float]:
        """``{shift, noise, erase_prob, erase_size}`` of a strength (default: this point's);
        ``none`` is all off (two identical views)."""
        strength = self.strength if strength is None else strength
        if strength not in STRENGTHS:
            raise ValueError(f"augmentation.strength must be one of {STRENGTHS}, got {strength!r}")
        if strength == "none":
            return {"shift": 0, "noise": 0.0, "erase_prob": 0.0, "erase_size": 1}
        return {p: getattr(self, f"{strength}_{p}") for p in VIEW_PARAMS}

    def memory_estimate(self, n_seeds: int) -> dict[str, float]:
        """Bytes a training job needs, by the key that sets each part
        (:func:`contrastlab.families.image_config.image_job_memory`)."""
        return image_job_memory(self, n_seeds)

    def warnings(self) -> list[str]:
        """Settings that run but do not order the levels as their names say."""
        weak, strong = self.level("weak"), self.level("strong")
        weaker = [
            f"augmentation.strong_{p} ({strong[p]}) < augmentation.weak_{p} ({weak[p]})"
            for p in ("shift", "noise", "erase_prob")
            if strong[p] < weak[p]
        ]
        if weaker:
            return [
                "the strong level is weaker than the weak one in "
                + "; ".join(weaker)
                + ": the claim 'strong > weak > none' then tests another ordering"
            ]
        return []

    def check(self) -> None:
        """Cross-field rules; the message names the key."""
        check_image_job(self)
