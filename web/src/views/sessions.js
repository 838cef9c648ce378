// @ts-check
/** The sessions the store knows, searchable: the chat's sidebar and the `#/sessions` page. */

import { useEffect, useState } from 'preact/hooks';

import { get, query } from '../api.js';
import { formatTime } from '../format.js';
import { html } from '../html.js';
import { refreshStore, sessionsChanged } from '../state.js';
import { useStore } from '../store.js';
import { ErrorBox, Spinner, useDebounced } from '../ui.js';

const PAGE = 50;

/**
 * @typedef {object} Session
 * @property {string} id
 * @property {string} created_at
 * @property {string} last_activity
 * @property {number} message_count
 * @property {string | null} [title]
 */

/**
 * Sessions matching a search, most recent first, with "load more".
 * @param {string} search
 */
function useSessions(search) {
  const q = useDebounced(search.trim(), 250);
  const refresh = useStore(refreshStore);
  const changed = useStore(sessionsChanged);
  const [state, setState] = useState(/** @type {{sessions: Session[], next: string | null, loading: boolean, error: any}} */ ({ sessions: [], next: null, loading: true, error: null }));

  /**
   * @param {string | null} before
   * @param {AbortSignal} [signal]
   */
  const load = async (before, signal) => {
    setState((s) => ({ ...s, loading: true, error: null }));
    try {
      const page = await get(`api/sessions${query({ q, before, limit: PAGE })}`, { signal });
      setState((s) => ({
        sessions: before ? [...s.sessions, ...page.sessions] : page.sessions,
        next: page.next_before ?? null,
        loading: false,
        error: null,
      }));
    } catch (error) {
      if (!signal || !signal.aborted) setState((s) => ({ ...s, loading: false, error }));
    }
  };

  useEffect(() => {
    const controller = new AbortController();
    load(null, controller.signal);
    return () => controller.abort();
  }, [q, refresh, changed]);

  return { ...state, more: () => state.next && load(state.next) };
}

/**
 * @param {{search: string, onSearch: (q: string) => void, currentId?: string, linkTo: (id: string) => string, pending?: string, searchId: string}} props
 */
export function SessionList({ search, onSearch, currentId, linkTo, pending, searchId }) {
  const { sessions, next, loading, error, more } = useSessions(search);
  const shown = pending && !search && !sessions.some((s) => s.id === pending) ? [{ id: pending, title: 'New session', message_count: 0, last_activity: '', created_at: '' }, ...sessions] : sessions;
  return html`<div class="stack session-search">
      <div class="field">
        <label for=${searchId}>Search sessions</label>
        <input
          id=${searchId}
          type="search"
          data-search
          placeholder="Id or text (press /)"
          value=${search}
          onInput=${(/** @type {Event} */ e) => onSearch(/** @type {HTMLInputElement} */ (e.currentTarget).value)}
        />
      </div>
    </div>
    <ul class="session-list" aria-label="Sessions" tabindex="-1">
      ${shown.map(
        (s) => html`<li key=${s.id}>
          <a href=${linkTo(s.id)} aria-current=${s.id === currentId ? 'true' : undefined} data-session=${s.id}>
            <span class="title">${s.title || s.id}</span>
            <span class="meta">${s.message_count} messages${s.last_activity ? ` · ${formatTime(s.last_activity)}` : ''}</span>
          </a>
        </li>`,
      )}
      ${!loading && !error && shown.length === 0 && html`<li class="empty">${search ? 'No session matches.' : 'No sessions yet.'}</li>`}
      ${error && html`<li><${ErrorBox} error=${error} /></li>`}
      ${loading && html`<li class="empty"><${Spinner} label="Loading sessions" /></li>`}
      ${next && !loading && html`<li><button type="button" class="small" onClick=${more}>Load more</button></li>`}
    </ul>`;
}

/** `#/sessions`: pick a session to open its audit timeline. */
export function SessionsView() {
  const [search, setSearch] = useState('');
  return html`<div class="page stack">
    <h1>Sessions</h1>
    <p class="muted">Every session's events (messages, plugin runs, tool calls, resets, errors) are kept. Open one to see its timeline.</p>
    <div class="card">
      <${SessionList} search=${search} onSearch=${setSearch} linkTo=${(/** @type {string} */ id) => `#/sessions/${encodeURIComponent(id)}`} searchId="sessions-search" />
    </div>
  </div>`;
}
