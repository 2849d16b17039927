#!/usr/bin/env bash
# Install mmcv 2.1.0 *with compiled ops* into the active Python environment.
#
# 1. A prebuilt wheel offered through pip's standard PIP_FIND_LINKS / --find-links
#    (or already in the local wheel cache) is used as is, if its ops run.
# 2. Otherwise the sdist is built here. mmcv 2.1.0's setup.py asks for -std=c++14/17,
#    but torch >= 2.13 headers require C++20, so the flag is rewritten before building.
#    The wheel lands in the cache so the next install reuses it (~11 min on 2 cores).
#
# CUDA ops are built when torch has CUDA (a GPU present, or FORCE_CUDA=1) and nvcc
# is found (PATH or CUDA_HOME); TORCH_CUDA_ARCH_LIST (e.g. "8.0;9.0") picks the
# architectures. The cache is keyed by torch version and CUDA version
# (torch-<version>-cu<cuda> or torch-<version>-cpu), and on a GPU machine the ops
# check runs nms / roi_align on CUDA tensors, so a CPU-only wheel never passes there.
#
# tools/install_mmcv.sh --print-cache-dir prints the cache folder and exits.
set -euo pipefail
PY=$(command -v "${PYTHON:-python}")
CACHE=${MMCV_WHEEL_CACHE:-$HOME/.cache/semaim_mm/wheels}
VERSION=2.1.0

# "<torch version> <cuda tag> <gpu>": cu<version> when the CUDA ops can be built
# (CUDA torch, a GPU or FORCE_CUDA=1, and nvcc), cpu otherwise; gpu is 1 when
# torch sees a GPU.
BUILD=$(FORCE_CUDA=${FORCE_CUDA:-0} "$PY" - <<'PY'
import os, shutil
import torch
version = torch.__version__.split('+')[0]
gpu = torch.cuda.is_available()
home = os.environ.get('CUDA_HOME') or os.environ.get('CUDA_PATH') or ''
nvcc = shutil.which('nvcc') or (
    home and os.access(os.path.join(home, 'bin', 'nvcc'), os.X_OK))
cuda = torch.version.cuda
tag = ('cu' + cuda.replace('.', '')
       if cuda and nvcc and (gpu or os.environ['FORCE_CUDA'] == '1')
       else 'cpu')
print(version, tag, int(gpu))
PY
)
read -r TORCH CUDA_TAG GPU <<<"$BUILD"
CACHE_T="$CACHE/torch-$TORCH-$CUDA_TAG"
if [[ "$GPU" == 1 && "$CUDA_TAG" == cpu ]]; then
  echo "warning: torch sees a GPU but nvcc is not on PATH or in CUDA_HOME: mmcv's" \
       "ops are built for the CPU only, and detection refuses to run on the GPU;" \
       "install the CUDA toolkit matching torch's CUDA and rerun this script" >&2
fi
if [[ "${1:-}" == --print-cache-dir ]]; then echo "$CACHE_T"; exit 0; fi
mkdir -p "$CACHE_T"

# The CUDA check only where CUDA ops are wanted and a GPU can run them.
CHECK_CUDA=$([[ "$GPU" == 1 && "$CUDA_TAG" != cpu ]] && echo 1 || echo 0)
ops_ok() {
  CHECK_CUDA=$CHECK_CUDA "$PY" - <<'PY' 2>/dev/null
import os
import mmcv, torch
from mmcv.ops import nms, roi_align
assert mmcv.__version__ == "2.1.0", mmcv.__version__
devices = ['cpu'] + (['cuda'] if os.environ['CHECK_CUDA'] == '1' else [])
for d in devices:
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.]], device=d)
    nms(boxes, torch.tensor([0.9, 0.8], device=d), 0.5)
    roi_align(torch.rand(1, 1, 8, 8, device=d),
              torch.tensor([[0., 0., 0., 4., 4.]], device=d), (2, 2), 1.0, 0)
PY
}

if ops_ok; then echo "mmcv $VERSION with ops already installed"; exit 0; fi

# The cache joins whatever PIP_FIND_LINKS already offers (pip takes a space-separated list).
if PIP_FIND_LINKS="$CACHE_T ${PIP_FIND_LINKS:-}" \
   "$PY" -m pip install --no-deps --only-binary=:all: "mmcv==$VERSION" \
   && ops_ok; then
  echo "mmcv $VERSION installed from a prebuilt wheel"; exit 0
fi
"$PY" -m pip uninstall -y mmcv >/dev/null 2>&1 || true

echo "No usable mmcv $VERSION wheel; building it from the sdist (about 11 minutes on 2 cores)..."
"$PY" -m pip install -r "$(dirname "$0")/../requirements/build.txt"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$PY" -m pip download --no-deps --no-binary :all: -d "$WORK" "mmcv==$VERSION"
tar -xzf "$WORK"/mmcv-$VERSION.tar.gz -C "$WORK"
sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' "$WORK/mmcv-$VERSION/setup.py"
# mmcv's setup.py builds CUDA ops whenever torch sees a GPU: hide it for a CPU build.
if [[ "$CUDA_TAG" == cpu ]]; then TARGET=(FORCE_CUDA=0 CUDA_VISIBLE_DEVICES=)
else TARGET=(FORCE_CUDA=1); fi
(cd "$WORK/mmcv-$VERSION" && env "${TARGET[@]}" \
  MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
  CFLAGS="-g0 -O2" CXXFLAGS="-g0 -O2" \
  "$PY" -m pip wheel --no-deps --no-build-isolation -w "$CACHE_T" .)
"$PY" -m pip install --no-deps "$CACHE_T"/mmcv-$VERSION-*.whl
ops_ok || { echo "mmcv $VERSION built but its ops do not run" >&2; exit 1; }
echo "mmcv $VERSION built and installed; wheel cached in $CACHE_T"
