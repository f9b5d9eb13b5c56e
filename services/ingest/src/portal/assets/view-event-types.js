// view-event-types.js — #/event-types: the platform's event catalogue with descriptions, JSON schemas and examples.

import { h, replace } from './dom.js';
import { setTitle } from './router.js';
import { loadCatalogue } from './catalogue.js';
import { prettyJson } from './format.js';
import { codeBlock, emptyState, pageHeader } from './ui.js';

function slug(name) {
  return `type-${name.replace(/[^A-Za-z0-9_-]/g, '-')}`;
}

function typeCard(t) {
  const id = slug(t.name);
  const hasSchema = t.schema !== undefined && t.schema !== null;
  const hasExample = t.example !== undefined && t.example !== null;
  return h('article', { class: 'card event-type', 'aria-labelledby': id },
    h('h2', { class: 'event-type__name mono', id, text: t.name }),
    h('p', { class: 'event-type__desc', text: t.description || 'No description.' }),
    hasSchema || hasExample
      ? h('div', { class: 'event-type__code' },
        hasSchema ? h('div', {}, h('h3', { class: 'event-type__label', text: 'Schema of data' }), codeBlock(prettyJson(t.schema), `JSON schema of ${t.name}`)) : null,
        hasExample ? h('div', {}, h('h3', { class: 'event-type__label', text: 'Example data' }), codeBlock(prettyJson(t.example), `Example of ${t.name}`)) : null)
      : h('p', { class: 'muted small', text: 'Its data has no declared schema.' }));
}

export async function eventTypesView({ root, signal }) {
  setTitle('Event types');
  const types = await loadCatalogue(signal);
  const header = pageHeader({
    title: 'Event types',
    subtitle: types.length
      ? `The ${types.length} kinds of event this platform sends. Subscribe an endpoint to a type, or to a pattern such as job.* or training.>.`
      : null,
  });
  if (!types.length) {
    replace(root, header, emptyState({
      title: 'No catalogue',
      text: 'This platform does not publish a list of its event types: an endpoint may subscribe to any type or pattern, such as job.* or training.>.',
    }));
    return;
  }
  // In the platform's own order, which groups related types.
  const toc = h('nav', { class: 'toc card', 'aria-label': 'Event types' },
    h('ul', { class: 'toc__list' }, types.map((t) => h('li', {},
      h('button', { type: 'button', class: 'link-button mono', onclick: () => {
        const target = document.getElementById(slug(t.name));
        if (target) {
          target.setAttribute('tabindex', '-1');
          target.focus();
          target.scrollIntoView({ block: 'start' });
        }
      } }, t.name)))));
  replace(root, header, h('div', { class: 'event-types' }, toc, h('div', { class: 'event-types__list' }, types.map(typeCard))));
}
