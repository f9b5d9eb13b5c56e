// router.js — hash routes (#/endpoints/...): picks the view, cancels the one before, sets the title, moves focus.

import { replace } from './dom.js';
import { resetFlashes } from './notify.js';
import { errorState, loadingState, notFoundState } from './ui.js';
import { isAbort, isNotFound } from './errors.js';

let routes = [];
let current = null; // AbortController of the view on screen
let siteName = 'Webhooks';
let first = true;
let stopped = false;

export function setSiteName(name) {
  siteName = name || 'Webhooks';
}

export function setTitle(title) {
  document.title = title ? `${title} · ${siteName}` : siteName;
}

// The hash as { path: '/endpoints/wh_1', query: URLSearchParams }.
function parseHash(hash = window.location.hash) {
  const raw = hash.replace(/^#/, '') || '/';
  const q = raw.indexOf('?');
  const path = (q < 0 ? raw : raw.slice(0, q)).replace(/\/+$/, '') || '/';
  return { path, query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)) };
}

// '#/endpoints/wh_1/deliveries' + { status: 'failed' } → '#/endpoints/wh_1/deliveries?status=failed'
export function hrefFor(path, query = {}) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, v);
  const qs = params.toString();
  return `#${path}${qs ? `?${qs}` : ''}`;
}

// Goes to a route (a new history entry, or in place of the current one).
export function navigate(href, { replace: replaceEntry = false } = {}) {
  if (replaceEntry) {
    window.history.replaceState(null, '', href);
    render();
  } else if (window.location.hash === href) {
    render();
  } else {
    window.location.hash = href;
  }
}

function decode(part) {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

function match(path) {
  for (const route of routes) {
    const m = route.pattern.exec(path);
    if (m) return { route, params: m.slice(1).map(decode) };
  }
  return null;
}

function markNav(section) {
  for (const link of document.querySelectorAll('[data-nav]')) {
    if (link.dataset.nav === section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

async function render() {
  if (stopped) return;
  // An in-page anchor (#main) is not a route: the view on screen stays.
  if (!first && window.location.hash && !window.location.hash.startsWith('#/')) return;
  if (current) current.abort();
  const controller = new AbortController();
  current = controller;
  const root = document.getElementById('view');
  const { path, query } = parseHash();

  if (path === '/') {
    navigate('#/endpoints', { replace: true });
    return;
  }
  resetFlashes();
  const found = match(path);
  markNav(found ? found.route.nav : null);
  root.setAttribute('aria-busy', 'true');
  replace(root, loadingState());
  try {
    if (!found) {
      setTitle('Not found');
      replace(root, notFoundState('page'));
    } else {
      await found.route.view({ params: found.params, query, root, signal: controller.signal, path });
    }
  } catch (err) {
    if (isAbort(err) || controller.signal.aborted) return;
    if (err && err.status === 401) return; // the expired state has taken over
    if (isNotFound(err)) {
      setTitle('Not found');
      replace(root, notFoundState('page'));
    } else {
      setTitle('Error');
      replace(root, errorState(err, () => render()));
    }
  }
  if (controller.signal.aborted) return;
  root.setAttribute('aria-busy', 'false');
  if (!first) {
    const heading = root.querySelector('h1');
    if (heading) heading.focus({ preventScroll: false });
    window.scrollTo(0, 0);
  }
  first = false;
}

// routes: [{ pattern: RegExp on the path, view: async (ctx) => void, nav: 'endpoints' }]
export function startRouter(table) {
  routes = table;
  window.addEventListener('hashchange', render);
  render();
}

// Ends routing for good (the session is over): the view on screen stops its work.
export function stopRouter() {
  stopped = true;
  window.removeEventListener('hashchange', render);
  if (current) current.abort();
}

// Records a new address for the view on screen without rendering it again (the view
// updates itself); back and forward then render that address as usual.
export function pushQuiet(href) {
  if (window.location.hash !== href) window.history.pushState(null, '', href);
}
