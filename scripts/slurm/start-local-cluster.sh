#!/usr/bin/env bash
# Bring up a real one-node SLURM cluster on this machine, from Debian 12's own packages.
#
# It exists so that `snakemake --executor slurm` can be tested for real (see
# scripts/slurm/README.md and shared/slurm-local.md). What it does, in order:
#   1. checks that it runs as root and that the Debian packages it needs are installed,
#      installing the missing ones with `apt-get install -y --no-install-recommends`;
#   2. writes slurm.conf, gres.conf (2 fake GPUs: character-device clones of /dev/null) and a
#      munge key into its own state directory;
#   3. starts munged, slurmctld and slurmd by hand (no systemd), each with a pid file;
#   4. waits until `sinfo` reports the node idle, then prints how to use the cluster.
# It is idempotent: run again while the cluster is up, it only checks that it is healthy.
#
# Environment (all optional):
#   SLURM_LOCAL_DIR      state directory; everything (config, state, spool, logs, pid files,
#                        munge socket and key) lives below it.  Default: /var/lib/slurm-local.
#                        A temporary directory works too (the daemons all run as root).
#   SLURM_LOCAL_TIMEOUT  seconds to wait for each daemon and for the idle node (default 60).
#   SLURM_LOCAL_CTLD_PORT / SLURM_LOCAL_SLURMD_PORT   TCP ports on 127.0.0.1 (default 6817/6818).
#   SLURM_LOCAL_CLEAN=1  wipe the controller's saved state (queue, job ids, drain reasons) first.
#   SLURM_LOCAL_LINK_ETC 1 (default): make /etc/slurm/slurm.conf a symlink to our slurm.conf
#                        (needed: Snakemake's nested srun ignores SLURM_CONF, see below); a real
#                        file there is never replaced (exit 2).  0: leave /etc alone (plain
#                        sbatch/squeue with SLURM_CONF still work; Snakemake jobs will not).
#
# Clients find the config through the /etc/slurm/slurm.conf link; SLURM_CONF=$SLURM_LOCAL_DIR/etc/
# slurm.conf works too (`source $SLURM_LOCAL_DIR/env.sh` sets it).  Only one such cluster can run
# at a time (one /etc/slurm/slurm.conf, fixed ports).
#
# Exit codes: 0 cluster up; 2 this machine cannot host it (not root, no Debian/apt, apt failed),
# so that a test may skip; 1 anything else (a daemon did not start, the node never got idle).
set -euo pipefail

DEFAULT_DIR=/var/lib/slurm-local
STATE_DIR=${SLURM_LOCAL_DIR:-$DEFAULT_DIR}
TIMEOUT=${SLURM_LOCAL_TIMEOUT:-60}
CTLD_PORT=${SLURM_LOCAL_CTLD_PORT:-6817}
SLURMD_PORT=${SLURM_LOCAL_SLURMD_PORT:-6818}
PACKAGES=(munge slurmctld slurmd slurm-client)

