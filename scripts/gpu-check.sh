#!/usr/bin/env bash
# The whole GPU verification in one call, for a lent GPU machine that has CUDA, cmake, ninja and a
# Python PyTorch with CUDA, but no Node and no network (see README, "CUDA").
#
#   bash scripts/gpu-check.sh --pack   # here: puts node, the runtime npm packages and the N-API
#                                      # headers in .gpu-pack/ (about 35 MB), builds dist/
#   bash scripts/gpu-check.sh          # there (with .gpu-pack and dist carried): builds the addon
#                                      # against that PyTorch, runs test/cuda.test.js and bench/gpu.js
#
# Logs and results-gpu.json go to $OUT (default ./gpu-check-out). Without a GPU the same script
# runs as a dry run: the CPU build, the CUDA tests skipping with their reason, and a quick CPU bench.
set -uo pipefail
cd "$(dirname "$0")/.."
PACK=.gpu-pack

if [ "${1:-}" = "--pack" ]; then
  set -e
  rm -rf "$PACK" && mkdir -p "$PACK/node-include"
  echo "gpu-check: compressing $(command -v node) ($(node --version))"
  xz -T0 -6 -c "$(command -v node)" > "$PACK/node.xz"
  # An N-API addon needs only these headers from Node.
  inc="$(dirname "$(dirname "$(command -v node)")")/include/node"
  cp "$inc"/node_api.h "$inc"/node_api_types.h "$inc"/js_native_api.h "$inc"/js_native_api_types.h "$PACK/node-include/"
  npm ls --omit=dev --parseable --all 2>/dev/null | sed "s#^$PWD/##" | grep '^node_modules/' | sort -u > "$PACK/runtime-modules.txt"
  tar -cJf "$PACK/node_modules.tar.xz" -T "$PACK/runtime-modules.txt"
  npm run build:ts >/dev/null
  du -sh "$PACK" dist
  echo 'gpu-check: ready. Run on the GPU machine with carry [".gpu-pack", "dist"]: bash scripts/gpu-check.sh'
  exit 0
fi

OUT="${OUT:-$PWD/gpu-check-out}"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu-check.log") 2>&1
status=0
step() { echo; echo "=== gpu-check: $* ($(date -u +%H:%M:%S))"; }
fail() { echo "gpu-check: FAILED: $*"; status=1; }

step "environment"
if ! command -v node >/dev/null; then
  [ -f "$PACK/node.xz" ] || { echo "gpu-check: no node and no $PACK/node.xz: run 'bash scripts/gpu-check.sh --pack' here and carry $PACK"; exit 2; }
  mkdir -p /tmp/tb-node/bin && xz -dc "$PACK/node.xz" > /tmp/tb-node/bin/node && chmod +x /tmp/tb-node/bin/node
  export PATH="/tmp/tb-node/bin:$PATH"
fi
[ -d node_modules/node-addon-api ] || tar -xJf "$PACK/node_modules.tar.xz"
[ -f dist/index.js ] || { echo "gpu-check: dist/ is missing: carry it (built by --pack)"; exit 2; }
[ -d /usr/local/cuda/bin ] && export PATH="/usr/local/cuda/bin:$PATH" CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
GPU=no
if nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then GPU=yes; fi
echo "node $(node --version); nproc $(nproc); GPU: $GPU"
nvidia-smi -L 2>/dev/null
PY="$(command -v python3)"
"$PY" -c 'import torch; print("python", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' || PY=/usr/bin/python3
# The same PyTorch is the libtorch the addon links (find-libtorch.js) and the parity reference.
export TORCHBRIDGE_PYTHON="$PY" PYTHON="$PY"

step "build the addon (cmake + ninja) against the Python PyTorch"
# What cmake-js would pass, without needing cmake-js: Node's N-API headers and the output folder
# node-gyp-build loads from.
inc="$PWD/$PACK/node-include"
[ -f "$inc/node_api.h" ] || inc="$(dirname "$(dirname "$(command -v node)")")/include/node"
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
rm -rf build
if timeout 420 cmake -S . -B build "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_JS_INC="$inc" \
     -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$PWD/build/Release" > "$OUT/build.log" 2>&1 &&
   timeout 420 cmake --build build -j "$(nproc)" >> "$OUT/build.log" 2>&1; then
  grep -E 'torchbridge: libtorch|check-addon' "$OUT/build.log"
  node -e "const t = require('.'); console.log('addon loads:', JSON.stringify(t.buildInfo()), 'cuda.isAvailable():', t.cuda.isAvailable(), 'devices:', t.cuda.deviceCount())" || fail "the built addon does not load"
else
  tail -n 40 "$OUT/build.log"
  fail "build (see build.log)"
  exit 1
fi

step "CUDA tests"
[ "$GPU" = yes ] && export TORCHBRIDGE_REQUIRE_CUDA=1
export TORCHBRIDGE_RESULTS="$OUT/cuda-results.jsonl"
rm -f "$TORCHBRIDGE_RESULTS"
timeout 300 node --test --test-concurrency=1 test/cuda.test.js > "$OUT/tests.log" 2>&1 || fail "CUDA tests (see tests.log)"
grep -E '^(not )?ok|^# (pass|fail|skipped)|max\|diff\||with [0-9]+ GiB held' "$OUT/tests.log"

step "GPU bench against PyTorch on the same device"
if [ "$GPU" = yes ]; then
  timeout 300 node bench/gpu.js --python "$PY" --out "$OUT/results-gpu.json" 2> "$OUT/bench.log" || fail "bench (see bench.log)"
else
  timeout 300 node bench/gpu.js --python "$PY" --device cpu --quick --out "$OUT/results-gpu.json" 2> "$OUT/bench.log" || fail "bench (see bench.log)"
fi

step "done: $([ $status = 0 ] && echo PASS || echo FAIL); files in $OUT"
exit $status
