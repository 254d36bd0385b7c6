"""Resumable training: checkpoints that are only reused for the same job.

Checkpoints live outside Snakemake's declared outputs (Snakemake deletes those
before a job reruns), e.g. ``checkpoints/<experiment>/<point>.pt``. A
checkpoint is reused only when its fingerprint -- the JSON of the job's
resolved config and seeds -- equals the current one.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from contrastlab.utils import atomic_torch_save


def fingerprint(config: dict, seeds) -> str:
    """Canonical string identifying a training job."""
    return json.dumps({"config": config, "seeds": [int(s) for s in seeds]}, sort_keys=True)


def load_checkpoint(path: str | Path | None, fp: str, log=print) -> dict | None:
    """The checkpoint at ``path`` if it exists and belongs to this job, else None."""
    if path is None or not Path(path).exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # a corrupt file must not kill the job: start afresh
        log(f"checkpoint {path} unreadable ({err}); starting from scratch")
        return None
    if state.get("fingerprint") != fp:
        log(f"checkpoint {path} belongs to another config or seed set; starting from scratch")
        return None
    log(f"resuming from checkpoint {path} at step {state['step']}")
    return state


def save_checkpoint(path: str | Path | None, state: dict, fp: str) -> None:
    """Atomically write ``state`` (plus the fingerprint) to ``path``."""
    if path is None:
        return
    atomic_torch_save({**state, "fingerprint": fp}, path)
