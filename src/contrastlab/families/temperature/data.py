"""Data of the temperature family: every seed's images and the analytic part.

``synthesize(cfg, seeds)`` stores, per seed, the training and held-out images of
``data.source`` (:func:`contrastlab.images.sources.source_dataset`; the digits' split
from the stream ``digits/split``, the others from ``temperature/split``) and the
training-free relative-penalty analysis
(:func:`contrastlab.families.temperature.analytic.analytic_dataset`), so that
every training job of a sweep carries the paper's Fig. 3 into the
aggregated results.
"""

from __future__ import annotations

from collections.abc import Sequence

import xarray as xr

from contrastlab.engine import stream_name
from contrastlab.families.temperature.analytic import analytic_dataset
from contrastlab.families.temperature.config import TemperatureConfig
from contrastlab.images.sources import source_dataset


def synthesize(cfg: TemperatureConfig, seeds: Sequence[int]) -> xr.Dataset:
    """Per-seed images and the analytic relative penalty.

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
    split = source_dataset(
        cfg,
        seeds,
        stream="digits/split" if cfg.source == "digits" else stream_name("temperature", "split"),
        title=f"Wang & Liu 2021 on {cfg.source}: per-seed images and analytic r_i",
    )
    return split.merge(analytic_dataset(cfg.taus, cfg.n_draws, seeds))
