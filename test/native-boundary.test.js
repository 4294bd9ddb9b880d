'use strict';
// The native boundary, which no import graph sees: the addon's exports against the NativeAddon
// interface in src/native.ts, each member's section comment against the native file that
// registers it, and the op-family selectors' string unions against the names native/tensor.cc
// dispatches on. A key, a file or an op name changed on one side only fails here.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const ts = require('typescript');
const { native } = require('../dist/native');

const ROOT = path.join(__dirname, '..');
const NATIVE_TS = path.join(ROOT, 'src', 'native.ts');
const source = ts.createSourceFile(NATIVE_TS, fs.readFileSync(NATIVE_TS, 'utf8'), ts.ScriptTarget.Latest, true);

/** NativeAddon's members in order, each with the native files its section comment names. */
function declaredMembers() {
  const addon = source.statements.find((s) => ts.isInterfaceDeclaration(s) && s.name.text === 'NativeAddon');
  assert.ok(addon, 'src/native.ts declares interface NativeAddon');
  const members = new Map();
  let files = null;
  for (const m of addon.members) {
    for (const c of ts.getLeadingCommentRanges(source.text, m.pos) ?? []) {
      const label = /^\/\/ ((?:[\w/]+\.cc)(?:, [\w/]+\.cc)*)\b/.exec(source.text.slice(c.pos, c.end));
      if (label) files = label[1].split(', ');
    }
    const name = m.name.getText(source);
    assert.ok(files, `${name} stands under a '// file.cc' section comment`);
    if (!members.has(name)) members.set(name, files); // overloads repeat a name
  }
  return members;
}

/** The string literals of a union type alias in src/native.ts. */
function unionOf(alias) {
  const decl = source.statements.find((s) => ts.isTypeAliasDeclaration(s) && s.name.text === alias);
  assert.ok(decl && ts.isUnionTypeNode(decl.type), `${alias} is a union type`);
  return decl.type.types.map((t) => t.literal.text).sort();
}

/** The names a function of native/tensor.cc compares its selector (`op` or `kind`) with. */
function dispatchedNames(fn) {
  const cc = fs.readFileSync(path.join(ROOT, 'native', 'tensor.cc'), 'utf8');
  const start = cc.indexOf(`Napi::Value ${fn}(const Napi::CallbackInfo& info) {`);
  assert.ok(start >= 0, `native/tensor.cc defines ${fn}`);
  const body = cc.slice(start, cc.indexOf('\n}\n', start));
  return [...new Set([...body.matchAll(/\b(?:op|kind) [!=]= "(\w+)"/g)].map((m) => m[1]))].sort();
}

test("the addon's exports are NativeAddon's members, no more and no fewer", () => {
  const declared = declaredMembers();
  const exported = new Set(Object.keys(native));
  // A build without Gloo registers distAvailable = false and none of distributed.cc's functions.
  const optional = native.distAvailable ? new Set() : new Set([...declared].filter(([k, f]) => f.includes('distributed.cc') && k !== 'distAvailable').map(([k]) => k));
  const missing = [...declared.keys()].filter((k) => !exported.has(k) && !optional.has(k));
  const undeclared = [...exported].filter((k) => !declared.has(k));
  assert.deepEqual(missing, [], 'declared in src/native.ts but not exported by the addon');
  assert.deepEqual(undeclared, [], 'exported by the addon but not declared in src/native.ts');
});

test("each member's section comment names the native file that registers it", () => {
  const wrong = [];
  const texts = new Map();
  const read = (file) => {
    if (!texts.has(file)) texts.set(file, fs.readFileSync(path.join(ROOT, 'native', file), 'utf8'));
    return texts.get(file);
  };
  for (const [name, files] of declaredMembers()) {
    // exports.Set("name", ...) or an ExportFunctions table entry {"name", Fn} (native/exports.h).
    const registers = (text) => text.includes(`exports.Set("${name}",`) || text.includes(`{"${name}", `);
    if (!files.some((f) => registers(read(f)))) wrong.push(`${name} (under ${files.join(', ')})`);
  }
  assert.deepEqual(wrong, []);
});

test("the op-family selectors' unions are the names native/tensor.cc dispatches on", () => {
  for (const [alias, fn] of [['UnaryOp', 'Unary'], ['BinaryOp', 'Binary'], ['ReduceOp', 'Reduce'], ['ShapeOp', 'ShapeOp'], ['SplitOp', 'SplitOp'], ['IndexOp', 'IndexOp'], ['MatmulOp', 'Matmul'], ['FactoryKind', 'Factory']]) {
    const names = dispatchedNames(fn);
    assert.ok(names.length > 0, `${fn} dispatches on names`);
    assert.deepEqual(unionOf(alias), names, `${alias} vs native/tensor.cc ${fn}`);
  }
});

test('no native call takes more than 4 positional values: more go in one options object, read by name', () => {
  const addon = source.statements.find((s) => ts.isInterfaceDeclaration(s) && s.name.text === 'NativeAddon');
  const isOptions = (p) => p.type && (ts.isTypeLiteralNode(p.type) || (ts.isTypeReferenceNode(p.type) && /Options$/.test(p.type.typeName.getText(source))));
  const wide = addon.members.filter(ts.isMethodSignature).flatMap((m) => {
    const options = m.parameters.filter(isOptions).length;
    const positional = m.parameters.length - options;
    return positional > 4 || options > 1 ? [`${m.name.getText(source)}: ${positional} positional, ${options} options objects`] : [];
  });
  assert.deepEqual(wide, []);
});
