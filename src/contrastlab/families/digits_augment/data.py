"""Data of the digits_augment family: every seed's images of ``data.source``.

``synthesize(cfg, seeds)`` stores, per seed, the training and held-out images of the
source (:func:`contrastlab.images.sources.source_dataset`: the digits' split, the
``shapes`` images with their factors, or a real data set's indices), drawn from the
seed's own stream ``digits_augment/split``. The augmentation strength does not enter:
every strength of a seed trains and is probed on the same images.
"""

from __future__ import annotations

from collections.abc import Sequence

import xarray as xr

from contrastlab.engine import stream_name
from contrastlab.families.digits_augment.config import DigitsAugmentConfig
from contrastlab.images.sources import source_dataset


def synthesize(cfg: DigitsAugmentConfig, seeds: Sequence[int]) -> xr.Dataset:
    """Per-seed images of the source (the ``data`` section).

    Returns:
        See :func:`contrastlab.images.sources.source_dataset`.
    """
    cfg.check()
    return source_dataset(
        cfg,
        seeds,
        stream=stream_name("digits_augment", "split"),
        title=f"Wen & Li 2021 on {cfg.source}: per-seed images",
    )
