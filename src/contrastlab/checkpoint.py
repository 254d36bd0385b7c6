"""Resumable training: checkpoints that are only reused for the same job, intact.

Checkpoints live outside Snakemake's declared outputs (Snakemake deletes those
before a job reruns), e.g. ``checkpoints/<experiment>/<point>.pt``. A
checkpoint is reused only when

* it reads back and its SHA-256 checksum matches its contents (a truncated,
  garbage or altered file is ignored, with a warning), and
* its fingerprint -- the JSON of the job's family, resolved config, seeds,
  device type and package version -- equals the current one.

Otherwise the job starts afresh and says why (:func:`load_checkpoint_status`).

Reading a checkpoint never runs code: both layers are read with
``torch.load(..., weights_only=True)``, which rebuilds only tensors, numbers,
strings, lists, tuples and dicts and refuses any other type or callable a pickle
names. What a training state holds besides those -- the numpy arrays of the
metrics history -- is stored as raw bytes in a tensor plus its dtype and shape
(:func:`_encode`), and rebuilt bit for bit on load.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import re
from pathlib import Path

import numpy as np
import torch

from contrastlab.utils import atomic_write_bytes

FORMAT = "contrastlab-checkpoint-3"
"""Layout tag; 3: numpy arrays as tagged byte tensors, read with ``weights_only=True``."""

_NDARRAY = "__contrastlab_ndarray__"


def fingerprint(config: dict, seeds) -> str:
    """Canonical string identifying a training job."""
    return json.dumps({"config": config, "seeds": [int(s) for s in seeds]}, sort_keys=True)


def _encode(obj, where: str = "state"):
    """``obj`` with every numpy array or scalar replaced by a dict of its dtype, shape
    and bytes (a uint8 tensor), so that the result holds only what
    ``torch.load(weights_only=True)`` rebuilds. Object arrays and other types are
    refused: they could not be read back without running code."""
    if isinstance(obj, np.ndarray | np.generic):  # first: np.float64 is a float too
        arr = np.asarray(obj)
        if arr.dtype.hasobject:
            raise TypeError(f"checkpoint {where}: numpy object arrays cannot be stored safely")
        raw = np.ascontiguousarray(arr).tobytes()
        return {
            _NDARRAY: arr.dtype.str,
            "shape": list(arr.shape),
            "scalar": isinstance(obj, np.generic),
            "data": torch.frombuffer(bytearray(raw), dtype=torch.uint8)
            if raw
            else torch.empty(0, dtype=torch.uint8),
        }
    if isinstance(obj, torch.Tensor | str | int | float | bool | type(None)):
        return obj
    if isinstance(obj, dict):
        return {k: _encode(v, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        items = [_encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        return tuple(items) if isinstance(obj, tuple) else items
    raise TypeError(
        f"checkpoint {where}: a {type(obj).__name__} cannot be stored (only tensors, numpy "
        "arrays, numbers, strings, None, lists, tuples and dicts)"
    )


def _decode(obj):
    """Inverse of :func:`_encode`."""
    if isinstance(obj, dict):
        if _NDARRAY in obj:
            dtype = np.dtype(obj[_NDARRAY])
            raw = obj["data"].numpy().tobytes() if obj["data"].numel() else b""
            arr = np.frombuffer(raw, dtype=dtype).reshape(obj["shape"]).copy()
            return arr[()] if obj["scalar"] else arr
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_decode(v) for v in obj)
    return obj


def _short(err: Exception) -> str:
    """An error in one line of at most 200 characters (torch's are pages long). A pickle
    that ``weights_only`` refused is named by what it asked for."""
    text = str(err)
    if isinstance(err, pickle.UnpicklingError):
        found = re.search(r"(?:unsupported|Unsupported global:) GLOBAL ([\w.]+)", text)
        what = f"it asks for {found.group(1)}" if found else "it holds what a checkpoint never does"
        return f"refused to unpickle: {what}"
    text = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def load_checkpoint_status(path: str | Path | None, fp: str, log=print) -> tuple[dict | None, str]:
    """The checkpoint at ``path`` if it exists, is intact and belongs to this job (else
    None), and what happened, for the results' provenance: ``"none"`` (no checkpoint),
    ``"resumed from step N"`` or ``"started afresh: <why>"``. Says the same on ``log``."""
    if path is None or not Path(path).exists():
        return None, "none"
    try:
        outer = torch.load(path, map_location="cpu", weights_only=True)
        fmt = outer.get("format") if isinstance(outer, dict) else None
        if isinstance(fmt, str) and fmt.startswith("contrastlab-checkpoint-") and fmt != FORMAT:
            why = f"checkpoint {path} has the layout of another contrastlab version ({fmt})"
            log(f"{why}; starting from scratch")
            return None, f"started afresh: {why}"
        if fmt != FORMAT:
            raise ValueError(f"unknown format {fmt!r}, expected {FORMAT!r}")
        payload = outer["payload"].numpy().tobytes()
        if hashlib.sha256(payload).hexdigest() != outer["sha256"]:
            raise ValueError("checksum mismatch: the file was altered or partly written")
        state = _decode(torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True))
        if not isinstance(state, dict):
            raise ValueError(f"it holds a {type(state).__name__}, not a training state")
    except Exception as err:  # a damaged file must not kill the job: start afresh
        why = f"checkpoint {path} is damaged ({_short(err)})"
        log(f"warning: {why}; starting from scratch")
        return None, f"started afresh: {why}"
    if state.get("fingerprint") != fp:
        why = (
            f"checkpoint {path} belongs to another config or seed set (or another device "
            "type or contrastlab version)"
        )
        log(f"{why}; starting from scratch")
        return None, f"started afresh: {why}"
    log(f"resuming from checkpoint {path} at step {state['step']}")
    return state, f"resumed from step {state['step']}"


def load_checkpoint(path: str | Path | None, fp: str, log=print) -> dict | None:
    """The checkpoint at ``path`` if it exists, is intact and belongs to this job, else None
    (:func:`load_checkpoint_status`)."""
    return load_checkpoint_status(path, fp, log)[0]


def save_checkpoint(path: str | Path | None, state: dict, fp: str) -> None:
    """Atomically write ``state`` (plus the fingerprint), with a checksum, to ``path``."""
    if path is None:
        return
    buf = io.BytesIO()
    torch.save(_encode({**state, "fingerprint": fp}), buf)
    atomic_write_bytes(wrap_payload(buf.getvalue()), path)


def wrap_payload(payload: bytes) -> bytes:
    """The file bytes of a checkpoint whose inner (torch.save) payload is ``payload``: the
    format tag, the payload's SHA-256 and the payload as a uint8 tensor."""
    outer = io.BytesIO()
    torch.save(
        {
            "format": FORMAT,
            "sha256": hashlib.sha256(payload).hexdigest(),
            "payload": torch.frombuffer(bytearray(payload), dtype=torch.uint8),
        },
        outer,
    )
    return outer.getvalue()
