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
    return train_job([data], [cfg], device, log, checkpoint_path, where)[0]


def train_job(
    datasets: list[xr.Dataset],
    cfgs: list[dict],
    device: str = "auto",
    log=print,
    checkpoint_path=None,
    where: str = "",
    labels: list[str] | None = None,
) -> list[xr.Dataset]:
    """Training stage of one job: one sweep point, or several fused into one batched
    model (points that differ only in the family's ``fusable`` keys).

    A fused job's members are the seeds of the first point, then those of the
    second, ...: each draws from its own seed's streams and reads its own point's
    hyper-parameters, so every point gets the numbers of its solo job.

    Args:
        datasets: the data stage's dataset of every point (the same seeds in each).
        cfgs: every point's resolved experiment config.
        labels: the points' labels (names members in messages).
        (the rest as :func:`train`)

    Returns:
        One dataset per point, with the point's own provenance.
    """
    import torch

    from contrastlab.engine import Engine
    from contrastlab.utils import device_name, resolve_device

    dev = resolve_device(device)
    log(f"training on {device_name(dev)} (config device: {device}), torch {torch.__version__}")
    t0 = time.perf_counter()
    task, job_config = build_task(datasets, cfgs, dev, labels)
    fam, typed, seeds = get_family(cfgs[0]["family"]), task.typed, task.point_seeds
    if len(cfgs) > 1:
        log(f"{len(cfgs)} sweep points fused: {len(cfgs) * len(seeds)} models in one batch")
    engine = Engine(
        task,
        config=job_config,
        where=where or f"experiment of family {fam.name}",
        log=log,
        checkpoint_path=checkpoint_path,
        checkpoint_every=getattr(typed[0], "checkpoint_every", 1),
        device=dev,
    )
    ds = engine.run()
    wall = time.perf_counter() - t0
    trained = int(sum(task.steps_in_round(r) for r in range(task.n_rounds)))
    S = len(seeds)
    out = []
    for i, cfg in enumerate(cfgs):
        part = ds.isel(seed=slice(i * S, (i + 1) * S)) if len(cfgs) > 1 else ds
        part.attrs = dict(ds.attrs)  # a point's own attributes, not shared with the others
        part.attrs.update(task.point_attrs(typed[i]))
        part.attrs.update(provenance(cfg, seeds, device_name(dev), wall))
        part.attrs["trained_steps"] = trained
        if len(cfgs) > 1:
            part.attrs["fused_job_points"] = len(cfgs)
        out.append(part)
    log(f"done in {wall:.1f}s")
    return out


def concat_points(datasets: list[xr.Dataset]) -> xr.Dataset:
    """The data of a fused job: the points' data sets along ``seed`` (point-major; seed
    values repeat), variables without a seed dimension taken from the first, attributes
    that differ between points (e.g. ``delta_lower``) dropped."""
    return xr.concat(
        datasets,
        dim="seed",
        data_vars="minimal",
        coords="minimal",
        compat="override",
        join="override",
        combine_attrs="drop_conflicts",
    )


def build_task(datasets: list[xr.Dataset], cfgs: list[dict], device, labels=None):
    """The task of one training job (see :func:`train_job`) and the config its checkpoint
    fingerprint holds. The task gets ``typed`` (every point's typed config) and
    ``point_seeds`` (the seeds of one point)."""
    if len(datasets) != len(cfgs) or not cfgs:
        raise ValueError("one data set per point config is needed")
    fam = get_family(cfgs[0]["family"])
    typed = [fam.config(c) for c in cfgs]
    seeds = [int(s) for s in datasets[0].seed.values]
    if len(cfgs) == 1:
        task, job_config = fam.task(typed[0], datasets[0], seeds, device), cfgs[0]
    else:
        for i, d in enumerate(datasets):
            if [int(s) for s in d.seed.values] != seeds:
                raise ValueError(f"fused points need the same seeds; point {i} has others")
        data = concat_points(datasets)
        members = [t for t in typed for _ in seeds]
        task = fam.task(typed[0], data, seeds * len(cfgs), device, members=members)
        labels = labels or [str(i) for i in range(len(cfgs))]
        task.member_labels = [f"point {label}" for label in labels for _ in seeds]
        job_config = {"fused_points": cfgs}
    task.typed, task.point_seeds = typed, seeds
    return task, job_config


