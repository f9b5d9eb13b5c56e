// ui.js — the portal's shared building blocks: page headers, states (loading, empty, error), badges, tables, code blocks.

import { h, uid } from './dom.js';
import { describeError } from './errors.js';
import { statusLabel, formatDateTime, formatRelative } from './format.js';

// The top of a view: breadcrumbs, the h1 (focused after navigation), a subtitle, badges and actions.
export function pageHeader({ title, titleClass, subtitle, breadcrumbs = [], actions = [], badges = [] }) {
  return h('div', { class: 'page-header' },
    breadcrumbs.length ? h('nav', { class: 'breadcrumbs', 'aria-label': 'Breadcrumb' },
      h('ol', {}, breadcrumbs.map((b, i) => h('li', {},
        b.href && i < breadcrumbs.length - 1 ? h('a', { href: b.href, text: b.label }) : h('span', { 'aria-current': 'page', text: b.label }))))) : null,
    h('div', { class: 'page-header__row' },
      h('div', { class: 'page-header__titles' },
        h('h1', { class: ['page-title', titleClass], tabindex: '-1', text: title }),
        badges.length ? h('div', { class: 'page-header__badges' }, badges) : null,
        subtitle ? h('p', { class: 'page-subtitle', text: subtitle }) : null),
      actions.filter(Boolean).length ? h('div', { class: 'page-header__actions' }, actions) : null));
}

export function loadingState(text = 'Loading…') {
  return h('div', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), text);
}

export function emptyState({ title, text, action }) {
  return h('div', { class: 'empty' },
    h('div', { class: 'empty__icon', 'aria-hidden': 'true' }),
    h('p', { class: 'empty__title', text: title }),
    text ? h('p', { class: 'empty__text', text }) : null,
    action || null);
}

// A whole-view error with an optional "Try again".
export function errorState(err, retry) {
  const { title, detail } = describeError(err);
  return h('div', { class: 'empty empty--error', role: 'alert' },
    h('p', { class: 'empty__title', text: title }),
    detail ? h('p', { class: 'empty__text', text: detail }) : null,
    retry ? h('button', { type: 'button', class: 'btn', onclick: retry }, 'Try again') : null);
}

// "Not found" for a route or a resource that is not (or not any more) the tenant's.
export function notFoundState(what = 'page') {
  return h('div', { class: 'empty' },
    h('h1', { class: 'page-title', tabindex: '-1', text: 'Not found' }),
    h('p', { class: 'empty__text', text: `This ${what} does not exist, or it is not yours.` }),
    h('a', { class: 'btn', href: '#/endpoints' }, 'Back to endpoints'));
}

export function statusBadge(status) {
  return h('span', { class: ['badge', `badge--${status}`] }, statusLabel(status));
}

export function chips(items, { mono = true } = {}) {
  return h('ul', { class: 'chips' }, items.map((item) => h('li', { class: ['chip', mono && 'chip--mono'], text: item })));
}

// <time> with the local date and a relative hint.
export function timeEl(iso, { relative = false } = {}) {
  if (!iso) return h('span', { class: 'muted', text: '—' });
  return h('time', { datetime: iso, title: iso }, relative ? `${formatRelative(iso)}` : formatDateTime(iso));
}

// A description list of [label, value] pairs.
export function definitionList(pairs) {
  return h('dl', { class: 'deflist' }, pairs.filter(Boolean).map(([label, value]) => h('div', { class: 'deflist__row' },
    h('dt', { text: label }),
    h('dd', {}, value === null || value === undefined || value === '' ? h('span', { class: 'muted', text: '—' }) : value))));
}

// A scrollable <pre> holding code or JSON, labelled for assistive technology.
export function codeBlock(text, label) {
  return h('pre', { class: 'code', tabindex: '0', 'aria-label': label }, h('code', { text }));
}

export function card({ title, headingLevel = 'h2', actions, className }, ...children) {
  const id = uid('card');
  return h('section', { class: ['card', className], 'aria-labelledby': title ? id : null },
    title || actions ? h('div', { class: 'card__header' },
      title ? h(headingLevel, { class: 'card__title', id, text: title }) : null,
      actions ? h('div', { class: 'card__actions' }, actions) : null) : null,
    children);
}

// A table that becomes stacked cards on narrow screens (each cell labelled by its column).
// columns: [{ label, cell(row) → node|string, className, hideLabel }]
export function dataTable({ caption, columns, rows, rowKey, rowClass }) {
  const body = h('tbody', {}, rows.map((row) => tableRow(columns, row, rowKey, rowClass)));
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'table' },
      caption ? h('caption', { class: 'sr-only', text: caption }) : null,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.className }, c.label)))),
      body));
}

export function tableRow(columns, row, rowKey, rowClass) {
  return h('tr', { 'data-key': rowKey ? rowKey(row) : null, class: rowClass ? rowClass(row) : null },
    columns.map((c) => h('td', { class: c.className, 'data-label': c.hideLabel ? null : c.label }, c.cell(row))));
}

// A <span> hidden from sight but read by screen readers.
export function srOnly(text) {
  return h('span', { class: 'sr-only', text });
}
