#!/usr/bin/env bash
# A throwaway single-node Slurm cluster on localhost, for checking multi-task runs for real.
#
#   bash scripts/slurm_local.sh start|stop|status|logs
#
# or source it and call slurm_local_start / slurm_local_stop. After slurm_local_start,
# SLURM_CONF is exported (clients find the private config through it) and SLURM_LOCAL_SKIPPED
# is 1 when the machine cannot host a cluster; a SKIPPED line with the reason has been printed
# then, and callers are expected to exit 0. Needs root, or passwordless sudo.
#
# Everything lives under SLURM_LOCAL_DIR (default /var/tmp/corpusforge-slurm); /etc/slurm is
# never touched, so a real cluster config on the machine is not disturbed. The daemons are
# started directly (no systemd) and without cgroups, which containers rarely delegate.
# Ports: SLURM_LOCAL_CTLD_PORT / SLURM_LOCAL_SLURMD_PORT (default 6817 / 6818).

SLURM_LOCAL_DIR="${SLURM_LOCAL_DIR:-/var/tmp/corpusforge-slurm}"
SLURM_LOCAL_CTLD_PORT="${SLURM_LOCAL_CTLD_PORT:-6817}"
SLURM_LOCAL_SLURMD_PORT="${SLURM_LOCAL_SLURMD_PORT:-6818}"
SLURM_LOCAL_SKIPPED=0
SLURM_LOCAL_SKIP_REASON=""
SLURM_LOCAL_NODE=""

_sl_log() { echo "slurm_local: $*" >&2; }

_sl_skip() {
    SLURM_LOCAL_SKIPPED=1
    SLURM_LOCAL_SKIP_REASON="$1"
    echo "SKIPPED: slurm check: $1"
}

# Commands that need root go through this, so a CI user with passwordless sudo works too.
_sl_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    else
        sudo -n "$@"
    fi
}

_sl_have_root() {
    [ "$(id -u)" -eq 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }
}

# Debian puts the daemons in /usr/sbin, which a non-root PATH may lack.
_sl_find() {
    local name="$1" d
    if command -v "$name" >/dev/null 2>&1; then
        command -v "$name"
        return 0
    fi
    for d in /usr/sbin /sbin /usr/local/sbin; do
        if [ -x "$d/$name" ]; then
            echo "$d/$name"
            return 0
        fi
    done
    return 1
}

_sl_missing_tools() {
    local t missing=""
    for t in slurmctld slurmd sbatch squeue sinfo scontrol munged munge unmunge; do
        _sl_find "$t" >/dev/null || missing="$missing $t"
    done
    echo "${missing# }"
}

