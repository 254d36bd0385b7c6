"""Data of the temperature family: the digits split of every seed and the analytic part.

``synthesize(cfg, seeds)`` stores, per seed, the stratified train/test split
of the scikit-learn digits (:mod:`contrastlab.digits`; indices, images and
labels) and the training-free relative-penalty analysis
(:func:`contrastlab.families.temperature.analytic.analytic_dataset`), so that
every training job of a sweep carries the paper's Fig. 3 into the
aggregated results.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from contrastlab import digits
from contrastlab.families.temperature.analytic import analytic_dataset
from contrastlab.families.temperature.config import TemperatureConfig
from contrastlab.results import cf


def synthesize(cfg: TemperatureConfig, seeds: Sequence[int]) -> xr.Dataset:
    """Per-seed digits split and the analytic relative penalty.

    Args:
        cfg: the family config (``data`` and ``analytic`` sections are used).
        seeds: the seeds.

    Returns:
        Dataset with dims ``seed``, ``train_sample``, ``test_sample``,
        ``pixel`` (and the analytic ``tau``, ``sim``): ``x_train``
        (seed, train_sample, pixel), ``y_train``, ``train_index``, ``x_test``,
        ``y_test``, ``test_index`` and the analytic variables.
    """
    cfg.check()
    images, labels = digits.load()
    splits = [digits.split_indices(int(s), cfg.test_fraction) for s in seeds]
    tr = np.stack([a for a, _ in splits])
    te = np.stack([b for _, b in splits])
    ds = xr.Dataset(
        {
            "x_train": (
                ("seed", "train_sample", "pixel"),
                images[tr],
                cf("training image pixel (scaled to [0, 1])", "1"),
            ),
            "y_train": (("seed", "train_sample"), labels[tr], cf("digit class (training)", "1")),
            "train_index": (
                ("seed", "train_sample"),
                tr,
                cf("index into sklearn load_digits (training split)", "1"),
            ),
            "x_test": (
                ("seed", "test_sample", "pixel"),
                images[te],
                cf("held-out image pixel (scaled to [0, 1])", "1"),
            ),
            "y_test": (("seed", "test_sample"), labels[te], cf("digit class (held out)", "1")),
            "test_index": (
                ("seed", "test_sample"),
                te,
                cf("index into sklearn load_digits (held-out split)", "1"),
            ),
        },
        coords={
            "seed": ("seed", np.asarray(seeds, dtype=np.int64), cf("seed", "1")),
            "train_sample": ("train_sample", np.arange(tr.shape[1]), cf("training sample", "1")),
            "test_sample": ("test_sample", np.arange(te.shape[1]), cf("held-out sample", "1")),
            "pixel": ("pixel", np.arange(digits.PIXELS), cf("pixel (row-major 8x8)", "1")),
        },
        attrs={"title": "Wang & Liu 2021 on the digits: per-seed split and analytic r_i"},
    )
    return ds.merge(analytic_dataset(cfg.taus, cfg.n_draws, seeds))
