// view-delivery.js — #/deliveries/<id>: one delivery: its event's payload, every attempt with the answer it got, and Retry.

import { api } from './api.js';
import { h, replace } from './dom.js';
import { setTitle } from './router.js';
import { canWrite } from './session.js';
import { flash, flashError } from './notify.js';
import { errorText, isAbort, isNotFound } from './errors.js';
import { formatDateTime, formatMs, formatRelative, prettyBody, prettyJson } from './format.js';
import { card, codeBlock, definitionList, emptyState, notFoundState, pageHeader, statusBadge, timeEl } from './ui.js';
import { liveIndicator, poller } from './live.js';

const TRIGGERS = { first: 'First attempt', auto: 'Automatic retry', retry: 'Automatic retry', manual: 'Manual retry' };

function attemptView(a, open) {
  const ok = a.status === 'succeeded' || a.status === 'success';
  const code = a.status_code !== null && a.status_code !== undefined ? `HTTP ${a.status_code}` : 'No response';
  return h('details', { class: ['attempt', ok ? 'attempt--ok' : 'attempt--bad'], open },
    h('summary', { class: 'attempt__summary' },
      h('span', { class: 'attempt__number', text: `Attempt ${a.attempt}` }),
      h('span', { class: ['badge', ok ? 'badge--success' : 'badge--failed'], text: ok ? 'Succeeded' : 'Failed' }),
      h('span', { class: 'mono', text: code }),
      h('span', { class: 'muted', text: formatMs(a.response_time_ms) }),
      h('span', { class: 'muted attempt__when' }, h('time', { datetime: a.timestamp, title: a.timestamp }, formatDateTime(a.timestamp)))),
    h('div', { class: 'attempt__body' },
      definitionList([
        ['Trigger', TRIGGERS[a.trigger] || a.trigger],
        ['Status code', a.status_code ?? null],
        ['Response time', formatMs(a.response_time_ms)],
        a.error ? ['Error', h('span', { class: 'text-danger', text: a.error })] : null,
      ]),
      h('p', { class: 'field__label', text: 'Response body (first 4 KiB)' }),
      a.response_body ? codeBlock(prettyBody(a.response_body), `Response body of attempt ${a.attempt}`) : h('p', { class: 'muted small', text: 'Empty.' })));
}

function attemptsSection(d) {
  if (!d.attempts.length) {
    return emptyState({ title: 'Not attempted yet', text: d.next_attempt_at ? `The first attempt is due ${formatRelative(d.next_attempt_at)}.` : 'Herald makes the first attempt in a moment.' });
  }
  const newestFirst = [...d.attempts].sort((a, b) => b.attempt - a.attempt);
  return h('div', { class: 'attempts' },
    d.attempt_count > d.attempts.length ? h('p', { class: 'muted small', text: `Showing the latest ${d.attempts.length} of ${d.attempt_count} attempts.` }) : null,
    newestFirst.map((a, i) => attemptView(a, i === 0)));
}

function summarySection(d, webhook) {
  const endpointHref = `#/endpoints/${encodeURIComponent(d.webhook_id)}`;
  return definitionList([
    ['Status', statusBadge(d.status)],
    ['Event type', h('span', { class: 'mono', text: d.event_type })],
    ['Event ID', h('span', { class: 'mono break', text: d.event_id })],
    ['Delivery ID', h('span', { class: 'mono break', text: d.delivery_id })],
    ['Endpoint', h('a', { class: 'break', href: endpointHref, text: webhook ? webhook.url : d.webhook_id })],
    ['Created', timeEl(d.created_at)],
    ['Last change', timeEl(d.timestamp)],
    d.next_attempt_at ? ['Next attempt', h('span', {}, timeEl(d.next_attempt_at), ` (${formatRelative(d.next_attempt_at)})`)] : null,
    ['Attempts', String(d.attempt_count)],
  ]);
}

// The request Herald sends (made again by the API from the event and the endpoint as they are now).
function requestSection(req) {
  const names = Object.keys(req.headers).sort();
  return h('div', {},
    h('p', { class: 'request-line mono break' }, h('strong', { text: req.method }), ' ', req.url),
    h('p', { class: 'muted small', text: `As sent on attempt ${req.attempt}, rebuilt from the event and the endpoint’s current settings. The signatures are made for each attempt with the secret of the moment, so they are described here, not shown.` }),
    h('h3', { class: 'subheading', text: 'Headers' }),
    h('div', { class: 'table-wrap headers-table' }, h('table', { class: 'table table--compact' },
      h('caption', { class: 'sr-only', text: 'Request headers' }),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: 'Name' }), h('th', { scope: 'col', text: 'Value' }))),
      h('tbody', {}, names.map((n) => h('tr', {},
        h('td', { class: 'mono', 'data-label': 'Name', text: n }),
        h('td', { class: 'mono break', 'data-label': 'Value', text: req.headers[n] })))))),
    h('h3', { class: 'subheading', text: 'Body' }),
    codeBlock(prettyBody(req.body), 'Request body'));
}

