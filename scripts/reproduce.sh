#!/usr/bin/env bash
# The default reproduction: set up .venv, run every activated experiment of
# config/config.yaml, then build the HTML report in reports/report.html.
# Extra arguments go to snakemake (e.g. --configfile my.yaml, --cores 8, -n).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
start=$(date +%s)

# A --configfile that does not exist or is empty: say so before Snakemake does (with a
# traceback), and say what is expected.
args=("$@")
for i in "${!args[@]}"; do
  case ${args[$i]} in
    --configfile|--configfiles)
      for f in "${args[@]:$((i + 1))}"; do
        case $f in -*) break ;; esac
        .venv/bin/python -c 'import sys; from contrastlab.config import ConfigError, load_yaml
try: load_yaml(sys.argv[1])
except ConfigError as e: sys.exit(f"error: {e}")' "$f"
      done ;;
  esac
done

# A stale lock (a killed run left .snakemake/locks behind, and no snakemake is running
# in this directory any more): say so and unlock, instead of Snakemake's LockException.
if [ -n "$(ls -A .snakemake/locks 2>/dev/null)" ]; then
  here=$(pwd -P); alive=""
  for pid in $(pgrep -f snakemake || true); do
    [ "$pid" = "$$" ] && continue
    if [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$here" ]; then alive=$pid; fi
  done
  if [ -z "$alive" ]; then
    echo "== a previous run was interrupted and left a lock (no snakemake runs here): unlocking"
    .venv/bin/snakemake --unlock "$@" > /dev/null
  else
    echo "error: snakemake (pid $alive) is already running in $here; wait for it or stop it" >&2
    exit 1
  fi
fi

.venv/bin/snakemake --cores "${CORES:-all}" "$@"
for arg in "$@"; do
  case $arg in -n|--dry-run|--dryrun) echo "== dry run: no report"; exit 0 ;; esac
done
.venv/bin/snakemake --report reports/report.html "$@"
echo "== done in $(( $(date +%s) - start )) s; open reports/report.html"
