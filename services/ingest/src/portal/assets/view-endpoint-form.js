// view-endpoint-form.js — #/endpoints/new and #/endpoints/<id>/edit: the endpoint form, checked here and by Herald.

import { api } from './api.js';
import { h, replace, uid } from './dom.js';
import { navigate, setTitle } from './router.js';
import { canWrite } from './session.js';
import { loadCatalogue } from './catalogue.js';
import { busy, clearFieldErrors, errorSummary, field, setFieldError } from './form.js';
import { secretDialog } from './dialog.js';
import { flashAfterNavigation } from './notify.js';
import { describeError, isNotFound } from './errors.js';
import { PAYLOAD_FORMATS, payloadFormatLabel } from './format.js';
import { emptyState, notFoundState, pageHeader } from './ui.js';

const PATTERN = /^(([A-Za-z0-9_-]+|\*)(\.([A-Za-z0-9_-]+|\*))*(\.>)?|>)$/;
const DELAY = /^[0-9]+(ms|s|m|h|d)$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const MAX_HEADERS = 20;

function splitList(text) {
  return text.split(/[\s,]+/).map((t) => t.trim()).filter(Boolean);
}

// The event checkboxes (from the catalogue) and the free-text patterns.
function eventsFieldset(catalogue, selected) {
  const known = new Set(catalogue.map((t) => t.name));
  const extra = selected.filter((e) => !known.has(e));
  const box = (t) => {
    const id = uid('evt');
    return h('li', { class: 'check' },
      h('input', { type: 'checkbox', id, class: 'check__box', value: t.name, checked: selected.includes(t.name), name: 'event-type' }),
      h('label', { for: id, class: 'check__label' },
        h('span', { class: 'check__name mono', text: t.name }),
        t.description ? h('span', { class: 'check__desc muted', text: t.description }) : null));
  };
  // Grouped by their first part (job, training, ...), in the catalogue's order.
  const groups = new Map();
  for (const t of catalogue) {
    const family = t.name.split('.')[0];
    if (!groups.has(family)) groups.set(family, []);
    groups.get(family).push(t);
  }
  const boxes = [...groups].map(([family, types]) => {
    const headingId = uid('family');
    return h('div', { class: 'check-group', role: 'group', 'aria-labelledby': headingId },
      h('p', { class: 'check-group__title', id: headingId, text: family }),
      h('ul', { class: 'checks' }, types.map(box)));
  });
  const patterns = field({
    label: catalogue.length ? 'Other event types or patterns' : 'Event types or patterns',
    id: 'ep-patterns',
    optional: catalogue.length > 0,
    hint: '* stands for one part, a final > for the rest: job.* or training.>. Separate several with commas.',
    value: extra.join(', '),
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'job.*, training.>',
  });
  const fieldset = h('fieldset', { class: 'fieldset', id: 'ep-events' },
    h('legend', { class: 'fieldset__legend', text: 'Events to send' }),
    catalogue.length
      ? h('p', { class: 'field__hint', text: 'Pick from the event types this platform sends, or enter patterns below.' })
      : null,
    catalogue.length ? h('div', { class: 'check-groups' }, boxes) : null,
    patterns.field);
  return { node: fieldset, patterns: patterns.control };
}

// Name/value rows for custom headers.
function headersFieldset(initial) {
  const list = h('div', { class: 'header-rows' });
  const addButton = h('button', { type: 'button', class: 'btn btn--small' }, '+ Add header');
  const renumber = () => {
    [...list.children].forEach((row, i) => {
      const n = i + 1;
      row.querySelector('[data-part=name-label]').textContent = `Header ${n} name`;
      row.querySelector('[data-part=value-label]').textContent = `Header ${n} value`;
      row.querySelector('[data-part=remove]').setAttribute('aria-label', `Remove header ${n}`);
    });
    addButton.disabled = list.children.length >= MAX_HEADERS;
  };
  const addRow = (name = '', value = '', focus = false) => {
    const nameId = uid('hname');
    const valueId = uid('hvalue');
    const nameInput = h('input', { id: nameId, class: 'input input--mono', value: name, autocomplete: 'off', spellcheck: 'false', placeholder: 'Authorization', 'data-part': 'name' });
    const valueInput = h('input', { id: valueId, class: 'input input--mono', value, autocomplete: 'off', spellcheck: 'false', placeholder: 'Bearer …', 'data-part': 'value' });
    nameInput.dataset.errorId = `${nameId}-error`;
    valueInput.dataset.errorId = `${valueId}-error`;
    const row = h('div', { class: 'header-row' },
      h('div', { class: 'field' },
        h('label', { for: nameId, class: 'field__label', 'data-part': 'name-label' }),
        nameInput,
        h('p', { class: 'field__error', id: `${nameId}-error`, hidden: true })),
      h('div', { class: 'field' },
        h('label', { for: valueId, class: 'field__label', 'data-part': 'value-label' }),
        valueInput,
        h('p', { class: 'field__error', id: `${valueId}-error`, hidden: true })),
      h('button', {
        type: 'button', class: 'btn btn--ghost btn--small header-row__remove', 'data-part': 'remove',
        onclick: () => {
          const next = row.nextElementSibling || row.previousElementSibling;
          row.remove();
          renumber();
          (next ? next.querySelector('input') : addButton).focus();
        },
      }, 'Remove'));
    list.append(row);
    renumber();
    if (focus) nameInput.focus();
  };
  addButton.addEventListener('click', () => addRow('', '', true));
  for (const [name, value] of Object.entries(initial || {})) addRow(name, value);
  const node = h('fieldset', { class: 'fieldset' },
    h('legend', { class: 'fieldset__legend' }, 'Custom headers', h('span', { class: 'field__optional', text: ' (optional)' })),
    h('p', { class: 'field__hint', text: 'Sent with every delivery, e.g. an Authorization header your receiver checks.' }),
    list,
    addButton);
  const rows = () => [...list.children].map((row) => ({
    name: row.querySelector('[data-part=name]'),
    value: row.querySelector('[data-part=value]'),
  }));
  return { node, rows };
}

