#!/usr/bin/env bash
# Install Debian's Slurm (slurm-wlm) and MUNGE, for tools/dev/local_slurm.sh
# and tests/reliability/test_slurm.py. Needs root and apt-get; does nothing
# when the daemons and srun are already installed.
set -euo pipefail
have() {
    for cmd in munged slurmctld slurmd srun scontrol sinfo; do
        command -v "$cmd" >/dev/null || return 1
    done
}
have && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "error: installing slurm-wlm and munge needs root (apt-get)" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null; then
    echo "error: no apt-get: install Slurm and MUNGE with this system's" \
        "package manager" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq slurm-wlm munge >/dev/null
have || { echo "error: slurm-wlm / munge installed but a daemon or" \
    "client is still missing from PATH" >&2; exit 1; }
