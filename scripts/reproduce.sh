#!/usr/bin/env bash
# The default reproduction: set up .venv, run every activated experiment of
# config/config.yaml, then build the HTML report in reports/report.html.
# Extra arguments go to snakemake (e.g. --configfile my.yaml, --cores 8, -n).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
start=$(date +%s)
.venv/bin/snakemake --cores "${CORES:-all}" "$@"
for arg in "$@"; do
  case $arg in -n|--dry-run|--dryrun) echo "== dry run: no report"; exit 0 ;; esac
done
.venv/bin/snakemake --report reports/report.html "$@"
echo "== done in $(( $(date +%s) - start )) s; open reports/report.html"
