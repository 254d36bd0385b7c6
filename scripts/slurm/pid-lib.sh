# shellcheck shell=bash
# Shared by start-local-cluster.sh and stop-local-cluster.sh (sourced; needs $RUN set).

# pid_of NAME: print the pid recorded in $RUN/NAME.pid if that process still runs the NAME
# binary. The binary check guards against a recycled pid after a crash or reboot.
pid_of() {
    local name=$1 pidfile=$RUN/$1.pid pid exe want
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    # Debian installs e.g. /usr/sbin/slurmctld as a link to slurmctld-wlm: compare real paths.
    want=$(readlink -f "/usr/sbin/$name") || return 1
    [[ $exe == "$want" || $exe == "$want (deleted)" ]] || return 1
    echo "$pid"
}