log() { printf '[start-local-cluster] %s\n' "$*" >&2; }
die() { # die CODE MESSAGE
    local code=$1
    shift
    printf '[start-local-cluster] ERROR: %s\n' "$*" >&2
    exit "$code"
}
t0=$(date +%s.%N)
elapsed() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------------------------------------
# 1. Can this machine host the cluster at all?  (exit 2 = "skip", not "fail")
# ---------------------------------------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || die 2 "needs root (the daemons and apt-get must run as root); running as $(id -un)"
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die 2 "SLURM_LOCAL_TIMEOUT must be a whole number of seconds, got '$TIMEOUT'"
case $STATE_DIR in
    /*) ;;
    *) STATE_DIR=$(pwd)/$STATE_DIR ;;
esac

missing_packages() {
    local p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
    done
}

command -v dpkg-query >/dev/null || die 2 "dpkg-query not found: this script needs Debian (12) and its packages"
mapfile -t MISSING < <(missing_packages)
if ((${#MISSING[@]})); then
    command -v apt-get >/dev/null || die 2 "apt-get not found; cannot install ${MISSING[*]}"
    log "installing Debian packages: ${MISSING[*]}"
    export DEBIAN_FRONTEND=noninteractive
    APT_OPTS=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=120)
    # Keep package maintainer scripts from starting services (munge, slurmd, ...) through
    # their init scripts: we start our own daemons.  Debian's policy-rc.d mechanism does that;
    # only a policy we create is removed again.
    own_policy=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\n# temporary, from contrastlab start-local-cluster.sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        own_policy=/usr/sbin/policy-rc.d
    fi
    trap '[[ -n $own_policy ]] && rm -f "$own_policy"' EXIT
    apt_log=$(mktemp)
    # No package lists yet (fresh container): fetch them first.
    if ! compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null; then
        timeout 300 apt-get update -q >"$apt_log" 2>&1 || {
            cat "$apt_log" >&2
            die 2 "apt-get update failed (no network to Debian's mirrors?)"
        }
    fi
    if ! timeout 600 apt-get install "${APT_OPTS[@]}" "${MISSING[@]}" >"$apt_log" 2>&1; then
        log "apt-get install failed; refreshing the package lists and trying once more"
        if ! { timeout 300 apt-get update -q && timeout 600 apt-get install "${APT_OPTS[@]}" "${MISSING[@]}"; } >"$apt_log" 2>&1; then
            tail -n 20 "$apt_log" >&2
            die 2 "apt-get install ${MISSING[*]} failed (is apt usable here?)"
        fi
    fi
    rm -f "$apt_log"
    [[ -n $own_policy ]] && rm -f "$own_policy"
    own_policy=""
    mapfile -t MISSING < <(missing_packages)
    ((${#MISSING[@]} == 0)) || die 2 "packages still missing after apt-get install: ${MISSING[*]}"
    log "packages installed after $(elapsed) s"
fi
for b in /usr/sbin/munged /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sinfo /usr/bin/scontrol; do
    [[ -x $b ]] || die 2 "$b is missing although its package is installed"
done

# ---------------------------------------------------------------------------------------------
# 2. Layout, pid handling
# ---------------------------------------------------------------------------------------------
ETC=$STATE_DIR/etc
RUN=$STATE_DIR/run
LOGDIR=$STATE_DIR/log
CONF=$ETC/slurm.conf
MUNGE_SOCKET=$RUN/munge/munge.socket.2
export SLURM_CONF=$CONF
HOST=$(hostname -s)

# pid_alive NAME: true if $RUN/NAME.pid names a live process running the expected binary.
# shellcheck source=scripts/slurm/pid-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/pid-lib.sh"
pid_alive() { pid_of "$1" >/dev/null; }

# wait_daemon NAME LOGFILE OFFSET: wait until NAME's pid file names a live NAME process; fail
# fast (return 1) when the daemon logs "fatal:" after byte OFFSET or its recorded pid is dead.
wait_daemon() {
    local name=$1 logfile=$2 offset=$3 deadline=$((SECONDS + TIMEOUT)) pid
    until pid_alive "$name"; do
        if [[ -f $logfile ]] && tail -c +"$((offset + 1))" "$logfile" | grep -q 'fatal:'; then
            tail -c +"$((offset + 1))" "$logfile" | grep 'fatal:' >&2
            return 1
        fi
        if [[ -s $RUN/$name.pid ]]; then
            pid=$(<"$RUN/$name.pid")
            [[ -d /proc/$pid ]] || { sleep 0.5; pid_alive "$name" && return 0; return 1; }
        fi
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}
log_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

# wait_for COMMAND...: retry COMMAND every 0.2 s until it succeeds or TIMEOUT passes.
wait_for() {
    local deadline=$((SECONDS + TIMEOUT))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# node_ready SINCE: the node is IDLE (or MIXED/ALLOCATED), not drained/down/invalid, and its
# slurmd registered at or after epoch SINCE.  (After a restart slurmctld restores the old
# "idle" state from its state files before slurmd has talked to it: shared/slurm-local.md
# pitfall 10.)
node_ready() {
    local since=$1 line state start
    line=$(timeout 10 scontrol -o show node "$HOST" 2>/dev/null) || return 1
    state=$(sed -n 's/.* State=\([^ ]*\).*/\1/p' <<<"$line")
    [[ $state =~ ^(IDLE|MIXED|ALLOCATED)$ ]] || return 1
    start=$(sed -n 's/.* SlurmdStartTime=\([^ ]*\).*/\1/p' <<<"$line")
    [[ -n $start && $start != None ]] || return 1
    (($(date -d "$start" +%s) >= since))
}

all_up() { pid_alive munged && pid_alive slurmctld && pid_alive slurmd; }

