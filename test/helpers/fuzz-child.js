'use strict';
// Loads each file listed (one a line) in argv[2] and reports, synchronously so that a crash cannot
// lose it, a line per file before and after: how the load ended.
const fs = require('fs');
const { io, Tensor, TorchError } = require('torchbridge');

const report = (o) => fs.writeSync(1, `${JSON.stringify(o)}\n`);

const DATA_CLASSES = [Object.prototype, null, Array.prototype, Map.prototype, Set.prototype, Buffer.prototype, Tensor.prototype];

/** Disposes the tensors in a loaded value; returns what in it is not plain data, if anything. */
function disposeAndCheck(root) {
  const seen = new Set();
  const stack = [root];
  let problem = null;
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'function') problem ??= `a function came out: ${v.name}`;
    if (!v || typeof v !== 'object' || Buffer.isBuffer(v) || seen.has(v)) continue;
    seen.add(v); // one tensor or container may be referenced many times
    if (v instanceof Tensor) {
      if (!v.shape.every(Number.isSafeInteger)) problem ??= `a tensor of shape [${v.shape}]`;
      v.dispose();
    } else {
      const proto = Object.getPrototypeOf(v);
      if (!DATA_CLASSES.includes(proto) && !(Array.isArray(v) && Object.getPrototypeOf(proto) === Array.prototype)) {
        problem ??= `an object of class ${proto?.constructor?.name} came out`;
      }
      for (const x of v instanceof Map ? [...v.keys(), ...v.values()] : v instanceof Set ? v : Object.values(v)) stack.push(x);
      if (io.pythonState.has(v)) stack.push(io.pythonState.get(v)); // BUILD state is data too
    }
  }
  return problem;
}

(async () => {
  const files = fs.readFileSync(process.argv[2], 'utf8').split('\n').filter(Boolean);
  for (const [i, file] of files.entries()) {
    report({ i, started: true });
    try {
      const problem = disposeAndCheck(await io.load(file));
      report(problem ? { i, outcome: 'malformed', message: problem } : { i, outcome: 'loaded' });
    } catch (e) {
      if (e instanceof TorchError) report({ i, outcome: 'TorchError', code: e.code, namesFile: e.message.includes(file), message: e.message.slice(0, 300) });
      else report({ i, outcome: 'other', message: `${e?.name}: ${e?.message}`.slice(0, 300), stack: String(e?.stack).slice(0, 1500) });
    }
  }
})();
