"""Writing, reading and combining result datasets (xarray <-> netCDF4).

Every netCDF file the workflow writes (data, training metrics, aggregates) goes
through :func:`write_points` and ends with a checksum: a short trailer holding the
SHA-256 of every byte before it (HDF5 ignores bytes past its end of file, so the file
stays an ordinary netCDF file for any other reader). :func:`read_netcdf` checks it
before parsing the file, so any damage -- a truncated copy, garbage, one flipped bit
in a value, a coordinate, an attribute or HDF5's own bookkeeping -- is a
:class:`~contrastlab.errors.ResultFileError` naming the file and the command that
remakes it (:func:`remedy`), never wrong numbers or a raw traceback.

``python -m contrastlab.results plan SNAKEMAKE_ARGS...`` is the check
``scripts/reproduce.sh`` runs before Snakemake (:func:`repair_plan`): it lists the
result files that Snakemake must remake although their consumers exist.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from contrastlab.errors import ResultFileError

CHECKSUM_MAGIC = b"\ncontrastlab-sha256:"
"""Start of the trailer of every result file: magic, 64 hex digits, a newline."""
_TRAILER_LEN = len(CHECKSUM_MAGIC) + 64 + 1

RERUN_ENV = "CONTRASTLAB_RERUN"
"""Environment variable holding the command that repairs this run's results (set by
``scripts/reproduce.sh``, or by the workflow from Snakemake's own command line)."""


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
    """Write ``ds`` as compressed NETCDF4 (float32 data, no fill value on coordinates),
    checksummed (:func:`write_points`).

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
    back with :func:`read_point`. Written next to its target, the SHA-256 checksum of
    the whole file appended (:data:`CHECKSUM_MAGIC`), then renamed into place: a
    killed job never leaves a file that passes the check.
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
    with open(tmp, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    with open(tmp, "ab") as fh:
        fh.write(CHECKSUM_MAGIC + digest.encode() + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def rerun_command() -> str:
    """The command that checks every result file and remakes the damaged ones and
    everything made from them: ``scripts/reproduce.sh`` with the arguments of this run
    (from :data:`RERUN_ENV`), else the bare script."""
    return os.environ.get(RERUN_ENV) or "bash scripts/reproduce.sh (with your run's arguments)"


def remedy(missing: bool = False) -> str:
    """What a message about a damaged (or ``missing``) result file tells the user to do."""
    what = (
        "to remake it and everything made from it"
        if missing
        else "to delete it and rerun the job that made it and every job that used it"
    )
    return (
        f"{what}, run: {rerun_command()}  (it checks every result file first and has "
        "Snakemake remake the damaged or missing ones and everything made from them)"
    )


def reproduce_command(argv: Sequence[str], basedir: str | Path) -> str:
    """``bash scripts/reproduce.sh ARGS``: the repair command of a ``snakemake ARGS`` run
    (the workflow puts it in :data:`RERUN_ENV` when Snakemake was called directly).
    The script's path is relative when the run started in the checkout (``$PWD``)."""
    script = Path(basedir).resolve() / "scripts" / "reproduce.sh"
    start = Path(os.environ.get("PWD") or os.getcwd()).resolve()
    shown = script.relative_to(start) if script.is_relative_to(start) else script
    return shlex.join(["bash", str(shown), *argv])


def verify_checksum(path: str | Path) -> None:
    """Check the SHA-256 trailer of a result file (:func:`write_points`).

    Raises:
        ResultFileError: the file is missing, has no trailer (cut short, appended to,
            or not written by contrastlab) or its bytes do not match the checksum.
    """
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size < _TRAILER_LEN:
                raise _damaged(path, f"only {size} bytes: truncated")
            fh.seek(size - _TRAILER_LEN)
            trailer = fh.read(_TRAILER_LEN)
            if not trailer.startswith(CHECKSUM_MAGIC) or not trailer.endswith(b"\n"):
                raise _damaged(
                    path,
                    "no contrastlab checksum at its end: cut short, appended to, or not "
                    "written by this version of contrastlab",
                )
            expected = trailer[len(CHECKSUM_MAGIC) : -1].decode("ascii", "replace")
            fh.seek(0)
            h = hashlib.sha256()
            left = size - _TRAILER_LEN
            while left:
                block = fh.read(min(left, 1 << 20))
                if not block:
                    raise _damaged(path, "it shrank while being read")
                h.update(block)
                left -= len(block)
    except FileNotFoundError:
        raise ResultFileError(f"result file {path} is missing; {remedy(missing=True)}") from None
    except IsADirectoryError:
        raise _damaged(path, "it is a directory") from None
    if h.hexdigest() != expected:
        raise _damaged(path, "SHA-256 checksum mismatch: its bytes were altered")


