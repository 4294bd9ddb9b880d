// curves.png: the seed's per-epoch loss and accuracy plot, drawn as SVG and rendered by sharp.
import sharp = require('sharp');

export interface EpochPoint {
  epoch: number;
  trainLoss: number;
  trainAcc: number;
  valAcc: number | null;
}

const W = 800;
const H = 480;
const M = { left: 70, right: 70, top: 50, bottom: 60 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
}

export function curvesSvg(points: EpochPoint[], title: string): string {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const maxEpoch = Math.max(1, ...points.map((p) => p.epoch));
  const maxLoss = Math.max(1e-9, ...points.map((p) => p.trainLoss)) * 1.1;
  const x = (e: number) => M.left + (pw * e) / maxEpoch;
  const yLoss = (l: number) => M.top + ph - (ph * l) / maxLoss;
  const yAcc = (a: number) => M.top + ph - ph * a;
  const line = (pts: [number, number][], colour: string) => (pts.length
    ? `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${pts.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(' ')}"/>` +
      pts.map(([a, b]) => `<circle cx="${a.toFixed(1)}" cy="${b.toFixed(1)}" r="3" fill="${colour}"/>`).join('')
    : '');
  const ticks: string[] = [];
  for (let i = 0; i <= 5; i++) {
    const yl = M.top + ph - (ph * i) / 5;
    ticks.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${yl}" y2="${yl}" stroke="#ddd"/>`);
    ticks.push(`<text x="${M.left - 8}" y="${yl + 4}" text-anchor="end" fill="#c00">${((maxLoss * i) / 5).toPrecision(3)}</text>`);
    ticks.push(`<text x="${M.left + pw + 8}" y="${yl + 4}" fill="#06c">${(i / 5).toFixed(1)}</text>`);
  }
  const step = Math.max(1, Math.ceil(maxEpoch / 10));
  for (let e = 0; e <= maxEpoch; e += step) ticks.push(`<text x="${x(e)}" y="${M.top + ph + 20}" text-anchor="middle">${e}</text>`);
  const legend = [['train loss', '#c00'], ['train acc', '#06c'], ['val acc', '#090']]
    .map(([name, c], i) => `<rect x="${M.left + 10 + i * 130}" y="${M.top + 8}" width="14" height="14" fill="${c}"/><text x="${M.left + 30 + i * 130}" y="${M.top + 20}">${name}</text>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif" font-size="14">
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="28" text-anchor="middle" font-size="18" font-weight="bold">${esc(title)}</text>
${ticks.join('\n')}
<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>
<text x="${M.left + pw / 2}" y="${H - 15}" text-anchor="middle">epoch</text>
<text x="20" y="${M.top + ph / 2}" text-anchor="middle" fill="#c00" transform="rotate(-90 20 ${M.top + ph / 2})">loss</text>
<text x="${W - 15}" y="${M.top + ph / 2}" text-anchor="middle" fill="#06c" transform="rotate(90 ${W - 15} ${M.top + ph / 2})">accuracy</text>
${line(points.map((p) => [x(p.epoch), yLoss(p.trainLoss)]), '#c00')}
${line(points.map((p) => [x(p.epoch), yAcc(p.trainAcc)]), '#06c')}
${line(points.filter((p) => p.valAcc !== null).map((p) => [x(p.epoch), yAcc(p.valAcc as number)]), '#090')}
<rect x="${M.left + 5}" y="${M.top + 4}" width="395" height="22" fill="white" fill-opacity="0.8"/>
${legend}
</svg>`;
}

export function renderCurves(points: EpochPoint[], title: string): Promise<Buffer> {
  return sharp(Buffer.from(curvesSvg(points, title))).png().toBuffer();
}
