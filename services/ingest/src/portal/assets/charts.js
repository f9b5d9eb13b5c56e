// charts.js — hand-drawn inline SVG charts (bars and lines over time buckets), redrawn to their container's width.

import { h, s, uid } from './dom.js';

const MARGIN = { top: 12, right: 12, bottom: 28, left: 52 };
const HEIGHT = 200;

// A scale from 0 whose ticks fall on round numbers (1, 2 or 5 × 10^n apart), about four of them.
function niceScale(value, minStep = 0) {
  const rough = Math.max(value, Number.EPSILON) / 4;
  const exp = 10 ** Math.floor(Math.log10(rough));
  const f = rough / exp;
  const step = Math.max(minStep, (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * exp);
  const ticks = Math.max(1, Math.ceil(value / step));
  return { max: step * ticks, ticks };
}

// Draws the frame (grid, y ticks, x labels) shared by both kinds of chart.
function frame(svg, { width, yMax, yTicks, yFormat, labels, xLabel }) {
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const y = (v) => MARGIN.top + plotH - (v / yMax) * plotH;
  const grid = s('g', { class: 'chart__grid', 'aria-hidden': 'true' });
  for (let i = 0; i <= yTicks; i += 1) {
    const v = (yMax / yTicks) * i;
    const yy = y(v);
    grid.append(
      s('line', { x1: MARGIN.left, x2: width - MARGIN.right, y1: yy, y2: yy, class: i === 0 ? 'chart__axis' : 'chart__gridline' }),
      s('text', { x: MARGIN.left - 8, y: yy + 4, 'text-anchor': 'end', class: 'chart__tick', text: yFormat(v) }));
  }
  const n = labels.length;
  const step = plotW / Math.max(n, 1);
  // As many x labels as fit, about one per 90 px.
  const every = Math.max(1, Math.ceil(n / Math.max(1, Math.floor(plotW / 90))));
  for (let i = 0; i < n; i += every) {
    const x = MARGIN.left + step * i + step / 2;
    grid.append(s('text', { x, y: HEIGHT - 8, 'text-anchor': 'middle', class: 'chart__tick', text: xLabel(labels[i]) }));
  }
  svg.append(grid);
  return { plotW, plotH, y, step };
}

function svgRoot(width, titleText, descText) {
  const titleId = uid('chart-title');
  const descId = uid('chart-desc');
  return s('svg', {
    class: 'chart__svg', width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, role: 'img',
    'aria-labelledby': `${titleId} ${descId}`, focusable: 'false',
  }, s('title', { id: titleId, text: titleText }), s('desc', { id: descId, text: descText }));
}

// Bars of a 0..1 value per bucket (null: no data, drawn as a faint stub).
function drawBars(svg, width, opts) {
  const { values, labels, tooltip } = opts;
  const { y, step } = frame(svg, { width, yMax: 1, yTicks: 4, yFormat: (v) => `${Math.round(v * 100)}%`, labels, xLabel: opts.xLabel });
  const barW = Math.max(2, Math.min(28, step * 0.7));
  const g = s('g', {});
  values.forEach((v, i) => {
    const x = MARGIN.left + step * i + (step - barW) / 2;
    if (v === null || v === undefined) {
      g.append(s('rect', { x, y: y(0) - 2, width: barW, height: 2, class: 'chart__nodata' }, s('title', { text: tooltip(i) })));
      return;
    }
    const top = y(v);
    const cls = v >= 0.99 ? 'chart__bar' : v >= 0.9 ? 'chart__bar chart__bar--warn' : 'chart__bar chart__bar--bad';
    g.append(s('rect', { x, y: top, width: barW, height: Math.max(1, y(0) - top), rx: 2, class: cls }, s('title', { text: tooltip(i) })));
  });
  svg.append(g);
}

// One line per series; null values break the line.
function drawLines(svg, width, opts) {
  const { series, labels, tooltip } = opts;
  const all = series.flatMap((se) => se.values).filter((v) => v !== null && v !== undefined);
  const scale = niceScale(Math.max(...all, 1), 1);
  const { y, step } = frame(svg, { width, yMax: scale.max, yTicks: scale.ticks, yFormat: opts.yFormat, labels, xLabel: opts.xLabel });
  for (const se of series) {
    const g = s('g', { class: `chart__series ${se.className}` });
    let d = '';
    let pen = false;
    se.values.forEach((v, i) => {
      if (v === null || v === undefined) {
        pen = false;
        return;
      }
      const x = MARGIN.left + step * i + step / 2;
      d += `${pen ? 'L' : 'M'}${x.toFixed(1)},${y(v).toFixed(1)} `;
      pen = true;
      g.append(s('circle', { cx: x, cy: y(v), r: 3, class: 'chart__point' }, s('title', { text: `${se.label}: ${tooltip(i, v)}` })));
    });
    if (d) g.prepend(s('path', { d: d.trim(), class: 'chart__line', fill: 'none' }));
    svg.append(g);
  }
}

// A chart in a <figure>: kind 'bars' (values 0..1) or 'lines' (series).
// It redraws itself whenever its container changes width.
export function chart({ kind, title, description, legend = [], ...opts }) {
  const holder = h('div', { class: 'chart__canvas' });
  const figure = h('figure', { class: 'chart' },
    h('figcaption', { class: 'chart__caption' },
      h('span', { class: 'chart__title', text: title }),
      legend.length ? h('ul', { class: 'chart__legend', 'aria-hidden': 'true' }, legend.map((l) => h('li', { class: l.className, text: l.label }))) : null),
    holder);
  let lastWidth = 0;
  const draw = () => {
    const width = Math.floor(holder.clientWidth);
    if (!width || width === lastWidth) return;
    lastWidth = width;
    const svg = svgRoot(width, title, description);
    if (kind === 'bars') drawBars(svg, width, opts);
    else drawLines(svg, width, opts);
    holder.replaceChildren(svg);
  };
  const observer = new ResizeObserver(draw);
  observer.observe(holder);
  figure.dispose = () => observer.disconnect();
  return figure;
}
