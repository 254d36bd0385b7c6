"""Seeds, devices and provenance shared by every experiment.

torch is imported inside the functions that need it, so that the light rules
(aggregate, figures, claims) do not pay for importing it.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from contrastlab import __version__

if TYPE_CHECKING:  # pragma: no cover
    import torch


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory in the process (no mmap for large blocks,
    no trimming): a training step's activations are then reused, not mapped and
    page-faulted afresh every step. With batched convolutions the maps of K members exceed
    glibc's 32 MiB mmap threshold, and re-mapping them made a batched K = 8 ConvNet step up
    to 2x slower than a loop over the members (measured on the 2-core development machine).
    The process then keeps its peak memory. A no-op (False) without glibc.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name or platform.system() != "Linux":
        return False
    try:
        libc = ctypes.CDLL(name)
        m_trim_threshold, m_mmap_max = -1, -4
        return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 2**31 - 1))
    except (OSError, AttributeError):
        return False


def seed_for(seed: int, stream: str) -> int:
    """A 63-bit seed for one named random stream of one experiment seed.

    Streams ("data", "init", "batches", ...) are independent, so changing how
    many numbers one stream draws never shifts another.
    """
    key = zlib.crc32(stream.encode())
    state = np.random.SeedSequence([int(seed), key]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))


def generator(seed: int, stream: str, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch.Generator on ``device`` seeded by :func:`seed_for`."""
    import torch

    g = torch.Generator(device=device)
    g.manual_seed(seed_for(seed, stream))
    return g


def resolve_device(device: str) -> torch.device:
    """Turn the config's ``auto | cpu | cuda`` into a torch device.

    ``cuda`` fails loudly when no GPU is visible, instead of silently
    training on the CPU (a CPU-only torch build is a common cause).
    """
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "config 'device: cuda' but torch.cuda.is_available() is False "
            f"(torch {torch.__version__}); install a CUDA build of torch or set device: auto"
        )
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {device!r}")
    return torch.device(device)


def device_name(device: torch.device) -> str:
    """Human-readable device description for provenance."""
    import torch

    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{platform.processor() or platform.machine()} x{torch.get_num_threads()} threads"


def git_commit(path: str | Path = ".") -> str:
    """The git commit of the checkout holding ``path`` (``+dirty`` if modified)."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=10
        )
        if sha.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=path,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _torch_version() -> str:
    import sys

    if "torch" in sys.modules:
        return sys.modules["torch"].__version__
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        return "not installed"


def provenance(config: dict, seeds, device: str = "", wall_time_s: float | None = None) -> dict:
    """Global netCDF attributes that say where a result came from.

    Everything is a string or a number so that netCDF4 can store it.
    """
    attrs = {
        "source": f"contrastlab {__version__} (git {git_commit(Path(__file__).parent)})",
        "contrastlab_version": __version__,
        "git_commit": git_commit(Path(__file__).parent),
        "torch_version": _torch_version(),
        "config": json.dumps(config, sort_keys=True),
        "seeds": json.dumps([int(s) for s in seeds]),
        "history": f"{datetime.now(UTC).isoformat(timespec='seconds')} written by contrastlab",
        "host": platform.node(),
    }
    if device:
        attrs["device"] = device
    if wall_time_s is not None:
        attrs["wall_time_s"] = float(wall_time_s)
    return attrs


def atomic_write_bytes(data: bytes, path: str | Path) -> None:
    """Write to a temporary file, then rename: a kill never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


_TERMINAL = None  # the job's own stderr, once job_logger sent sys.stderr to the log


def to_terminal(msg: str) -> None:
    """Say ``msg`` on the terminal too, in a workflow job (:func:`job_logger`): the job's
    own stderr, which Snakemake passes to the terminal (on a cluster, to the job's
    output file). Outside a job (notebooks, tests) a no-op: there the caller's ``log``
    is the terminal already."""
    if _TERMINAL is not None:
        try:
            _TERMINAL.write(f"{msg}\n")
            _TERMINAL.flush()
        except (OSError, ValueError):  # a closed terminal must not stop training
            pass


def job_logger(path: str | Path):
    """Send stderr to the job's log file and return a ``log(msg)`` that writes
    timestamped, flushed lines there (so ``tail -f`` shows progress). The job's own
    stderr stays reachable through :func:`to_terminal`."""
    import sys

    global _TERMINAL
    fh = open(path, "a", buffering=1)  # noqa: SIM115 (lives as long as the job)
    if _TERMINAL is None:
        _TERMINAL = sys.stderr
    sys.stderr = fh

    def log(msg: str) -> None:
        fh.write(f"[{datetime.now().isoformat(timespec='seconds')}] {msg}\n")

    default_hook = sys.excepthook

    def hook(kind, err, tb):
        """Errors the user can act on end the log with their one-line message."""
        from contrastlab.errors import ContrastlabError

        if isinstance(err, ContrastlabError):
            log(f"error: {err}")
        else:
            default_hook(kind, err, tb)

    sys.excepthook = hook
    return log
