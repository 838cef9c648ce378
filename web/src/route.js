// @ts-check
/**
 * Hash routes, so the server serves one page: `#/chat/<session>`, `#/plugins/<name>`,
 * `#/sessions/<id>/<event>`, `#/logs?plugin=…`, `#/analytics`.
 */

import { useEffect, useState } from 'preact/hooks';

/**
 * @typedef {object} Route
 * @property {string} view the first segment (`chat` when empty)
 * @property {string[]} parts the decoded segments after it
 * @property {Record<string, string>} params the query after `?`
 */

/**
 * @param {string} hash `location.hash`
 * @returns {Route}
 */
export function parseHash(hash) {
  const raw = hash.replace(/^#\/?/, '');
  const mark = raw.indexOf('?');
  const path = mark < 0 ? raw : raw.slice(0, mark);
  const query = mark < 0 ? '' : raw.slice(mark + 1);
  const parts = path
    .split('/')
    .filter(Boolean)
    .map((part) => {
      try {
        return decodeURIComponent(part);
      } catch {
        return part;
      }
    });
  return {
    view: parts[0] || 'chat',
    parts: parts.slice(1),
    params: Object.fromEntries(new URLSearchParams(query)),
  };
}

/**
 * A hash link.
 * @param {string} view
 * @param {string[]} [parts]
 * @param {Record<string, string | undefined>} [params] empty values are left out
 */
export function href(view, parts = [], params = {}) {
  const path = [view, ...parts].map(encodeURIComponent).join('/');
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== '') query.set(key, value);
  }
  const text = query.toString();
  return `#/${path}${text ? `?${text}` : ''}`;
}

/**
 * Goes to a hash route; `replace` keeps the current history entry.
 * @param {string} target
 * @param {boolean} [replace]
 */
export function navigate(target, replace = false) {
  if (replace) location.replace(target);
  else location.hash = target;
}

/** The current route; re-renders when the hash changes. */
export function useRoute() {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const changed = () => setRoute(parseHash(location.hash));
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return route;
}