# Returns 0 with the tools present, 1 (after _sl_skip) when they cannot be had.
slurm_local_install() {
    local missing log
    missing="$(_sl_missing_tools)"
    [ -z "$missing" ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        _sl_skip "missing $missing and no apt-get to install slurm-wlm/munge"
        return 1
    fi
    _sl_log "installing slurm-wlm and munge (missing: $missing)"
    log="$(mktemp)"
    # Try without a package-list refresh first: it is slow, and often already fresh.
    if ! _sl_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >"$log" 2>&1; then
        if ! { _sl_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
            _sl_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge; } >>"$log" 2>&1; then
            tail -n 5 "$log" >&2
            rm -f "$log"
            _sl_skip "apt-get install slurm-wlm munge failed"
            return 1
        fi
    fi
    rm -f "$log"
    missing="$(_sl_missing_tools)"
    if [ -n "$missing" ]; then
        _sl_skip "still missing after install: $missing"
        return 1
    fi
}

_sl_munge_ok() {
    local munge unmunge
    munge="$(_sl_find munge)" && unmunge="$(_sl_find unmunge)" || return 1
    "$munge" -n 2>/dev/null | "$unmunge" >/dev/null 2>&1
}

# Reuses a working munged (e.g. the distribution's service); otherwise starts one and
# remembers that, so stop only ends what start began.
_sl_start_munge() {
    local munged pid
    if _sl_munge_ok; then
        return 0
    fi
    munged="$(_sl_find munged)"
    # Tested as root: /etc/munge is unreadable to anyone else, and a new key would orphan
    # credentials of any other munge user on the machine.
    if ! _sl_as_root test -s /etc/munge/munge.key; then
        _sl_log "creating /etc/munge/munge.key"
        _sl_as_root mkdir -p /etc/munge
        _sl_as_root dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    fi
    # munged refuses keys and directories that others could read or write.
    _sl_as_root chown -R munge:munge /etc/munge
    _sl_as_root chmod 0700 /etc/munge
    _sl_as_root chmod 0400 /etc/munge/munge.key
    _sl_as_root mkdir -p /run/munge /var/lib/munge /var/log/munge
    _sl_as_root chown munge:munge /run/munge /var/lib/munge /var/log/munge
    _sl_as_root chmod 0755 /run/munge
    _sl_as_root chmod 0711 /var/lib/munge
    _sl_as_root chmod 0700 /var/log/munge
    # A stale socket or pid file from a killed munged makes a new one refuse to start.
    _sl_as_root rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock /run/munge/munged.pid
    if ! _sl_as_root runuser -u munge -- "$munged" 2>"$SLURM_LOCAL_DIR/munged.err" || ! _sl_wait_munge; then
        _sl_log "munged as user munge failed ($(tail -n 1 "$SLURM_LOCAL_DIR/munged.err" 2>/dev/null)); trying as root"
        _sl_as_root "$munged" --stop >/dev/null 2>&1 || true
        _sl_as_root rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock /run/munge/munged.pid
        _sl_as_root "$munged" --force 2>>"$SLURM_LOCAL_DIR/munged.err" || true
        if ! _sl_wait_munge; then
            _sl_log "munged does not work:"
            cat "$SLURM_LOCAL_DIR/munged.err" >&2 || true
            _sl_as_root tail -n 20 /var/log/munge/munged.log >&2 || true
            return 1
        fi
    fi
    pid="$(_sl_as_root cat /run/munge/munged.pid 2>/dev/null || true)"
    echo "$pid" | _sl_as_root tee "$SLURM_LOCAL_DIR/munged.pid" >/dev/null
}

_sl_wait_munge() {
    local i
    for i in $(seq 1 50); do
        _sl_munge_ok && return 0
        sleep 0.1
    done
    return 1
}

# TERM, then KILL what is still there after 10 s; returns once all are gone. All are
# signalled at once: each daemon takes a second or two to exit.
_sl_end_pids() {
    local pid alive i
    [ "$#" -gt 0 ] || return 0
    for pid in "$@"; do
        _sl_as_root kill "$pid" 2>/dev/null || true
    done
    for i in $(seq 1 150); do
        alive=""
        for pid in "$@"; do
            if [ -d "/proc/$pid" ]; then
                alive="$alive $pid"
            fi
        done
        if [ -z "$alive" ]; then
            return 0
        fi
        if [ "$i" -eq 100 ]; then
            _sl_log "killing stuck daemons:$alive"
            for pid in $alive; do
                _sl_as_root kill -9 "$pid" 2>/dev/null || true
            done
        fi
        sleep 0.1
    done
    _sl_log "still running:$alive"
}

# Pids from pid files of the state dir, given as FILE:NAME pairs; the files are removed. A
# pid only counts while it still is the daemon named, so a recycled pid is never hit.
_sl_pids_from_files() {
    local pair pidfile name pid
    for pair in "$@"; do
        pidfile="$SLURM_LOCAL_DIR/${pair%%:*}"
        name="${pair#*:}"
        [ -f "$pidfile" ] || continue
        pid="$(cat "$pidfile" 2>/dev/null || true)"
        if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
            echo "$pid"
        fi
        _sl_as_root rm -f "$pidfile"
    done
}

_sl_mem_mb() {
    awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo
}

_sl_write_conf() {
    local dir="$SLURM_LOCAL_DIR" node="$1" cpus mem
    cpus="$(nproc)"
    # Leave room for the OS and the daemons; slurmd drains a node that reports less memory
    # than configured.
    mem="$(_sl_mem_mb)"
    mem=$((mem * 85 / 100))
    [ "$mem" -ge 1024 ] || mem=1024
    cat >"$dir/slurm.conf.tmp" <<EOF
ClusterName=corpusforge
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$SLURM_LOCAL_CTLD_PORT
SlurmdPort=$SLURM_LOCAL_SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
MailProg=/bin/true
SwitchType=switch/none
# No cgroups: containers seldom delegate them, and nothing here needs confinement.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# There is no slurmdbd, so sacct cannot say how a job ended; this file can.
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.log
# CR_CPU (not CR_Core) so a 1-CPU task takes one CPU even where CPUs are hyperthreads.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
# Start batch jobs as soon as a CPU frees up rather than in 3 s steps; a run has several phases.
SchedulerParameters=batch_sched_delay=0
# Without a default a job that gives no --mem is handed the whole node, and array tasks
# would then run one at a time.
DefMemPerCPU=$((mem / cpus))
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/slurmd
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
MessageTimeout=10
InactiveLimit=0
KillWait=5
# Long enough that scontrol still knows every job of a run when its last one ends.
MinJobAge=3600
# Trust the CPU count given here over the topology slurmd detects, so a node whose cores
# are split differently is not drained.
SlurmdParameters=config_overrides
NodeName=$node NodeHostname=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$dir/slurm.conf.tmp" "$dir/slurm.conf"
}

_sl_stop_daemons() {
    local pids pid
    pids=" $(_sl_pids_from_files slurmd.pid:slurmd slurmctld.pid:slurmctld "$@" | tr '\n' ' ')"
    # Daemons whose pid files went missing (state dir deleted by hand) still hold the ports;
    # they are recognised by the config path on their command line.
    for pid in $(_sl_pids_with_conf); do
        case "$pids" in
            *" $pid "*) ;;
            *)
                _sl_log "ending leftover $(cat "/proc/$pid/comm" 2>/dev/null) ($pid)"
                pids="$pids$pid "
                ;;
        esac
    done
    # shellcheck disable=SC2086
    _sl_end_pids $pids
}

