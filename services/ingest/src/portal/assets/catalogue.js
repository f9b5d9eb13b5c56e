// catalogue.js — the platform's event-type catalogue, fetched once per page load.

import { api } from './api.js';

let cached = null;

// Resolves with [{ name, description, schema?, example? }], empty when the platform declares none.
export async function loadCatalogue(signal) {
  if (!cached) {
    cached = api.eventTypes().then((r) => r.event_types || []);
    cached.catch(() => { cached = null; });
  }
  const types = await cached;
  if (signal && signal.aborted) throw new DOMException('aborted', 'AbortError');
  return types;
}

