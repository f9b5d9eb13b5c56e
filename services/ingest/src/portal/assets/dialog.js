// dialog.js — modal dialogs (native <dialog>): confirmations and the shown-once secret, with focus handling and Escape.

import { h, uid } from './dom.js';
import { announce } from './notify.js';

// Opens a modal built from `content` and `actions`; resolves with the value passed to close().
// Focus moves into the dialog (to `initialFocus` or its first button) and back to the opener afterwards.
function openModal({ title, content, actions, initialFocus, danger = false }) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const titleId = uid('dialog-title');
    const dialog = h('dialog', { class: ['dialog', danger && 'dialog--danger'], 'aria-labelledby': titleId });
    let result;
    const close = (value) => {
      result = value;
      dialog.close();
    };
    const body = h('div', { class: 'dialog__body' },
      h('h2', { class: 'dialog__title', id: titleId, text: title }),
      content(close));
    const footer = h('div', { class: 'dialog__actions' }, actions(close));
    dialog.append(body, footer);
    // Escape fires `cancel`; the dialog then closes with no result.
    dialog.addEventListener('cancel', () => { result = undefined; });
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
      resolve(result);
    });
    document.getElementById('dialog-root').append(dialog);
    dialog.showModal();
    const target = initialFocus ? initialFocus(dialog) : dialog.querySelector('button');
    if (target) target.focus();
  });
}

// Asks before something that cannot be undone. Resolves true when confirmed.
export async function confirmDialog({ title, message, confirmLabel = 'Confirm', danger = true }) {
  const value = await openModal({
    title,
    danger,
    content: () => h('div', {}, (Array.isArray(message) ? message : [message]).map((m) => h('p', { text: m }))),
    actions: (close) => [
      h('button', { type: 'button', class: 'btn', 'data-cancel': '', onclick: () => close(false) }, 'Cancel'),
      h('button', { type: 'button', class: ['btn', danger ? 'btn--danger' : 'btn--primary'], onclick: () => close(true) }, confirmLabel),
    ],
    // The safe choice has the focus.
    initialFocus: (d) => d.querySelector('[data-cancel]'),
  });
  return value === true;
}

// Copies `text`; the clipboard API when allowed, else the selected input's text.
async function copyText(text, fallbackInput) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (!fallbackInput) return false;
    fallbackInput.focus();
    fallbackInput.select();
    try {
      return document.execCommand('copy');
    } catch {
      return false;
    }
  }
}

// A read-only field with a Copy button.
function copyField(label, value, { id = uid('copy'), note } = {}) {
  const input = h('input', { id, class: 'input input--mono', type: 'text', readOnly: true, value, spellcheck: 'false', autocomplete: 'off' });
  input.addEventListener('focus', () => input.select());
  const button = h('button', { type: 'button', class: 'btn btn--primary' }, 'Copy');
  button.addEventListener('click', async () => {
    const ok = await copyText(value, input);
    button.textContent = ok ? 'Copied' : 'Copy failed';
    announce(ok ? `${label} copied to the clipboard` : 'Copying failed: select the text and copy it yourself');
    window.setTimeout(() => { button.textContent = 'Copy'; }, 2000);
  });
  return h('div', { class: 'field' },
    h('label', { for: id, class: 'field__label', text: label }),
    h('div', { class: 'copy-field' }, input, button),
    note ? h('p', { class: 'field__hint', text: note }) : null);
}

// Shows a signing secret once, with a Copy button.
export async function secretDialog({ title, secret, lines = [] }) {
  await openModal({
    title,
    content: () => h('div', {},
      h('p', { class: 'callout callout--warning' },
        h('strong', { text: 'Copy it now: ' }),
        'this is the only time the secret is shown. Store it where your receiver can read it.'),
      lines.map((l) => h('p', { text: l })),
      copyField('Signing secret', secret, { id: 'shown-secret' })),
    actions: (close) => [h('button', { type: 'button', class: 'btn', onclick: () => close(true) }, 'Done')],
    initialFocus: (d) => d.querySelector('.copy-field button'),
  });
}
