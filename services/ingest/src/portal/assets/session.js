// session.js — the portal session: loads it, themes the header (name, logo, accent), read-only mode, expiry and sign-out.

import { api, setCsrfToken } from './api.js';
import { h, replace } from './dom.js';
import { setSiteName, setTitle, stopRouter } from './router.js';
import { confirmDialog } from './dialog.js';
import { flashError } from './notify.js';
import { formatClock } from './format.js';

let session = null;
let ended = false;
let expiryTimer = null;

// Whether controls that change something are shown.
export function canWrite() {
  return Boolean(session && !session.read_only);
}

// Dark or light text on the accent colour, whichever reads better.
function contrastOn(hex) {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex || '');
  if (!m) return null;
  const n = parseInt(m[1], 16);
  const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255].map((c) => {
    const v = c / 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  });
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return luminance > 0.4 ? '#111827' : '#ffffff';
}

function applyTheme(theme) {
  const name = (theme && theme.name) || 'Webhooks';
  setSiteName(name);
  document.getElementById('brand-name').textContent = name;
  const logo = document.getElementById('brand-logo');
  if (theme && theme.logo_url) {
    logo.src = theme.logo_url;
    logo.alt = `${name} logo`;
    logo.hidden = false;
    logo.addEventListener('error', () => { logo.hidden = true; }, { once: true });
  }
  const contrast = contrastOn(theme && theme.color);
  if (contrast) document.documentElement.style.setProperty('--brand-contrast', contrast);
}

function renderSessionInfo() {
  const info = document.getElementById('session-info');
  replace(info,
    h('span', { class: 'tenant', title: 'Account' }, h('span', { class: 'sr-only', text: 'Account: ' }), session.tenant),
    session.read_only ? h('span', { class: 'badge badge--readonly', title: 'You can look but not change anything' }, 'Read-only') : null,
    session.expires_at ? h('span', { class: 'session-expiry muted' }, 'Session until ', h('time', { datetime: session.expires_at, title: session.expires_at }, formatClock(session.expires_at))) : null,
    h('button', { type: 'button', class: 'btn btn--small', onclick: signOut }, 'Sign out'));
}

function scheduleExpiry() {
  const at = Date.parse(session.expires_at || '');
  if (Number.isNaN(at)) return;
  // Timers longer than ~24 days overflow; sessions are far shorter.
  const wait = Math.min(Math.max(at - Date.now(), 0), 2 ** 31 - 1);
  expiryTimer = window.setTimeout(() => showEnded('expired'), wait);
}

// Loads the session; resolves false (after showing the expired state) when there is none.
export async function loadSession() {
  try {
    session = await api.session();
  } catch (err) {
    if (err.status === 401) {
      showEnded('expired');
      return false;
    }
    throw err;
  }
  setCsrfToken(session.csrf_token);
  applyTheme(session.theme);
  renderSessionInfo();
  document.body.classList.toggle('is-read-only', Boolean(session.read_only));
  document.getElementById('site-header').hidden = false;
  document.getElementById('site-footer').hidden = false;
  scheduleExpiry();
  return true;
}

async function signOut() {
  const ok = await confirmDialog({
    title: 'Sign out?',
    message: 'You will need a new link from your platform to come back.',
    confirmLabel: 'Sign out',
    danger: false,
  });
  if (!ok) return;
  try {
    await api.logout();
    showEnded('signed-out');
  } catch (err) {
    if (err.status !== 401) flashError(err);
  }
}

// The session is over (expired, revoked or signed out): no data stays on screen.
export function showEnded(reason) {
  if (ended) return;
  ended = true;
  if (expiryTimer) window.clearTimeout(expiryTimer);
  stopRouter();
  for (const d of document.querySelectorAll('dialog')) d.remove();
  document.getElementById('site-header').hidden = true;
  document.getElementById('flash-area').replaceChildren();
  const signedOut = reason === 'signed-out';
  setTitle(signedOut ? 'Signed out' : 'Session expired');
  const view = document.getElementById('view');
  view.setAttribute('aria-busy', 'false');
  replace(view, h('div', { class: 'ended' },
    h('div', { class: 'ended__card', role: 'region', 'aria-labelledby': 'ended-title' },
      h('div', { class: 'ended__icon', 'aria-hidden': 'true' }),
      h('h1', { id: 'ended-title', class: 'page-title', tabindex: '-1', text: signedOut ? 'You are signed out' : 'Your session has expired' }),
      h('p', { text: signedOut
        ? 'Your session has ended on this device.'
        : 'This link is no longer valid: portal links work for a limited time.' }),
      h('p', { class: 'muted', text: 'To continue, open the webhooks page again from your platform’s dashboard to get a new link.' }))));
  const heading = document.getElementById('ended-title');
  if (heading) heading.focus();
}
