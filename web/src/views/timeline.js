// @ts-check
/**
 * `#/sessions/<id>[/<event>]`: a session's audit timeline, every event in order with its kind,
 * time and a payload that expands. Pages load as the list scrolls, and only the rows in view
 * are in the page (a virtual list: collapsed rows have one height, expanded ones are
 * measured), so a session of 10,000 events scrolls as smoothly as one of ten.
 */

import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';

import { get, isAbort, query } from '../api.js';
import { formatDuration, formatTime, oneLine } from '../format.js';
import { html } from '../html.js';
import { href } from '../route.js';
import { CopyButton, ErrorBox, JsonBlock, Spinner, StatusBadge } from '../ui.js';

const KINDS = ['message', 'plugin_execution', 'tool_call', 'tool_result', 'reset', 'error'];
const ROW = 44;
const PAGE = 500;
/** Rows rendered beyond each edge of the viewport. */
const OVERSCAN = 12;
/** How close to the end of what is loaded the next page is fetched, in rows. */
const PREFETCH = 60;

/**
 * @typedef {{id: string, seq: number, kind: string, timestamp: string, payload: any}} AuditEvent
 */

/**
 * Top offsets in a list of `ROW`-high rows where some rows are taller.
 * @param {Map<number, number>} tall index → height, for the expanded rows
 */
function layout(tall) {
  const sorted = [...tall.entries()].sort((a, b) => a[0] - b[0]);
  return {
    /** @param {number} index */
    top(index) {
      let extra = 0;
      for (const [i, h] of sorted) {
        if (i >= index) break;
        extra += h - ROW;
      }
      return index * ROW + extra;
    },
    /** @param {number} y @param {number} count */
    indexAt(y, count) {
      let extra = 0;
      for (const [i, h] of sorted) {
        const top = i * ROW + extra;
        if (y < top) break;
        if (y < top + h) return Math.min(i, count - 1);
        extra += h - ROW;
      }
      return Math.max(0, Math.min(count - 1, Math.floor((y - extra) / ROW)));
    },
    /** @param {number} count */
    height(count) {
      let extra = 0;
      for (const [i, h] of sorted) if (i < count) extra += h - ROW;
      return count * ROW + extra;
    },
  };
}

/**
 * A one-line summary of an event's payload.
 * @param {AuditEvent} event
 */
function summary(event) {
  const p = event.payload || {};
  switch (event.kind) {
    case 'message':
      return `${p.role}: ${oneLine(p.content)}`;
    case 'plugin_execution':
      return `${p.plugin} · ${p.status}${p.duration_ms !== undefined ? ` · ${formatDuration(p.duration_ms)}` : ''}${p.source ? ` · ${p.source}` : ''}`;
    case 'tool_call':
      return `${p.name}(${oneLine(p.arguments, 120)})`;
    case 'tool_result':
      return `${p.name} → ${p.is_error ? 'error: ' : ''}${oneLine(p.output, 120)}`;
    case 'reset':
      return 'short memory reset';
    case 'error':
      return `${p.code}: ${oneLine(p.message)}`;
    default:
      return oneLine(p);
  }
}

