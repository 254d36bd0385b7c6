"""Writing, reading and combining result datasets (xarray <-> netCDF4)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from contrastlab.errors import ResultFileError


def cf(long_name: str, units: str = "1") -> dict:
    """CF attributes of a variable: ``long_name`` and ``units`` ("1" = dimensionless)."""
    return {"long_name": long_name, "units": units}


def _check_attrs(ds: xr.Dataset) -> None:
    missing = [
        name
        for name in list(ds.data_vars) + list(ds.coords)
        if "long_name" not in ds[name].attrs or "units" not in ds[name].attrs
    ]
    if missing:
        raise ValueError(f"variables without long_name/units attrs: {missing}")


def _encoding(ds: xr.Dataset) -> dict:
    encoding = {}
    for name, var in ds.data_vars.items():
        enc = {"zlib": True, "complevel": 4}
        if var.dtype.kind == "f":
            enc["dtype"] = "float32" if var.dtype.itemsize <= 4 else "float64"
        encoding[name] = enc
    for name, var in ds.coords.items():
        if var.dtype.kind in "fiu":
            encoding[name] = {"_FillValue": None}
    return encoding


def write_netcdf(ds: xr.Dataset, path: str | Path) -> None:
    """Write ``ds`` as compressed NETCDF4 (float32 data, no fill value on coordinates).

    Every variable and coordinate must carry ``long_name`` and ``units``.
    The file is written next to its target and renamed into place.
    """
    write_points({"": ds}, path)


POINT_GROUP = "point{}"


def write_points(datasets: dict[str, xr.Dataset], path: str | Path) -> None:
    """Write the per-point results of one training job as one NETCDF4 file.

    One point (key ``""``): the dataset is the file's root. Several (a fused job):
    the root holds only the attribute ``fused_points`` (the labels, JSON) and point
    i is the group ``point<i>`` (its label in the group's ``point_label``); read one
    back with :func:`read_point`. Written next to its target and renamed into place.
    """
    for ds in datasets.values():
        _check_attrs(ds)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if list(datasets) == [""]:
        ds = datasets[""]
        ds.to_netcdf(tmp, format="NETCDF4", engine="netcdf4", encoding=_encoding(ds))
    else:
        labels = list(datasets)
        root = xr.Dataset(attrs={"fused_points": json.dumps(labels)})
        root.to_netcdf(tmp, format="NETCDF4", engine="netcdf4")
        for i, label in enumerate(labels):
            ds = datasets[label].copy()
            ds.attrs["point_label"] = label
            ds.to_netcdf(
                tmp,
                mode="a",
                group=POINT_GROUP.format(i),
                format="NETCDF4",
                engine="netcdf4",
                encoding=_encoding(ds),
            )
    tmp.replace(path)


def read_point(path: str | Path, label: str) -> xr.Dataset:
    """The results of sweep point ``label`` in a training job's file (the file itself
    for a one-point job, the point's group in a fused job's; :func:`write_points`).

    Raises:
        ResultFileError: the file is missing, unreadable or lacks the point.
    """
    ds = read_netcdf(path)
    fused = ds.attrs.get("fused_points")
    if fused is None:
        return ds
    labels = json.loads(fused)
    if label not in labels:
        raise ResultFileError(
            f"result file {path} has no sweep point {label!r} (it has {labels}); "
            "delete it and rerun"
        )
    return read_netcdf(path, group=POINT_GROUP.format(labels.index(label)))


def read_netcdf(path: str | Path, group: str | None = None) -> xr.Dataset:
    """Load a dataset fully into memory and close the file.

    Raises:
        ResultFileError: the file is missing or unreadable; the message names it and
            says what to do.
    """
    try:
        with xr.open_dataset(path, engine="netcdf4", group=group) as ds:
            return ds.load()
    except FileNotFoundError:
        raise ResultFileError(f"result file {path} is missing; rerun the workflow") from None
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        raise ResultFileError(
            f"result file {path} cannot be read as netCDF ({type(err).__name__}: {err}); "
            "it is truncated or corrupted: delete it and rerun, and Snakemake makes it again "
            "(and only what depends on it)"
        ) from None


def combine_points(
    datasets: Sequence[xr.Dataset], points: Sequence[dict], sweep_attrs: dict | None = None
) -> xr.Dataset:
    """Stack per-sweep-point datasets into one with a dimension per sweep axis.

    Args:
        datasets: one dataset per sweep point, same layout.
        points: for each dataset, ``{axis_name: value}`` of its sweep point
            (an empty dict when the experiment has no sweep).
        sweep_attrs: optional ``{axis_name: {"long_name":..., "units":...}}``.

    Returns:
        The combined dataset; every point's provenance attrs (config, seeds,
        version, git commit, device, wall time) are kept as a JSON list in the
        global attribute ``points_provenance``.
    """
    if len(datasets) != len(points):
        raise ValueError("one point description per dataset is needed")
    sweep_attrs = sweep_attrs or {}
    expanded = []
    prov = []
    for ds, point in zip(datasets, points, strict=True):
        prov.append({"point": point, **ds.attrs})
        ds = ds.copy()
        ds.attrs = {}
        for axis, value in point.items():
            ds = ds.expand_dims({axis: [value]})
            ds[axis].attrs.update(sweep_attrs.get(axis, {"long_name": axis, "units": "1"}))
        expanded.append(ds)
    if points and points[0]:
        combined = xr.combine_by_coords(expanded, combine_attrs="drop")
        axes = list(points[0])
        # combine_by_coords sorts each axis; keep the order of the config instead
        order = {a: list(dict.fromkeys(p[a] for p in points)) for a in axes}
        combined = combined.reindex(order).transpose(*axes, ...)
    else:
        combined = expanded[0]
    for ds in expanded:  # combine_by_coords may drop attrs of coords
        for name in ds.variables:
            if name in combined.variables and not combined[name].attrs:
                combined[name].attrs = dict(ds[name].attrs)
    combined.attrs["points_provenance"] = json.dumps(prov, default=_json_default)
    return combined


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def point_attr(agg: xr.Dataset, name: str, default=None):
    """The value of a point attribute (e.g. ``loss_variant``) that every point of an
    aggregate shares: from its attributes (one point) or from ``points_provenance``
    (several points); ``default`` when it is absent or the points disagree."""
    if name in agg.attrs:
        return agg.attrs[name]
    prov = json.loads(agg.attrs.get("points_provenance", "[]") or "[]")
    values = list(dict.fromkeys(p[name] for p in prov if name in p))
    return values[0] if len(values) == 1 else default
