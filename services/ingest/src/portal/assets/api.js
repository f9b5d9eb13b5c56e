// api.js — every call to Herald: the session cookie, the CSRF header on changes, typed errors.

let csrfToken = null;
let onUnauthorized = () => {};
let onCsrfRefused = null;

// The session's CSRF token, sent as X-CSRF-Token on every request that changes something.
export function setCsrfToken(token) {
  csrfToken = token;
}

// Called once for any 401: the session is gone.
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

// Called for a change refused with 403 `csrf` (another tab replaced the session), and
// awaited before the error is thrown: resolves 'same' when the session's new CSRF
// value has been taken (the change can simply be made again), 'ended' when the page
// has shown the ended state.
export function setCsrfRefusedHandler(fn) {
  onCsrfRefused = fn;
}

// An API failure: `status` 0 means Herald could not be reached.
export class ApiError extends Error {
  constructor(status, code, detail, retryAfter = null) {
    super(detail || code || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code || null;
    this.detail = detail || null;
    this.retryAfter = retryAfter;
    // For 403 `csrf`: what checking the session again found ('same' or 'ended').
    this.session = null;
  }
}

function urlWith(path, query) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, String(value));
  }
  return url.pathname + url.search;
}

async function readBody(res) {
  const type = res.headers.get('Content-Type') || '';
  if (res.status === 204) return null;
  if (type.includes('json')) {
    try {
      return await res.json();
    } catch {
      return null;
    }
  }
  const text = await res.text();
  return text ? { detail: text.slice(0, 300) } : null;
}

// One request. Resolves with the parsed JSON (null for 204); rejects with ApiError,
// or with the AbortError when `signal` aborts.
export async function request(method, path, { body, query, signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrfToken || '';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(urlWith(path, query), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      signal,
    });
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', 'Herald could not be reached.');
  }
  const data = await readBody(res);
  if (res.ok) return data;
  const retryAfter = Number(res.headers.get('Retry-After')) || null;
  const error = new ApiError(res.status, data && data.code, data && data.detail, retryAfter);
  if (res.status === 401) onUnauthorized(error);
  if (res.status === 403 && error.code === 'csrf' && onCsrfRefused) {
    try {
      error.session = await onCsrfRefused(error);
    } catch {
      // Herald could not be reached to check: the error stays as it is.
    }
  }
  throw error;
}

const enc = encodeURIComponent;

// The portal's session and the API calls a portal session may make.
export const api = {
  session: (signal) => request('GET', '/portal/api/session', { signal }),
  logout: () => request('POST', '/portal/api/logout'),

  listWebhooks: (signal) => request('GET', '/v1/webhooks', { signal }),
  getWebhook: (id, signal) => request('GET', `/v1/webhooks/${enc(id)}`, { signal }),
  createWebhook: (body) => request('POST', '/v1/webhooks', { body }),
  updateWebhook: (id, body) => request('PUT', `/v1/webhooks/${enc(id)}`, { body }),
  deleteWebhook: (id) => request('DELETE', `/v1/webhooks/${enc(id)}`),
  rotateSecret: (id) => request('POST', `/v1/webhooks/${enc(id)}/rotate-secret`, { body: {} }),
  enableWebhook: (id) => request('POST', `/v1/webhooks/${enc(id)}/enable`),
  testWebhook: (id) => request('POST', `/v1/webhooks/${enc(id)}/test`),
  stats: (id, query, signal) => request('GET', `/v1/webhooks/${enc(id)}/stats`, { query, signal }),

  listDeliveries: (id, query, signal) => request('GET', `/v1/webhooks/${enc(id)}/deliveries`, { query, signal }),
  getDelivery: (id, signal) => request('GET', `/v1/deliveries/${enc(id)}`, { signal }),
  getDeliveryRequest: (id, signal) => request('GET', `/v1/deliveries/${enc(id)}/request`, { signal }),
  retryDelivery: (webhookId, deliveryId) =>
    request('POST', `/v1/webhooks/${enc(webhookId)}/deliveries/${enc(deliveryId)}/retry`),
  recover: (id, since) => request('POST', `/v1/webhooks/${enc(id)}/recover`, { body: { since } }),

  getEvent: (id, signal) => request('GET', `/v1/events/${enc(id)}`, { signal }),
  eventTypes: (signal) => request('GET', '/v1/event-types', { signal }),
};
