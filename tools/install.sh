#!/usr/bin/env bash
# Install everything mmdoei needs into the current Python, idempotently.
#
# mmcv 2.1.0 ships only as an sdist on PyPI and its setup.py hard-codes
# -std=c++17/14, while torch 2.14's headers need C++20; so we build it once with
# the flag patched and cache the wheel under ~/.cache/mmdoei (outside the repo)
# so later runs on the same machine reuse it (about 13 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
CACHE=${MMDOEI_CACHE:-$HOME/.cache/mmdoei}
WHEELS="$CACHE/wheels"
mkdir -p "$WHEELS"
pipq() { "$PY" -m pip install --disable-pip-version-check -q "$@"; }
# Each step prints its seconds, so a slow install says which step was slow (README: what the minutes are).
took() { echo "[install] $1: $((SECONDS - STEP_START)) s"; STEP_START=$SECONDS; }
STEP_START=$SECONDS

have() { "$PY" - "$@" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
for spec in sys.argv[1:]:
    name, want = spec.split("==")
    if version(name) != want:
        sys.exit(1)
PYEOF
}

if ! have torch==2.14.1 torchvision==0.29.1; then
  echo "[install] torch 2.14.1 + torchvision 0.29.1"
  pipq torch==2.14.1 torchvision==0.29.1
fi
took "torch"

if ! "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'" 2>/dev/null; then
  whl=$(ls "$WHEELS"/mmcv-2.1.0-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$whl" ]; then
    echo "[install] building mmcv 2.1.0 with ops (about 13 minutes on 2 cores; cached in $WHEELS)"
    pipq "setuptools<81" wheel ninja
    build=$(mktemp -d)
    "$PY" -m pip download --disable-pip-version-check -q --no-deps --no-binary :all: mmcv==2.1.0 -d "$build"
    tar -xzf "$build"/mmcv-2.1.0.tar.gz -C "$build"
    # torch >= 2.6 headers refuse anything older than C++20.
    sed -i -e 's/-std=c++17/-std=c++20/g' -e 's/-std=c++14/-std=c++20/g' "$build"/mmcv-2.1.0/setup.py
    (cd "$build"/mmcv-2.1.0 && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-2} \
      "$PY" -m pip wheel --disable-pip-version-check -q --no-build-isolation --no-deps . -w "$build/dist")
    # Rename into place so an interrupted build never leaves a half wheel in the cache.
    built=$(ls "$build"/dist/mmcv-2.1.0-*.whl)
    cp "$built" "$WHEELS/.tmp-$(basename "$built")"
    mv "$WHEELS/.tmp-$(basename "$built")" "$WHEELS/$(basename "$built")"
    rm -rf "$build"
    whl="$WHEELS/$(basename "$built")"
  fi
  echo "[install] mmcv from $whl"
  pipq "setuptools<81" "$whl"
fi
took "mmcv"

pipq -r requirements/pinned.txt
took "requirements/pinned.txt"
if ! "$PY" -c "import pydensecrf.densecrf" 2>/dev/null; then
  echo "[install] pydensecrf2 (builds from source, about a minute)"
  pipq "setuptools<81" wheel cython
  pipq --no-build-isolation pydensecrf2==1.1 || echo "[install] warning: pydensecrf2 failed to build; CRF steps will be unavailable"
fi
took "pydensecrf2"
pipq --no-deps --no-build-isolation -e .
took "mmdoei (editable)"

# Slurm and munge for the Slurm tests (tests/test_engine/test_multinode.py start a one-node
# cluster of their own), and labelme-examples (three real PASCAL VOC photos with VOC/COCO
# annotations) for tests/test_datasets/test_real_photos.py. System packages, not Python ones,
# so only in CI (CI=true) or when asked (MMDOEI_INSTALL_SLURM=1), only if missing, and only
# as root with apt-get.
slurm_missing() {
  local b
  for b in munged slurmctld slurmd srun sinfo scontrol; do
    PATH="$PATH:/usr/sbin:/sbin" command -v "$b" >/dev/null || return 0
  done
  return 1
}
labelme_missing() { [ ! -d /usr/share/doc/labelme-examples/examples ]; }
# chromium: headless, for tests/test_visualization/test_compare_cams.py (opens the comparison report).
chromium_missing() { ! command -v chromium >/dev/null; }
if { [ "${CI:-}" = "true" ] || [ "${MMDOEI_INSTALL_SLURM:-0}" = "1" ]; } && { slurm_missing || labelme_missing || chromium_missing; }; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[install] Slurm + munge + labelme-examples + chromium (apt-get) for the Slurm, real-photo and report tests"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      slurmctld slurmd slurm-client munge labelme-examples chromium >/dev/null
  else
    echo "[install] warning: the Slurm tests need slurmctld, slurmd, slurm-client and munge, the real-photo" \
      "test labelme-examples, the report test chromium; install them as root (apt-get install slurmctld" \
      "slurmd slurm-client munge labelme-examples chromium)"
  fi
fi
took "system packages"
echo "[install] ok in ${SECONDS} s: $("$PY" -c 'import torch, mmcv, mmengine, mmpretrain, mmseg; print("torch", torch.__version__, "mmcv", mmcv.__version__, "mmengine", mmengine.__version__, "mmpretrain", mmpretrain.__version__, "mmseg", mmseg.__version__)')"
