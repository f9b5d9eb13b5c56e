// live.js — live updates: polls every few seconds while the page is visible and the view wants it, with a "Live" indicator.

import { h } from './dom.js';
import { isAbort } from './errors.js';

// A "Live" / "Paused" badge; `set(state, text)` with state 'live', 'paused' or 'error'.
export function liveIndicator() {
  const label = h('span', { class: 'live__label' });
  const node = h('span', { class: 'live', role: 'status' }, h('span', { class: 'live__dot', 'aria-hidden': 'true' }), label);
  const set = (state, text) => {
    node.dataset.state = state;
    label.textContent = text;
  };
  set('paused', 'Paused');
  return { node, set };
}

// Calls `tick(signal)` every `interval` ms while `wanted()` is true and the document is visible.
// Stops for good when `signal` aborts (the view is gone).
export function poller({ tick, wanted, signal, indicator, interval = 3000, pausedText = () => 'Paused' }) {
  let timer = null;
  let running = false;
  let inFlight = null;

  const state = () => {
    if (!indicator) return;
    if (!wanted()) indicator.set('paused', pausedText());
    else if (document.hidden) indicator.set('paused', 'Paused while this tab is hidden');
    else indicator.set('live', 'Live');
  };

  const schedule = () => {
    window.clearTimeout(timer);
    timer = null;
    if (signal.aborted || !wanted() || document.hidden) return;
    timer = window.setTimeout(run, interval);
  };

  async function run() {
    if (running || signal.aborted) return;
    running = true;
    inFlight = new AbortController();
    const stop = () => inFlight && inFlight.abort();
    signal.addEventListener('abort', stop, { once: true });
    try {
      await tick(inFlight.signal);
      state();
    } catch (err) {
      if (!isAbort(err) && indicator && !signal.aborted) indicator.set('error', 'Live updates failed, retrying…');
    } finally {
      signal.removeEventListener('abort', stop);
      running = false;
      inFlight = null;
      schedule();
    }
  }

  const onVisibility = () => {
    state();
    if (document.hidden) {
      window.clearTimeout(timer);
      timer = null;
    } else if (wanted()) {
      run();
    }
  };
  document.addEventListener('visibilitychange', onVisibility);
  signal.addEventListener('abort', () => {
    window.clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisibility);
  }, { once: true });

  return {
    // Starts (or restarts) the cycle after the view has drawn its first data.
    resume() {
      state();
      schedule();
    },
    // Polls now, then on schedule.
    now() {
      state();
      if (!running) run();
    },
  };
}
