'use strict';
// Runs the README's examples exactly as written (type-checked, then transpiled) and compares their
// output with what the README says they print.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const ts = require('typescript');
const { execFileSync } = require('child_process');
const { tmpDir } = require('./helpers/reference');

const README = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');

/** Type-checks a TS block against dist/index.d.ts, runs it, and returns its stdout lines. */
function runBlock(source, name) {
  const dir = tmpDir(name);
  const file = path.join(dir, 'example.ts');
  fs.writeFileSync(file, source);
  const program = ts.createProgram([file], {
    strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, types: ['node'],
    typeRoots: [path.join(__dirname, '..', 'node_modules', '@types')],
    baseUrl: dir, paths: { torchbridge: [path.join(__dirname, '..', 'dist', 'index.d.ts')] },
  });
  const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  assert.deepEqual(diagnostics, []);
  const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } }).outputText;
  const jsFile = path.join(__dirname, '.tmp', `${name}-${process.pid}.js`);
  fs.writeFileSync(jsFile, js);
  try {
    return execFileSync(process.execPath, [jsFile], { encoding: 'utf8', env: { ...process.env } }).trim().split('\n');
  } finally {
    fs.rmSync(jsFile);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('the README seed-loop example type-checks, runs and prints what the README says', { timeout: 300000 }, () => {
  const block = /<!-- readme-example:start -->\n```ts\n([\s\S]*?)```\n<!-- readme-example:end -->/.exec(README);
  assert.ok(block, 'README has the marked example');
  const printed = /It prints[^\n]*\n\n```\n([\s\S]*?)```/.exec(README);
  assert.ok(printed, 'README says what it prints');

  const lines = runBlock(block[1], 'readme-example');
  const expected = printed[1].trim().split('\n');
  assert.equal(lines.length, expected.length);
  lines.forEach((line, i) => {
    // lrs and accuracies are exact; the loss depends on the machine's thread count only in the last digits.
    const pattern = /^epoch (\d) loss (\d+\.\d{4}) acc ([\d.]+) lr (\S+)$/;
    const got = pattern.exec(line);
    const want = pattern.exec(expected[i]);
    assert.ok(got && want, `line ${i}: ${line}`);
    assert.equal(got[1], want[1]);
    assert.equal(got[3], want[3]);
    assert.equal(got[4], want[4]);
    assert.ok(Math.abs(Number(got[2]) - Number(want[2])) <= 2e-4, `loss ${got[2]} vs ${want[2]}`);
  });
});

test('the README MLP-on-a-TensorDataset example type-checks, runs, learns and prints what the README says', { timeout: 300000 }, () => {
  const block = /<!-- readme-mlp:start -->\n```ts\n([\s\S]*?)```\n<!-- readme-mlp:end -->\n\nIt prints[^\n]*\n\n```\n([\s\S]*?)```/.exec(README);
  assert.ok(block, 'README has the marked MLP example and what it prints');
  const lines = runBlock(block[1], 'readme-mlp');
  const expected = block[2].trim().split('\n');
  assert.equal(lines.length, expected.length);
  const pattern = /^epoch (\d) loss (\d+\.\d{4}) val acc ([\d.]+)$/;
  lines.forEach((line, i) => {
    const got = pattern.exec(line);
    const want = pattern.exec(expected[i]);
    assert.ok(got && want, `line ${i}: ${line}`);
    assert.equal(got[1], want[1]);
    assert.ok(Math.abs(Number(got[2]) - Number(want[2])) <= 2e-4, `loss ${got[2]} vs ${want[2]}`);
    assert.ok(Math.abs(Number(got[3]) - Number(want[3])) <= 0.01, `val acc ${got[3]} vs ${want[3]}`);
  });
  // Whatever the README says, the MLP must have learnt the quadrant rule.
  assert.ok(Number(pattern.exec(lines[lines.length - 1])[3]) >= 0.9, lines[lines.length - 1]);
});
