#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, all its state in DIR (root):
#   tools/dev/local_slurm.sh start DIR   # then: export SLURM_CONF=DIR/slurm.conf
#   tools/dev/local_slurm.sh stop DIR
# munged, slurmctld and slurmd run as root with their own key, socket, ports
# (SLURMCTLD_PORT, SLURMD_PORT; default 16817, 16818) and logs in DIR, so
# they touch no system-wide Slurm or MUNGE. One partition, "debug", with this
# host as its node (named by `hostname -s`, which mmengine's slurm launcher
# uses as the rendezvous address, so it must resolve). Install the packages
# with tools/dev/install_slurm.sh.
set -euo pipefail
ACTION=${1:-}
DIR=${2:-}
if [ -z "$DIR" ] || { [ "$ACTION" != start ] && [ "$ACTION" != stop ]; }; then
    echo "usage: $0 start|stop DIR" >&2
    exit 2
fi
DIR=$(mkdir -p "$DIR" && cd "$DIR" && pwd)
export SLURM_CONF="$DIR/slurm.conf"

running() {  # PID: alive and not a zombie (a container's pid 1 may not reap)
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$(echo "${stat##*) }" | cut -d' ' -f1)" != Z ]
}

wait_gone() {  # PIDFILE: wait up to 10 s for that process to exit
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 0
    for _ in $(seq 100); do
        running "$pid" || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

if [ "$ACTION" = stop ]; then
    [ -f "$SLURM_CONF" ] && scontrol shutdown >/dev/null 2>&1 || true
    for daemon in slurmctld slurmd; do
        [ -f "$DIR/$daemon.pid" ] && kill -TERM "$(cat "$DIR/$daemon.pid")" \
            2>/dev/null || true
        wait_gone "$DIR/$daemon.pid"
    done
    [ -f "$DIR/munged.pid" ] && kill -TERM "$(cat "$DIR/munged.pid")" \
        2>/dev/null || true
    wait_gone "$DIR/munged.pid"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "error: a local Slurm cluster runs its daemons as root" >&2
    exit 1
fi
NODE=$(hostname -s)
if ! getent hosts "$NODE" >/dev/null; then
    echo "error: this host's name $NODE does not resolve; add it to" \
        "/etc/hosts" >&2
    exit 1
fi
CPUS=$(nproc)
[ "$CPUS" -ge 2 ] || CPUS=2  # two tasks even on one core
chmod 700 "$DIR"
mkdir -p "$DIR/state" "$DIR/spool"
[ -f "$DIR/munge.key" ] || {
    dd if=/dev/urandom of="$DIR/munge.key" bs=1024 count=1 2>/dev/null
    chmod 600 "$DIR/munge.key"
}
: > "$DIR/plugstack.conf"  # no SPANK plugins from /etc/slurm
cat > "$SLURM_CONF" <<CONF
ClusterName=semaimlocal
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=${SLURMCTLD_PORT:-16817}
SlurmdPort=${SLURMD_PORT:-16818}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/munge.sock
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
PlugStackConfig=$DIR/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
munged --force --key-file="$DIR/munge.key" --socket="$DIR/munge.sock" \
    --pid-file="$DIR/munged.pid" --log-file="$DIR/munged.log" \
    --seed-file="$DIR/munged.seed"
slurmctld -c
slurmd
for _ in $(seq 150); do
    if sinfo -h -o %T 2>/dev/null | grep -qx idle; then
        echo "export SLURM_CONF=$SLURM_CONF"
        exit 0
    fi
    sleep 0.2
done
echo "error: the local Slurm node did not come up within 30 s; see" \
    "$DIR/slurmctld.log and $DIR/slurmd.log" >&2
exit 1
