// session.js — the portal session: loads it, themes the header (name, logo, accent), read-only mode, expiry and sign-out.

import { api, setCsrfRefusedHandler, setCsrfToken } from './api.js';
import { h, replace } from './dom.js';
import { navigate, setSiteName, setTitle, stopRouter } from './router.js';
import { confirmDialog } from './dialog.js';
import { flashError } from './notify.js';
import { formatClock } from './format.js';

let session = null;
let ended = false;
let expiryTimer = null;
let checking = null; // the session being fetched again, shared by whoever asks meanwhile

// setTimeout's longest wait (2^31 - 1 ms, about 24.8 days); a session may last 30 days.
const MAX_TIMER_MS = 2 ** 31 - 1;

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

// Ends the page when the session does. A wait longer than setTimeout allows is
// made of several timers, each one re-armed with the time left when it fires.
function scheduleExpiry() {
  if (expiryTimer) window.clearTimeout(expiryTimer);
  expiryTimer = null;
  const at = Date.parse(session.expires_at || '');
  if (Number.isNaN(at)) return;
  const arm = () => {
    const left = at - Date.now();
    if (left > 0) {
      expiryTimer = window.setTimeout(arm, Math.min(left, MAX_TIMER_MS));
      return;
    }
    expiryTimer = null;
    // Another tab may have opened a newer session of the same account: ask Herald.
    recheckSession().catch(() => showEnded('expired'));
  };
  arm();
}

// Takes a session of the same account that replaced ours (another tab opened a new
// link): its CSRF value, end and read-only flag.
function adopt(next) {
  const wasReadOnly = Boolean(session.read_only);
  session = next;
  setCsrfToken(session.csrf_token);
  renderSessionInfo();
  document.body.classList.toggle('is-read-only', Boolean(session.read_only));
  scheduleExpiry();
  // The view on screen shows or hides its controls by the old flag: draw it again.
  if (wasReadOnly !== Boolean(session.read_only)) navigate(window.location.hash || '#/endpoints');
}

// Asks Herald which session this browser holds now: the cookie is shared by every
// tab, so another tab's sign-in replaces it. Resolves 'same' (same account: its new
// CSRF value and end are taken) or 'ended' (another account, or none: the ended
// state is shown, never the other account's data); rejects when Herald cannot be
// reached.
export function recheckSession() {
  if (ended) return Promise.resolve('ended');
  if (!checking) {
    checking = (async () => {
      let next;
      try {
        next = await api.session();
      } catch (err) {
        if (err.status === 401) return 'ended'; // the unauthorized handler shows it
        throw err;
      }
      if (ended) return 'ended';
      if (!session || next.tenant !== session.tenant) {
        showEnded('replaced');
        return 'ended';
      }
      adopt(next);
      return 'same';
    })().finally(() => { checking = null; });
  }
  return checking;
}

// Coming back to the tab (or the window) is when another tab may have signed in:
// check before the page shows, or sends, anything more under the old account.
function watchForOtherTabs() {
  const again = () => {
    if (!document.hidden) recheckSession().catch(() => {});
  };
  document.addEventListener('visibilitychange', again);
  window.addEventListener('focus', again);
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
  // A change refused for its CSRF value: another tab has replaced the session.
  setCsrfRefusedHandler(() => recheckSession());
  watchForOtherTabs();
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

const ENDED = {
  'signed-out': {
    title: 'Signed out',
    heading: 'You are signed out',
    text: 'Your session has ended on this device.',
  },
  replaced: {
    title: 'Session ended',
    heading: 'Your session has ended',
    text: 'A portal link of another account was opened in this browser, so this page shows nothing more of this one.',
  },
  expired: {
    title: 'Session expired',
    heading: 'Your session has expired',
    text: 'Portal sessions last only a limited time.',
  },
};

// The session is over (expired, replaced by another account's, or signed out): no data stays on screen.
export function showEnded(reason) {
  if (ended) return;
  ended = true;
  if (expiryTimer) window.clearTimeout(expiryTimer);
  stopRouter();
  for (const d of document.querySelectorAll('dialog')) d.remove();
  document.getElementById('site-header').hidden = true;
  // Without the area, the messages of requests still under way show nowhere.
  const flashes = document.getElementById('flash-area');
  if (flashes) flashes.remove();
  const words = ENDED[reason] || ENDED.expired;
  setTitle(words.title);
  const view = document.getElementById('view');
  view.setAttribute('aria-busy', 'false');
  replace(view, h('div', { class: 'ended' },
    h('div', { class: 'ended__card', role: 'region', 'aria-labelledby': 'ended-title' },
      h('div', { class: 'ended__icon', 'aria-hidden': 'true' }),
      h('h1', { id: 'ended-title', class: 'page-title', tabindex: '-1', text: words.heading }),
      h('p', { text: words.text }),
      h('p', { class: 'muted', text: 'To continue, open the webhooks page again from your platform’s dashboard to get a new link.' }))));
  const heading = document.getElementById('ended-title');
  if (heading) heading.focus();
}
