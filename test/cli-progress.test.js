'use strict';
// The progress bar on a terminal of fixed width, and curves.png's drawing (its SVG), without training.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { ProgressBar, clearProgressLine } = require(path.join(__dirname, '..', 'dist', 'training', 'progress'));
const { curvesSvg, niceTicks } = require(path.join(__dirname, '..', 'dist', 'training', 'plot'));

/**
 * A terminal `columns` wide that wraps as soon as a line is full (as the Linux console and
 * Windows' do): it keeps the rows written, so a bar that leaves a line behind shows as two rows.
 */
function fakeTerminal(columns) {
  const rows = [''];
  let col = 0;
  const put = (row, at, ch) => row.padEnd(at, ' ').slice(0, at) + ch + row.slice(at + 1);
  return {
    isTTY: true,
    columns,
    rows,
    get col() { return col; },
    write(text) {
      for (let i = 0; i < text.length; i++) {
        const ch = text[i];
        if (ch === '\r') col = 0;
        else if (ch === '\n') { rows.push(''); col = 0; }
        else if (text.startsWith('\x1b[K', i)) { rows[rows.length - 1] = rows[rows.length - 1].slice(0, col); i += 2; }
        else {
          rows[rows.length - 1] = put(rows[rows.length - 1], col, ch);
          if (++col === columns) { rows.push(''); col = 0; }
        }
      }
      return true;
    },
  };
}

test('the progress bar stays on one line of an 80-column terminal, at every update', (t) => {
  t.mock.timers.enable({ apis: ['Date'] });
  for (const columns of [80, 60, 40, 200]) {
    const term = fakeTerminal(columns);
    const bar = new ProgressBar(1000, 'epoch 12/700', term);
    for (const done of [1, 9, 99, 500, 999, 1000]) {
      t.mock.timers.tick(250); // past the bar's redraw interval
      bar.update(done, 'loss=0.6931, acc=0.500');
      assert.equal(term.rows.length, 1, `${columns} columns, step ${done}: ${JSON.stringify(term.rows)}`);
      assert.match(term.rows[0], new RegExp(`^epoch 12/700 +\\d+%\\|#*\\s*\\|`), `${columns} columns: ${term.rows[0]}`);
    }
    assert.ok(term.rows[0].includes('1000/1000'), term.rows[0]);
    if (columns >= 80) assert.ok(term.rows[0].includes('loss=0.6931'), `the details fit at ${columns} columns: ${term.rows[0]}`);
    bar.done();
    assert.deepEqual(term.rows, [''], 'done() clears the line');
  }
});

test('clearProgressLine() clears a drawn bar, so a notice printed next starts at the left edge', (t) => {
  t.mock.timers.enable({ apis: ['Date'] });
  const term = fakeTerminal(80);
  const bar = new ProgressBar(8, 'epoch 1/5', term);
  t.mock.timers.tick(250);
  bar.update(3, 'loss=0.7000, acc=0.400');
  assert.notEqual(term.col, 0);
  clearProgressLine();
  assert.equal(term.col, 0);
  term.write('SIGINT: finishing the current step\n');
  assert.deepEqual(term.rows, ['SIGINT: finishing the current step', '']);
  clearProgressLine(); // nothing drawn now: writes nothing
  assert.deepEqual(term.rows, ['SIGINT: finishing the current step', '']);
  t.mock.timers.tick(250);
  bar.update(4, 'loss=0.7000, acc=0.400'); // the bar comes back below the notice
  assert.equal(term.rows.length, 2);
  assert.match(term.rows[1], /^epoch 1\/5 +50%/);
});

test('niceTicks gives round steps (1, 2 or 5 times a power of ten) covering the range', () => {
  assert.deepEqual(niceTicks(0.61, 0.69, 5), [0.6, 0.62, 0.64, 0.66, 0.68, 0.7]);
  assert.deepEqual(niceTicks(1, 30, 10, true), [0, 5, 10, 15, 20, 25, 30]);
  assert.deepEqual(niceTicks(3, 4, 10, true), [3, 4]);
  assert.deepEqual(niceTicks(0.2, 2.3, 5), [0, 0.5, 1, 1.5, 2, 2.5]);
});

