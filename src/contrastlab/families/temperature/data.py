"""Data of the temperature family: the digits split of every seed and the analytic part.

``synthesize(cfg, seeds)`` stores, per seed, the stratified train/test split
of the scikit-learn digits (:func:`contrastlab.digits.split_dataset`; indices,
images and labels) and the training-free relative-penalty analysis
(:func:`contrastlab.families.temperature.analytic.analytic_dataset`), so that
every training job of a sweep carries the paper's Fig. 3 into the
aggregated results.
"""

from __future__ import annotations

from collections.abc import Sequence

import xarray as xr

from contrastlab import digits
from contrastlab.families.temperature.analytic import analytic_dataset
from contrastlab.families.temperature.config import TemperatureConfig


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
    split = digits.split_dataset(
        seeds,
        cfg.test_fraction,
        title="Wang & Liu 2021 on the digits: per-seed split and analytic r_i",
    )
    return split.merge(analytic_dataset(cfg.taus, cfg.n_draws, seeds))