# /etc/slurm/slurm.conf -> ours.  Not a convenience: the Snakemake jobstep plugin (0.6.1) strips
# every SLURM_* variable, SLURM_CONF included, before its nested `srun` inside each job, so that
# srun reads the compiled-in /etc/slurm/slurm.conf.  A real (non-link) file there belongs to
# some other SLURM installation and is never replaced.
if [[ ${SLURM_LOCAL_LINK_ETC:-1} == 1 ]]; then
    if [[ -e /etc/slurm/slurm.conf && ! -L /etc/slurm/slurm.conf ]]; then
        die 2 "/etc/slurm/slurm.conf is a real file (another SLURM set-up?); refusing to replace it. Snakemake's nested srun reads that file, so this test cluster cannot work here (SLURM_LOCAL_LINK_ETC=0 skips this, for plain sbatch use only)"
    fi
    if [[ -L /etc/slurm/slurm.conf ]]; then
        other=$(readlink /etc/slurm/slurm.conf)
        other_dir=$(dirname "$(dirname "$other")")
        if [[ $other != "$CONF" && -s $other_dir/run/slurmctld.pid ]] &&
            [[ $(readlink "/proc/$(<"$other_dir/run/slurmctld.pid")/exe" 2>/dev/null) == "$(readlink -f /usr/sbin/slurmctld)" ]]; then
            die 1 "another local cluster is running from $other_dir; stop it first (SLURM_LOCAL_DIR=$other_dir $(dirname "$0")/stop-local-cluster.sh)"
        fi
    fi
    mkdir -p /etc/slurm
    ln -sfn "$CONF" /etc/slurm/slurm.conf
fi

if all_up && timeout 10 sinfo -h -n "$HOST" -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
    log "cluster already running (state dir $STATE_DIR); nothing to do"
    printf 'export SLURM_CONF=%s\n' "$CONF"
    exit 0
fi

mkdir -p "$ETC" "$RUN/munge" "$LOGDIR" "$STATE_DIR/ctld-state" "$STATE_DIR/slurmd-spool" "$STATE_DIR/fakegpu"
chmod 755 "$STATE_DIR" "$ETC" "$RUN" "$LOGDIR"
chmod 700 "$RUN/munge"
if [[ ${SLURM_LOCAL_CLEAN:-0} == 1 ]] && ! pid_alive slurmctld; then
    log "SLURM_LOCAL_CLEAN=1: wiping saved controller state"
    rm -rf "${STATE_DIR:?}/ctld-state" "${STATE_DIR:?}/slurmd-spool"
    mkdir -p "$STATE_DIR/ctld-state" "$STATE_DIR/slurmd-spool"
fi

# ---------------------------------------------------------------------------------------------
# 3. Configuration (rewritten on every start unless slurmctld is already running)
# ---------------------------------------------------------------------------------------------
# Two fake GPUs: character-device clones of /dev/null (slurmd drops GPUs without a File=, and
# rejects regular files: shared/slurm-local.md pitfall 3).  Without CAP_MKNOD, symlinks to
# /dev/null are used instead (slurmd stat()s through them).
for i in 0 1; do
    f=$STATE_DIR/fakegpu/gpu$i
    [[ -c $f ]] && continue
    rm -f "$f"
    mknod -m 666 "$f" c 1 3 2>/dev/null || ln -s /dev/null "$f"
done

if ! pid_alive slurmctld; then
    # Node geometry as slurmd itself detects it; RealMemory at 85% of what it reports, because
    # configuring more than is detected marks the node INVAL (pitfall 6).
    node_hw=$(timeout 30 slurmd -C | head -n 1) || die 1 "slurmd -C failed"
    hw() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$node_hw"; }
    CPUS=$(hw CPUs)
    BOARDS=$(hw Boards)
    SOCKETS=$(hw SocketsPerBoard)
    CORES=$(hw CoresPerSocket)
    THREADS=$(hw ThreadsPerCore)
    MEM=$(hw RealMemory)
    [[ -n $CPUS && -n $MEM ]] || die 1 "could not parse 'slurmd -C' output: $node_hw"
    MEM=$((MEM * 85 / 100))

    cat >"$CONF.new" <<EOF
# Written by scripts/slurm/start-local-cluster.sh: a one-node test cluster. Do not edit;
# edit the script instead.  Every path is under $STATE_DIR.
ClusterName=localcluster
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
# All daemons run as root, so the state directory may live anywhere (even a 0700 temp dir).
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# Our own munged, with its own key and socket (independent of any system munge).
AuthInfo=socket=$MUNGE_SOCKET
# No cgroup set-up needed.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
# cons_tres is what makes --gpus work.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default, a job without --mem takes all the node's memory and jobs run one at a time.
DefMemPerCPU=1000
# Keep finished jobs visible to squeue for a day: the Snakemake SLURM plugin's
# "--slurm-status-command squeue" needs MinJobAge >= 3 x its initial status delay.
MinJobAge=86400
KillWait=5
ReturnToService=2
InactiveLimit=0
Waittime=0
MailProg=/bin/true
StateSaveLocation=$STATE_DIR/ctld-state
SlurmdSpoolDir=$STATE_DIR/slurmd-spool
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No accounting database: sacct does not work; use squeue for job status.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
# SLURM's own one-line-per-finished-job record, read by tests/slurm_helpers.py.
JobCompType=jobcomp/filetxt
JobCompLoc=$LOGDIR/jobcomp.txt
GresTypes=gpu
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS Boards=$BOARDS SocketsPerBoard=$SOCKETS CoresPerSocket=$CORES ThreadsPerCore=$THREADS RealMemory=$MEM Gres=gpu:fake:2 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    cat >"$ETC/gres.conf.new" <<EOF
# Written by scripts/slurm/start-local-cluster.sh: two fake GPUs (clones of /dev/null).
AutoDetect=off
NodeName=$HOST Name=gpu Type=fake File=$STATE_DIR/fakegpu/gpu[0-1]
EOF
    mv "$CONF.new" "$CONF"
    mv "$ETC/gres.conf.new" "$ETC/gres.conf"
    chmod 644 "$CONF" "$ETC/gres.conf"
