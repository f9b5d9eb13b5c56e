// view-endpoint.js — #/endpoints/<id>: one endpoint: its state, test, performance charts, recent deliveries, settings and actions.

import { api } from './api.js';
import { h, replace } from './dom.js';
import { navigate, setTitle } from './router.js';
import { canWrite } from './session.js';
import { confirmDialog, secretDialog } from './dialog.js';
import { flash, flashAfterNavigation, flashError } from './notify.js';
import { errorText, isAbort, isNotFound } from './errors.js';
import { formatDateTime, formatMs, payloadFormatLabel, prettyBody } from './format.js';
import { card, chips, codeBlock, definitionList, emptyState, loadingState, notFoundState, pageHeader, statusBadge, timeEl } from './ui.js';
import { statsPanel } from './stats-panel.js';
import { deliveriesTable } from './deliveries-table.js';

function disabledBanner(webhook, onEnable) {
  return h('section', { class: 'banner banner--danger', 'aria-labelledby': 'disabled-title' },
    h('div', { class: 'banner__text' },
      h('h2', { class: 'banner__title', id: 'disabled-title', text: 'This endpoint is disabled: Herald is not delivering to it' }),
      h('p', {}, h('strong', { text: 'Reason: ' }), webhook.disabled_reason || 'No reason was recorded.'),
      h('p', { class: 'muted small', text: canWrite()
        ? 'Fix the receiver, then enable the endpoint. Deliveries that failed meanwhile can be sent again from the delivery log (Recover).'
        : 'Ask someone with write access to enable it once the receiver works again.' })),
    canWrite() ? h('button', { type: 'button', class: 'btn btn--primary', onclick: onEnable }, 'Enable endpoint') : null);
}

// The outcome of "Send test event".
function testResult(result) {
  const ok = result.success;
  return h('div', { class: ['test-result', ok ? 'test-result--ok' : 'test-result--bad'] },
    h('p', { class: 'test-result__title' },
      h('strong', { text: ok ? 'Test event delivered' : 'Test event failed' }),
      ' ',
      h('span', { class: 'mono', text: result.status_code !== null && result.status_code !== undefined ? `HTTP ${result.status_code}` : 'No response' }),
      ' · ',
      h('span', { text: formatMs(result.response_time_ms) })),
    result.error ? h('p', { class: 'test-result__error' }, h('strong', { text: 'Error: ' }), result.error) : null,
    result.response_body
      ? h('div', {}, h('p', { class: 'field__label', text: 'Response body (excerpt)' }), codeBlock(prettyBody(result.response_body), 'Response body'))
      : h('p', { class: 'muted small', text: 'The response had no body.' }),
    h('p', { class: 'small' }, h('a', { href: `#/deliveries/${encodeURIComponent(result.delivery_id)}` }, 'Open this test delivery')));
}

function settings(webhook) {
  const headerNames = Object.keys(webhook.headers || {});
  return card({ title: 'Settings' }, definitionList([
    ['Endpoint ID', h('span', { class: 'mono', text: webhook.webhook_id })],
    ['URL', h('span', { class: 'mono break', text: webhook.url })],
    ['Events', chips(webhook.events)],
    ['Payload format', payloadFormatLabel(webhook.payload_format)],
    ['Custom headers', headerNames.length
      ? h('ul', { class: 'plain-list' }, headerNames.map((n) => h('li', { class: 'mono' }, n, h('span', { class: 'muted', text: ': ••••••' }))))
      : null],
    ['Rate limit', webhook.rate_limit_per_sec ? `${webhook.rate_limit_per_sec} per second` : 'No limit'],
    ['Retry schedule', webhook.retry_schedule && webhook.retry_schedule.length ? webhook.retry_schedule.join(', ') : 'Platform default'],
    ['Timeout', webhook.timeout_ms ? formatMs(webhook.timeout_ms) : 'Platform default'],
    ['Created', timeEl(webhook.created_at)],
    ['Updated', timeEl(webhook.updated_at)],
  ]));
}

function recentDeliveries(webhook, signal) {
  const href = `#/endpoints/${encodeURIComponent(webhook.webhook_id)}/deliveries`;
  const body = h('div', {}, loadingState('Loading deliveries…'));
  api.listDeliveries(webhook.webhook_id, { limit: 5 }, signal).then((page) => {
    if (!page.deliveries.length) {
      replace(body, emptyState({ title: 'No deliveries yet', text: 'Deliveries appear here as soon as an event this endpoint subscribes to is sent. Send a test event to try it.' }));
      return;
    }
    replace(body, deliveriesTable({ rows: page.deliveries, caption: 'Recent deliveries', canRetry: webhook.status !== 'disabled' }).node);
  }).catch((err) => {
    if (!isAbort(err)) replace(body, h('p', { class: 'muted', text: errorText(err) }));
  });
  return card({ title: 'Recent deliveries', actions: h('a', { class: 'btn btn--small', href }, 'View all deliveries') }, body);
}