def read_sources(sources) -> list[xr.Dataset]:
    """The results of every sweep point: ``sources`` holds per point ``[file, label]``, or
    ``[[file, ...], label]`` for a staged experiment (one training job file per stage,
    each with that stage's seeds: concatenated along ``seed``, the provenance's ``seeds``
    and ``wall_time_s`` those of all stages)."""
    import json

    from contrastlab.results import read_point

    out = []
    for files, label in sources:
        if isinstance(files, str):
            out.append(read_point(files, label))
            continue
        parts = [read_point(f, label) for f in files]
        ds = concat_points(parts) if len(parts) > 1 else parts[0]
        ds.attrs["seeds"] = json.dumps([int(s) for s in ds.seed.values])
        ds.attrs["wall_time_s"] = float(sum(p.attrs.get("wall_time_s", 0.0) for p in parts))
        ds.attrs["stages"] = len(parts)
        out.append(ds)
    return out


def aggregate(datasets, points: list[dict], keys: dict) -> xr.Dataset:
    """Aggregate stage: one dataset per experiment, sweep axes as dims."""
    attrs = {axis: {"long_name": key, "units": "1"} for axis, key in keys.items()}
    return combine_points(datasets, points, attrs)


def claims(agg: xr.Dataset, family_name: str, names=None) -> pd.DataFrame:
    """Claims stage: the paper's claims evaluated on the aggregated results.

    Args:
        agg: the experiment's aggregate.
        family_name: its family.
        names: the claims the experiment tests (its ``claims`` key; None: all).

    Claims about a trained model are ``not tested`` when a sweep point trained 0 steps or
    every seed of a point has a collapsed representation (``spread`` below
    :data:`contrastlab.claims.COLLAPSED_SPREAD`); fewer collapsed seeds are
    counted in ``degenerate``.
    """
    from contrastlab.claims import not_tested, select

    table = select(get_family(family_name).claims(agg), names)
    untrained, collapsed, some = _degenerate_points(agg)
    if untrained:
        return not_tested(table, f"no training: 0 steps at {', '.join(untrained)}")
    if collapsed:
        return not_tested(table, f"embedding collapsed at {', '.join(collapsed)}")
    if some:
        table = table.copy()
        table["degenerate"] = [
            "; ".join(x for x in (str(d) if isinstance(d, str) else "", some) if x)
            for d in table["degenerate"]
        ]
    return table


def _degenerate_points(agg: xr.Dataset) -> tuple[list[str], list[str], str]:
    """(points that trained 0 steps, points whose every seed collapsed, a note on seeds
    that collapsed elsewhere) of an aggregate."""
    import json

    import numpy as np

    from contrastlab.claims import COLLAPSED_SPREAD

    prov = json.loads(agg.attrs.get("points_provenance", "[]") or "[]")
    untrained = [
        ", ".join(f"{k}={v}" for k, v in p.get("point", {}).items()) or "the only point"
        for p in prov
        if int(p.get("trained_steps", 1)) == 0
    ]
    if "spread" not in agg:
        return untrained, [], ""
    final = agg["spread"].isel(step=-1) < COLLAPSED_SPREAD  # (sweep..., seed)
    others = [d for d in final.dims if d != "seed"]
    every = final.all("seed")
    collapsed = []
    if others:
        stacked = every.stack(point=others)
        collapsed = [
            ", ".join(f"{d}={v}" for d, v in zip(others, np.atleast_1d(idx), strict=True))
            for idx, hit in zip(stacked["point"].values, stacked.values, strict=True)
            if hit
        ]
    elif bool(every):
        collapsed = ["the only point"]
    n_hit = int(final.sum())
    some = (
        f"{n_hit} of {final.size} (point, seed) representations collapsed "
        f"(spread < {COLLAPSED_SPREAD:g})"
        if n_hit
        else ""
    )
    return untrained, collapsed, some


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