// Reads and checks the form; returns { body, errors: [[control, message]] }.
function readForm(els, mode, webhook) {
  const errors = [];
  const body = {};
  const url = els.url.value.trim();
  if (!url) errors.push([els.url, 'Enter the URL Herald should send events to.']);
  else if (!/^https?:\/\/\S+$/i.test(url)) errors.push([els.url, 'The URL must start with http:// or https://.']);
  body.url = url;

  const checked = [...els.form.querySelectorAll('input[name=event-type]:checked')].map((c) => c.value);
  const typed = splitList(els.patterns.value);
  const bad = typed.filter((p) => !PATTERN.test(p));
  if (bad.length) errors.push([els.patterns, `Not an event type or pattern: ${bad.join(', ')}`]);
  const events = [...new Set([...checked, ...typed])];
  if (!events.length && !bad.length) errors.push([els.patterns, 'Choose at least one event type, or enter a pattern.']);
  body.events = events;

  body.description = els.description.value.trim();
  body.payload_format = els.format.value;

  const headers = {};
  const seen = new Set();
  for (const { name, value } of els.headers.rows()) {
    const n = name.value.trim();
    const v = value.value;
    if (!n && !v.trim()) continue;
    if (!n) errors.push([name, 'Enter the header’s name.']);
    else if (!HEADER_NAME.test(n)) errors.push([name, `“${n}” is not a valid header name.`]);
    else if (seen.has(n.toLowerCase())) errors.push([name, `The header ${n} is listed twice.`]);
    else {
      seen.add(n.toLowerCase());
      headers[n] = v;
    }
  }
  body.headers = headers;

  const rate = els.rate.value.trim();
  if (rate && !(/^\d+$/.test(rate) && Number(rate) <= 10000)) errors.push([els.rate, 'Enter a whole number from 0 to 10000.']);
  body.rate_limit_per_sec = rate ? Number(rate) : 0;

  const delays = splitList(els.retry.value);
  const badDelays = delays.filter((d) => !DELAY.test(d));
  if (badDelays.length) errors.push([els.retry, `Not a delay: ${badDelays.join(', ')}. Write delays like 30s, 5m, 2h or 1d.`]);
  else if (delays.length > 20) errors.push([els.retry, 'At most 20 delays.']);
  body.retry_schedule = delays;

  const timeout = els.timeout.value.trim();
  if (timeout) {
    if (!(/^\d+$/.test(timeout) && Number(timeout) >= 1000 && Number(timeout) <= 30000)) errors.push([els.timeout, 'Enter a number of milliseconds from 1000 to 30000.']);
    body.timeout_ms = Number(timeout);
  } else if (mode === 'edit' && webhook && webhook.timeout_ms !== null && webhook.timeout_ms !== undefined) {
    errors.push([els.timeout, 'A timeout, once set, cannot be removed: enter one from 1000 to 30000 ms.']);
  }
  if (mode === 'create') {
    if (!body.description) delete body.description;
    if (!Object.keys(body.headers).length) delete body.headers;
    if (!rate) delete body.rate_limit_per_sec;
    if (!delays.length) delete body.retry_schedule;
  }
  return { body, errors };
}

function readOnlyState() {
  return emptyState({
    title: 'This session is read-only',
    text: 'You can look at endpoints and deliveries, but not change them.',
    action: h('a', { class: 'btn', href: '#/endpoints' }, 'Back to endpoints'),
  });
}

