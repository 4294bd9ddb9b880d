#!/usr/bin/env bash
# The CUDA compile check (npm run check:cuda-build): builds the addon against a CUDA wheel of
# PyTorch, without a GPU, so GPU time is never spent on compile errors. It
#   - installs the CUDA wheel's headers and libraries into .venv-cuda (pip --no-deps: compiling
#     and linking need only torch itself, not the CUDA runtime wheels);
#   - compiles every source with that libtorch's CUDA configuration and C++ standard, the
#     version-dependent branches of native/compat.h included (their probes must pass);
#   - links libtorch_cuda and proves the result needs it (readelf NEEDED);
#   - says what only a GPU can check (scripts/gpu-check.sh).
# TORCHBRIDGE_CUDA_TAG picks the wheel (default cu130); TORCHBRIDGE_CUDA_PIP_ARGS adds pip arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${TORCHBRIDGE_CUDA_TAG:-cu130}"
venv=.venv-cuda
out=build-cuda

[ -x $venv/bin/python ] || /usr/bin/python3 -m venv $venv
if ! [ -f "$(find $venv/lib -path '*/torch/lib/libtorch_cuda.so' 2>/dev/null | head -1)" ]; then
  echo "check:cuda-build: installing PyTorch's $tag wheel into $venv (pip --no-deps)"
  # shellcheck disable=SC2086
  $venv/bin/pip install --disable-pip-version-check --progress-bar off --no-deps \
    --index-url "https://download.pytorch.org/whl/$tag" torch ${TORCHBRIDGE_CUDA_PIP_ARGS:-}
fi
prefix="$(find "$PWD/$venv/lib" -maxdepth 4 -path '*/site-packages/torch' -type d | head -1)"
[ -f "$prefix/lib/libtorch_cuda.so" ] || { echo "check:cuda-build: the wheel in $venv has no libtorch_cuda.so: not a CUDA build" >&2; exit 1; }
export LIBTORCH="$prefix"
echo "check:cuda-build: $(node scripts/find-libtorch.js --describe)"
features="$(node scripts/find-libtorch.js --features)"
echo "check:cuda-build: version-dependent APIs compiled: ${features:-none}"
for want in TB_AUTOCAST_PER_DEVICE_TYPE TB_HAVE_ACCELERATOR_SYNC TB_HAVE_ACCELERATOR_MEMORY; do
  case " $features " in *" -D$want "*) ;; *) echo "check:cuda-build: the probe $want failed against this 2.x libtorch: compat.h would compile its 1.13 branch" >&2; exit 1 ;; esac
done

# Node's own headers where installed (as npm passes them to cmake-js), else cmake-js downloads them.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node_api.h ]; then export npm_config_nodedir=/usr; fi
started=$(date +%s)
node node_modules/cmake-js/bin/cmake-js compile --directory . --out "$out" > "$out.log" 2>&1 || { tail -n 60 "$out.log"; echo "check:cuda-build: FAILED to build (log: $out.log)" >&2; exit 1; }
addon="$out/Release/torchbridge.node"
echo "check:cuda-build: built $addon in $(( $(date +%s) - started )) s"
needed="$(readelf -d "$addon" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')"
echo "check:cuda-build: NEEDED: $needed"
case " $needed " in *" libtorch_cuda.so "*) ;; *) echo "check:cuda-build: the addon does not need libtorch_cuda.so: CUDA would report unavailable" >&2; exit 1 ;; esac
rpath="$(readelf -d "$addon" | sed -n 's/.*(RPATH).*\[\(.*\)\]/\1/p')"
echo "check:cuda-build: RPATH: $rpath"
[ "$rpath" = "$prefix/lib" ] || { echo "check:cuda-build: RPATH is not $prefix/lib" >&2; exit 1; }
# GradScaler's CUDA path dispatches to these kernels of libtorch_cuda.
symbols="$(nm -D --defined-only "$prefix/lib/libtorch_cuda.so")"
for kernel in _amp_foreach_non_finite_check_and_unscale_cuda_ _amp_update_scale_cuda_; do
  grep -q "$kernel" <<< "$symbols" && echo "check:cuda-build: libtorch_cuda defines $kernel (GradScaler on CUDA)" \
    || { echo "check:cuda-build: libtorch_cuda lacks $kernel" >&2; exit 1; }
done
cat <<MSG
check:cuda-build: PASS. Not checked without a GPU: loading with the CUDA runtime wheels (cudart,
  cuBLAS, cuDNN), every CUDA op and kernel launch, the accelerator allocator calls' results,
  AMP/GradScaler numbers on CUDA, pinned-memory copies. scripts/gpu-check.sh runs those on a GPU.
  NCCL: torchbridge.dist has the Gloo backend only; there is no NCCL code to compile yet.
MSG
