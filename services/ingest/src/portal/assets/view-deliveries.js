// view-deliveries.js — #/endpoints/<id>/deliveries: an endpoint's delivery log with filters, pages, live updates and recovery.

import { api } from './api.js';
import { h, replace } from './dom.js';
import { hrefFor, pushQuiet, setTitle } from './router.js';
import { canWrite } from './session.js';
import { loadCatalogue } from './catalogue.js';
import { confirmDialog } from './dialog.js';
import { flash, flashError } from './notify.js';
import { isAbort, isNotFound } from './errors.js';
import { field } from './form.js';
import { formatCount, formatDateTime, isoToLocalInput, localInputToIso } from './format.js';
import { card, emptyState, errorState, loadingState, notFoundState, pageHeader, statusBadge } from './ui.js';
import { deliveriesTable } from './deliveries-table.js';
import { liveIndicator, poller } from './live.js';

const PAGE_SIZE = 25;
const STATUSES = [['', 'Any status'], ['success', 'Success'], ['failed', 'Failed'], ['retrying', 'Retrying'], ['pending', 'Pending']];

function filtersFrom(query) {
  return {
    status: query.get('status') || '',
    event_type: query.get('event_type') || '',
    since: query.get('since') || '',
    until: query.get('until') || '',
  };
}

function filtersForm(filters, catalogue, onApply) {
  const status = field({ label: 'Status', kind: 'select', id: 'filter-status', options: STATUSES });
  status.control.value = filters.status;
  const listId = 'event-type-options';
  const eventType = field({ label: 'Event type', id: 'filter-event-type', value: filters.event_type, list: listId, placeholder: 'Any event type', autocomplete: 'off', spellcheck: 'false' });
  const since = field({ label: 'From', id: 'filter-since', type: 'datetime-local', value: isoToLocalInput(filters.since) });
  const until = field({ label: 'Until', id: 'filter-until', type: 'datetime-local', value: isoToLocalInput(filters.until) });
  const clear = h('button', { type: 'button', class: 'btn btn--ghost' }, 'Clear filters');
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter deliveries' },
    status.field, eventType.field, since.field, until.field,
    h('datalist', { id: listId }, catalogue.map((t) => h('option', { value: t.name }))),
    h('div', { class: 'filters__actions' }, h('button', { type: 'submit', class: 'btn btn--primary' }, 'Apply'), clear));
  const read = () => ({
    status: status.control.value,
    event_type: eventType.control.value.trim(),
    since: localInputToIso(since.control.value),
    until: localInputToIso(until.control.value),
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    onApply(read());
  });
  clear.addEventListener('click', () => {
    status.control.value = '';
    eventType.control.value = '';
    since.control.value = '';
    until.control.value = '';
    onApply(read());
  });
  return form;
}

