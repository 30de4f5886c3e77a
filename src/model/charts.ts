/**
 * The evaluation report's charts as standalone SVG: a curve on [0,1]x[0,1] (ROC, precision-recall)
 * and an overlaid histogram (score distributions). Small enough to write by hand; the charting
 * libraries that render SVG in Node (vega 6) ship as ES modules only, and this package is CommonJS.
 */
import type { CurvePoint } from './evaluate';

const W = 480;
const H = 360;
const M = { left: 56, right: 16, top: 36, bottom: 48 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const px = (x: number) => (M.left + x * PW).toFixed(1);
const py = (y: number) => (M.top + (1 - y) * PH).toFixed(1);

function frame(
  title: string,
  xLabel: string,
  yLabel: string,
  body: string,
  yMax = 1,
  yFmt = (v: number) => String(+v.toFixed(2)),
  yTicks = 4,
): string {
  const xTicks = [0, 0.25, 0.5, 0.75, 1];
  const grid =
    xTicks
      .map(
        (t) =>
          `<line x1="${px(t)}" y1="${py(0)}" x2="${px(t)}" y2="${py(1)}" stroke="#eee"/>` +
          `<text x="${px(t)}" y="${(M.top + PH + 16).toFixed(1)}" font-size="11" text-anchor="middle">${t}</text>`,
      )
      .join('') +
    Array.from({ length: yTicks + 1 }, (_, k) => k / yTicks)
      .map(
        (t) =>
          `<line x1="${px(0)}" y1="${py(t)}" x2="${px(1)}" y2="${py(t)}" stroke="#eee"/>` +
          `<text x="${M.left - 6}" y="${(+py(t) + 4).toFixed(1)}" font-size="11" text-anchor="end">${yFmt(t * yMax)}</text>`,
      )
      .join('');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">` +
    `<rect width="${W}" height="${H}" fill="#fff"/>${grid}` +
    `<rect x="${M.left}" y="${M.top}" width="${PW}" height="${PH}" fill="none" stroke="#333"/>` +
    `<text x="${W / 2}" y="20" font-size="14" text-anchor="middle" font-weight="bold">${esc(title)}</text>` +
    `<text x="${M.left + PW / 2}" y="${H - 10}" font-size="12" text-anchor="middle">${esc(xLabel)}</text>` +
    `<text transform="translate(14 ${M.top + PH / 2}) rotate(-90)" font-size="12" text-anchor="middle">${esc(yLabel)}</text>` +
    `${body}</svg>\n`
  );
}

/** One curve; `diagonal` draws the chance line (ROC). */
export function curveSvg(
  points: readonly CurvePoint[],
  opts: { title: string; xLabel: string; yLabel: string; diagonal?: boolean; note?: string },
): string {
  const path = points.map((p, i) => `${i ? 'L' : 'M'}${px(p.x)},${py(p.y)}`).join('');
  const chance = opts.diagonal
    ? `<line x1="${px(0)}" y1="${py(0)}" x2="${px(1)}" y2="${py(1)}" stroke="#999" stroke-dasharray="4 4"/>`
    : '';
  const note = opts.note
    ? `<text x="${px(0.97)}" y="${(+py(0) - 10).toFixed(1)}" font-size="12" text-anchor="end">${esc(opts.note)}</text>`
    : '';
  return frame(
    opts.title,
    opts.xLabel,
    opts.yLabel,
    `${chance}<path d="${path}" fill="none" stroke="#1f77b4" stroke-width="2"/>${note}`,
  );
}

/**
 * Two distributions over equal-width score bins, each as a share of its own total (so a rare class
 * is still visible) on a log scale from 0.001% to 100% (so the tails that decide friction and
 * misses are visible too), with the policy's thresholds as vertical lines.
 */
export function histogramSvg(
  benign: readonly number[],
  attack: readonly number[],
  opts: { title: string; thresholds: { at: number; label: string }[] },
): string {
  const DECADES = 5;
  const share = (xs: readonly number[]) => {
    const n = xs.reduce((a, b) => a + b, 0) || 1;
    return xs.map((x) => x / n);
  };
  // 0 stays 0; anything else is placed by its order of magnitude, 1e-5 at the bottom.
  const scale = (v: number) => (v <= 0 ? 0 : Math.max(0, (Math.log10(v) + DECADES) / DECADES));
  const b = share(benign);
  const a = share(attack);
  const bw = 1 / b.length;
  const bars = (xs: number[], color: string) =>
    xs
      .map((v, i) =>
        v <= 0
          ? ''
          : `<rect x="${px(i * bw)}" y="${py(scale(v))}" width="${(bw * PW).toFixed(1)}" height="${(scale(v) * PH).toFixed(1)}" fill="${color}" fill-opacity="0.5"/>`,
      )
      .join('');
  const lines = opts.thresholds
    .map((t) => {
      const right = t.at > 0.8;
      return (
        `<line x1="${px(t.at)}" y1="${py(0)}" x2="${px(t.at)}" y2="${py(1)}" stroke="#d62728" stroke-dasharray="3 3"/>` +
        `<text x="${(+px(t.at) + (right ? -3 : 3)).toFixed(1)}" y="${M.top + 12}" font-size="11" fill="#d62728"` +
        `${right ? ' text-anchor="end"' : ''}>${esc(t.label)}</text>`
      );
    })
    .join('');
  const legend =
    `<rect x="${W / 2 - 60}" y="${M.top + 24}" width="10" height="10" fill="#2ca02c" fill-opacity="0.5"/><text x="${W / 2 - 45}" y="${M.top + 33}" font-size="11">benign events</text>` +
    `<rect x="${W / 2 - 60}" y="${M.top + 40}" width="10" height="10" fill="#d62728" fill-opacity="0.5"/><text x="${W / 2 - 45}" y="${M.top + 49}" font-size="11">attack events</text>`;
  return frame(
    opts.title,
    'model score',
    'share of the class (log scale)',
    bars(b, '#2ca02c') + bars(a, '#d62728') + lines + legend,
    1,
    (t) => `${+(100 * 10 ** (t * DECADES - DECADES)).toPrecision(1)}%`,
    DECADES,
  );
}