fi
printf 'export SLURM_CONF=%s\n' "$CONF" >"$STATE_DIR/env.sh"

# ---------------------------------------------------------------------------------------------
# 4. Daemons
# ---------------------------------------------------------------------------------------------
# munged: runs as root here (allowed with --force: its key and socket are root's own, in our
# state dir); --num-threads keeps it small.
if ! pid_alive munged; then
    if [[ ! -s $ETC/munge.key ]]; then
        dd if=/dev/urandom of="$ETC/munge.key.new" bs=1024 count=1 status=none
        chmod 400 "$ETC/munge.key.new"
        mv "$ETC/munge.key.new" "$ETC/munge.key"
    fi
    rm -f "$RUN/munged.pid" "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
    off=$(log_size "$LOGDIR/munged.log")
    timeout 30 /usr/sbin/munged --force --key-file="$ETC/munge.key" --socket="$MUNGE_SOCKET" \
        --pid-file="$RUN/munged.pid" --log-file="$LOGDIR/munged.log" \
        --seed-file="$RUN/munge/munged.seed" --num-threads=2 ||
        die 1 "munged failed to start; see $LOGDIR/munged.log"
    wait_daemon munged "$LOGDIR/munged.log" "$off" || die 1 "munged did not come up; see $LOGDIR/munged.log"
    wait_for timeout 5 munge --socket="$MUNGE_SOCKET" -n ||
        die 1 "munge socket $MUNGE_SOCKET does not answer; see $LOGDIR/munged.log"
    log "munged up (pid $(<"$RUN/munged.pid"))"
fi

if ! pid_alive slurmctld; then
    rm -f "$RUN/slurmctld.pid"
    off=$(log_size "$LOGDIR/slurmctld.log")
    timeout 30 /usr/sbin/slurmctld -f "$CONF" || die 1 "slurmctld failed to start; see $LOGDIR/slurmctld.log"
    wait_daemon slurmctld "$LOGDIR/slurmctld.log" "$off" || die 1 "slurmctld did not come up; see $LOGDIR/slurmctld.log"
    wait_for timeout 5 scontrol ping ||
        die 1 "slurmctld does not answer 'scontrol ping' within ${TIMEOUT}s; see $LOGDIR/slurmctld.log"
    log "slurmctld up (pid $(<"$RUN/slurmctld.pid"))"
fi

slurmd_since=0
if ! pid_alive slurmd; then
    rm -f "$RUN/slurmd.pid"
    slurmd_since=$(date +%s)
    off=$(log_size "$LOGDIR/slurmd.log")
    timeout 30 /usr/sbin/slurmd -f "$CONF" -N "$HOST" || die 1 "slurmd failed to start; see $LOGDIR/slurmd.log"
    wait_daemon slurmd "$LOGDIR/slurmd.log" "$off" || die 1 "slurmd did not come up; see $LOGDIR/slurmd.log"
    log "slurmd up (pid $(<"$RUN/slurmd.pid"))"
fi

# A drain/down reason survives restarts in the controller's state (pitfall 4): clear it once.
deadline=$((SECONDS + TIMEOUT))
resumed=0
until node_ready "$slurmd_since"; do
    if ((SECONDS >= deadline)); then
        timeout 10 scontrol show node "$HOST" >&2 || true
        tail -n 20 "$LOGDIR/slurmd.log" >&2 || true
        die 1 "node $HOST did not become idle within ${TIMEOUT}s; logs in $LOGDIR"
    fi
    if ((!resumed)) && timeout 10 scontrol -o show node "$HOST" 2>/dev/null | grep -qE 'State=[A-Z+]*(DRAIN|DOWN|INVAL)'; then
        log "node is drained/down from an earlier run; resuming it"
        timeout 10 scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true
        resumed=1
    fi
    sleep 0.2
done

log "cluster up after $(elapsed) s: node $HOST idle, partition debug, 2 fake GPUs (gpu:fake:2)"
log "state dir $STATE_DIR; completion log $LOGDIR/jobcomp.txt"
printf 'export SLURM_CONF=%s\n' "$CONF"
