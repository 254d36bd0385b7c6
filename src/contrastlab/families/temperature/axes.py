"""The aggregated results of the temperature family in one standard layout.

The pipeline stacks the per-point datasets along the sweep axes (``kind`` for
``loss.kind``, ``temperature`` for ``loss.temperature``, any others by their
last key part). :func:`standardize` gives every aggregate the dims
``(kind, temperature, seed, ...)``: an axis that was not swept is added with
the single value the point(s) trained with (from the ``loss_kind`` /
``loss_temperature`` attributes every training dataset carries, kept by the
aggregation in ``points_provenance``); any other sweep axis is averaged over
(documented in the claims' measures).

Simple and HardSimple have no temperature: where they sit on a temperature
axis (trained at every tau, or NaN where the grid has no point), their value is
the NaN-mean over that axis (:func:`final`).
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from contrastlab.families.temperature.config import TAU_FREE
from contrastlab.results import cf, point_attr

AXES = ("kind", "temperature")
_ATTR = {"kind": "loss_kind", "temperature": "loss_temperature"}


def _point_value(agg: xr.Dataset, axis: str):
    """The single value of an axis that was not swept, from the datasets' attributes."""
    name = _ATTR[axis]
    value = point_attr(agg, name)
    if value is not None:
        return value
    prov = json.loads(agg.attrs.get("points_provenance", "[]"))
    values = list(dict.fromkeys(p[name] for p in prov if name in p))
    raise ValueError(
        f"the aggregate has no {axis!r} axis and its points do not agree on {name}: {values}"
    )


def standardize(agg: xr.Dataset, average_extra: bool = True) -> xr.Dataset:
    """``agg`` with dims ``kind`` and ``temperature`` (added if missing).

    Args:
        agg: the aggregated dataset.
        average_extra: NaN-average over every other sweep axis (for figures); the claims
            keep them as blocks.
    """
    ds = agg.copy()
    for axis in AXES:
        if axis not in ds.dims:
            ds = ds.expand_dims({axis: [_point_value(agg, axis)]})
    ds["kind"].attrs.update(cf("loss", "1"))
    ds["temperature"].attrs.update(cf("temperature tau", "1"))
    own = {"seed", "step", "test_sample", "component", "tau", "sim", *AXES}
    extra = [d for d in ds.dims if d not in own]
    if extra and average_extra:
        ds = ds.mean(extra, keep_attrs=True)
    return ds.transpose(*AXES, ...)


def final(ds: xr.Dataset, var: str) -> xr.DataArray:
    """A variable at the last evaluation, with the tau-free kinds NaN-averaged over
    the temperature axis (broadcast back to every temperature).

    Args:
        ds: a dataset from :func:`standardize`.
        var: a (kind, temperature, seed, step) variable.

    Returns:
        Dims (kind, temperature, seed).
    """
    da = ds[var].isel(step=-1)
    kinds = [k for k in da["kind"].values.tolist() if k in TAU_FREE]
    if kinds:
        flat = da.sel(kind=kinds).mean("temperature", skipna=True)
        da = da.copy()
        da.loc[{"kind": kinds}] = flat.broadcast_like(da.sel(kind=kinds)).transpose(*da.dims)
    return da


def tau_kinds(ds: xr.Dataset) -> list[str]:
    """The kinds of ``ds`` that have a temperature (infonce, hard)."""
    return [k for k in ds["kind"].values.tolist() if k not in TAU_FREE]


def free_kinds(ds: xr.Dataset) -> list[str]:
    """The kinds of ``ds`` without a temperature (simple, hard_simple)."""
    return [k for k in ds["kind"].values.tolist() if k in TAU_FREE]


def analytic(ds: xr.Dataset) -> xr.Dataset:
    """The analytic variables (seed, tau[, sim]) of the first point that has them (they are
    the same in every point: they depend on the seeds and the ``analytic`` section only)."""
    out = ds[[v for v in ds.data_vars if "tau" in ds[v].dims]]
    other = [d for d in out.dims if d not in ("seed", "tau", "sim")]
    if not other:
        return out
    flat = out.stack(point=other)
    ok = [
        i
        for i in range(flat.sizes["point"])
        if all(bool(np.isfinite(flat[v].isel(point=i)).all()) for v in flat.data_vars)
    ]
    return flat.isel(point=ok[0] if ok else 0).drop_vars(["point", *other])
