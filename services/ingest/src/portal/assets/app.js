// app.js — the portal's entry point: loads the session, then maps each hash route to its view.

import { setUnauthorizedHandler } from './api.js';
import { loadSession, showEnded } from './session.js';
import { startRouter } from './router.js';
import { replace } from './dom.js';
import { errorState } from './ui.js';
import { endpointsView } from './view-endpoints.js';
import { endpointFormView } from './view-endpoint-form.js';
import { endpointView } from './view-endpoint.js';
import { deliveriesView } from './view-deliveries.js';
import { deliveryView } from './view-delivery.js';
import { eventTypesView } from './view-event-types.js';

const ROUTES = [
  { pattern: /^\/endpoints$/, view: endpointsView, nav: 'endpoints' },
  { pattern: /^\/endpoints\/new$/, view: (ctx) => endpointFormView({ ...ctx, mode: 'create' }), nav: 'endpoints' },
  { pattern: /^\/endpoints\/([^/]+)$/, view: endpointView, nav: 'endpoints' },
  { pattern: /^\/endpoints\/([^/]+)\/edit$/, view: (ctx) => endpointFormView({ ...ctx, mode: 'edit' }), nav: 'endpoints' },
  { pattern: /^\/endpoints\/([^/]+)\/deliveries$/, view: deliveriesView, nav: 'endpoints' },
  { pattern: /^\/deliveries\/([^/]+)$/, view: deliveryView, nav: 'endpoints' },
  { pattern: /^\/event-types$/, view: eventTypesView, nav: 'event-types' },
];

// "Skip to content" moves the focus to the view's heading without touching the route.
function skipLink() {
  const link = document.querySelector('.skip-link');
  link.addEventListener('click', (e) => {
    e.preventDefault();
    const target = document.querySelector('#view h1') || document.getElementById('main');
    target.focus();
  });
}

async function main() {
  skipLink();
  setUnauthorizedHandler(() => showEnded('expired'));
  let ok;
  try {
    ok = await loadSession();
  } catch (err) {
    const view = document.getElementById('view');
    view.setAttribute('aria-busy', 'false');
    replace(view, errorState(err, () => window.location.reload()));
    return;
  }
  if (ok) startRouter(ROUTES);
}

main();
