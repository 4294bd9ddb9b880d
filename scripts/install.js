#!/usr/bin/env node
'use strict';
// npm's install step for torchbridge: builds the addon with node-gyp against the libtorch that
// scripts/find-libtorch.js finds, unless a build is already there. One short message when no
// libtorch is found. TORCHBRIDGE_SKIP_BUILD=1 skips it (npm run setup builds on its own).
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.join(__dirname, '..');
if (process.env.TORCHBRIDGE_SKIP_BUILD) process.exit(0);
if (fs.existsSync(path.join(ROOT, 'build', 'Release', 'torchbridge.node'))) process.exit(0);

const { find } = require('./find-libtorch');
let found;
try {
  found = find();
} catch (e) {
  process.stderr.write(`${e.message}\nThen run: npm rebuild torchbridge\n`);
  process.exit(1);
}
process.stdout.write(`torchbridge: building the native addon against libtorch ${found.version} at ${found.prefix} (found via ${found.via}); this takes a few minutes\n`);
const gyp = process.env.npm_config_node_gyp || require.resolve('node-gyp/bin/node-gyp.js');
const r = spawnSync(process.execPath, [gyp, 'rebuild', `--jobs=${require('os').cpus().length}`], { cwd: ROOT, stdio: 'inherit' });
process.exit(r.status === null ? 1 : r.status);
