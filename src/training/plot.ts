// curves.png: loss and accuracy per epoch (train and validation), drawn as SVG and rendered by sharp.
import sharp = require('sharp');

export interface EpochPoint {
  epoch: number;
  trainLoss: number;
  trainAcc: number;
  /** null for an epoch without validation. */
  valLoss: number | null;
  valAcc: number | null;
}

const W = 800;
const H = 500;
// The legend sits in its own row above the frame, so it never covers a line.
const M = { left: 70, right: 70, top: 76, bottom: 56 };
// Lines and points stay this far inside the frame (a point at accuracy 1.0 is drawn whole).
const INSET = 8;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
}

/** Round tick values covering [lo, hi] (1, 2, 5 times a power of ten apart), about `count` of them. */
export function niceTicks(lo: number, hi: number, count: number, integer = false): number[] {
  if (!(hi > lo)) hi = lo + (integer ? 1 : Math.abs(lo) * 0.1 || 1);
  const raw = (hi - lo) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 5, 10].map((f) => f * power).find((s) => s >= raw) as number;
  if (integer) step = Math.max(1, Math.round(step));
  const first = Math.floor(lo / step + 1e-9) * step;
  const ticks: number[] = [];
  for (let v = first; v < hi + step - 1e-9 * step; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function label(v: number): string {
  return String(Number(v.toPrecision(6)));
}

export function curvesSvg(points: EpochPoint[], title: string): string {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  // x from the first epoch plotted to the last (a single epoch: a unit-wide axis around it).
  const epochs = points.map((p) => p.epoch);
  const first = epochs.length ? Math.min(...epochs) : 1;
  const last = epochs.length ? Math.max(...epochs) : 1;
  const [xLo, xHi] = last > first ? [first, last] : [first - 0.5, first + 0.5];
  const round = niceTicks(first, Math.max(last, first + 1), 10, true).filter((t) => t >= first && t <= xHi);
  // The first epoch is labelled too, unless a round tick is close.
  const xTicks = round[0] === first || (round.length > 1 && round[0] - first < (round[1] - round[0]) / 4) ? round : [first, ...round];
  const losses = points.flatMap((p) => [p.trainLoss, ...(p.valLoss === null ? [] : [p.valLoss])]).filter(Number.isFinite);
  // The loss axis is fitted to the data, on round ticks.
  const lossTicks = niceTicks(losses.length ? Math.min(...losses) : 0, losses.length ? Math.max(...losses) : 1, 5);
  const [lLo, lHi] = [lossTicks[0], lossTicks[lossTicks.length - 1]];
  const x = (e: number) => M.left + INSET + ((pw - 2 * INSET) * (e - xLo)) / (xHi - xLo);
  const y = (v: number, lo: number, hi: number) => M.top + ph - INSET - ((ph - 2 * INSET) * (v - lo)) / (hi - lo);
  const yLoss = (l: number) => y(l, lLo, lHi);
  const yAcc = (a: number) => y(a, 0, 1);
  const line = (pts: [number, number][], colour: string, dashed: boolean) => (pts.length
    ? `<polyline fill="none" stroke="${colour}" stroke-width="2"${dashed ? ' stroke-dasharray="6 4"' : ''} points="${pts.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(' ')}"/>` +
      pts.map(([a, b]) => `<circle cx="${a.toFixed(1)}" cy="${b.toFixed(1)}" r="3" fill="${colour}"/>`).join('')
    : '');
  const ticks: string[] = [];
  for (const l of lossTicks) {
    ticks.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${yLoss(l).toFixed(1)}" y2="${yLoss(l).toFixed(1)}" stroke="#ddd"/>`);
    ticks.push(`<text x="${M.left - 8}" y="${(yLoss(l) + 4).toFixed(1)}" text-anchor="end" fill="#c00">${label(l)}</text>`);
  }
  for (let i = 0; i <= 5; i++) ticks.push(`<text x="${M.left + pw + 8}" y="${(yAcc(i / 5) + 4).toFixed(1)}" fill="#06c">${(i / 5).toFixed(1)}</text>`);
  for (const e of xTicks) {
    ticks.push(`<text x="${x(e).toFixed(1)}" y="${M.top + ph + 20}" text-anchor="middle">${label(e)}</text>`);
  }
  const series: [string, string, boolean, [number, number][]][] = [
    ['train loss', '#c00', false, points.map((p) => [x(p.epoch), yLoss(p.trainLoss)])],
    ['val loss', '#c00', true, points.filter((p) => p.valLoss !== null).map((p) => [x(p.epoch), yLoss(p.valLoss as number)])],
    ['train acc', '#06c', false, points.map((p) => [x(p.epoch), yAcc(p.trainAcc)])],
    ['val acc', '#090', true, points.filter((p) => p.valAcc !== null).map((p) => [x(p.epoch), yAcc(p.valAcc as number)])],
  ];
  const legend = series.map(([name, c, dashed], i) => {
    const lx = M.left + i * 160;
    return `<line x1="${lx}" x2="${lx + 28}" y1="${M.top - 22}" y2="${M.top - 22}" stroke="${c}" stroke-width="2"${dashed ? ' stroke-dasharray="6 4"' : ''}/>` +
      `<text x="${lx + 34}" y="${M.top - 17}">${name}</text>`;
  }).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif" font-size="14">
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="28" text-anchor="middle" font-size="18" font-weight="bold">${esc(title)}</text>
${legend}
${ticks.join('\n')}
<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>
<text x="${M.left + pw / 2}" y="${H - 12}" text-anchor="middle">epoch</text>
<text x="20" y="${M.top + ph / 2}" text-anchor="middle" fill="#c00" transform="rotate(-90 20 ${M.top + ph / 2})">loss</text>
<text x="${W - 15}" y="${M.top + ph / 2}" text-anchor="middle" fill="#06c" transform="rotate(90 ${W - 15} ${M.top + ph / 2})">accuracy</text>
${series.map(([, c, dashed, pts]) => line(pts, c, dashed)).join('\n')}
</svg>`;
}

export function renderCurves(points: EpochPoint[], title: string): Promise<Buffer> {
  return sharp(Buffer.from(curvesSvg(points, title))).png().toBuffer();
}
