#!/usr/bin/env bash
# The test suite: set up .venv, check formatting and lint (ruff, snakefmt,
# snakemake --lint), then run pytest including the slow tests (the end-to-end
# workflow run and, when root can start one, the local SLURM cluster test).
# Extra arguments go to pytest (e.g. -k config, or -m "not slow" without --runslow).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
echo "== ruff";           .venv/bin/ruff check src tests workflow/scripts benchmarks
                          .venv/bin/ruff format --check src tests workflow/scripts benchmarks
echo "== snakefmt";       .venv/bin/snakefmt --check Snakefile workflow/rules
echo "== snakemake lint"; .venv/bin/snakemake --lint
echo "== pytest"
if [ "$#" -eq 0 ]; then set -- --runslow; fi
.venv/bin/python -m pytest "$@"
