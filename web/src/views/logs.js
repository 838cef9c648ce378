// @ts-check
/**
 * `#/logs?plugin=&status=&source=&session_id=`: plugin executions across sessions, newest
 * first, filtered by the store (`GET /api/executions`); the filters live in the address.
 */

import { Fragment } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

import { get, isAbort, query } from '../api.js';
import { formatDuration, formatTime } from '../format.js';
import { html } from '../html.js';
import { href, navigate } from '../route.js';
import { pluginsStore, refreshStore } from '../state.js';
import { useStore } from '../store.js';
import { ErrorBox, JsonBlock, Spinner, StatusBadge, useDebounced } from '../ui.js';

const PAGE = 100;
const STATUSES = ['ok', 'invalid_input', 'not_found', 'disabled', 'denied', 'timeout', 'crashed', 'output_too_large', 'failed'];
const SOURCES = ['api', 'cli', 'chat', 'mcp'];

/**
 * @typedef {{id: string, seq: number, session_id: string, timestamp: string, plugin: string, input: any, output: any, error: string | null, status: string, duration_ms: number, source: string}} Execution
 */

/** @param {{params: Record<string, string>}} props */
export function LogsView({ params }) {
  const { plugins } = useStore(pluginsStore);
  const refresh = useStore(refreshStore);
  const filters = { plugin: params.plugin || '', status: params.status || '', source: params.source || '', session_id: params.session_id || '' };
  // Text filters are typed here and reach the address after a pause.
  const [pluginText, setPluginText] = useState(filters.plugin);
  const [sessionText, setSessionText] = useState(filters.session_id);
  const plugin = useDebounced(pluginText.trim(), 300);
  const session = useDebounced(sessionText.trim(), 300);
  const [rows, setRows] = useState(/** @type {Execution[]} */ ([]));
  const [next, setNext] = useState(/** @type {string | number | null} */ (null));
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState(/** @type {any} */ (null));
  const [open, setOpen] = useState(/** @type {string | null} */ (null));
  const sentinel = useRef(/** @type {HTMLDivElement | null} */ (null));
  const key = JSON.stringify(filters);

  /** @param {Record<string, string>} change */
  const setFilters = (change) => navigate(href('logs', [], { ...filters, ...change }), true);

  useEffect(() => {
    if (plugin !== filters.plugin || session !== filters.session_id) setFilters({ plugin, session_id: session });
  }, [plugin, session]);

  /**
   * @param {string | number | null} before
   * @param {AbortSignal} [signal]
   */
  const load = async (before, signal) => {
    setLoading(true);
    setError(null);
    try {
      const page = await get(`api/executions${query({ ...filters, before, limit: PAGE })}`, { signal });
      setRows((list) => (before === null ? page.executions : [...list, ...page.executions]));
      setNext(page.executions.length ? page.next_before ?? null : null);
    } catch (failure) {
      if (!isAbort(failure)) setError(failure);
    } finally {
      if (!signal || !signal.aborted) setLoading(false);
    }
  };

  useEffect(() => {
    const controller = new AbortController();
    setRows([]);
    setNext(null);
    load(null, controller.signal);
    return () => controller.abort();
  }, [key, refresh]);

  // More rows when the end of the table comes into view.
  useEffect(() => {
    const element = sentinel.current;
    if (!element) return undefined;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting) && next !== null && !loading && !error) load(next);
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, [next, loading, error]);

  return html`<div class="page stack">
    <h1>Execution logs</h1>
    <form class="filters card" onSubmit=${(/** @type {Event} */ e) => e.preventDefault()} aria-label="Filters">
      <div class="field">
        <label for="log-plugin">Plugin</label>
        <input id="log-plugin" type="search" list="log-plugins" data-search value=${pluginText} placeholder="Any (press /)" onInput=${(/** @type {Event} */ e) => setPluginText(/** @type {HTMLInputElement} */ (e.currentTarget).value)} />
        <datalist id="log-plugins">${plugins.map((p) => html`<option value=${p.name}></option>`)}</datalist>
      </div>
      <div class="field">
        <label for="log-status">Status</label>
        <select id="log-status" value=${filters.status} onChange=${(/** @type {Event} */ e) => setFilters({ status: /** @type {HTMLSelectElement} */ (e.currentTarget).value })}>
          <option value="">Any</option>
          ${STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
        </select>
      </div>
      <div class="field">
        <label for="log-source">Source</label>
        <select id="log-source" value=${filters.source} onChange=${(/** @type {Event} */ e) => setFilters({ source: /** @type {HTMLSelectElement} */ (e.currentTarget).value })}>
          <option value="">Any</option>
          ${SOURCES.map((s) => html`<option value=${s}>${s}</option>`)}
        </select>
      </div>
      <div class="field">
        <label for="log-session">Session</label>
        <input id="log-session" type="search" value=${sessionText} placeholder="Any" onInput=${(/** @type {Event} */ e) => setSessionText(/** @type {HTMLInputElement} */ (e.currentTarget).value)} />
      </div>
    </form>
    ${error && html`<${ErrorBox} error=${error} onRetry=${() => load(rows.length ? next : null)} />`}
    <div class="table-wrap" tabindex="0" aria-label="Executions table">
      <table class="logs">
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Plugin</th>
            <th scope="col">Status</th>
            <th scope="col" class="num">Duration</th>
            <th scope="col" class="hide-narrow">Source</th>
            <th scope="col" class="hide-narrow">Session</th>
          </tr>
        </thead>
        <tbody>
          ${rows.map(
            (row) => html`<${Fragment} key=${row.id}>
              <tr class="log-row" data-execution=${row.id} data-plugin=${row.plugin} data-status=${row.status}>
                <td>
                  <button type="button" class="link" aria-expanded=${open === row.id ? 'true' : 'false'} onClick=${() => setOpen(open === row.id ? null : row.id)}>${formatTime(row.timestamp)}</button>
                </td>
                <td class="mono">${row.plugin}</td>
                <td><${StatusBadge} status=${row.status} /></td>
                <td class="num">${formatDuration(row.duration_ms)}</td>
                <td class="hide-narrow">${row.source}</td>
                <td class="hide-narrow mono"><a href=${href('sessions', [row.session_id, row.id])}>${row.session_id}</a></td>
              </tr>
              ${open === row.id &&
              html`<tr class="log-detail">
                <td colspan="6">
                  <div class="stack">
                    <p class="small">
                      Execution <span class="mono">${row.id}</span> · source ${row.source} · session${' '}
                      <a class="mono" href=${href('sessions', [row.session_id, row.id])}>${row.session_id}</a> (event #${row.seq})
                    </p>
                    <${JsonBlock} title="Input" value=${row.input} />
                    ${row.error ? html`<div class="alert" role="alert"><span class="code">${row.status}</span>: ${row.error}</div>` : html`<${JsonBlock} title="Output" value=${row.output} />`}
                  </div>
                </td>
              </tr>`}
            </${Fragment}>`,
          )}
        </tbody>
      </table>
    </div>
    ${!loading && !error && rows.length === 0 && html`<p class="empty">No executions match.</p>`}
    ${loading && html`<p class="empty"><${Spinner} label="Loading executions" /></p>`}
    <div ref=${sentinel}>${next !== null && !loading && html`<button type="button" class="small" onClick=${() => load(next)}>Load more</button>`}</div>
  </div>`;
}
