#!/usr/bin/env bash
# The default reproduction: set up .venv, run every activated experiment of
# config/config.yaml, then build the HTML report in reports/report.html.
# Extra arguments go to snakemake (e.g. --configfile my.yaml, --cores 8, -n).
#
# Before Snakemake starts, this script
#   - takes an exclusive lock on the working folder (one reproduce.sh per folder);
#   - unlocks a lock left by a killed run;
#   - checks every result file of the run (contrastlab.results.repair_plan): a damaged
#     netCDF file (checksum), or a missing one whose consumers exist, is remade by
#     Snakemake together with everything made from it (--forcerun). A job that finds a
#     damaged file names this command, with the same arguments, as the remedy.
set -euo pipefail

# The command that repairs this run's results, as typed (contrastlab.results.remedy).
rerun=$(printf '%q ' bash "$0" "$@")
export CONTRASTLAB_RERUN="${rerun% }"
cd "$(dirname "$0")/.."

# The working folder: Snakemake's --directory, else the checkout.
args=("$@")
workdir=.
for i in "${!args[@]}"; do
  case ${args[$i]} in
    --directory|-d) workdir=${args[$((i + 1))]:-.} ;;
    --directory=*) workdir=${args[$i]#--directory=} ;;
  esac
done

# One run per working folder: Snakemake's own lock lets two runs with disjoint outputs
# (e.g. two config files) work in one folder at once; this lock does not. It is held,
# through the inherited file descriptor 9, by this script and everything it starts.
if ! mkdir -p "$workdir/.snakemake" 2>/dev/null; then
  echo "error: cannot create $workdir/.snakemake: the working folder is not writable" >&2
  exit 1
fi
lock="$workdir/.snakemake/reproduce.lock"
exec 9>>"$lock"
take_lock() {  # flock(1) where there is one (not on macOS); Python's flock(2) otherwise
  if command -v flock > /dev/null; then flock -n 9; else
    "${PYTHON:-python3}" -c 'import fcntl; fcntl.flock(9, fcntl.LOCK_EX | fcntl.LOCK_NB)' 2>/dev/null
  fi
}
if ! take_lock; then
  holder=$(cat "$lock" 2>/dev/null || true)
  for _ in 1 2 3 4 5 6 7 8 9 10; do  # the holder writes its line right after locking
    [ -n "$holder" ] && break
    sleep 0.2; holder=$(cat "$lock" 2>/dev/null || true)
  done
  echo "error: another scripts/reproduce.sh is running in $(cd "$workdir" && pwd -P)" \
    "(${holder:-it is starting}); wait for it to finish, or stop it, then rerun." \
    "Lock file: $lock" >&2
  exit 1
fi
printf 'pid %s, started %s: %s\n' "$$" "$(date '+%F %T')" "$CONTRASTLAB_RERUN" > "$lock"

bash scripts/setup-env.sh
start=$(date +%s)

# A --configfile that does not exist or is empty: say so before Snakemake does (with a
# traceback), and say what is expected.
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
# in the working folder any more): say so and unlock, instead of Snakemake's LockException.
if [ -n "$(ls -A "$workdir/.snakemake/locks" 2>/dev/null)" ]; then
  here=$(cd "$workdir" && pwd -P); alive=""
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

# Damaged or missing result files: Snakemake remakes neither by itself (it looks at dates
# only, and skips a missing file whose consumers exist), so force them and what uses them.
forcerun=()
while IFS= read -r file; do
  [ "${#forcerun[@]}" -eq 0 ] && forcerun=(--forcerun)
  forcerun+=("$file")
done < <(.venv/bin/python -m contrastlab.results plan "$@")

.venv/bin/snakemake --cores "${CORES:-all}" "$@" ${forcerun[@]+"${forcerun[@]}"}
for arg in "$@"; do
  case $arg in -n|--dry-run|--dryrun) echo "== dry run: no report"; exit 0 ;; esac
done
mkdir -p "$workdir/reports"
.venv/bin/snakemake --report reports/report.html "$@"
echo "== done in $(( $(date +%s) - start )) s; open reports/report.html"
