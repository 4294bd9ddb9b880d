#!/usr/bin/env node
'use strict';
// Checks a built addon (run after every CMake build, and by test/build.test.js):
// 1. every libtorch/libc10 library it resolves comes from the configured libtorch folder;
// 2. no gloo layout or code is compiled into it, so gloo's headers (which pip wheels do not ship,
//    taken from Debian's libgloo-dev then) cannot disagree with the gloo built into libtorch.
//    Gloo objects may appear only as template arguments of std:: smart pointers and containers
//    (whose layout does not depend on the pointee) and in calls to libtorch's own
//    c10d::ProcessGroupGloo entry points.
// Usage: node scripts/check-addon.js ADDON.node LIBTORCH_LIB_DIR [--quiet]
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

function resolvedTorchLibraries(addon) {
  const out = execFileSync('ldd', [addon], { encoding: 'utf8' });
  return out.split('\n').map((l) => /^\s*(lib(?:torch|c10)[^\s]*\.so[^\s]*) => (\S+)/.exec(l)).filter(Boolean)
    .map((m) => ({ name: m[1], file: m[2] }));
}

// Removes template argument lists, so what is left names the entity itself.
function withoutTemplateArguments(name) {
  let out = '';
  let depth = 0;
  for (const c of name) {
    if (c === '<') depth++;
    else if (c === '>') depth = Math.max(0, depth - 1);
    else if (depth === 0) out += c;
  }
  return out;
}

function glooViolations(addon) {
  const out = execFileSync('nm', ['-C', addon], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const mentions = out.split('\n').filter((l) => /gloo/i.test(l)).map((l) => {
    const m = /^(?:[0-9a-f]+)?\s+(\w)\s+(.*)$/.exec(l);
    return m ? { type: m[1], name: m[2] } : null;
  }).filter(Boolean);
  const bad = mentions.filter(({ type, name }) => {
    if (/^(vtable|typeinfo|typeinfo name|VTT|construction vtable) for .*gloo/i.test(name)) return true;
    if (/GlooStore|ProcessGroupGloo::(AsyncWork|Send|Recv)/.test(name) && type !== 'U') return true;
    return /(^|[^\w])gloo::/.test(withoutTemplateArguments(name));
  });
  return { mentions: mentions.length, bad };
}

function check(addon, libDir) {
  const problems = [];
  const libs = resolvedTorchLibraries(addon);
  const want = fs.realpathSync(libDir);
  for (const { name, file } of libs) {
    if (file === 'not' || !fs.existsSync(file)) problems.push(`${name} is not found`);
    else if (fs.realpathSync(path.dirname(file)) !== want) problems.push(`${name} resolves to ${file}, not to ${libDir}`);
  }
  if (!libs.some((l) => l.name.startsWith('libtorch_cpu'))) problems.push('libtorch_cpu is not among the libraries it loads');
  const gloo = glooViolations(addon);
  for (const v of gloo.bad.slice(0, 10)) problems.push(`gloo code or layout compiled in: ${v.type} ${v.name}`);
  return { libs, glooMentions: gloo.mentions, problems };
}

module.exports = { check };

if (require.main === module) {
  const [addon, libDir] = process.argv.slice(2);
  if (!addon || !libDir) {
    process.stderr.write('usage: check-addon.js ADDON.node LIBTORCH_LIB_DIR\n');
    process.exit(2);
  }
  const r = check(addon, libDir);
  if (r.problems.length) {
    process.stderr.write(`check-addon: ${addon}:\n${r.problems.map((p) => `  - ${p}`).join('\n')}\n`);
    process.exit(1);
  }
  if (!process.argv.includes('--quiet')) {
    process.stdout.write(`check-addon: ${r.libs.map((l) => l.name).join(', ')} all from ${libDir}; ` +
      `${r.glooMentions} symbols mention gloo, none with gloo code or layout\n`);
  }
}
