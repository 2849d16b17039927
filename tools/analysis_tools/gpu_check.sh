#!/usr/bin/env bash
# One prepared GPU check for a machine lent briefly (minutes, no package
# registry; Python 3.12 with torch, torchvision, timm, numpy; no OpenMMLab
# packages). Under 8 minutes on an H100/H200.
#
#   bash tools/analysis_tools/gpu_check.sh --prepare     # here, with a registry
#   bash tools/analysis_tools/gpu_check.sh [--out DIR]   # on the GPU machine
#   bash tools/analysis_tools/gpu_check.sh --device cpu --dry-run   # CPU check
#
# --prepare fills the git-ignored .gpu_check/ with the pure-Python wheels the
# GPU machine lacks (mmengine, mmpretrain, mmcv-lite and their missing
# dependencies, for Python 3.12) and the Fashion-MNIST IDX files; carry that
# folder with the working tree. The run installs the wheels into
# .gpu_check/site (PYTHONPATH; the machine's own packages are untouched),
# then measures ViT-B/16 at 224 px, batch 128, bf16: fast vs reference vs MAE
# with compile off/on and activation checkpointing off/on, peak memory at 224
# and 448 px, and a 300-step Fashion-MNIST pre-training through
# tools/train.py; everything lands in DIR (default work_dirs/gpu_check) as
# JSON plus summary.md for docs/benchmarks.md.
# --dry-run builds every step and runs one training step of each (batch 2,
# no install, no compile) with the current Python.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
CACHE=$ROOT/.gpu_check
OUT=work_dirs/gpu_check
DEVICE=cuda
DRY=0
PREPARE=0
PY=${PYTHON:-python3}
while [ $# -gt 0 ]; do
  case $1 in
    --prepare) PREPARE=1 ;;
    --dry-run) DRY=1 ;;
    --device) DEVICE=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h|--help) sed -n 2,22p "$0"; exit 0 ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# Pure-Python wheels the GPU machine lacks (ENVIRONMENT.md): the OpenMMLab
# stack for pre-training and its dependencies that are not preinstalled.
WHEELS=(mmengine==0.10.7 mmpretrain==1.2.0 mmcv-lite==2.1.0 addict yapf
        platformdirs termcolor rich markdown-it-py mdurl pygments einops
        modelindex model-index ordered-set click markdown mat4py
        importlib-metadata zipp prettytable wcwidth)

if [ $PREPARE = 1 ]; then
  mkdir -p "$CACHE/wheels" "$CACHE/fashion-mnist"
  $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation py --dest "$CACHE/wheels" "${WHEELS[@]}"
  train=$(dpkg -L dataset-fashion-mnist 2>/dev/null | grep train-images | head -1 || true)
  [ -n "$train" ] || { echo "error: install dataset-fashion-mnist (apt) first" >&2; exit 2; }
  cp "$(dirname "$train")"/*-ubyte.gz "$CACHE/fashion-mnist/"
  echo "prepared $CACHE: $(ls "$CACHE/wheels" | wc -l) wheels, Fashion-MNIST"
  exit 0
fi

mkdir -p "$OUT"
if [ $DRY = 0 ]; then
  [ -d "$CACHE/wheels" ] || { echo "error: $CACHE/wheels missing: run --prepare on a machine with a registry and carry .gpu_check/" >&2; exit 2; }
  $PY -m pip install -q --no-index --no-deps --target "$CACHE/site" \
    "$CACHE"/wheels/*.whl
  export PYTHONPATH=$CACHE/site:$ROOT${PYTHONPATH:+:$PYTHONPATH}
  BENCH=(--batch 128 --steps 10 --warmup 3 --amp)
  TRAIN_ITERS=300
  DATA=$CACHE/fashion-mnist
else
  export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
  BENCH=(--batch 2 --steps 1 --warmup 0 --no-memory)
  TRAIN_ITERS=2
  DATA=
fi
CFG=configs/pretrain/semaim_vitb_800e.py
run() {  # name, benchmark flags...
  local name=$1; shift
  echo "== $name"
  $PY tools/benchmark.py $CFG --device "$DEVICE" "${BENCH[@]}" "$@" \
    --json "$OUT/$name.json" | tail -n 12
}
run vitb224 --path both --mae
run vitb224_ckpt --path fast --grad-checkpointing
if [ $DRY = 0 ]; then
  run vitb224_compile --path fast --compile
  run vitb448 --path both --img-size 448 --batch 32
else
  echo "== compile and 448 px: skipped in --dry-run (compilation takes minutes on a CPU)"
fi

echo "== training through tools/train.py ($TRAIN_ITERS iterations)"
TRAIN_OPTS=(train_cfg.max_iters=$TRAIN_ITERS default_hooks.checkpoint.interval=$TRAIN_ITERS)
[ -n "$DATA" ] && TRAIN_OPTS+=(train_dataloader.dataset.data_root=$DATA)
if [ "$DEVICE" = cuda ]; then
  TRAIN_OPTS+=(optim_wrapper.type=AmpOptimWrapper optim_wrapper.dtype=bfloat16 optim_wrapper.loss_scale=1.0)
fi
start=$(date +%s)
$PY tools/train.py configs/pretrain/semaim_vit-tiny-p4_fashion-mnist.py \
  --work-dir "$OUT/train" --cfg-options "${TRAIN_OPTS[@]}" | tail -n 3
echo "{\"iters\": $TRAIN_ITERS, \"wall_s\": $(( $(date +%s) - start ))}" \
  > "$OUT/train.json"

$PY tools/analysis_tools/gpu_report.py "$OUT" > "$OUT/summary.md"
cat "$OUT/summary.md"
