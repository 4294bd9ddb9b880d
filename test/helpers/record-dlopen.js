'use strict';
// Preloaded with `node -r`: reports on stderr, at exit, the native addons the process loaded
// (libtorch comes with torchbridge.node, libvips with sharp's).
const loaded = [];
const dlopen = process.dlopen;
process.dlopen = function recordDlopen(module, filename, ...rest) {
  loaded.push(filename);
  return dlopen.call(this, module, filename, ...rest);
};
process.on('exit', () => process.stderr.write(`\ndlopen: ${JSON.stringify(loaded)}\n`));