/** @param {{sessionId: string, eventId?: string}} props */
export function TimelineView({ sessionId, eventId }) {
  const [kinds, setKinds] = useState(() => new Set(KINDS));
  const [events, setEvents] = useState(/** @type {AuditEvent[]} */ ([]));
  const [nextAfter, setNextAfter] = useState(/** @type {number | null} */ (null));
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState(/** @type {any} */ (null));
  const [expanded, setExpanded] = useState(() => new Set(eventId ? [eventId] : []));
  const [selected, setSelected] = useState(eventId);
  const [heights, setHeights] = useState(() => new Map());
  const [scrollTop, setScrollTop] = useState(0);
  const [viewHeight, setViewHeight] = useState(600);
  const viewport = useRef(/** @type {HTMLDivElement | null} */ (null));
  const fetching = useRef(/** @type {AbortController | null} */ (null));
  const scrolledTo = useRef('');

  const kindList = KINDS.filter((k) => kinds.has(k));
  const kindsParam = kindList.length === KINDS.length ? undefined : kindList.join(',');

  /**
   * @param {number | null} after
   * @param {boolean} reset
   */
  const loadPage = async (after, reset) => {
    if (fetching.current && !reset) return;
    if (fetching.current) fetching.current.abort();
    const controller = new AbortController();
    fetching.current = controller;
    setLoading(true);
    setError(null);
    try {
      const page = await get(`api/sessions/${encodeURIComponent(sessionId)}/events${query({ after, limit: PAGE, kinds: kindsParam })}`, { signal: controller.signal });
      setEvents((list) => (reset ? page.events : [...list, ...page.events]));
      setNextAfter(page.events.length ? page.next_after ?? null : null);
    } catch (failure) {
      if (!isAbort(failure)) setError(failure);
    } finally {
      if (fetching.current === controller) {
        fetching.current = null;
        setLoading(false);
      }
    }
  };

  // The first page, again when the kinds change.
  useEffect(() => {
    setEvents([]);
    setHeights(new Map());
    setNextAfter(null);
    loadPage(null, true);
    return () => {
      if (fetching.current) fetching.current.abort();
    };
  }, [sessionId, kindsParam]);

  // Follows the hash when another event of the same session is linked.
  useEffect(() => {
    if (eventId) setExpanded((set) => new Set(set).add(eventId));
    setSelected(eventId);
  }, [eventId]);

  useLayoutEffect(() => {
    const element = viewport.current;
    if (!element) return undefined;
    const measure = () => setViewHeight(element.clientHeight || 600);
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  const indexOf = new Map(events.map((e, i) => [e.id, i]));
  /** @type {Map<number, number>} */
  const tall = new Map();
  for (const id of expanded) {
    const index = indexOf.get(id);
    if (index !== undefined) tall.set(index, Math.max(ROW, heights.get(id) || ROW * 4));
  }
  const rows = layout(tall);
  const total = rows.height(events.length);
  const first = events.length ? Math.max(0, rows.indexAt(scrollTop, events.length) - OVERSCAN) : 0;
  const last = events.length ? Math.min(events.length - 1, rows.indexAt(scrollTop + viewHeight, events.length) + OVERSCAN) : -1;

  // Scroll a deep-linked event into view once it is loaded.
  useLayoutEffect(() => {
    if (!eventId || scrolledTo.current === eventId) return;
    const index = indexOf.get(eventId);
    const element = viewport.current;
    if (index === undefined || !element) return;
    scrolledTo.current = eventId;
    element.scrollTop = Math.max(0, rows.top(index) - ROW);
    setScrollTop(element.scrollTop);
  });

  // The next page, when the rows in view come near the end of what is loaded, or while a
  // deep-linked event is not loaded yet.
  const seeking = Boolean(eventId) && !indexOf.has(eventId || '');
  useEffect(() => {
    if (nextAfter !== null && !loading && !error && (seeking || last >= events.length - PREFETCH)) loadPage(nextAfter, false);
  }, [last, events.length, nextAfter, loading, error, seeking]);
  const missing = seeking && nextAfter === null && !loading && !error;

  /** @param {string} id */
  const toggle = (id) => {
    setExpanded((set) => {
      const next = new Set(set);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
    // The address names the event last opened, so it can be shared.
    history.replaceState(null, '', href('sessions', [sessionId, id]));
    setSelected(id);
  };

  /**
   * @param {string} id
   * @param {number} height
   */
  const measured = (id, height) => {
    if (heights.get(id) !== height) setHeights((map) => new Map(map).set(id, height));
  };

  /** @param {string} kind */
  const flip = (kind) =>
    setKinds((set) => {
      const next = new Set(set);
      if (next.has(kind)) next.delete(kind);
      else next.add(kind);
      return next.size ? next : new Set(KINDS);
    });

  return html`<div class="page stack">
    <div class="row spread">
      <h1>Timeline <span class="mono small muted">${sessionId}</span></h1>
      <div class="row small">
        <a href=${href('chat', [sessionId])}>Open in chat</a>
        <a href=${href('logs', [], { session_id: sessionId })}>Executions</a>
      </div>
    </div>
    <fieldset class="kind-filter">
      <legend>Kinds</legend>
      ${KINDS.map(
        (kind) => html`<label class="check" key=${kind}>
          <input type="checkbox" checked=${kinds.has(kind)} onChange=${() => flip(kind)} data-kind=${kind} />
          ${kind}
        </label>`,
      )}
    </fieldset>
    ${error && html`<${ErrorBox} error=${error} onRetry=${() => loadPage(nextAfter, events.length === 0)} />`}
    ${missing && html`<p class="notice">Event <span class="mono">${eventId}</span> is not in this session${kindsParam ? ' with these kinds' : ''}.</p>`}
    <div class="muted small" aria-live="polite">
      ${events.length.toLocaleString('en-US')} events loaded${nextAfter !== null ? ', more as you scroll' : ''}
      ${loading && html` <${Spinner} label="Loading events" />`}
    </div>
    <div
      class="timeline-viewport"
      ref=${viewport}
      tabindex="0"
      aria-label="Events"
      onScroll=${(/** @type {Event} */ e) => setScrollTop(/** @type {HTMLDivElement} */ (e.currentTarget).scrollTop)}
    >
      <ol class="timeline-inner" style=${{ height: `${total}px`, margin: 0, padding: 0, listStyle: 'none' }} aria-label="Session events">
        ${events.slice(first, last + 1).map((event, offset) => {
          const index = first + offset;
          return html`<${EventRow}
            key=${event.id}
            event=${event}
            sessionId=${sessionId}
            top=${rows.top(index)}
            open=${expanded.has(event.id)}
            selected=${event.id === selected}
            onToggle=${toggle}
            onMeasure=${measured}
          />`;
        })}
      </ol>
      ${!loading && !error && events.length === 0 && html`<p class="empty">No events${kindsParam ? ' of these kinds' : ''} in this session.</p>`}
    </div>
  </div>`;
}

/**
 * @param {{event: AuditEvent, sessionId: string, top: number, open: boolean, selected: boolean, onToggle: (id: string) => void, onMeasure: (id: string, height: number) => void}} props
 */
function EventRow({ event, sessionId, top, open, selected, onToggle, onMeasure }) {
  const element = useRef(/** @type {HTMLLIElement | null} */ (null));
  useLayoutEffect(() => {
    if (open && element.current) onMeasure(event.id, element.current.offsetHeight);
  });
  const p = event.payload || {};
  const bodyId = `event-${event.id}`;
  return html`<li
    ref=${element}
    class=${`event ${selected ? 'selected' : ''}`}
    style=${{ top: `${top}px` }}
    data-seq=${event.seq}
    data-event=${event.id}
    data-kind=${event.kind}
  >
    <button type="button" class="event-head" aria-expanded=${open ? 'true' : 'false'} aria-controls=${open ? bodyId : undefined} onClick=${() => onToggle(event.id)}>
      <span class="seq">#${event.seq}</span>
      <span class="time">${formatTime(event.timestamp)}</span>
      ${event.kind === 'plugin_execution' ? html`<${StatusBadge} status=${p.status || 'unknown'} />` : html`<span class=${`badge ${event.kind === 'error' ? 'err' : ''}`}>${event.kind}</span>`}
      <span class="summary">${summary(event)}</span>
    </button>
    ${open &&
    html`<div class="event-body stack" id=${bodyId}>
      <div class="row small muted">
        <span>${event.kind}</span>
        <span>${formatTime(event.timestamp)}</span>
        <span class="mono">${event.id}</span>
        <a href=${href('sessions', [sessionId, event.id])}>Link</a>
        <${CopyButton} text=${`${location.origin}${location.pathname}${href('sessions', [sessionId, event.id])}`} label="Copy link" />
      </div>
      <${JsonBlock} title="Payload" value=${event.payload} />
    </div>`}
  </li>`;
}