export async function endpointFormView({ root, signal, params, mode }) {
  const editing = mode === 'edit';
  const id = editing ? params[0] : null;
  setTitle(editing ? 'Edit endpoint' : 'Add endpoint');
  let catalogue;
  let webhook;
  try {
    [catalogue, webhook] = await Promise.all([
      loadCatalogue(signal),
      editing ? api.getWebhook(id, signal) : Promise.resolve(null),
    ]);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    setTitle('Not found');
    replace(root, notFoundState('endpoint'));
    return;
  }
  const base = editing ? `#/endpoints/${encodeURIComponent(id)}` : '#/endpoints';
  const header = pageHeader({
    title: editing ? 'Edit endpoint' : 'Add endpoint',
    subtitle: editing ? webhook.url : 'Herald will POST every event this endpoint subscribes to, signed with its secret.',
    breadcrumbs: [
      { label: 'Endpoints', href: '#/endpoints' },
      editing ? { label: webhook.url, href: base } : null,
      { label: editing ? 'Edit' : 'Add endpoint' },
    ].filter(Boolean),
  });
  if (!canWrite()) {
    replace(root, header, readOnlyState());
    return;
  }

  const w = webhook || {};
  const summary = errorSummary();
  const url = field({ label: 'Endpoint URL', id: 'ep-url', type: 'url', required: true, value: w.url || '', placeholder: 'https://example.com/webhooks', autocomplete: 'url', spellcheck: 'false', hint: 'An http:// or https:// address of yours that accepts POST requests.' });
  const description = field({ label: 'Description', kind: 'textarea', id: 'ep-description', optional: true, rows: 2, maxlength: 1024, value: w.description || '' });
  const events = eventsFieldset(catalogue, w.events || []);
  const format = field({ label: 'Payload format', kind: 'select', id: 'ep-format', options: PAYLOAD_FORMATS.map((f) => [f, payloadFormatLabel(f)]), hint: 'Envelope wraps the event’s data with its id, type and time; Data only sends the data alone.' });
  format.control.value = w.payload_format || 'envelope';
  const headers = headersFieldset(w.headers);
  const rate = field({ label: 'Rate limit (deliveries per second)', id: 'ep-rate', optional: true, inputmode: 'numeric', value: w.rate_limit_per_sec ? String(w.rate_limit_per_sec) : '', placeholder: 'No limit', hint: 'Empty or 0 for no limit.' });
  const retry = field({ label: 'Retry schedule', id: 'ep-retry', optional: true, value: (w.retry_schedule || []).join(', '), placeholder: '30s, 5m, 2h', autocomplete: 'off', spellcheck: 'false', hint: 'Delays before each retry of a failed delivery. Empty for the platform’s default schedule.' });
  const timeout = field({ label: 'Timeout (milliseconds)', id: 'ep-timeout', optional: true, inputmode: 'numeric', value: w.timeout_ms ? String(w.timeout_ms) : '', placeholder: 'Default', hint: 'How long one attempt may take: 1000 to 30000.' });

  const submit = h('button', { type: 'submit', class: 'btn btn--primary' }, editing ? 'Save changes' : 'Create endpoint');
  const form = h('form', { class: 'form card', novalidate: true, 'aria-label': editing ? 'Edit endpoint' : 'Add endpoint' },
    summary.node,
    h('div', { class: 'form__section' }, url.field, description.field),
    h('div', { class: 'form__section' }, events.node),
    h('div', { class: 'form__section' },
      h('h2', { class: 'form__heading', text: 'Delivery settings' }),
      format.field,
      h('div', { class: 'form__grid' }, rate.field, timeout.field),
      retry.field),
    h('div', { class: 'form__section' }, headers.node),
    h('div', { class: 'form__actions' }, submit, h('a', { class: 'btn btn--ghost', href: base }, 'Cancel')));

  const els = {
    form, url: url.control, description: description.control, patterns: events.patterns, format: format.control,
    headers, rate: rate.control, retry: retry.control, timeout: timeout.control,
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFieldErrors(form);
    summary.hide();
    const { body, errors } = readForm(els, mode, webhook);
    if (errors.length) {
      for (const [control, message] of errors) setFieldError(control, message);
      summary.show(`Fix ${errors.length === 1 ? 'this' : `these ${errors.length}`} before saving:`, errors);
      return;
    }
    await busy(submit, editing ? 'Saving…' : 'Creating…', async () => {
      try {
        if (editing) {
          await api.updateWebhook(id, body);
          flashAfterNavigation('success', 'Endpoint saved.');
          navigate(base);
        } else {
          const created = await api.createWebhook(body);
          await secretDialog({
            title: 'Endpoint created',
            secret: created.secret,
            lines: ['Your receiver uses this secret to check that each request comes from us (Standard Webhooks signatures).'],
          });
          flashAfterNavigation('success', 'Endpoint created.', created.url);
          navigate(`#/endpoints/${encodeURIComponent(created.webhook_id)}`);
        }
      } catch (err) {
        const { title, detail } = describeError(err);
        summary.show(editing ? 'The endpoint was not saved.' : 'The endpoint was not created.', [], [title, detail]);
      }
    });
  });

  replace(root, header, form);
}
