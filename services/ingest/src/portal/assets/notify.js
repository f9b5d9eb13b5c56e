// notify.js — messages for people: the polite aria-live announcer and the flash banners above each view.

import { h } from './dom.js';
import { describeError } from './errors.js';

let pendingForNextView = [];

// Says `text` to screen readers without showing it.
export function announce(text) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  // A new text node in a later frame is announced even when the text repeats.
  window.setTimeout(() => { region.textContent = text; }, 50);
}

function area() {
  return document.getElementById('flash-area');
}

// Shows a banner: kind is 'success', 'error' or 'info'. Errors are alerts; others are announced politely.
export function flash(kind, title, detail = null) {
  const box = area();
  if (!box) return null;
  const message = h('div', { class: ['flash', `flash--${kind}`], role: kind === 'error' ? 'alert' : null },
    h('div', { class: 'flash__text' },
      h('p', { class: 'flash__title', text: title }),
      detail ? h('p', { class: 'flash__detail', text: detail }) : null),
    h('button', {
      type: 'button', class: 'btn btn--ghost btn--small flash__close', 'aria-label': 'Dismiss message',
      onclick: () => message.remove(),
    }, '×'));
  box.append(message);
  if (kind !== 'error') {
    announce(detail ? `${title} ${detail}` : title);
    window.setTimeout(() => message.remove(), 8000);
  }
  return message;
}

// An API (or other) error as an error banner.
export function flashError(err) {
  const { title, detail } = describeError(err);
  return flash('error', title, detail);
}

// A message to show after the next navigation (e.g. "Endpoint deleted" on the list).
export function flashAfterNavigation(kind, title, detail = null) {
  pendingForNextView.push([kind, title, detail]);
}

// Called by the router on every navigation.
export function resetFlashes() {
  const box = area();
  if (box) box.replaceChildren();
  const pending = pendingForNextView;
  pendingForNextView = [];
  for (const [kind, title, detail] of pending) flash(kind, title, detail);
}