def _damaged(path, why: str) -> ResultFileError:
    """The error of a damaged result file; ``reason`` holds ``why`` alone."""
    err = ResultFileError(f"result file {path} cannot be read ({why}): it is damaged; {remedy()}")
    err.reason = why
    return err


def read_point(path: str | Path, label: str) -> xr.Dataset:
    """The results of sweep point ``label`` in a training job's file (the file itself
    for a one-point job, the point's group in a fused job's; :func:`write_points`).

    Raises:
        ResultFileError: the file is missing, damaged or lacks the point.
    """
    ds = read_netcdf(path)
    fused = ds.attrs.get("fused_points")
    if fused is None:
        return ds
    labels = json.loads(fused)
    if label not in labels:
        raise ResultFileError(  # intact, but of another config: not a checksum's business
            f"result file {path} has no sweep point {label!r} (it has {labels}): it was made "
            f"for another config; delete it (rm {shlex.quote(str(path))}) and run: "
            f"{rerun_command()}"
        )
    return read_netcdf(path, group=POINT_GROUP.format(labels.index(label)))


def read_netcdf(path: str | Path, group: str | None = None) -> xr.Dataset:
    """Load a dataset (or one of its groups) fully into memory and close the file,
    after checking the file's checksum (:func:`verify_checksum`).

    Raises:
        ResultFileError: the file is missing, damaged or unreadable; the message names
            it and the command that remakes it (:func:`remedy`).
    """
    verify_checksum(path)
    try:
        with xr.open_dataset(path, engine="netcdf4", group=group) as ds:
            return ds.load()
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as err:
        raise _damaged(path, f"not readable as netCDF: {type(err).__name__}: {err}") from None


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


def _workdir(snakemake_args: Sequence[str]) -> Path:
    """The working directory of a Snakemake run with these arguments (``--directory``)."""
    import argparse

    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("-d", "--directory", default=".")
    known, _ = parser.parse_known_args(list(snakemake_args))
    return Path(known.directory)


def repair_plan(snakemake_args: Sequence[str], log=None) -> list[str]:
    """The result files a Snakemake run with ``snakemake_args`` must remake, together with
    everything made from them (pass them to ``--forcerun``), and why, on ``log``.

    Snakemake by itself remakes neither a damaged file (it only looks at dates) nor a
    missing intermediate file whose consumers exist ("Nothing to be done"). So, from the
    run's own plan (``snakemake --summary``): every netCDF result file that fails its
    checksum (:func:`verify_checksum`), and every file that is missing although Snakemake
    plans no update for it. Nothing is deleted here: Snakemake deletes a forced job's
    outputs when it reruns it, so a repair cut short is found again by the next check.
    Returns [] when Snakemake cannot plan the run (it then says why itself).
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    exe = Path(sys.executable).parent / "snakemake"
    cmd = [str(exe) if exe.exists() else "snakemake", "--summary", *snakemake_args]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        return []
    lines = [line.split("\t") for line in res.stdout.splitlines() if "\t" in line]
    if not lines or lines[0][0] != "output_file":
        return []
    col = {name: i for i, name in enumerate(lines[0])}
    workdir = _workdir(snakemake_args)
    force = []
    for row in lines[1:]:
        name, status, plan = row[0], row[col["status"]], row[col["plan"]]
        if status == "missing" and plan == "no update":
            log(f"== {name} is missing although files made from it exist: remaking it")
            force.append(name)
        elif name.endswith(".nc") and status != "missing":
            try:
                verify_checksum(workdir / name)
            except ResultFileError as err:
                why = getattr(err, "reason", str(err))
                log(f"== {name} is damaged ({why}): remaking it and everything made from it")
                force.append(name)
    # A staged experiment's stage files (results/stages/<experiment>/) are a checkpoint's:
    # Snakemake re-reads the stages only for a job that runs, so force the experiment's
    # consumers of the stages too (its aggregate and raw claims), which then go through
    # every stage again.
    for name in list(force):
        parts = Path(name).parts
        if len(parts) >= 3 and parts[:2] == ("results", "stages"):
            force += [f"results/aggregate/{parts[2]}.nc", f"results/claims/raw/{parts[2]}.tsv"]
    return list(dict.fromkeys(force))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m contrastlab.results plan SNAKEMAKE_ARGS...``: print, one per line, the
    files :func:`repair_plan` says to force (what ``scripts/reproduce.sh`` runs)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "plan":
        print("usage: python -m contrastlab.results plan [SNAKEMAKE_ARGS...]", file=sys.stderr)
        return 2
    for name in repair_plan(argv[1:]):
        print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
