#!/usr/bin/env bash
# tools/dist_train.sh CONFIG GPUS [train.py args]
# GPUS is the number of processes on this node. Multi-node: NNODES, NODE_RANK,
# MASTER_ADDR, PORT (or MASTER_PORT) on every node, e.g. 32 GPUs as 4 x 8:
#   NNODES=4 NODE_RANK=i MASTER_ADDR=node0 tools/dist_train.sh CONFIG 8
# With no GPU, GPUS processes run on the CPU with the gloo backend (mmengine
# picks it).
set -euo pipefail
fail() { echo "error: $*" >&2; exit 1; }

CONFIG=${1:-}
GPUS=${2:-}
[[ -n "$CONFIG" ]] || fail "usage: tools/dist_train.sh CONFIG GPUS [train.py args]"
[[ "$GPUS" =~ ^[1-9][0-9]*$ ]] || fail "GPUS (the second argument) must be \
the number of processes on this node, got '$GPUS'; e.g. tools/dist_train.sh \
$CONFIG 8 ${*:2}"
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-${MASTER_PORT:-29500}}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

# GPUs visible on this node: nvidia-smi's list, narrowed by
# CUDA_VISIBLE_DEVICES; torch asked only when nvidia-smi is missing.
node_gpus() {
    local n
    if command -v nvidia-smi >/dev/null 2>&1; then
        n=$(nvidia-smi --list-gpus 2>/dev/null | grep -c '^GPU' || true)
    else
        n=$("$PYTHON" -c 'import torch; print(torch.cuda.device_count())' \
            2>/dev/null || echo 0)
    fi
    if [[ -n "${CUDA_VISIBLE_DEVICES+x}" && "$n" -gt 0 ]]; then
        local visible
        visible=$(tr ',' '\n' <<<"$CUDA_VISIBLE_DEVICES" | grep -c . || true)
        (( visible < n )) && n=$visible
    fi
    echo "$n"
}

NODE_GPUS=$(node_gpus)
if (( NODE_GPUS > 0 && GPUS > NODE_GPUS )); then
    NODES=$(( (GPUS + NODE_GPUS - 1) / NODE_GPUS ))
    fail "GPUS=$GPUS but this node has $NODE_GPUS GPUs (GPUS is per node); \
for $GPUS GPUs run on each of $NODES nodes (i = 0..$((NODES - 1))): \
NNODES=$NODES NODE_RANK=i MASTER_ADDR=<node 0's address> \
tools/dist_train.sh $CONFIG $NODE_GPUS, or use tools/slurm_train.sh \
with GPUS=$GPUS"
fi

# The rendezvous port: node 0 listens on it, so a listener there now means
# another run holds it (torchrun would fail with a traceback per node).
if [[ "$NODE_RANK" == 0 ]] && \
        timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null; then
    fail "port $PORT is in use (another run?); pick a free one with \
PORT=<port> (or MASTER_PORT=<port>) tools/dist_train.sh ..."
fi

export PYTHONPATH="$(dirname "$0")/..${PYTHONPATH:+:$PYTHONPATH}"
# Pre-flight once, before the ranks start: a user mistake is one line
# and exit status 1, not a traceback per rank from torchrun.
NODE_RANK="$NODE_RANK" "$PYTHON" "$(dirname "$0")/train.py" "$CONFIG" --preflight-only "${@:3}"
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$(dirname "$0")/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
