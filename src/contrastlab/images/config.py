"""Config of the image layer, light to import (no torch, numpy or scikit-learn): the
image sources and their sizes, the keys every family that trains on images shares, and
the rules across them.

The Snakefile imports every family's config class, so this module stays light. A family
that trains on images declares its config dataclass as a subclass of
:class:`ImageDataConfig` (the ``data`` keys of the source), :class:`ImageAugmentConfig`
(the ``augmentation`` levels of the image sources) and
:class:`contrastlab.encoders.config.EncoderConfig` (the ``model`` keys), and calls
:meth:`ImageDataConfig.check_data` from its ``check()``.

Sources (``data.source``):

* ``digits``: scikit-learn's bundled 8x8 digits (1797 images, 10 classes, grey; no
  download), a stratified split by ``data.test_fraction``; flat 64-pixel inputs, so only
  the MLP encoder; the digits' own augmentations (shift, erasing, pixel noise).
* ``shapes``: the procedural RGB images of :mod:`contrastlab.images.shapes` (ships with
  the code): ``data.n_train`` + ``data.n_test`` images per seed of ``data.side`` pixels,
  the class is the shape, nuisance factors with the strengths below.
* ``cifar10``, ``cifar100``, ``svhn``, ``stl10``: read from ``data.root`` in their
  official on-disk formats (:mod:`contrastlab.images.datasets`); ``data.n_train`` /
  ``data.n_test`` take a per-seed random subset of the training / test split (null = all).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from contrastlab.images.datasets import DATASETS
from contrastlab.params import param

# load_digits has 1797 images of 10 classes, 8x8 pixels (kept here so configs need no sklearn).
N_IMAGES = 1797
N_CLASSES = 10
SIDE = 8
SOURCES = ("digits", "shapes", *DATASETS)
REAL = tuple(DATASETS)
# Augmentation levels of the image sources and what each parameter means.
LEVELS = ("none", "weak", "strong")
LEVEL_PARAMS = {
    "crop_scale": (
        "smallest area fraction of the random resized crop (1 = no crop).",
        {"exclusive_minimum": 0.0, "maximum": 1.0},
    ),
    "flip_prob": ("probability of a horizontal flip.", {"minimum": 0.0, "maximum": 1.0}),
    "jitter_prob": ("probability of the colour jitter.", {"minimum": 0.0, "maximum": 1.0}),
    "jitter": (
        "colour-jitter strength s: brightness, contrast and saturation factors in "
        "[1 - s, 1 + s], hue shift in [-s/4, s/4] (SimCLR's parametrisation).",
        {"minimum": 0.0, "maximum": 2.0},
    ),
    "grey_prob": ("probability of converting to greyscale.", {"minimum": 0.0, "maximum": 1.0}),
    "blur_prob": (
        "probability of a Gaussian blur (sigma in [0.1, 2]).",
        {"minimum": 0.0, "maximum": 1.0},
    ),
}
# weak: our design; strong: SimCLR's CIFAR-10 setting (Chen et al. 2020, Appendix B.9: crop
# 0.08-1, flip, jitter strength 0.5 with p 0.8, greyscale p 0.2, no blur).
LEVEL_DEFAULTS = {
    "weak": {
        "crop_scale": 0.5,
        "flip_prob": 0.5,
        "jitter_prob": 0.5,
        "jitter": 0.2,
        "grey_prob": 0.0,
        "blur_prob": 0.0,
    },
    "strong": {
        "crop_scale": 0.08,
        "flip_prob": 0.5,
        "jitter_prob": 0.8,
        "jitter": 0.4,
        "grey_prob": 0.2,
        "blur_prob": 0.0,
    },
}


def split_sizes(test_fraction: float) -> tuple[int, int]:
    """``(n_train, n_test)`` of the digits split (scikit-learn's rounding)."""
    n_test = math.ceil(test_fraction * N_IMAGES)
    return N_IMAGES - n_test, n_test


def check_training(n_train: int, batch_size: int, eval_every: int, steps: int) -> None:
    """Cross-key rules of a batch and an evaluation period; the message names the key.

    Raises:
        ValueError: a batch larger than the training split, or an evaluation period
            longer than the training.
    """
    if batch_size > n_train:
        raise ValueError(
            f"train.batch_size ({batch_size}) must be <= the training split ({n_train})"
        )
    if eval_every > steps:
        raise ValueError(f"train.eval_every ({eval_every}) must be <= train.steps ({steps})")


def _level_param(level: str, name: str):
    """The config key ``augmentation.<level>_<name>`` of an image source's level."""
    doc, limits = LEVEL_PARAMS[name]
    return param(LEVEL_DEFAULTS[level][name], "augmentation", f"{level} (images): {doc}", **limits)


def source_param(default: str):
    """The ``data.source`` key with a family's default source."""
    return param(
        default,
        "data",
        "Image source: digits (scikit-learn's 8x8, MLP only), shapes (procedural, ships with "
        "the code) or a data set read from data.root: " + ", ".join(REAL) + ".",
        choices=SOURCES,
    )


@dataclass
class ImageDataConfig:
    """The ``data`` keys of an image source (see the module docstring)."""

    source: str = source_param("shapes")
    root: str | None = param(
        None,
        "data",
        "Folder holding a real data set in its official layout (cifar10: "
        "cifar-10-batches-py/, cifar100: cifar-100-python/, svhn: *_32x32.mat, stl10: "
        "stl10_binary/); README, 'Real image data sets'.",
    )
    unlabeled: bool = param(
        False,
        "data",
        "stl10: the contrastive batches also draw from the 100000 unlabeled images (the "
        "authors' train+unlabeled); the probe still fits on the labelled training split.",
    )
    test_fraction: float = param(
        0.2,
        "data",
        "digits: fraction of the 1797 digits held out (stratified split drawn from the seed); "
        "the rest is the training split.",
        exclusive_minimum=0.0,
        exclusive_maximum=1.0,
    )
    n_train: int | None = param(
        2000,
        "data",
        "shapes: training images generated per seed; real sources: a random subset of the "
        "training split per seed (null = all of it).",
        minimum=2,
    )
    n_test: int | None = param(
        1000,
        "data",
        "shapes: held-out images per seed; real sources: a random subset of the test split "
        "per seed (null = all of it). The probe and every held-out metric use them.",
        minimum=2,
    )
    side: int = param(16, "data", "shapes: image side in pixels.", minimum=8, maximum=256)
    n_classes: int = param(
        10, "data", "shapes: classes (the first n_classes shapes).", minimum=2, maximum=15
    )
    position: float = param(
        1.0,
        "data",
        "shapes: position strength (0 = centred; 1 = anywhere the shape fits).",
        minimum=0.0,
        maximum=1.0,
    )
    scale: float = param(
        0.5,
        "data",
        "shapes: scale strength (size in [1 - scale/2, 1] of the largest).",
        minimum=0.0,
        maximum=1.0,
    )
    rotation: float = param(
        1.0,
        "data",
        "shapes: rotation strength (angle uniform in +-rotation x 180 degrees).",
        minimum=0.0,
        maximum=1.0,
    )
    shape_colour: float = param(
        0.5,
        "data",
        "shapes: shape-colour strength (0 = one colour; 1 = any of the palette).",
        minimum=0.0,
        maximum=1.0,
    )
    bg_colour: float = param(
        0.5,
        "data",
        "shapes: background-colour strength (0 = one colour; 1 = any of the palette).",
        minimum=0.0,
        maximum=1.0,
    )
    texture: float = param(
        0.25,
        "data",
        "shapes: amplitude of the background texture (a grating of one of 4 kinds).",
        minimum=0.0,
        maximum=1.0,
    )
    dense_noise: float = param(
        0.1,
        "data",
        "shapes: amplitude of the per-image fixed noise pattern (one of n_noise_patterns "
        "Gaussian patterns; Wen & Li's dense feature xi, the same in both views).",
        minimum=0.0,
        maximum=1.0,
    )
    n_noise_patterns: int = param(
        4, "data", "shapes: fixed noise patterns to draw from.", minimum=1, maximum=1024
    )

    def image_shape(self) -> tuple[int, int, int]:
        """``(channels, height, width)`` of the source's images."""
        if self.source == "digits":
            return 1, SIDE, SIDE
        if self.source == "shapes":
            return 3, self.side, self.side
        info = DATASETS[self.source]
        return info.channels, info.side, info.side

    def n_labels(self) -> int:
        """Classes of the source."""
        if self.source == "digits":
            return N_CLASSES
        if self.source == "shapes":
            return self.n_classes
        return DATASETS[self.source].n_classes

    def split_sizes(self) -> tuple[int, int]:
        """``(n_train, n_test)`` per seed (a real source with null: the whole split, as its
        files say; the sizes of the official splits otherwise)."""
        if self.source == "digits":
            return split_sizes(self.test_fraction)
        if self.source == "shapes":
            return int(self.n_train), int(self.n_test)
        full = DATASETS[self.source].sizes
        return (
            full["train"] if self.n_train is None else int(self.n_train),
            full["test"] if self.n_test is None else int(self.n_test),
        )

    def shapes_spec(self):
        """The :class:`contrastlab.images.shapes.ShapesSpec` of the ``shapes`` keys."""
        from contrastlab.images.shapes import ShapesSpec

        return ShapesSpec(
            side=self.side,
            n_classes=self.n_classes,
            position=self.position,
            scale=self.scale,
            rotation=self.rotation,
            shape_colour=self.shape_colour,
            bg_colour=self.bg_colour,
            texture=self.texture,
            noise=self.dense_noise,
            n_noise_patterns=self.n_noise_patterns,
        )

    def check_data(self, encoder: str) -> None:
        """Rules across the data keys (and the encoder a source allows); the message
        names the key. A real source's folder is checked here, before any job.

        Raises:
            ValueError: a bad combination; FileNotFoundError: a missing or incomplete
                data.root.
        """
        if self.unlabeled and self.source != "stl10":
            raise ValueError(f"data.unlabeled needs data.source stl10, not {self.source}")
        if self.source == "digits":
            n_train, n_test = split_sizes(self.test_fraction)
            if n_test < N_CLASSES or n_train < N_CLASSES:
                raise ValueError(
                    f"data.test_fraction ({self.test_fraction}) leaves {n_train} training and "
                    f"{n_test} held-out digits; each split needs >= {N_CLASSES} (one per class)"
                )
            if encoder != "mlp":
                raise ValueError(
                    f"model.encoder ({encoder}) needs an image source: the digits are flat "
                    "8x8 inputs for the mlp encoder (use data.source: shapes for a ConvNet)"
                )
            return
        if self.source == "shapes":
            for key in ("n_train", "n_test"):
                if getattr(self, key) is None:
                    raise ValueError(f"data.{key} must be a number for data.source shapes")
            if self.n_test < self.n_classes:
                raise ValueError(
                    f"data.n_test ({self.n_test}) must be >= data.n_classes ({self.n_classes})"
                )
            try:
                self.shapes_spec().check()
            except ValueError as err:
                raise ValueError(f"data: {err}") from None
            return
        from contrastlab.images.datasets import check_root

        if self.root is None:
            raise ValueError(
                f"data.root is required for data.source {self.source}: the folder that holds "
                f"it ({DATASETS[self.source].url}; README, 'Real image data sets')"
            )
        splits = ("train", "test", "unlabeled") if self.unlabeled else ("train", "test")
        check_root(self.source, Path(self.root).expanduser(), splits)
        full = DATASETS[self.source].sizes
        for key, split in (("n_train", "train"), ("n_test", "test")):
            n = getattr(self, key)
            if n is not None and n > full[split]:
                raise ValueError(
                    f"data.{key} ({n}) must be <= the {split} split of {self.source} "
                    f"({full[split]})"
                )


@dataclass
class ImageAugmentConfig:
    """The ``augmentation`` levels of the image sources: ``none`` (two identical views),
    ``weak`` and ``strong`` (SimCLR's augmentations, :mod:`contrastlab.images.augment`),
    each level's parameters a key."""

    weak_crop_scale: float = _level_param("weak", "crop_scale")
    weak_flip_prob: float = _level_param("weak", "flip_prob")
    weak_jitter_prob: float = _level_param("weak", "jitter_prob")
    weak_jitter: float = _level_param("weak", "jitter")
    weak_grey_prob: float = _level_param("weak", "grey_prob")
    weak_blur_prob: float = _level_param("weak", "blur_prob")
    strong_crop_scale: float = _level_param("strong", "crop_scale")
    strong_flip_prob: float = _level_param("strong", "flip_prob")
    strong_jitter_prob: float = _level_param("strong", "jitter_prob")
    strong_jitter: float = _level_param("strong", "jitter")
    strong_grey_prob: float = _level_param("strong", "grey_prob")
    strong_blur_prob: float = _level_param("strong", "blur_prob")

    def image_level(self, strength: str) -> dict[str, float]:
        """The :class:`contrastlab.images.augment.AugmentSpec` keywords of a level
        (``none``: every operation off, two identical views)."""
        if strength not in LEVELS:
            raise ValueError(f"augmentation strength must be one of {LEVELS}, got {strength!r}")
        if strength == "none":
            v = {"crop_scale": 1.0, "flip_prob": 0.0, "jitter_prob": 0.0, "jitter": 0.0}
            v |= {"grey_prob": 0.0, "blur_prob": 0.0}
        else:
            v = {p: getattr(self, f"{strength}_{p}") for p in LEVEL_PARAMS}
        s = v.pop("jitter")
        return {
            **v,
            "brightness": 0.8 * s,
            "contrast": 0.8 * s,
            "saturation": 0.8 * s,
            "hue": 0.2 * s,
        }


def conv_memory(
    n_seeds: int, image: tuple[int, int, int], n_images: int, channels, batch_size: int
) -> dict[str, float]:
    """Rough bytes of a batched ConvNet job, by the key that sets each part: the uint8
    images, and one step's activations (two views, about six maps of every stage kept
    for the backward pass) and the evaluation's (in chunks)."""
    c, h, w = image
    act = 0.0
    for i, ch in enumerate(channels):
        act += 6.0 * ch * (h * w) / 4**i
    return {
        "data.n_train": float(n_seeds * n_images * c * h * w),
        "train.batch_size": 4.0 * n_seeds * 2 * batch_size * act,
    }


def mlp_memory(
    n_seeds: int,
    n_images: int,
    in_dim: int,
    width: int,
    depth: int,
    embed_dim: int,
    batch_size: int,
) -> dict[str, float]:
    """Bytes a batched MLP job needs, by the key that sets each part (rough: the images
    as tensors; the weights with their gradients and Adam's state; one step's activations
    and similarity matrices; the evaluation's embeddings)."""
    widths = [in_dim] + [width] * depth + [embed_dim]
    n_params = sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))
    act = sum(widths[1:]) * 3
    return {
        "data.n_train": 3.0 * n_seeds * n_images * in_dim * 4,
        "model.width": 4.0 * n_seeds * n_params * 4 + n_seeds * n_images * act * 4,
        "train.batch_size": n_seeds * 2 * batch_size * (act + 12 * batch_size) * 4.0,
    }
