#!/usr/bin/env bash
# Create or refresh the project's virtual environment and install semaim_mm into it.
# Idempotent: a stamp keyed by the hash of every install input makes a second run a no-op.
#   VENV=.venv PYTHON=python3.11 tools/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
BASE_PY=${PYTHON:-python3}
# A prebuilt mmcv wheel beside the checkout (this project's shared folder) is offered to pip.
if [ -d ../shared/wheels ]; then
  SHARED_WHEELS=$(cd ../shared/wheels && pwd)
  case " ${PIP_FIND_LINKS:-} " in
    *" $SHARED_WHEELS "*) ;;
    *) export PIP_FIND_LINKS="$SHARED_WHEELS ${PIP_FIND_LINKS:-}" ;;
  esac
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1

HASH=$(cat setup.py requirements/*.txt tools/install.sh tools/install_mmcv.sh | sha256sum | cut -c1-16)
STAMP="$VENV/.semaim-installed-$HASH"
if [ -f "$STAMP" ] && "$VENV/bin/python" -c 'import semaim_mm' 2>/dev/null; then
  echo "environment $VENV is up to date"; exit 0
fi

[ -x "$VENV/bin/python" ] || "$BASE_PY" -m venv "$VENV"
PY="$(cd "$VENV" && pwd)/bin/python"
"$PY" -m pip install -q -r requirements/runtime.txt
PYTHON="$PY" tools/install_mmcv.sh
"$PY" -m pip install -q -r requirements/mminstall.txt -r requirements/tests.txt
"$PY" -m pip install -q --no-deps -e .

# Fashion-MNIST, the embedded default data, from Debian when we may install packages.
if ! dpkg -s dataset-fashion-mnist >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
   || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1)) \
   || echo "note: could not apt-get dataset-fashion-mnist; see README 'Data'"
fi

rm -f "$VENV"/.semaim-installed-*
touch "$STAMP"
echo "installed semaim_mm into $VENV"
