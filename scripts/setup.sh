#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a built, testable torchbridge: system packages,
# PyTorch 2.x from pip in the project's .venv, npm packages, the native addon and the TypeScript
# build. Idempotent: each step is skipped or incremental when its work is already done.
#
# Which libtorch (TORCHBRIDGE_TORCH):
#   cpu      (default) pip's CPU wheel of PyTorch 2.x in .venv
#   cu126, cu128, cu130, ...  pip's CUDA wheel from PyTorch's index for that CUDA version
#   system   Debian's libtorch-dev 1.13 (no .venv)
# TORCHBRIDGE_PIP_ARGS adds pip arguments (a version pin such as 'torch==2.13.0', --no-deps, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
choice="${TORCHBRIDGE_TORCH:-cpu}"
case "$choice" in
  cpu|system|cu[0-9]*) ;;
  *) echo "setup: TORCHBRIDGE_TORCH must be cpu, system or a CUDA tag such as cu130; got '$choice'" >&2; exit 2 ;;
esac

# libtorch-dev + libgloo-dev: Debian's libtorch 1.13 (the second supported libtorch, and the test
# suite's 1.13 lane) and the gloo headers c10d's Gloo backend is declared with; libopenblas0-openmp:
# fast BLAS for 1.13's Linear; python3-torch/-torchvision: the 1.13 parity reference and the
# torchvision + PIL reference for images; python3-venv: the .venv for pip's PyTorch.
packages=(libtorch-dev libopenblas0-openmp libgloo-dev python3-torch python3-torchvision python3-venv python3-pip cmake g++ make clang-format)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: Debian packages present"
fi

if [ "$choice" != system ]; then
  # The wheel is the libtorch we build against (find-libtorch.js looks at .venv first).
  index="https://download.pytorch.org/whl/$choice"
  wanted="$choice ${TORCHBRIDGE_PIP_ARGS:-}"
  [ -x .venv/bin/python ] || /usr/bin/python3 -m venv .venv
  if [ "$(cat .venv/torchbridge-wheel 2>/dev/null)" = "$wanted" ] && .venv/bin/python -c 'import torch, numpy' 2>/dev/null; then
    echo "setup: pip PyTorch present in .venv"
  else
    echo "setup: installing PyTorch ($choice wheel, $index) and numpy into .venv with pip"
    # shellcheck disable=SC2086  # TORCHBRIDGE_PIP_ARGS is a list of arguments
    .venv/bin/pip install --disable-pip-version-check --progress-bar off --index-url "$index" torch numpy ${TORCHBRIDGE_PIP_ARGS:-}
    echo "$wanted" > .venv/torchbridge-wheel
  fi
  echo "setup: $(.venv/bin/python -c 'import torch; print("PyTorch", torch.__version__, "(CUDA", torch.version.cuda, ") at", torch.__path__[0])')"
fi

# npm would otherwise run node-gyp on binding.gyp by itself; the builds below do it on purpose.
if [ ! -d node_modules ] || [ package.json -nt node_modules/.package-lock.json ] || \
   { [ -f package-lock.json ] && [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
  echo "setup: installing npm packages"
  TORCHBRIDGE_SKIP_BUILD=1 npm install --no-audit --no-fund
else
  echo "setup: npm packages present"
fi

echo "setup: building the native addon: $(TORCHBRIDGE_TORCH=$choice node scripts/find-libtorch.js --describe)"
TORCHBRIDGE_TORCH=$choice npm run --silent build:native
if [ "$choice" != system ]; then
  echo "setup: building the libtorch 1.13 lane's addon with node-gyp (npm test runs the parity tests on both)"
  bash scripts/build-lane.sh
fi
echo "setup: building TypeScript"
npm run --silent build:ts
node -e "const t = require('./dist'); const b = t.buildInfo(); console.log('setup: ready - libtorch ' + b.torchVersion + ' from ' + b.libraryPath + ', threads ' + t.getNumThreads() + ', CUDA ' + (t.cuda.isAvailable() ? 'yes (' + t.cuda.deviceCount() + ' devices)' : 'no'))"
