// format.js — dates, durations, percentages and JSON as the portal shows them.

const dateTime = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
});
const shortTime = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

function parse(iso) {
  if (!iso) return null;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

// "Nov 30, 2026, 12:00:05" in the viewer's time zone; "—" when there is none.
export function formatDateTime(iso) {
  const d = parse(iso);
  return d ? dateTime.format(d) : '—';
}

export function formatShort(iso) {
  const d = parse(iso);
  return d ? shortTime.format(d) : '—';
}

export function formatClock(iso) {
  const d = parse(iso);
  return d ? clock.format(d) : '—';
}

// "5 s ago", "in 3 min", ...
export function formatRelative(iso, now = Date.now()) {
  const d = parse(iso);
  if (!d) return '';
  const diff = (d.getTime() - now) / 1000;
  const abs = Math.abs(diff);
  const unit = abs < 60 ? [Math.round(abs), 's'] : abs < 3600 ? [Math.round(abs / 60), 'min'] : abs < 86400 ? [Math.round(abs / 3600), 'h'] : [Math.round(abs / 86400), 'd'];
  const text = `${unit[0]} ${unit[1]}`;
  return diff < 0 ? `${text} ago` : `in ${text}`;
}

export function formatMs(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

export function formatPercent(rate) {
  if (rate === null || rate === undefined) return '—';
  const p = rate * 100;
  return `${p === 100 || p === 0 ? p.toFixed(0) : p.toFixed(1)} %`;
}

export function formatCount(n) {
  return n === null || n === undefined ? '—' : new Intl.NumberFormat().format(n);
}

// Pretty JSON for <pre> blocks.
export function prettyJson(value) {
  return JSON.stringify(value, null, 2);
}

// A response body excerpt: pretty when it is JSON, as it is otherwise.
export function prettyBody(text) {
  if (!text) return '';
  try {
    return prettyJson(JSON.parse(text));
  } catch {
    return text;
  }
}

// <input type="datetime-local"> value ⇄ RFC 3339 (UTC).
export function localInputToIso(value) {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

export function isoToLocalInput(iso) {
  const d = parse(iso);
  if (!d) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

const STATUS_LABELS = {
  success: 'Success', failed: 'Failed', retrying: 'Retrying', pending: 'Pending',
  active: 'Active', disabled: 'Disabled', succeeded: 'Succeeded',
};

export function statusLabel(status) {
  return STATUS_LABELS[status] || status;
}

const FORMAT_LABELS = {
  envelope: 'Envelope (snake_case)',
  envelope_camel: 'Envelope (camelCase)',
  data: 'Data only',
};

export function payloadFormatLabel(format) {
  return FORMAT_LABELS[format] || format;
}

export const PAYLOAD_FORMATS = Object.keys(FORMAT_LABELS);
