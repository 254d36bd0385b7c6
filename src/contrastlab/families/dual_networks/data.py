"""Data of the dual_networks family: every seed's images of ``data.source``.

``synthesize(cfg, seeds)`` stores, per seed, the training and held-out images of the
source (:func:`contrastlab.images.sources.source_dataset`), drawn from the seed's own
stream ``dual_networks/split``; every loss variant and beta of a seed trains and is
probed on the same images.
"""

from __future__ import annotations

from collections.abc import Sequence

import xarray as xr

from contrastlab.engine import stream_name
from contrastlab.families.dual_networks.config import DualNetworksConfig
from contrastlab.images.sources import source_dataset


def synthesize(cfg: DualNetworksConfig, seeds: Sequence[int]) -> xr.Dataset:
    """Per-seed images of the source (the ``data`` section); see
    :func:`contrastlab.images.sources.source_dataset`."""
    cfg.check()
    return source_dataset(
        cfg,
        seeds,
        stream=stream_name("dual_networks", "split"),
        title=f"Tian et al. 2020, Sec. 7 on {cfg.source}: per-seed images",
    )
