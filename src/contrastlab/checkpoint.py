"""Resumable training: checkpoints that are only reused for the same job, intact.

Checkpoints live outside Snakemake's declared outputs (Snakemake deletes those
before a job reruns), e.g. ``checkpoints/<experiment>/<point>.pt``. A
checkpoint is reused only when

* it reads back and its SHA-256 checksum matches its contents (a truncated,
  garbage or altered file is ignored, with a warning), and
* its fingerprint -- the JSON of the job's family, resolved config, seeds,
  device type and package version -- equals the current one.

Otherwise the job starts afresh and says why in its log.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import torch

from contrastlab.utils import atomic_write_bytes

FORMAT = "contrastlab-checkpoint-2"


def fingerprint(config: dict, seeds) -> str:
    """Canonical string identifying a training job."""
    return json.dumps({"config": config, "seeds": [int(s) for s in seeds]}, sort_keys=True)


def load_checkpoint(path: str | Path | None, fp: str, log=print) -> dict | None:
    """The checkpoint at ``path`` if it exists, is intact and belongs to this job, else None."""
    if path is None or not Path(path).exists():
        return None
    try:
        outer = torch.load(path, map_location="cpu", weights_only=True)
        payload = outer["payload"].numpy().tobytes()
        if outer.get("format") != FORMAT:
            raise ValueError(f"unknown format {outer.get('format')!r}")
        if hashlib.sha256(payload).hexdigest() != outer["sha256"]:
            raise ValueError("checksum mismatch: the file was altered or partly written")
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=False)
    except Exception as err:  # a damaged file must not kill the job: start afresh
        log(f"warning: checkpoint {path} is damaged ({err}); starting from scratch")
        return None
    if state.get("fingerprint") != fp:
        log(f"checkpoint {path} belongs to another config or seed set; starting from scratch")
        return None
    log(f"resuming from checkpoint {path} at step {state['step']}")
    return state


def save_checkpoint(path: str | Path | None, state: dict, fp: str) -> None:
    """Atomically write ``state`` (plus the fingerprint), with a checksum, to ``path``."""
    if path is None:
        return
    buf = io.BytesIO()
    torch.save({**state, "fingerprint": fp}, buf)
    payload = buf.getvalue()
    outer = io.BytesIO()
    torch.save(
        {
            "format": FORMAT,
            "sha256": hashlib.sha256(payload).hexdigest(),
            "payload": torch.frombuffer(bytearray(payload), dtype=torch.uint8),
        },
        outer,
    )
    atomic_write_bytes(outer.getvalue(), path)
