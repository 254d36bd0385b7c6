"""What each workflow stage does, for any registered family.

The Snakemake scripts call these functions and nothing else, so each stage
can be run (and tested) without Snakemake. Which family does the work is
read from the experiment's ``family`` key, through the registry.
"""

from __future__ import annotations

import time

import pandas as pd
import xarray as xr

from contrastlab.registry import get_family
from contrastlab.results import combine_points
from contrastlab.utils import provenance


def synthesize(cfg: dict, seeds: list) -> xr.Dataset:
    """Data stage: generator parameters and data for every seed, with provenance."""
    t0 = time.perf_counter()
    fam = get_family(cfg["family"])
    ds = fam.synthesize(fam.config(cfg), [int(s) for s in seeds])
    ds.attrs.update(provenance(cfg, seeds, wall_time_s=time.perf_counter() - t0))
    return ds


def train(
    data: xr.Dataset,
    cfg: dict,
    device: str = "auto",
    log=print,
    checkpoint_path=None,
    where: str = "",
) -> xr.Dataset:
    """Training stage: all seeds of one sweep point in one batched model, via the engine.

    Args:
        data: the data stage's dataset of this point.
        cfg: the point's resolved experiment config.
        device: ``auto | cpu | cuda``.
        log: print-like function for progress lines.
        checkpoint_path: where to save/resume checkpoints (None: never).
        where: names the job in messages (experiment and sweep point).
    """
    import torch

    from contrastlab.engine import Engine
    from contrastlab.utils import device_name, resolve_device

    dev = resolve_device(device)
    log(f"training on {device_name(dev)} (config device: {device}), torch {torch.__version__}")
    fam = get_family(cfg["family"])
    typed = fam.config(cfg)
    seeds = [int(s) for s in data.seed.values]
    t0 = time.perf_counter()
    task = fam.task(typed, data, seeds, dev)
    engine = Engine(
        task,
        config=cfg,
        where=where or f"experiment of family {fam.name}",
        log=log,
        checkpoint_path=checkpoint_path,
        checkpoint_every=getattr(typed, "checkpoint_every", 1),
        device=dev,
    )
    ds = engine.run()
    wall = time.perf_counter() - t0
    ds.attrs.update(provenance(cfg, seeds, device_name(dev), wall))
    log(f"done in {wall:.1f}s")
    return ds


def aggregate(datasets, points: list[dict], keys: dict) -> xr.Dataset:
    """Aggregate stage: one dataset per experiment, sweep axes as dims."""
    attrs = {axis: {"long_name": key, "units": "1"} for axis, key in keys.items()}
    return combine_points(datasets, points, attrs)


def claims(agg: xr.Dataset, family_name: str) -> pd.DataFrame:
    """Claims stage: the paper's claims evaluated on the aggregated results."""
    return get_family(family_name).claims(agg)


def figure(agg: xr.Dataset, family_name: str, name: str, path) -> None:
    """Figure stage: draw figure ``name`` of the family to ``path``."""
    get_family(family_name).figure(name).function()(agg, path)


def run_point(exp: dict, seeds, device: str = "cpu", log=print, checkpoint_path=None) -> xr.Dataset:
    """Data and training of one experiment config in memory (no files, no Snakemake):
    for notebooks and tests. ``exp`` is an experiment block, e.g.
    ``{"family": "hltm", "model": {"hid": 4}}`` (defaults fill the rest)."""
    from contrastlab.config import check_experiment
    from contrastlab.params import to_sections

    cfg = {"family": exp["family"], **to_sections(check_experiment(exp))}
    return train(synthesize(cfg, list(seeds)), cfg, device, log, checkpoint_path)