_sl_daemon_names() {
    local pid
    for pid in $(_sl_pids_with_conf); do
        cat "/proc/$pid/comm" 2>/dev/null
    done | sort -u | tr '\n' ' ' | sed 's/ $//'
}

_sl_pids_with_conf() {
    local f pid
    for f in /proc/[0-9]*/cmdline; do
        pid="${f#/proc/}"
        pid="${pid%/cmdline}"
        case "$(cat "/proc/$pid/comm" 2>/dev/null)" in
            slurmctld | slurmd) ;;
            *) continue ;;
        esac
        if tr '\0' '\n' <"$f" 2>/dev/null | grep -qxF "$SLURM_LOCAL_DIR/slurm.conf"; then
            echo "$pid"
        fi
    done
}

_sl_dump_logs() {
    local f
    for f in slurmctld.log slurmd.log slurmctld.out slurmd.out; do
        if [ -s "$SLURM_LOCAL_DIR/$f" ]; then
            echo "---- $SLURM_LOCAL_DIR/$f (tail)" >&2
            _sl_as_root tail -n 30 "$SLURM_LOCAL_DIR/$f" >&2 || true
        fi
    done
}

_sl_node_state() {
    # Fails while slurmctld is still coming up; that only means "not yet".
    sinfo -h -n "$SLURM_LOCAL_NODE" -o %T 2>/dev/null | head -n 1 || true
}