function parseSvg(svg) {
  const attrs = (tag) => Object.fromEntries([...tag.matchAll(/([\w-]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
  const frame = attrs(/<rect[^>]*fill="none" stroke="#333"[^>]*\/>/.exec(svg)[0]);
  const texts = [...svg.matchAll(/<text([^>]*)>([^<]*)<\/text>/g)].map((m) => ({ ...attrs(m[1]), text: m[2] }));
  return {
    frame: { left: +frame.x, top: +frame.y, right: +frame.x + +frame.width, bottom: +frame.y + +frame.height },
    circles: [...svg.matchAll(/<circle[^>]*\/>/g)].map((m) => attrs(m[0])).map((c) => ({ x: +c.cx, y: +c.cy, r: +c.r, fill: c.fill })),
    lines: [...svg.matchAll(/<polyline[^>]*\/>/g)].map((m) => attrs(m[0])),
    texts,
  };
}

const history = [
  { epoch: 1, trainLoss: 0.69, trainAcc: 0.5, valLoss: 0.65, valAcc: 0.6 },
  { epoch: 2, trainLoss: 0.66, trainAcc: 0.7, valLoss: 0.63, valAcc: 0.9 },
  { epoch: 3, trainLoss: 0.64, trainAcc: 0.9, valLoss: null, valAcc: null },
  { epoch: 4, trainLoss: 0.62, trainAcc: 1.0, valLoss: 0.61, valAcc: 1.0 },
];

test('curves: the x-axis starts at the first epoch, ticks are round, the loss axis fits the data', () => {
  const svg = parseSvg(curvesSvg(history, 'run'));
  const { frame } = svg;
  const xs = svg.circles.map((c) => c.x);
  assert.ok(Math.min(...xs) - frame.left < 12, `the first epoch sits at the left edge (x ${Math.min(...xs)}, frame ${frame.left})`);
  assert.ok(frame.right - Math.max(...xs) < 12, 'the last epoch at the right edge');
  const xLabels = svg.texts.filter((t) => +t.y > frame.bottom && t.text !== 'epoch').map((t) => t.text);
  assert.deepEqual(xLabels, ['1', '2', '3', '4']);
  // Loss tick labels (red, left of the frame): evenly spaced round numbers, from below the lowest loss to above the highest, not from 0.
  const lossLabels = svg.texts.filter((t) => t.fill === '#c00' && t['text-anchor'] === 'end').map((t) => Number(t.text));
  assert.ok(lossLabels.length >= 3, String(lossLabels));
  const step = lossLabels[1] - lossLabels[0];
  lossLabels.forEach((v, i) => assert.ok(Math.abs(v - (lossLabels[0] + i * step)) < 1e-9, `evenly spaced: ${lossLabels}`));
  const mantissa = step / 10 ** Math.floor(Math.log10(step));
  assert.ok([1, 2, 5].some((m) => Math.abs(mantissa - m) < 1e-6), `round step ${step}`);
  assert.ok(lossLabels[0] > 0.5 && lossLabels[0] <= 0.61 && lossLabels[lossLabels.length - 1] >= 0.69 && lossLabels[lossLabels.length - 1] < 0.8, `fitted: ${lossLabels}`);
});

test('curves: every point is drawn whole inside the frame (accuracy 1.0 too), val loss is plotted, the legend covers no line', () => {
  const svg = parseSvg(curvesSvg(history, 'run'));
  const { frame } = svg;
  for (const c of svg.circles) {
    assert.ok(c.y - c.r >= frame.top && c.y + c.r <= frame.bottom && c.x - c.r >= frame.left && c.x + c.r <= frame.right, `point ${JSON.stringify(c)} inside ${JSON.stringify(frame)}`);
  }
  assert.equal(svg.lines.length, 4, 'train loss, val loss, train acc, val acc');
  assert.equal(svg.circles.length, 4 + 3 + 4 + 3, 'the epoch without validation has no val points');
  const legend = svg.texts.filter((t) => ['train loss', 'val loss', 'train acc', 'val acc'].includes(t.text));
  assert.equal(legend.length, 4);
  for (const t of legend) assert.ok(+t.y < frame.top, `legend entry '${t.text}' above the frame`);
});

test('curves: one epoch, or a history that starts later, still draws inside the frame with the epoch labelled', () => {
  const one = parseSvg(curvesSvg([history[0]], 'run'));
  assert.deepEqual(one.texts.filter((t) => +t.y > one.frame.bottom && t.text !== 'epoch').map((t) => t.text), ['1']);
  const late = parseSvg(curvesSvg(Array.from({ length: 28 }, (_, i) => ({ ...history[0], epoch: i + 3 })), 'run'));
  const labels = late.texts.filter((t) => +t.y > late.frame.bottom && t.text !== 'epoch').map((t) => Number(t.text));
  assert.equal(labels[0], 3, 'the first epoch is labelled');
  assert.deepEqual(labels.slice(1), [5, 10, 15, 20, 25, 30]);
});
