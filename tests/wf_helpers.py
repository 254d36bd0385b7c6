"""Helpers for tests that run the Snakemake workflow in a temporary directory."""

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or "snakemake"


def snakemake_cmd(work: Path, configfile: Path, *args: str, cores: int = 2) -> list[str]:
    """The command that runs the project's workflow in ``work`` with ``configfile``."""
    return [
        SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
        "--configfile", str(configfile), "--cores", str(cores), *args,
    ]  # fmt: skip
