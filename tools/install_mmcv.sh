#!/usr/bin/env bash
# Install mmcv 2.1.0 *with compiled ops* into the active Python environment.
#
# 1. A prebuilt wheel offered through pip's standard PIP_FIND_LINKS / --find-links
#    (or already in the local wheel cache) is used as is.
# 2. Otherwise the sdist is built here. mmcv 2.1.0's setup.py asks for -std=c++14/17,
#    but torch >= 2.13 headers require C++20, so the flag is rewritten before building.
#    The wheel lands in the cache so the next install reuses it (~11 min on 2 cores).
#
# GPU users: run with FORCE_CUDA=1 (and TORCH_CUDA_ARCH_LIST, e.g. "8.0;9.0") on a
# machine with nvcc to build the CUDA ops the same way.
set -euo pipefail
PY=$(command -v "${PYTHON:-python}")
CACHE=${MMCV_WHEEL_CACHE:-$HOME/.cache/semaim_mm/wheels}
VERSION=2.1.0
mkdir -p "$CACHE"

ops_ok() {
  "$PY" - <<'PY' 2>/dev/null
import mmcv, torch
from mmcv.ops import nms, roi_align
assert mmcv.__version__ == "2.1.0", mmcv.__version__
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.]])
nms(boxes, torch.tensor([0.9, 0.8]), 0.5)
roi_align(torch.rand(1, 1, 8, 8), torch.tensor([[0., 0., 0., 4., 4.]]), (2, 2), 1.0, 0)
PY
}

if ops_ok; then echo "mmcv $VERSION with ops already installed"; exit 0; fi

# The wheel is tied to the torch it was built against: key the cache by it.
TORCH=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')
CACHE_T="$CACHE/torch-$TORCH"; mkdir -p "$CACHE_T"

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
(cd "$WORK/mmcv-$VERSION" && \
  MMCV_WITH_OPS=1 FORCE_CUDA=${FORCE_CUDA:-0} MAX_JOBS=${MAX_JOBS:-$(nproc)} \
  CFLAGS="-g0 -O2" CXXFLAGS="-g0 -O2" \
  "$PY" -m pip wheel --no-deps --no-build-isolation -w "$CACHE_T" .)
"$PY" -m pip install --no-deps "$CACHE_T"/mmcv-$VERSION-*.whl
ops_ok || { echo "mmcv $VERSION built but its ops do not run" >&2; exit 1; }
echo "mmcv $VERSION built and installed; wheel cached in $CACHE_T"
