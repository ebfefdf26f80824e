// Charts drawn as SVG by code (no library): the training curve (loss on the left axis, accuracy on the right) and
// horizontal bars. Colours come from app.css classes, never from style attributes (the CSP forbids inline styles).
import { el, svg, clear, num, pct } from './api.js';

const W = 640, H = 270, PAD = { left: 48, right: 52, top: 28, bottom: 34 };

const SERIES = [
  { key: 'train_loss', label: 'train loss', axis: 'loss', cls: 'train-loss' },
  { key: 'val_loss', label: 'validation loss', axis: 'loss', cls: 'val-loss' },
  { key: 'val_accuracy', label: 'validation accuracy', axis: 'acc', cls: 'val-accuracy' },
];

/**
 * A live training curve: call update(rows, {maxX, phases}) with the epoch records so far, each with x (its epoch
 * counted across the run's phases); phases: [{name, start}] draws a boundary where a later phase begins.
 */
export class CurveChart {
  constructor({ testid = 'curve', title = 'Loss and accuracy per epoch' } = {}) {
    this.svg = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title, testid });
    this.summary = el('p', { class: 'chart-summary', 'aria-live': 'polite', testid: `${testid}-summary` }, 'No epoch finished yet.');
    this.legend = el('ul', { class: 'legend' }, SERIES.map((s) =>
      el('li', {}, el('span', { class: `swatch ${s.cls}`, 'aria-hidden': 'true' }), s.label)));
    this.node = el('figure', { class: 'curve' }, this.svg, this.legend, this.summary);
    this.update([]);
  }

  update(epochs, { maxX, phases = [] } = {}) {
    const rows = epochs.map((r) => ({ ...r, x: r.x ?? r.epoch })).sort((a, b) => a.x - b.x);
    const last = rows[rows.length - 1];
    const maxEpoch = Math.max(2, maxX || 0, last?.x || 0);
    const losses = rows.flatMap((r) => [num(r.train_loss), num(r.val_loss)]).filter((v) => v !== null);
    const maxLoss = niceCeil(Math.max(0.1, ...losses));
    const x = (e) => PAD.left + ((e - 1) / (maxEpoch - 1)) * (W - PAD.left - PAD.right);
    const yLoss = (v) => H - PAD.bottom - (v / maxLoss) * (H - PAD.top - PAD.bottom);
    const yAcc = (v) => H - PAD.bottom - v * (H - PAD.top - PAD.bottom);

    const parts = [svg('title', { text: this.svg.getAttribute('aria-label') })];
    // Grid and axes: five horizontal lines, loss ticks left, accuracy ticks right, epoch ticks below.
    for (let i = 0; i <= 4; i++) {
      const y = yAcc(i / 4);
      parts.push(svg('line', { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: i === 0 ? 'axis' : 'grid' }));
      parts.push(svg('text', { x: PAD.left - 6, y: y + 4, class: 'tick', 'text-anchor': 'end', text: fmtTick(maxLoss * i / 4) }));
      parts.push(svg('text', { x: W - PAD.right + 6, y: y + 4, class: 'tick', 'text-anchor': 'start', text: `${i * 25}%` }));
    }
    const step = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500].find((v) => maxEpoch / v <= 10) ?? 1000;
    const ticks = step >= 5 ? [1] : [];
    for (let e = step === 1 ? 1 : step; e <= maxEpoch; e += step) ticks.push(e);
    for (const e of ticks) {
      parts.push(svg('text', { x: x(e), y: H - PAD.bottom + 16, class: 'tick', 'text-anchor': 'middle', text: e }));
    }
    parts.push(svg('text', { x: (PAD.left + W - PAD.right) / 2, y: H - 4, class: 'axis-label', 'text-anchor': 'middle', text: 'epoch' }));
    for (const p of phases.filter((ph) => ph.start > 0 && ph.start < maxEpoch)) {
      const px = x(p.start + 0.5);
      parts.push(svg('line', { x1: px, x2: px, y1: PAD.top, y2: H - PAD.bottom, class: 'phase' }));
      parts.push(svg('text', { x: px + 4, y: PAD.top + 10, class: 'phase-label', text: p.name }));
    }
    parts.push(svg('text', { x: PAD.left - 6, y: 12, class: 'axis-label', 'text-anchor': 'end', text: 'loss' }));
    parts.push(svg('text', { x: W - 4, y: 12, class: 'axis-label', 'text-anchor': 'end', text: 'accuracy' }));

    for (const s of SERIES) {
      const pts = rows.map((r) => [r.x, num(r[s.key])]).filter(([, v]) => v !== null);
      if (!pts.length) continue;
      const y = s.axis === 'loss' ? yLoss : yAcc;
      const d = pts.map(([e, v], i) => `${i ? 'L' : 'M'}${x(e).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
      parts.push(svg('path', { d, class: `series ${s.cls}` }));
      for (const [e, v] of pts) {
        parts.push(svg('circle', { cx: x(e).toFixed(1), cy: y(v).toFixed(1), r: 3.5, class: `point ${s.cls}`, 'data-epoch': e },
          svg('title', { text: `epoch ${e}: ${s.label} ${s.axis === 'acc' ? pct(v) : v.toFixed(4)}` })));
      }
    }
    clear(this.svg, parts);
    this.svg.dataset.points = String(rows.length);
    this.summary.textContent = last
      ? `Epoch ${last.x} of ${maxEpoch}: train loss ${fmt(last.train_loss)}, validation loss ${fmt(last.val_loss)}, validation accuracy ${pct(last.val_accuracy)}.`
      : 'No epoch finished yet.';
  }
}

function fmt(v) {
  const n = num(v);
  return n === null ? '–' : n.toFixed(3);
}

function fmtTick(v) {
  return v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2);
}

function niceCeil(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/**
 * Horizontal bars as a list: [{label, value, text}] scaled to the largest value (or to 1 with max = 1). Widths are
 * set through element.style, which the CSP allows (it forbids only style attributes in markup).
 */
export function bars(items, { max, testid, cls = '' } = {}) {
  const top = max ?? Math.max(1, ...items.map((i) => i.value));
  return el('ul', { class: `bars ${cls}`, testid }, items.map((i) => {
    const fill = el('span', { class: 'bar-fill' });
    fill.style.width = `${Math.max(0, Math.min(100, (i.value / top) * 100)).toFixed(1)}%`;
    return el('li', { class: i.highlight ? 'highlight' : null },
      el('span', { class: 'bar-label', title: i.label }, i.label),
      el('span', { class: 'bar-track', 'aria-hidden': 'true' }, fill),
      el('span', { class: 'bar-value' }, i.text ?? String(i.value)));
  }));
}
