#!/usr/bin/env bash
# One prepared GPU check for a machine lent briefly (minutes, no package
# registry; Python 3.12 with torch, torchvision, timm, numpy; no OpenMMLab
# packages). About 11 minutes on an H100/H200.
#
#   bash tools/analysis_tools/gpu_check.sh --prepare     # here, with a registry
#   bash tools/analysis_tools/gpu_check.sh [--out DIR]   # on the GPU machine
#   bash tools/analysis_tools/gpu_check.sh --device cpu --dry-run   # CPU check
#
# --prepare fills the git-ignored .gpu_check/ with the wheels the GPU machine
# lacks (mmengine, mmpretrain, mmcv-lite and their missing dependencies, and
# opencv-python-headless and matplotlib, which they import; for Python 3.12)
# and the Fashion-MNIST IDX files; carry that folder with the working tree.
# The run installs the wheels into .gpu_check/site (PYTHONPATH; the machine's
# own packages are untouched).
#
# Steps (each runs whatever the others did, and records ok / failed /
# skipped, its seconds and its log in DIR/steps.tsv and DIR/logs/):
#   vitb224, vitb224_ckpt, vitb224_compile, vitb448: ViT-B/16 in bf16 at
#     batch 128 (448 px: 32): fast vs reference vs MAE, activation
#     checkpointing, compiled, peak memory (tools/benchmark.py)
#   sdpa: the fused attention kernels the fast path can use and launches
#   precision: loss, similarity map and order centres, fp32 vs bf16
#   train_tiny: 300-step Fashion-MNIST pre-training through tools/train.py
#   train_vitb, resume_vitb: 1-GPU torchrun of the ViT-B config through the
#     real runner (--launcher pytorch, bf16 AmpOptimWrapper, grad clip 3) for
#     two epochs of a 128-image Fashion-MNIST subset at 224 px, then resumed
#     from the first epoch's checkpoint
#   knn: k-NN of the tiny checkpoint on a 2000-image bank
#   reproduce_gpu: the reproduction's GPU profile (--tune) for REPRO_SECONDS
#     (default 180; --dry-run: its plan only)
# DIR/summary.md (tools/analysis_tools/gpu_report.py) is written whatever
# failed; the exit status is 1 when a step failed.
# --dry-run runs every step at small sizes with the current Python (no
# install; compile, 448 px and sdpa are skipped on a CPU).
set -uo pipefail
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
    -h|--help) sed -n 2,35p "$0"; exit 0 ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# Pure-Python wheels the GPU machine lacks (ENVIRONMENT.md): the OpenMMLab
# stack for pre-training and its dependencies that are not preinstalled.
WHEELS=(mmengine==0.10.7 mmpretrain==1.2.0 mmcv-lite==2.1.0 addict yapf
        platformdirs termcolor rich markdown-it-py mdurl pygments einops
        modelindex model-index ordered-set click markdown mat4py
        importlib-metadata zipp prettytable wcwidth cycler pyparsing six
        python-dateutil)
# Compiled wheels that mmengine / mmcv-lite import (cv2, matplotlib), and theirs.
BINARY_WHEELS=(opencv-python-headless matplotlib contourpy kiwisolver
               fonttools pillow)