export async function endpointView({ root, params, signal, path }) {
  const id = params[0];
  setTitle('Endpoint');
  let webhook;
  try {
    webhook = await api.getWebhook(id, signal);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    setTitle('Not found');
    replace(root, notFoundState('endpoint'));
    return;
  }
  setTitle(webhook.description || webhook.url);
  const self = `#${path}`;
  const writable = canWrite();
  const testArea = h('div', { class: 'test-area', 'aria-live': 'polite' });

  const onEnable = async (e) => {
    const button = e.currentTarget;
    button.disabled = true;
    try {
      await api.enableWebhook(id);
      flashAfterNavigation('success', 'Endpoint enabled: deliveries start again.');
      navigate(self);
    } catch (err) {
      button.disabled = false;
      flashError(err);
    }
  };

  const onTest = async (e) => {
    const button = e.currentTarget;
    button.disabled = true;
    button.textContent = 'Sending…';
    replace(testArea, loadingState('Sending a test event and waiting for the answer…'));
    try {
      const result = await api.testWebhook(id);
      replace(testArea, card({ title: 'Test result' }, testResult(result)));
    } catch (err) {
      replace(testArea);
      flashError(err);
    } finally {
      button.disabled = false;
      button.textContent = 'Send test event';
    }
  };

  const onRotate = async () => {
    const ok = await confirmDialog({
      title: 'Rotate the signing secret?',
      message: [
        'Herald makes a new secret and signs every delivery with it from now on.',
        'The current secret keeps signing beside the new one for a grace period, so you can update your receiver without missing a delivery.',
      ],
      confirmLabel: 'Rotate secret',
      danger: false,
    });
    if (!ok) return;
    try {
      const rotated = await api.rotateSecret(id);
      await secretDialog({
        title: 'New signing secret',
        secret: rotated.secret,
        lines: [`The previous secret keeps signing until ${formatDateTime(rotated.previous_secret_expires_at)}.`],
      });
      flash('success', 'Secret rotated.', `The previous one stops signing on ${formatDateTime(rotated.previous_secret_expires_at)}.`);
    } catch (err) {
      flashError(err);
    }
  };

  const onDelete = async () => {
    const ok = await confirmDialog({
      title: 'Delete this endpoint?',
      message: [`Herald stops sending events to ${webhook.url} at once, and the retries it still holds for it are dropped.`, 'This cannot be undone.'],
      confirmLabel: 'Delete endpoint',
    });
    if (!ok) return;
    try {
      await api.deleteWebhook(id);
      flashAfterNavigation('success', 'Endpoint deleted.', webhook.url);
      navigate('#/endpoints');
    } catch (err) {
      flashError(err);
    }
  };

  const header = pageHeader({
    title: webhook.url,
    titleClass: 'page-title--url',
    subtitle: webhook.description || null,
    breadcrumbs: [{ label: 'Endpoints', href: '#/endpoints' }, { label: webhook.description || webhook.url }],
    badges: [statusBadge(webhook.status)],
    actions: [
      h('a', { class: 'btn', href: `${self}/deliveries` }, 'Deliveries'),
      writable ? h('a', { class: 'btn', href: `${self}/edit` }, 'Edit') : null,
      writable ? h('button', { type: 'button', class: 'btn btn--primary', onclick: onTest }, 'Send test event') : null,
    ],
  });

  const danger = writable ? card({ title: 'Secret and removal', className: 'card--actions' },
    h('div', { class: 'action-row' },
      h('div', {}, h('p', { class: 'action-row__title', text: 'Signing secret' }), h('p', { class: 'muted small', text: 'Make a new secret; the current one keeps working for a grace period.' })),
      h('button', { type: 'button', class: 'btn', onclick: onRotate }, 'Rotate secret')),
    h('div', { class: 'action-row' },
      h('div', {}, h('p', { class: 'action-row__title', text: 'Delete endpoint' }), h('p', { class: 'muted small', text: 'Stop all deliveries to this URL for good.' })),
      h('button', { type: 'button', class: 'btn btn--danger', onclick: onDelete }, 'Delete endpoint'))) : null;

  replace(root,
    header,
    webhook.status === 'disabled' ? disabledBanner(webhook, onEnable) : null,
    testArea,
    statsPanel(id, signal),
    recentDeliveries(webhook, signal),
    h('div', { class: 'grid-2' }, settings(webhook), danger));
}
