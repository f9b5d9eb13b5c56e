// stats-panel.js — an endpoint's success rate and latency over a chosen period: figures, two charts and the data as a table.

import { api } from './api.js';
import { h, replace } from './dom.js';
import { chart } from './charts.js';
import { isAbort } from './errors.js';
import { formatClock, formatCount, formatMs, formatPercent, formatShort } from './format.js';
import { card, dataTable, errorState, loadingState } from './ui.js';
import { field } from './form.js';

const PERIODS = [
  { window: '1h', buckets: 12, label: 'Last hour' },
  { window: '24h', buckets: 24, label: 'Last 24 hours' },
  { window: '7d', buckets: 28, label: 'Last 7 days' },
  { window: '30d', buckets: 30, label: 'Last 30 days' },
];

function tile(label, value, note) {
  return h('div', { class: 'tile' },
    h('span', { class: 'tile__label', text: label }),
    h('span', { class: 'tile__value', text: value }),
    note ? h('span', { class: 'tile__note muted', text: note }) : null);
}

function bucketLabel(period) {
  return period.window === '1h' || period.window === '24h' ? formatClock : formatShort;
}

function describeRate(series) {
  const withData = series.filter((b) => b.attempts > 0);
  if (!withData.length) return 'No attempts in this period.';
  const worst = withData.reduce((a, b) => (b.success_rate < a.success_rate ? b : a));
  return `${withData.length} of ${series.length} intervals had attempts; the lowest success rate was ${formatPercent(worst.success_rate)}, from ${formatShort(worst.start)}.`;
}

function describeLatency(series) {
  const p95 = series.map((b) => b.p95_response_time_ms).filter((v) => v !== null && v !== undefined);
  if (!p95.length) return 'No response times in this period.';
  return `The highest 95th percentile response time was ${formatMs(Math.max(...p95))}.`;
}

function render(body, stats, period, disposers) {
  const series = stats.series || [];
  const label = bucketLabel(period);
  const tiles = h('div', { class: 'tiles' },
    tile('Success rate', formatPercent(stats.success_rate), stats.attempts ? `${formatCount(stats.successes)} of ${formatCount(stats.attempts)} attempts` : 'No attempts'),
    tile('Failures', formatCount(stats.failures), 'Failed attempts'),
    tile('Response time p50', formatMs(stats.p50_response_time_ms), 'Half were faster'),
    tile('Response time p95', formatMs(stats.p95_response_time_ms), '95 % were faster'));
  if (!stats.attempts || !series.length) {
    replace(body, tiles, h('p', { class: 'chart-empty muted', text: stats.attempts ? 'No time series for this period.' : 'No delivery attempts in this period, so there is nothing to chart yet.' }));
    return;
  }
  const tooltip = (i) => {
    const b = series[i];
    return b.attempts
      ? `${formatShort(b.start)}–${formatClock(b.end)}: ${formatPercent(b.success_rate)} of ${b.attempts} attempts`
      : `${formatShort(b.start)}–${formatClock(b.end)}: no attempts`;
  };
  const rate = chart({
    kind: 'bars',
    title: 'Success rate',
    description: describeRate(series),
    values: series.map((b) => (b.attempts ? b.success_rate : null)),
    labels: series.map((b) => b.start),
    xLabel: label,
    tooltip,
  });
  const latency = chart({
    kind: 'lines',
    title: 'Response time',
    description: describeLatency(series),
    legend: [{ label: 'p50', className: 'legend--p50' }, { label: 'p95', className: 'legend--p95' }],
    series: [
      { label: 'p50', className: 'series--p50', values: series.map((b) => b.p50_response_time_ms ?? null) },
      { label: 'p95', className: 'series--p95', values: series.map((b) => b.p95_response_time_ms ?? null) },
    ],
    labels: series.map((b) => b.start),
    xLabel: label,
    yFormat: (v) => (v >= 1000 ? `${+(v / 1000).toFixed(2)}s` : `${Math.round(v)}ms`),
    tooltip: (i, v) => `${formatMs(v)} from ${formatShort(series[i].start)}`,
  });
  disposers.push(rate.dispose, latency.dispose);
  const table = h('details', { class: 'chart-data' },
    h('summary', { text: 'Show the data as a table' }),
    dataTable({
      caption: 'Attempts per interval',
      rows: series,
      columns: [
        { label: 'From', cell: (b) => formatShort(b.start) },
        { label: 'Attempts', cell: (b) => formatCount(b.attempts), className: 'col-num' },
        { label: 'Success rate', cell: (b) => formatPercent(b.success_rate), className: 'col-num' },
        { label: 'p50', cell: (b) => formatMs(b.p50_response_time_ms), className: 'col-num' },
        { label: 'p95', cell: (b) => formatMs(b.p95_response_time_ms), className: 'col-num' },
      ],
    }));
  replace(body, tiles, h('div', { class: 'charts' }, rate, latency), table);
}

// The "Performance" card of an endpoint; loads its own data.
export function statsPanel(webhookId, signal) {
  const body = h('div', { class: 'stats' }, loadingState('Loading statistics…'));
  const select = field({ label: 'Period', kind: 'select', id: 'stats-period', options: PERIODS.map((p) => [p.window, p.label]), className: 'field--inline' });
  select.control.value = '24h';
  let disposers = [];
  let current = null;

  const load = async () => {
    if (signal.aborted) return;
    const period = PERIODS.find((p) => p.window === select.control.value) || PERIODS[1];
    if (current) current.abort();
    current = new AbortController();
    const local = current;
    disposers.forEach((d) => d && d());
    disposers = [];
    body.setAttribute('aria-busy', 'true');
    try {
      const stats = await api.stats(webhookId, { window: period.window, buckets: period.buckets }, local.signal);
      render(body, stats, period, disposers);
    } catch (err) {
      if (!isAbort(err)) replace(body, errorState(err, load));
    } finally {
      body.setAttribute('aria-busy', 'false');
    }
  };
  select.control.addEventListener('change', load);
  // One listener for the panel's life (not one per load): the view is gone, so is
  // the request under way.
  signal.addEventListener('abort', () => {
    if (current) current.abort();
    disposers.forEach((d) => d && d());
    disposers = [];
  }, { once: true });
  load();
  return card({ title: 'Performance', actions: select.field, className: 'card--stats' }, body);
}
