#!/usr/bin/env bash
# tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args]
# GPUS tasks in all (default 8), GPUS_PER_NODE (8; 0: CPU tasks, gloo, no
# --gres), CPUS_PER_TASK (5), SRUN_ARGS, PYTHON, MASTER_PORT (mmengine's
# default 29500; give each job on a node its own).
# Preemption: srun asks Slurm to send SIGTERM to every rank SIGNAL_AHEAD
# seconds (default 120) before the time limit; the ranks save the current
# iteration and exit with status 75. In a batch job that request is the
# job's: `sbatch --signal=TERM@120` (srun's applies only to an allocation
# srun makes itself). The run resumes from its work dir's newest checkpoint
# (--resume-or-start, unless --resume is given), so the same command
# continues it. Inside an `sbatch --requeue` job, REQUEUE=1 requeues the job
# when the ranks stopped that way. See docs/reliability.md, "Slurm".
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [train.py args]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
SIGNAL_AHEAD=${SIGNAL_AHEAD:-120}
REQUEUE=${REQUEUE:-0}
PYTHON=${PYTHON:-python}
PREEMPTED=75  # semaim_mm.engine.PREEMPTED_EXIT
PY_ARGS=("${@:5}")

PLACEMENT=(--gres=gpu:"${GPUS_PER_NODE}" --ntasks-per-node="${GPUS_PER_NODE}")
if [ "$GPUS_PER_NODE" = 0 ]; then
    PLACEMENT=()
fi
RESUME=(--resume-or-start)
for arg in "${PY_ARGS[@]}"; do
    case "$arg" in --resume|--resume=*|--resume-or-start) RESUME=() ;; esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
rc=0
set -x
# shellcheck disable=SC2086  # SRUN_ARGS is a list of srun options
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    "${PLACEMENT[@]}" \
    --ntasks="$GPUS" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    --signal=TERM@"$SIGNAL_AHEAD" \
    ${SRUN_ARGS} \
    "$PYTHON" -u "$ROOT/tools/train.py" "$CONFIG" --work-dir="$WORK_DIR" \
    --launcher=slurm "${RESUME[@]}" "${PY_ARGS[@]}" || rc=$?
{ set +x; } 2>/dev/null
if [ "$rc" = "$PREEMPTED" ] && [ "$REQUEUE" = 1 ] && [ -n "${SLURM_JOB_ID:-}" ]; then
    scontrol requeue "$SLURM_JOB_ID"
fi
exit "$rc"
