#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a built, testable torchbridge:
# system packages, npm packages, the native addon and the TypeScript build. Idempotent: each
# step is skipped or incremental when its work is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

# libtorch-dev: headers and libs; libopenblas0-openmp: fast BLAS for Linear (the reference BLAS is
# ~1.7x slower); libgloo-dev: the headers of c10d's Gloo backend (torchbridge.dist);
# python3-torch/-torchvision: the parity reference used by the tests (and torchrun).
packages=(libtorch-dev libopenblas0-openmp libgloo-dev python3-torch python3-torchvision cmake g++ make)
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

if [ ! -d node_modules ] || [ package.json -nt node_modules/.package-lock.json ] || \
   { [ -f package-lock.json ] && [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
  echo "setup: installing npm packages"
  npm install --no-audit --no-fund
else
  echo "setup: npm packages present"
fi

echo "setup: building the native addon"
npm run --silent build:native
echo "setup: building TypeScript"
npm run --silent build:ts
node -e "const t = require('./dist'); const b = t.buildInfo(); console.log('setup: ready - libtorch ' + b.torchVersion + ', threads ' + t.getNumThreads() + ', CUDA ' + (t.cuda.isAvailable() ? 'yes (' + t.cuda.deviceCount() + ' devices)' : 'no'))"
