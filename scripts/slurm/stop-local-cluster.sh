#!/usr/bin/env bash
# Stop the one-node SLURM cluster that scripts/slurm/start-local-cluster.sh started.
#
# Only the daemons named in its pid files are stopped (slurmd, slurmctld, munged, in that
# order), and only if the pid still runs the expected binary; nothing is killed by name.
# Jobs still queued or running on this cluster are cancelled first (scancel by job id), so
# that no job step outlives the daemons.  Each daemon gets SIGTERM, then SIGKILL if it has not
# exited after SLURM_LOCAL_TIMEOUT seconds.  Pid files, and the /etc/slurm/slurm.conf link if
# it points here, are removed.  State, config and logs stay (the next start reuses them;
# delete $SLURM_LOCAL_DIR to forget everything).
#
# Environment: SLURM_LOCAL_DIR (default /var/lib/slurm-local), SLURM_LOCAL_TIMEOUT (default 30).
# Exit codes: 0 all stopped (or nothing was running); 1 a daemon survived even SIGKILL.
set -euo pipefail

STATE_DIR=${SLURM_LOCAL_DIR:-/var/lib/slurm-local}
TIMEOUT=${SLURM_LOCAL_TIMEOUT:-30}
case $STATE_DIR in
    /*) ;;
    *) STATE_DIR=$(pwd)/$STATE_DIR ;;
esac
RUN=$STATE_DIR/run
export SLURM_CONF=$STATE_DIR/etc/slurm.conf

log() { printf '[stop-local-cluster] %s\n' "$*" >&2; }

# pid_of NAME: the pid recorded for NAME if that process still runs the NAME binary.
# shellcheck source=scripts/slurm/pid-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/pid-lib.sh"

# Cancel this cluster's remaining jobs while the controller still answers.
if pid_of slurmctld >/dev/null && [[ -r $SLURM_CONF ]]; then
    mapfile -t jobs < <(timeout 10 squeue -h -o %i -t PENDING,RUNNING,SUSPENDED,COMPLETING,CONFIGURING 2>/dev/null || true)
    if ((${#jobs[@]})); then
        log "cancelling ${#jobs[@]} job(s): ${jobs[*]}"
        timeout 10 scancel "${jobs[@]}" 2>/dev/null || true
        deadline=$((SECONDS + TIMEOUT))
        while ((SECONDS < deadline)) &&
            [[ -n $(timeout 10 squeue -h -o %i -t PENDING,RUNNING,SUSPENDED,COMPLETING,CONFIGURING 2>/dev/null || true) ]]; do
            sleep 0.5
        done
    fi
fi

status=0
for name in slurmd slurmctld munged; do
    if ! pid=$(pid_of "$name"); then
        [[ -e $RUN/$name.pid ]] && log "$name: pid file is stale; removing it"
        rm -f "$RUN/$name.pid"
        continue
    fi
    t0=$(date +%s.%N)
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + TIMEOUT))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) ignored SIGTERM for ${TIMEOUT}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 1
    fi
    if kill -0 "$pid" 2>/dev/null; then
        log "ERROR: $name (pid $pid) is still running"
        status=1
    else
        log "$name (pid $pid) stopped after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
        rm -f "$RUN/$name.pid"
    fi
done
# Remove the /etc/slurm/slurm.conf link if it is ours, so that no client talks to a dead cluster.
if [[ $status == 0 && -L /etc/slurm/slurm.conf && $(readlink /etc/slurm/slurm.conf) == "$SLURM_CONF" ]]; then
    rm -f /etc/slurm/slurm.conf
fi
exit "$status"
