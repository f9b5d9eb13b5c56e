// deliveries-table.js — the delivery log table (stacked cards on phones), updated in place by live polling.

import { api } from './api.js';
import { h } from './dom.js';
import { canWrite } from './session.js';
import { flash, flashError } from './notify.js';
import { formatDateTime, formatMs, formatRelative } from './format.js';
import { srOnly, statusBadge, tableRow } from './ui.js';

function responseText(d) {
  if (d.status === 'pending' && !d.attempts) return h('span', { class: 'muted', text: 'Not attempted yet' });
  const parts = [];
  parts.push(d.status_code !== null && d.status_code !== undefined ? `HTTP ${d.status_code}` : 'No response');
  if (d.response_time_ms !== null && d.response_time_ms !== undefined) parts.push(formatMs(d.response_time_ms));
  return h('span', { class: ['mono', 'small', 'response-cell', d.status_code >= 200 && d.status_code < 300 ? 'text-success' : null], text: parts.join(' · ') });
}

function statusCell(d) {
  return h('div', { class: 'status-cell' },
    statusBadge(d.status),
    d.status === 'retrying' && d.next_attempt_at
      ? h('span', { class: 'small muted' }, 'Next ', h('time', { datetime: d.next_attempt_at, title: formatDateTime(d.next_attempt_at) }, formatRelative(d.next_attempt_at)))
      : null);
}

function eventCell(d) {
  return h('div', { class: 'event-cell' },
    h('a', { class: 'mono', href: `#/deliveries/${encodeURIComponent(d.delivery_id)}`, 'data-focus-key': `open-${d.delivery_id}` },
      d.event_type, srOnly(` delivery, ${formatDateTime(d.created_at)}`)),
    h('span', { class: 'small muted mono event-cell__id', text: d.event_id }));
}

// { node, update(rows) }: `onRetried(delivery, answer)` runs after a retry was queued;
// `canRetry` false (a disabled endpoint) leaves the Retry buttons out.
export function deliveriesTable({ rows, caption = 'Deliveries', onRetried, canRetry = true }) {
  const writable = canWrite() && canRetry;
  const retryButton = (d) => {
    if (!writable) return null;
    const button = h('button', { type: 'button', class: 'btn btn--small', 'data-focus-key': `retry-${d.delivery_id}` },
      'Retry', srOnly(` ${d.event_type} delivery of ${formatDateTime(d.created_at)}`));
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        const answer = await api.retryDelivery(d.webhook_id, d.delivery_id);
        flash('success', `Retry sent: attempt ${answer.attempt} of this ${d.event_type} delivery is on its way.`);
        if (onRetried) onRetried(d, answer);
      } catch (err) {
        flashError(err);
      } finally {
        button.disabled = false;
      }
    });
    return button;
  };
  const columns = [
    { label: 'Status', cell: statusCell },
    { label: 'Event', cell: eventCell, className: 'col-grow' },
    { label: 'Response', cell: responseText },
    { label: 'Attempts', cell: (d) => String(d.attempts), className: 'col-num' },
    { label: 'Created', cell: (d) => h('time', { datetime: d.created_at, title: d.created_at }, formatDateTime(d.created_at)), className: 'col-nowrap' },
  ];
  if (writable) columns.push({ label: 'Actions', cell: retryButton, className: 'col-actions', hideLabel: true });

  const tbody = h('tbody', {});
  const table = h('table', { class: 'table table--deliveries' },
    h('caption', { class: 'sr-only', text: caption }),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.className }, c.label === 'Actions' ? srOnly('Actions') : c.label)))),
    tbody);
  const node = h('div', { class: 'table-wrap' }, table);
  let signatures = new Map();

  // Keeps rows that did not change (and the focus inside them); marks new rows.
  const update = (list, { markNew = false } = {}) => {
    const active = document.activeElement;
    const focusKey = active && tbody.contains(active) ? active.dataset.focusKey : null;
    const next = new Map();
    const existing = new Map([...tbody.children].map((tr) => [tr.dataset.key, tr]));
    const rowsOut = list.map((d) => {
      const sig = JSON.stringify(d);
      next.set(d.delivery_id, sig);
      const old = existing.get(d.delivery_id);
      if (old && signatures.get(d.delivery_id) === sig) return old;
      const tr = tableRow(columns, d, (x) => x.delivery_id, () => null);
      if (markNew && !signatures.has(d.delivery_id)) tr.classList.add('row--new');
      else if (markNew && old) tr.classList.add('row--changed');
      return tr;
    });
    tbody.replaceChildren(...rowsOut);
    signatures = next;
    if (focusKey && !tbody.contains(active)) {
      const again = tbody.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`);
      if (again) again.focus();
    }
  };
  update(rows);
  return { node, update };
}
