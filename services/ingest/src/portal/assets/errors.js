// errors.js — turns an API failure into words for people: a friendly title per HTTP status and the API's detail.

// { title, detail } for any error thrown by api.js (or anything else).
export function describeError(err) {
  if (!err || err.name !== 'ApiError') {
    return { title: 'Something went wrong in this page. Reload it and try again.', detail: err && err.message ? err.message : null };
  }
  const detail = err.detail && err.detail !== err.code ? err.detail : null;
  const s = err.status;
  if (s === 0) return { title: 'Herald could not be reached. Check your connection and try again.', detail: null };
  if (s === 401) return { title: 'Your session has expired. Open a new link to sign in again.', detail };
  if (s === 403) {
    if (err.code === 'read_only') return { title: 'This session is read-only: it cannot change anything.', detail };
    if (err.code === 'csrf' && err.session === 'same') {
      return { title: 'Your session was renewed in another tab, so this was not done. Try again.', detail: null };
    }
    if (err.code === 'csrf') return { title: 'The request was refused for security reasons. Reload the page and try again.', detail };
    return { title: 'You are not allowed to do this.', detail };
  }
  if (s === 404) return { title: 'Not found: it may have been deleted, or it is not yours.', detail };
  if (s === 409) return { title: detail || 'This conflicts with the current state.', detail: detail ? null : err.code };
  if (s === 422 || s === 400) return { title: detail || 'Some of what you entered is not valid.', detail: null };
  if (s === 413) return { title: 'That is too large for Herald to accept.', detail };
  if (s === 429) {
    const wait = err.retryAfter ? ` Try again in ${err.retryAfter} s.` : ' Wait a few seconds and try again.';
    return { title: `Too many requests: slow down.${wait}`, detail: err.code === 'rate_limited' ? null : detail };
  }
  if (s >= 500) return { title: 'Herald had a problem answering. Try again in a moment.', detail: detail ? `${detail} (HTTP ${s})` : `HTTP ${s}` };
  return { title: detail || `The request failed (HTTP ${s}).`, detail: null };
}

// One line: the title, then the detail when there is one.
export function errorText(err) {
  const { title, detail } = describeError(err);
  return detail ? `${title} ${detail}` : title;
}

export function isNotFound(err) {
  return err && err.name === 'ApiError' && err.status === 404;
}

export function isAbort(err) {
  return err && err.name === 'AbortError';
}
