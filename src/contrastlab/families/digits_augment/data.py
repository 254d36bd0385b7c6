"""Data of the digits_augment family: every seed's split of the scikit-learn digits.

``synthesize(cfg, seeds)`` stores, per seed, a stratified train/test split of the
digits (:func:`contrastlab.digits.split_dataset`: indices, images and labels) drawn
from the seed's own stream ``digits_augment/split``. The augmentation strength does
not enter: every strength of a seed trains and is probed on the same split.
"""

from __future__ import annotations

from collections.abc import Sequence

import xarray as xr

from contrastlab import digits
from contrastlab.engine import stream_name
from contrastlab.families.digits_augment.config import DigitsAugmentConfig


def synthesize(cfg: DigitsAugmentConfig, seeds: Sequence[int]) -> xr.Dataset:
    """Per-seed digits split (the ``data`` section).

    Returns:
        Dataset with dims ``seed``, ``train_sample``, ``test_sample``, ``pixel``:
        ``x_train``, ``y_train``, ``train_index``, ``x_test``, ``y_test``, ``test_index``.
    """
    cfg.check()
    return digits.split_dataset(
        seeds,
        cfg.test_fraction,
        stream=stream_name("digits_augment", "split"),
        title="Wen & Li 2021 on the digits: per-seed split",
    )
