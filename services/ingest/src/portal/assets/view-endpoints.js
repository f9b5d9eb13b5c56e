// view-endpoints.js — #/endpoints: the tenant's webhook endpoints, with their state, and the way to add one.

import { api } from './api.js';
import { h, replace } from './dom.js';
import { setTitle } from './router.js';
import { canWrite } from './session.js';
import { chips, dataTable, emptyState, pageHeader, statusBadge, timeEl } from './ui.js';

const MAX_CHIPS = 3;

function eventsCell(events) {
  const shown = events.slice(0, MAX_CHIPS);
  const more = events.length - shown.length;
  return h('div', {}, chips(shown), more > 0 ? h('span', { class: 'muted small', text: `+${more} more` }) : null);
}

function endpointCell(w) {
  return h('div', { class: 'endpoint-cell' },
    h('a', { class: 'endpoint-cell__url', href: `#/endpoints/${encodeURIComponent(w.webhook_id)}`, text: w.url }),
    w.description ? h('span', { class: 'endpoint-cell__desc muted', text: w.description }) : null);
}

function statusCell(w) {
  return h('div', { class: 'status-cell' },
    statusBadge(w.status),
    w.status === 'disabled' && w.disabled_reason ? h('span', { class: 'status-cell__reason small', text: w.disabled_reason }) : null);
}

export async function endpointsView({ root, signal }) {
  setTitle('Endpoints');
  const { webhooks } = await api.listWebhooks(signal);
  const addButton = canWrite() ? h('a', { class: 'btn btn--primary', href: '#/endpoints/new' }, h('span', { 'aria-hidden': 'true', class: 'btn__icon', text: '+' }), 'Add endpoint') : null;
  const sorted = [...webhooks].sort((a, b) => (b.created_at || '').localeCompare(a.created_at || ''));
  const disabled = sorted.filter((w) => w.status === 'disabled').length;

  const header = pageHeader({
    title: 'Endpoints',
    subtitle: webhooks.length
      ? `${webhooks.length} endpoint${webhooks.length === 1 ? '' : 's'}${disabled ? `, ${disabled} disabled` : ''}. Herald sends each event to every endpoint subscribed to its type.`
      : 'Where Herald sends your events.',
    actions: [addButton],
  });

  if (!webhooks.length) {
    replace(root, header, emptyState({
      title: 'No endpoints yet',
      text: canWrite()
        ? 'Add an endpoint: a URL of yours that receives an HTTP POST for every event it subscribes to.'
        : 'No endpoint has been set up for this account yet.',
      action: addButton ? h('a', { class: 'btn btn--primary', href: '#/endpoints/new' }, 'Add your first endpoint') : null,
    }));
    return;
  }

  replace(root, header, dataTable({
    caption: 'Endpoints',
    rows: sorted,
    rowKey: (w) => w.webhook_id,
    rowClass: (w) => (w.status === 'disabled' ? 'row--warning' : null),
    columns: [
      { label: 'Endpoint', cell: endpointCell, className: 'col-grow' },
      { label: 'Status', cell: statusCell },
      { label: 'Events', cell: (w) => eventsCell(w.events) },
      { label: 'Created', cell: (w) => timeEl(w.created_at), className: 'col-nowrap' },
    ],
  }));
}