function recoverCard(webhook, onRecovered) {
  const dayAgo = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
  const since = field({ label: 'Failed deliveries since', id: 'recover-since', type: 'datetime-local', required: true, value: isoToLocalInput(dayAgo), hint: 'Every delivery that failed for good and was last attempted since then is sent once more.' });
  const submit = h('button', { type: 'submit', class: 'btn' }, 'Recover');
  const form = h('form', { class: 'recover', 'aria-label': 'Recover failed deliveries' }, since.field, h('div', { class: 'recover__actions' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const iso = localInputToIso(since.control.value);
    if (!iso) {
      flash('error', 'Enter the date and time to recover from.');
      since.control.focus();
      return;
    }
    const ok = await confirmDialog({
      title: 'Send failed deliveries again?',
      message: `Every delivery to ${webhook.url} that failed and was last attempted since ${formatDateTime(iso)} is attempted once more.`,
      confirmLabel: 'Recover deliveries',
      danger: false,
    });
    if (!ok) return;
    submit.disabled = true;
    try {
      const answer = await api.recover(webhook.webhook_id, iso);
      flash('success', answer.recovered
        ? `${answer.recovered} failed deliver${answer.recovered === 1 ? 'y is' : 'ies are'} being sent again.`
        : 'There were no failed deliveries since then: nothing to send again.');
      onRecovered();
    } catch (err) {
      flashError(err);
    } finally {
      submit.disabled = false;
    }
  });
  return card({ title: 'Recover failed deliveries', className: 'card--recover' },
    webhook.status === 'disabled' ? h('p', { class: 'callout callout--warning', text: 'Enable the endpoint first: a disabled endpoint gets no deliveries, recovered ones included.' }) : null,
    form);
}

function totalText(page, filtered) {
  if (page.total === null || page.total === undefined || (page.total === 0 && page.total_exact)) return '';
  const n = page.total_exact ? formatCount(page.total) : `More than ${formatCount(page.total)}`;
  return `${n} deliver${page.total === 1 && page.total_exact ? 'y' : 'ies'}${filtered ? ' match these filters' : ''}`;
}

export async function deliveriesView({ root, params, query, signal }) {
  const id = params[0];
  setTitle('Deliveries');
  let filters = filtersFrom(query);
  let cursor = query.get('cursor') || '';
  const cursorsBefore = []; // the cursors of the newer pages, for "Newer"
  const base = `/endpoints/${encodeURIComponent(id)}/deliveries`;

  let webhook;
  let catalogue;
  try {
    [webhook, catalogue] = await Promise.all([api.getWebhook(id, signal), loadCatalogue(signal).catch(() => [])]);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    setTitle('Not found');
    replace(root, notFoundState('endpoint'));
    return;
  }
  setTitle(`Deliveries · ${webhook.description || webhook.url}`);

  const indicator = liveIndicator();
  const summary = h('p', { class: 'log-summary muted', 'aria-live': 'polite' });
  const listArea = h('div', { class: 'log-list' }, loadingState('Loading deliveries…'));
  const newer = h('button', { type: 'button', class: 'btn' }, '← Newer');
  const older = h('button', { type: 'button', class: 'btn' }, 'Older →');
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of deliveries' }, newer, older);
  let table = null;
  let nextCursor = null;

  const filtered = () => Boolean(filters.status || filters.event_type || filters.since || filters.until);
  const queryFor = (c) => ({ limit: PAGE_SIZE, ...filters, cursor: c || undefined });
  const href = () => hrefFor(base, { ...filters, cursor: cursor || undefined });

  const show = (page, { live = false } = {}) => {
    nextCursor = page.next_cursor || null;
    if (!page.deliveries.length) {
      if (live && !table && listArea.querySelector('.empty')) return finishShow(page);
      table = null;
      replace(listArea, emptyState(filtered()
        ? { title: 'No deliveries match these filters', text: 'Change or clear the filters to see more.' }
        : { title: 'No deliveries yet', text: 'A delivery appears here, live, as soon as an event this endpoint subscribes to is sent.' }));
    } else if (table && live) {
      table.update(page.deliveries, { markNew: true });
    } else if (live) {
      // The first deliveries arrive while the page is open.
      table = deliveriesTable({ rows: [], caption: `Deliveries to ${webhook.url}`, onRetried: () => refreshSoon(), canRetry: webhook.status !== 'disabled' });
      table.update(page.deliveries, { markNew: true });
      replace(listArea, table.node);
    } else {
      table = deliveriesTable({ rows: page.deliveries, caption: `Deliveries to ${webhook.url}`, onRetried: () => refreshSoon(), canRetry: webhook.status !== 'disabled' });
      replace(listArea, table.node);
    }
    finishShow(page);
  };

  const finishShow = (page) => {
    const text = cursor ? 'Showing older deliveries.' : totalText(page, filtered());
    if (summary.textContent !== text) summary.textContent = text;
    newer.hidden = !cursor;
    older.hidden = !nextCursor;
    pager.hidden = newer.hidden && older.hidden;
  };

  const live = poller({
    signal,
    indicator,
    wanted: () => !cursor,
    pausedText: () => 'Paused on older pages',
    tick: async (tickSignal) => {
      const page = await api.listDeliveries(id, queryFor(''), tickSignal);
      show(page, { live: true });
    },
  });

  const load = async (focusTarget) => {
    listArea.setAttribute('aria-busy', 'true');
    try {
      const page = await api.listDeliveries(id, queryFor(cursor), signal);
      show(page);
      if (focusTarget) focusTarget();
    } catch (err) {
      if (isAbort(err)) return;
      table = null;
      replace(listArea, errorState(err, () => load()));
    } finally {
      listArea.setAttribute('aria-busy', 'false');
    }
    live.resume();
  };

  // After a retry or recovery: show the outcome as soon as Herald has it. The
  // timers go with the view.
  const soon = new Set();
  signal.addEventListener('abort', () => {
    for (const timer of soon) window.clearTimeout(timer);
    soon.clear();
  }, { once: true });
  function refreshSoon() {
    if (signal.aborted) return;
    const again = cursor ? () => load() : () => live.now();
    const timer = window.setTimeout(() => {
      soon.delete(timer);
      if (!signal.aborted) again();
    }, cursor ? 1000 : 700);
    soon.add(timer);
  }

  const goTo = (newCursor, focusEl) => {
    cursor = newCursor;
    pushQuiet(href());
    load(() => {
      const target = !focusEl.hidden ? focusEl : (older.hidden ? newer : older);
      if (!target.hidden) target.focus();
    });
  };
  older.addEventListener('click', () => {
    cursorsBefore.push(cursor);
    goTo(nextCursor, older);
  });
  newer.addEventListener('click', () => goTo(cursorsBefore.length ? cursorsBefore.pop() : '', newer));

  const form = filtersForm(filters, catalogue, (next) => {
    filters = next;
    cursor = '';
    cursorsBefore.length = 0;
    pushQuiet(href());
    load();
  });

  replace(root,
    pageHeader({
      title: 'Deliveries',
      subtitle: webhook.url,
      breadcrumbs: [
        { label: 'Endpoints', href: '#/endpoints' },
        { label: webhook.description || webhook.url, href: `#/endpoints/${encodeURIComponent(id)}` },
        { label: 'Deliveries' },
      ],
      badges: [statusBadge(webhook.status)],
    }),
    webhook.status === 'disabled'
      ? h('p', { class: 'callout callout--danger' }, h('strong', { text: 'This endpoint is disabled. ' }), webhook.disabled_reason || '', ' ', h('a', { href: `#/endpoints/${encodeURIComponent(id)}`, text: 'Open the endpoint' }))
      : null,
    card({ title: 'Filters', className: 'card--filters' }, form),
    h('section', { class: 'log', 'aria-labelledby': 'log-title' },
      h('div', { class: 'log__bar' },
        h('h2', { class: 'section-title', id: 'log-title', text: 'Delivery log' }),
        indicator.node),
      summary,
      listArea,
      pager),
    canWrite() ? recoverCard(webhook, refreshSoon) : null);
  pager.hidden = true;
  await load();
}
