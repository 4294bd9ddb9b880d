#!/usr/bin/env bash
# Builds the addon against Debian's libtorch 1.13 with node-gyp (binding.gyp, the path a user's
# `npm install` takes) into .lanes/libtorch-1.13/build/Release, beside the main build. npm test
# runs the parity and checkpoint tests on it too (TORCHBRIDGE_ADDON, see test/lane-1.13.test.js).
set -euo pipefail
cd "$(dirname "$0")/.."
lane=.lanes/libtorch-1.13
mkdir -p "$lane"
# -u keeps unchanged sources' times, so make rebuilds only what changed.
cp -a -u binding.gyp package.json native scripts "$lane"/
[ -e "$lane/node_modules" ] || ln -s ../../node_modules "$lane/node_modules"
args=()
nodedir="${npm_config_nodedir:-}"
[ -z "$nodedir" ] && [ -f /usr/include/node/node_api.h ] && nodedir=/usr
[ -n "$nodedir" ] && args+=("--nodedir=$nodedir")
gyp=(node "$PWD/node_modules/node-gyp/bin/node-gyp.js")
cd "$lane"
export TORCHBRIDGE_TORCH=system
[ -f build/Makefile ] || "${gyp[@]}" configure "${args[@]}"
"${gyp[@]}" build --jobs="$(nproc)" "${args[@]}" | grep -v '^gyp info' || true
[ -f build/Release/torchbridge.node ] || { echo "build-lane: node-gyp did not produce the addon" >&2; exit 1; }
node ../../scripts/check-addon.js build/Release/torchbridge.node "$(node scripts/find-libtorch.js --lib-dir)"