// Without the request (an older Herald, or its endpoint is gone): the event's data.
function eventSection(event, err) {
  if (err) return h('p', { class: 'muted', text: isNotFound(err) ? 'The event is no longer kept, so the request cannot be shown.' : errorText(err) });
  return h('div', {},
    h('p', { class: 'muted small' }, 'Herald sent this data in the endpoint’s payload format, signed with its secret (webhook-id: ', h('span', { class: 'mono', text: event.event_id }), ').'),
    definitionList([
      ['Happened', timeEl(event.timestamp)],
      ['Accepted', timeEl(event.accepted_at)],
      event.job_id ? ['Job', h('span', { class: 'mono', text: event.job_id })] : null,
    ]),
    h('h3', { class: 'subheading', text: 'Event data' }),
    codeBlock(prettyJson(event.data), 'Event data'));
}

async function payloadSection(delivery, signal) {
  try {
    return requestSection(await api.getDeliveryRequest(delivery.delivery_id, signal));
  } catch (err) {
    if (isAbort(err) || err.status === 401) throw err;
    try {
      return eventSection(await api.getEvent(delivery.event_id, signal), null);
    } catch (eventErr) {
      if (isAbort(eventErr) || eventErr.status === 401) throw eventErr;
      return eventSection(null, eventErr);
    }
  }
}

export async function deliveryView({ root, params, signal }) {
  const id = params[0];
  setTitle('Delivery');
  let delivery;
  try {
    delivery = await api.getDelivery(id, signal);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    setTitle('Not found');
    replace(root, notFoundState('delivery'));
    return;
  }
  const [webhook, payload] = await Promise.all([
    api.getWebhook(delivery.webhook_id, signal).catch(() => null),
    payloadSection(delivery, signal),
  ]);
  setTitle(`Delivery · ${delivery.event_type}`);
  const endpointHref = `#/endpoints/${encodeURIComponent(delivery.webhook_id)}`;

  const badgeBox = h('span', {}, statusBadge(delivery.status));
  const summaryBox = h('div', {}, summarySection(delivery, webhook));
  const attemptsBox = h('div', {}, attemptsSection(delivery));
  const indicator = liveIndicator();
  let watchUntil = 0; // while a retry is awaited
  let lastSig = JSON.stringify(delivery);

  const unsettled = () => delivery.status === 'pending' || delivery.status === 'retrying';
  const live = poller({
    signal,
    indicator,
    wanted: () => unsettled() || Date.now() < watchUntil,
    pausedText: () => 'Up to date',
    tick: async (tickSignal) => {
      const next = await api.getDelivery(id, tickSignal);
      const sig = JSON.stringify(next);
      if (sig === lastSig) return;
      lastSig = sig;
      const grew = next.attempt_count > delivery.attempt_count;
      delivery = next;
      replace(badgeBox, statusBadge(delivery.status));
      replace(summaryBox, summarySection(delivery, webhook));
      replace(attemptsBox, attemptsSection(delivery));
      if (grew) {
        watchUntil = 0;
        const latest = delivery.attempts[delivery.attempts.length - 1];
        flash(delivery.status === 'success' ? 'success' : 'info',
          `Attempt ${latest ? latest.attempt : delivery.attempt_count}: ${delivery.status === 'success' ? 'delivered' : 'failed'}${latest && latest.status_code ? ` (HTTP ${latest.status_code})` : ''}.`);
      }
    },
  });

  const onRetry = async (e) => {
    const button = e.currentTarget;
    button.disabled = true;
    try {
      const answer = await api.retryDelivery(delivery.webhook_id, delivery.delivery_id);
      flash('info', `Retry sent: attempt ${answer.attempt} is on its way.`);
      watchUntil = Date.now() + 60000;
      live.now();
    } catch (err) {
      flashError(err);
    } finally {
      button.disabled = false;
    }
  };

  replace(root,
    pageHeader({
      title: delivery.event_type,
      titleClass: 'mono-title',
      subtitle: `Delivery to ${webhook ? webhook.url : delivery.webhook_id}`,
      breadcrumbs: [
        { label: 'Endpoints', href: '#/endpoints' },
        { label: webhook ? (webhook.description || webhook.url) : delivery.webhook_id, href: endpointHref },
        { label: 'Deliveries', href: `${endpointHref}/deliveries` },
        { label: delivery.delivery_id },
      ],
      badges: [badgeBox],
      actions: [canWrite() && !(webhook && webhook.status === 'disabled') ? h('button', { type: 'button', class: 'btn btn--primary', onclick: onRetry }, 'Retry delivery') : null],
    }),
    webhook && webhook.status === 'disabled' && canWrite()
      ? h('p', { class: 'callout callout--danger' }, 'The endpoint is disabled, so this delivery cannot be retried until it is enabled. ', h('a', { href: endpointHref, text: 'Open the endpoint' }))
      : null,
    h('div', { class: 'grid-2 grid-2--wide-right' },
      card({ title: 'Summary' }, summaryBox),
      card({ title: 'Attempts', actions: indicator.node }, attemptsBox)),
    card({ title: 'Request' }, payload));
  live.resume();
}
