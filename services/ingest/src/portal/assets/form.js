// form.js — labelled form fields, inline field errors and the error summary shared by the portal's forms.

import { h, replace, uid } from './dom.js';

// A labelled control with an optional hint; returns { field, control }.
// kind: 'input' (default), 'textarea' or 'select' (options: [[value, label], ...]).
export function field({ label, kind = 'input', id = uid('f'), hint, options, optional = false, className, ...attrs }) {
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  let control;
  if (kind === 'select') {
    control = h('select', { id, class: 'input', 'aria-describedby': hintId, ...attrs },
      options.map(([value, text]) => h('option', { value, text })));
  } else {
    control = h(kind, { id, class: 'input', 'aria-describedby': hintId, ...attrs });
  }
  control.dataset.errorId = errorId;
  const wrapper = h('div', { class: ['field', className] },
    h('label', { class: 'field__label', for: id }, label, optional ? h('span', { class: 'field__optional', text: ' (optional)' }) : null),
    hint ? h('p', { class: 'field__hint', id: hintId, text: hint }) : null,
    control,
    h('p', { class: 'field__error', id: errorId, hidden: true }));
  return { field: wrapper, control };
}

// Marks a control invalid with a message read along with it.
export function setFieldError(control, message) {
  const error = document.getElementById(control.dataset.errorId);
  control.setAttribute('aria-invalid', 'true');
  const described = (control.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
  if (error && !described.includes(error.id)) described.push(error.id);
  control.setAttribute('aria-describedby', described.join(' '));
  if (error) {
    error.textContent = message;
    error.hidden = false;
  }
}

export function clearFieldErrors(form) {
  for (const control of form.querySelectorAll('[aria-invalid="true"]')) {
    control.removeAttribute('aria-invalid');
    const error = document.getElementById(control.dataset.errorId);
    if (error) {
      error.hidden = true;
      error.textContent = '';
    }
  }
}

// The box at the top of a form listing what is wrong; focused so it is read at once.
export function errorSummary() {
  const box = h('div', { class: 'form-errors', role: 'alert', tabindex: '-1', hidden: true });
  return {
    node: box,
    // `items`: [[control, message], ...], each a button that focuses its control; `notes`: lines of text.
    show(title, items = [], notes = []) {
      replace(box,
        h('p', { class: 'form-errors__title', text: title }),
        items.length ? h('ul', {}, items.map(([control, message]) => h('li', {},
          h('button', { type: 'button', class: 'link-button', onclick: () => control.focus() }, message)))) : null,
        notes.filter(Boolean).map((note) => h('p', { text: note })));
      box.hidden = false;
      box.focus();
    },
    hide() {
      box.hidden = true;
      box.replaceChildren();
    },
  };
}

// Disables a submit button while `work` runs, with a busy label.
export async function busy(button, label, work) {
  const before = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  button.textContent = label;
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.textContent = before;
  }
}