if [ $PREPARE = 1 ]; then
  mkdir -p "$CACHE/wheels" "$CACHE/fashion-mnist"
  $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation py --dest "$CACHE/wheels" "${WHEELS[@]}" || exit 2
  $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --abi cp312 --abi abi3 \
    --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
    --dest "$CACHE/wheels" "${BINARY_WHEELS[@]}" || exit 2
  train=$(dpkg -L dataset-fashion-mnist 2>/dev/null | grep train-images | head -1 || true)
  [ -n "$train" ] || { echo "error: install dataset-fashion-mnist (apt) first" >&2; exit 2; }
  cp "$(dirname "$train")"/*-ubyte.gz "$CACHE/fashion-mnist/"
  echo "prepared $CACHE: $(ls "$CACHE/wheels" | wc -l) wheels, Fashion-MNIST"
  exit 0
fi

mkdir -p "$OUT/logs"
STEPS=$OUT/steps.tsv
printf 'step\tstatus\tseconds\tlog\n' > "$STEPS"
FAILED=0
# step NAME COMMAND...: run it with its output in logs/NAME.log and record
# the outcome; exit status 77 means skipped (what it needs is missing here).
step() {
  local name=$1 log=$OUT/logs/$1.log start rc status
  shift
  echo "== $name"
  start=$(date +%s)
  "$@" > "$log" 2>&1
  rc=$?
  case $rc in
    0) status=ok ;;
    77) status=skipped ;;
    *) status=failed; FAILED=1 ;;
  esac
  printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$(( $(date +%s) - start ))" \
    "logs/$name.log" >> "$STEPS"
  tail -n 3 "$log"
  echo "   $name: $status"
}
skip() {  # skip NAME REASON
  echo "$2" > "$OUT/logs/$1.log"
  printf '%s\tskipped\t0\t%s\n' "$1" "logs/$1.log" >> "$STEPS"
  echo "== $1: skipped ($2)"
}

if [ $DRY = 0 ]; then
  [ -d "$CACHE/wheels" ] || { echo "error: $CACHE/wheels missing: run --prepare on a machine with a registry and carry .gpu_check/" >&2; exit 2; }
  step install $PY -m pip install -q --no-index --no-deps --target "$CACHE/site" \
    "$CACHE"/wheels/*.whl
  export PYTHONPATH=$CACHE/site:$ROOT${PYTHONPATH:+:$PYTHONPATH}
  BENCH=(--batch 128 --steps 10 --warmup 3 --amp)
  TRAIN_ITERS=300
  VITB_BATCH=64
  PROBE_BATCH=16
  KNN=(--bank-size 2000 --query-size 500)
  DATA=$CACHE/fashion-mnist
else
  export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
  BENCH=(--batch 2 --steps 1 --warmup 0 --no-memory)
  TRAIN_ITERS=2
  VITB_BATCH=2
  PROBE_BATCH=2
  KNN=(--bank-size 40 --query-size 10 --ks 1 5)
  DATA=
fi
CFG=configs/pretrain/semaim_vitb_800e.py
bench() {  # name, benchmark flags...
  local name=$1; shift
  step "$name" $PY tools/benchmark.py $CFG --device "$DEVICE" "${BENCH[@]}" \
    "$@" --json "$OUT/$name.json"
}
bench vitb224 --path both --mae
bench vitb224_ckpt --path fast --grad-checkpointing
if [ $DRY = 0 ]; then
  bench vitb224_compile --path fast --compile
  bench vitb448 --path both --img-size 448 --batch 32
else
  skip vitb224_compile "--dry-run: compilation takes minutes on a CPU"
  skip vitb448 "--dry-run"
fi
step sdpa $PY tools/analysis_tools/gpu_probes.py sdpa --json "$OUT/sdpa.json"
step precision $PY tools/analysis_tools/gpu_probes.py precision \
  --device "$DEVICE" --batch $PROBE_BATCH --json "$OUT/precision.json"

DATA_OPT=()
[ -n "$DATA" ] && DATA_OPT=(train_dataloader.dataset.data_root=$DATA)
AMP_OPT=()
[ "$DEVICE" = cuda ] && AMP_OPT=(optim_wrapper.type=AmpOptimWrapper
  optim_wrapper.dtype=bfloat16 optim_wrapper.loss_scale=1.0)
train_tiny() {
  local start rc
  start=$(date +%s)
  $PY tools/train.py configs/pretrain/semaim_vit-tiny-p4_fashion-mnist.py \
    --work-dir "$OUT/train" --cfg-options train_cfg.max_iters=$TRAIN_ITERS \
    default_hooks.checkpoint.interval=$TRAIN_ITERS "${DATA_OPT[@]}" \
    "${AMP_OPT[@]}"
  rc=$?
  echo "{\"iters\": $TRAIN_ITERS, \"wall_s\": $(( $(date +%s) - start ))}" \
    > "$OUT/train.json"
  return $rc
}
step train_tiny train_tiny

# The ViT-B config as it trains on GPUs (bf16 AmpOptimWrapper, grad clip 3),
# for two epochs of two batches of Fashion-MNIST resized to 224 px (warm-up
# one epoch, cosine the other), saving each epoch; then resumed from the
# first epoch's checkpoint.
VITB_CFG=$OUT/vitb_fashion.py
{
  echo "_base_ = '$ROOT/$CFG'"
  echo "model = dict(data_preprocessor=dict(mean=[72.94] * 3, std=[90.02] * 3, to_rgb=False))"
  echo "train_dataloader = dict(_delete_=True, batch_size=$VITB_BATCH, num_workers=2,"
  echo "    persistent_workers=True, sampler=dict(type='ResumableSampler', shuffle=True),"
  echo "    collate_fn=dict(type='default_collate'),"
  echo "    dataset=dict(type='FashionMNISTDataset', split='train', indices=2 * $VITB_BATCH,"
  [ -n "$DATA" ] && echo "        data_root='$DATA',"
  echo "        pipeline=[dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.6, 1.0),"
  echo "                       backend='pillow', interpolation='bicubic'),"
  echo "                  dict(type='PackInputs')]))"
  echo "max_epochs = 2"
  echo "train_cfg = dict(max_epochs=2)"
  echo "param_scheduler = ["
  echo "    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),"
  echo "    dict(type='CosineAnnealingLR', T_max=1, by_epoch=True, begin=1, end=2, convert_to_iter_based=True)]"
  echo "default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=2), logger=dict(interval=1))"
} > "$VITB_CFG"
PRECISION=()
[ "$DEVICE" = cuda ] || PRECISION=(--fp32)
vitb() {  # extra train.py args...
  $PY -m torch.distributed.run --nproc_per_node=1 --master_port=29533 \
    tools/train.py "$VITB_CFG" --launcher pytorch --work-dir "$OUT/vitb" \
    "${PRECISION[@]}" "$@"
}
step train_vitb vitb
step resume_vitb vitb --resume "$OUT/vitb/epoch_1.pth"

KNN_DATA=()
[ -n "$DATA" ] && KNN_DATA=(--cfg-options knn.bank_dataset.data_root=$DATA
  knn.query_dataset.data_root=$DATA)
step knn $PY tools/knn_eval.py configs/benchmarks/knn/vit-tiny-p4_knn_fashion-mnist.py \
  "$OUT/train/iter_$TRAIN_ITERS.pth" "${KNN[@]}" --out "$OUT/knn.json" \
  "${KNN_DATA[@]}"

# The GPU profile of the reproduction (configs/reproduce/fashion_mnist_gpu.py)
# for REPRO_SECONDS: its tuning stages in order; each finished stage is a
# cell with its wall time (the throughput the profile's sizing assumes).
# Export them afterwards: tools/reproduce.py configs/reproduce/
# fashion_mnist_gpu.py --work-dir DIR/reproduce_gpu --export-cells NAME.
reproduce_gpu() {
  local rc
  if [ $DRY = 1 ]; then
    $PY tools/reproduce.py configs/reproduce/fashion_mnist_gpu.py --tune \
      --work-dir "$OUT/reproduce_gpu" --dry-run
    return
  fi
  [ -e data/fashion_mnist ] || { mkdir -p data && ln -s "$DATA" data/fashion_mnist; }
  timeout "${REPRO_SECONDS:-180}" $PY tools/reproduce.py \
    configs/reproduce/fashion_mnist_gpu.py --tune \
    --work-dir "$OUT/reproduce_gpu"
  rc=$?
  [ $rc = 124 ] && return 0  # the time slice ended; finished stages stay
  return $rc
}
step reproduce_gpu reproduce_gpu

if ! $PY tools/analysis_tools/gpu_report.py "$OUT" > "$OUT/summary.md" \
    2> "$OUT/logs/report.log"; then
  { echo "## GPU check (gpu_report.py failed: logs/report.log)"; echo
    cat "$STEPS"; } > "$OUT/summary.md"
fi
cat "$OUT/summary.md"
exit $FAILED