slurm_local_start() {
    local t0 node state i sbin
    t0="$(date +%s)"
    SLURM_LOCAL_SKIPPED=0
    SLURM_LOCAL_SKIP_REASON=""
    if ! _sl_have_root; then
        _sl_skip "needs root or passwordless sudo to run slurmctld/slurmd"
        return 0
    fi
    slurm_local_install || return 0
    # Clients run by the caller find the daemons' config here; sbatch passes it on to jobs.
    export SLURM_CONF="$SLURM_LOCAL_DIR/slurm.conf"
    sbin="$(dirname "$(_sl_find slurmctld)")"
    case ":$PATH:" in *":$sbin:"*) ;; *) PATH="$PATH:$sbin" ;; esac

    # Daemons left by an earlier run (same state dir) would hold the ports and the state.
    _sl_stop_daemons munged.pid:munged
    _sl_as_root rm -rf "$SLURM_LOCAL_DIR"
    _sl_as_root mkdir -p "$SLURM_LOCAL_DIR/ctld" "$SLURM_LOCAL_DIR/slurmd"
    _sl_as_root chmod 0755 "$SLURM_LOCAL_DIR"
    if [ "$(id -u)" -ne 0 ]; then
        # Written by the invoking user, read by the root daemons.
        _sl_as_root chown "$(id -u):$(id -g)" "$SLURM_LOCAL_DIR"
    fi

    _sl_start_munge || return 1

    node="$(hostname -s)"
    SLURM_LOCAL_NODE="$node"
    export SLURM_LOCAL_NODE
    _sl_write_conf "$node"

    # -c: start from empty state, never from jobs of an earlier cluster.
    if ! _sl_as_root "$(_sl_find slurmctld)" -c -f "$SLURM_CONF" >"$SLURM_LOCAL_DIR/slurmctld.out" 2>&1; then
        _sl_log "slurmctld failed to start"
        _sl_dump_logs
        _sl_stop_daemons munged.pid:munged
        return 1
    fi
    if ! _sl_as_root "$(_sl_find slurmd)" -c -f "$SLURM_CONF" -N "$node" >"$SLURM_LOCAL_DIR/slurmd.out" 2>&1; then
        _sl_log "slurmd failed to start"
        _sl_dump_logs
        _sl_stop_daemons munged.pid:munged
        return 1
    fi

    for i in $(seq 1 120); do
        state="$(_sl_node_state)"
        case "$state" in
            idle)
                _sl_log "node $node idle after $(($(date +%s) - t0)) s (SLURM_CONF=$SLURM_CONF)"
                return 0
                ;;
            down* | drain* | fail*)
                _sl_as_root env SLURM_CONF="$SLURM_CONF" scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true
                ;;
        esac
        # A daemon that could not start (port taken, bad config) exits soon after forking;
        # no need to wait out the timeout then.
        if [ "$i" -ge 6 ] && [ "$(_sl_daemon_names)" != "slurmctld slurmd" ]; then
            _sl_log "running: '$(_sl_daemon_names)', want both slurmctld and slurmd"
            break
        fi
        sleep 0.5
    done
    _sl_log "node $node not idle after $(($(date +%s) - t0)) s (state: ${state:-none})"
    sinfo -N -l >&2 2>&1 || true
    scontrol show node "$node" >&2 2>&1 || true
    _sl_dump_logs
    _sl_stop_daemons munged.pid:munged
    return 1
}

# Leaves no daemon and no state behind; a munge key it created stays, as the munge package
# would have made one too. Callers wanting the daemon logs take them first (slurm_local_logs).
slurm_local_stop() {
    _sl_stop_daemons munged.pid:munged
    _sl_as_root rm -rf "$SLURM_LOCAL_DIR" 2>/dev/null || true
}

# Tails of the daemon logs, on stderr: what to show when a job did not behave.
slurm_local_logs() {
    _sl_dump_logs
}

slurm_local_status() {
    export SLURM_CONF="$SLURM_LOCAL_DIR/slurm.conf"
    if [ ! -f "$SLURM_CONF" ]; then
        echo "slurm_local: no cluster under $SLURM_LOCAL_DIR"
        return 1
    fi
    sinfo && squeue
}

# How a job ended, or is doing: scontrol while slurmctld still knows it (MinJobAge), else
# the job-completion log. For an array job, one word per task.
slurm_local_job_state() {
    local id="$1" out
    out="$(scontrol show job "$id" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 || true)"
    if [ -z "$out" ] && [ -f "$SLURM_LOCAL_DIR/jobcomp.log" ]; then
        out="$(grep -E "(^JobId=| ArrayJobId=)$id " "$SLURM_LOCAL_DIR/jobcomp.log" | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 || true)"
    fi
    echo "$out" | tr '\n' ' ' | sed 's/ *$//'
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    case "${1:-}" in
        start)
            slurm_local_start
            if [ "$SLURM_LOCAL_SKIPPED" = 1 ]; then exit 0; fi
            echo "export SLURM_CONF=$SLURM_CONF"
            ;;
        stop) slurm_local_stop ;;
        status) slurm_local_status ;;
        logs) slurm_local_logs ;;
        *)
            echo "usage: $0 start|stop|status|logs" >&2
            exit 2
            ;;
    esac
fi
