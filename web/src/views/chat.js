// @ts-check
/**
 * `#/chat/<session>`: the sessions list, the conversation with its tool calls, and the
 * composer. A turn streams from `POST /chat/stream`; `/run <plugin> <input>` completes
 * plugin names; Stop (or Esc) aborts the stream.
 */

import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';

import { ApiError, chatStream, get, isAbort, query } from '../api.js';
import { pretty } from '../format.js';
import { html } from '../html.js';
import { renderMarkdown } from '../markdown.js';
import { href, navigate } from '../route.js';
import { healthStore, sessionsChanged } from '../state.js';
import { useStore } from '../store.js';
import { ErrorBox, Spinner, newSessionId } from '../ui.js';
import { Composer } from './composer.js';
import { SessionList } from './sessions.js';
import { ToolCard } from './toolcard.js';

/** Events read to show a session's history; the rest is in its timeline. */
const HISTORY_LIMIT = 5000;
const HISTORY_PAGE = 1000;
const HISTORY_KINDS = 'message,tool_call,tool_result,plugin_execution,error,reset';

/**
 * @typedef {import('./toolcard.js').ToolItem} ToolItem
 * @typedef {{type: 'user', key: string, text: string}} UserItem
 * @typedef {{type: 'assistant', key: string, text: string, streaming?: boolean, stopped?: boolean}} AssistantItem
 * @typedef {{type: 'error', key: string, code: string, message: string}} ErrorItem
 * @typedef {{type: 'notice', key: string, text: string}} NoticeItem
 * @typedef {UserItem | AssistantItem | ToolItem | ErrorItem | NoticeItem} Item
 */

let itemCounter = 0;
const nextKey = () => `live-${++itemCounter}`;

/**
 * The conversation a session's stored events make.
 * @param {any[]} events in `seq` order
 * @param {string} sessionId
 * @returns {Item[]}
 */
export function itemsFromEvents(events, sessionId) {
  /** @type {Item[]} */
  const items = [];
  /** @type {Map<string, ToolItem>} */
  const calls = new Map();
  for (const event of events) {
    const p = event.payload || {};
    switch (event.kind) {
      case 'message':
        if (p.role === 'user') items.push({ type: 'user', key: event.id, text: String(p.content ?? '') });
        else if (p.role === 'assistant') items.push({ type: 'assistant', key: event.id, text: String(p.content ?? '') });
        break;
      case 'tool_call': {
        /** @type {ToolItem} */
        const tool = { type: 'tool', key: event.id, id: p.call_id, plugin: p.name, arguments: p.arguments, status: 'unknown', sessionId };
        calls.set(p.call_id, tool);
        items.push(tool);
        break;
      }
      case 'plugin_execution': {
        // A model's tool call is logged as the call, the execution, then the result: the
        // execution belongs to the latest call of that plugin that has none yet.
        const open = /** @type {ToolItem | undefined} */ (
          [...items].reverse().find((i) => i.type === 'tool' && i.id && i.plugin === p.plugin && !i.executionId)
        );
        if (open) {
          open.executionId = event.id;
          open.durationMs = p.duration_ms;
          open.status = p.status || open.status;
        } else {
          items.push({
            type: 'tool',
            key: event.id,
            plugin: p.plugin,
            arguments: p.input,
            output: p.output,
            error: p.error ?? null,
            status: p.status || 'unknown',
            durationMs: p.duration_ms,
            executionId: event.id,
            sessionId,
          });
        }
        break;
      }
      case 'tool_result': {
        const tool = calls.get(p.call_id);
        if (!tool) break;
        if (p.is_error) {
          tool.error = p.output && typeof p.output === 'object' && 'error' in p.output ? String(p.output.error) : pretty(p.output);
          if (tool.status === 'ok' || tool.status === 'unknown') tool.status = 'error';
        } else {
          tool.output = p.output;
          if (tool.status === 'unknown') tool.status = 'ok';
        }
        break;
      }
      case 'error':
        items.push({ type: 'error', key: event.id, code: p.code || 'error', message: p.message || '' });
        break;
      case 'reset':
        items.push({ type: 'notice', key: event.id, text: 'The short memory was reset here: the model does not see what is above.' });
        break;
      default:
        break;
    }
  }
  return items;
}

/** @param {{sessionId?: string}} props */
export function ChatView({ sessionId }) {
  const [search, setSearch] = useState('');
  const [showSessions, setShowSessions] = useState(false);

  // `#/chat` alone starts a new session.
  useEffect(() => {
    if (!sessionId) navigate(href('chat', [newSessionId()]), true);
  }, [sessionId]);
  useEffect(() => setShowSessions(false), [sessionId]);

  if (!sessionId) return null;
  return html`<div class=${`chat ${showSessions ? 'show-sessions' : ''}`}>
    <aside class="sidebar" aria-label="Chat sessions">
      <div class="sidebar-head">
        <button type="button" class="primary" onClick=${() => navigate(href('chat', [newSessionId()]))}>New session</button>
      </div>
      <div class="sidebar-body">
        <${SessionList}
          search=${search}
          onSearch=${setSearch}
          currentId=${sessionId}
          pending=${sessionId}
          linkTo=${(/** @type {string} */ id) => href('chat', [id])}
          searchId="chat-session-search"
        />
      </div>
    </aside>
    <${Conversation} key=${sessionId} sessionId=${sessionId} onShowSessions=${() => setShowSessions(true)} />
  </div>`;
}

/** @param {{sessionId: string, onShowSessions: () => void}} props */
function Conversation({ sessionId, onShowSessions }) {
  const health = useStore(healthStore);
  const conversation = useRef({ items: /** @type {Item[]} */ ([]), lastSeq: 0, truncated: false });
  const [, setTick] = useState(0);
  const [loading, setLoading] = useState(true);
  const [loadError, setLoadError] = useState(/** @type {any} */ (null));
  const [turn, setTurn] = useState(/** @type {AbortController | null} */ (null));
  const scroller = useRef(/** @type {HTMLDivElement | null} */ (null));
  const stick = useRef(true);
  const frame = useRef(0);

  const rerender = () => setTick((t) => t + 1);
  // Deltas can come faster than frames: render at most once per frame.
  const scheduleRender = () => {
    if (!frame.current) {
      frame.current = requestAnimationFrame(() => {
        frame.current = 0;
        rerender();
      });
    }
  };

  useEffect(() => {
    const controller = new AbortController();
    (async () => {
      setLoading(true);
      setLoadError(null);
      try {
        const events = [];
        let after = null;
        let next = true;
        while (next && events.length < HISTORY_LIMIT) {
          const page = await get(`api/sessions/${encodeURIComponent(sessionId)}/events${query({ after, limit: HISTORY_PAGE, kinds: HISTORY_KINDS })}`, { signal: controller.signal });
          events.push(...page.events);
          after = page.next_after ?? null;
          next = after !== null && page.events.length > 0;
        }
        conversation.current = {
          items: itemsFromEvents(events, sessionId),
          lastSeq: events.length ? events[events.length - 1].seq : 0,
          truncated: next,
        };
        stick.current = true;
      } catch (error) {
        if (!isAbort(error)) setLoadError(error);
      } finally {
        if (!controller.signal.aborted) setLoading(false);
      }
    })();
    return () => controller.abort();
  }, [sessionId]);

  // Follow the end of the conversation unless the user scrolled up.
  useLayoutEffect(() => {
    const element = scroller.current;
    if (element && stick.current) element.scrollTop = element.scrollHeight;
  });

  const onScroll = () => {
    const element = scroller.current;
    if (element) stick.current = element.scrollHeight - element.scrollTop - element.clientHeight < 80;
  };

  // Esc stops the turn wherever the focus is.
  useEffect(() => {
    if (!turn) return undefined;
    /** @param {KeyboardEvent} event */
    const onKey = (event) => {
      if (event.key === 'Escape') turn.abort();
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, [turn]);

  /** @param {string} message */
  const send = async (message) => {
    const items = conversation.current.items;
    items.push({ type: 'user', key: nextKey(), text: message });
    stick.current = true;
    const controller = new AbortController();
    setTurn(controller);
    /** @type {Map<string, ToolItem>} */
    const tools = new Map();
    /** @type {ToolItem[]} */
    const turnTools = [];
    /** @type {AssistantItem | null} */
    let speaking = null;
    let replied = false;
    let ended = false;
    rerender();
    try {
      await chatStream(
        message,
        sessionId,
        (name, data) => {
          switch (name) {
            case 'delta':
              if (!speaking) {
                speaking = { type: 'assistant', key: nextKey(), text: '', streaming: true };
                items.push(speaking);
              }
              speaking.text += data.text ?? '';
              replied = true;
              break;
            case 'tool_call': {
              if (speaking) speaking.streaming = false;
              speaking = null;
              /** @type {ToolItem} */
              const tool = { type: 'tool', key: nextKey(), id: data.id, plugin: data.plugin, arguments: data.arguments, status: 'running', startedAt: performance.now(), sessionId, runId: data.run_id };
              tools.set(data.id, tool);
              turnTools.push(tool);
              items.push(tool);
              break;
            }
            case 'progress': {
              const tool = tools.get(data.id);
              if (!tool) break;
              if (typeof data.fraction === 'number') tool.fraction = data.fraction;
              if (typeof data.message === 'string') tool.progressMessage = data.message;
              break;
            }
            case 'approval_required': {
              const tool = tools.get(data.id);
              if (!tool) break;
              tool.approval = { id: data.approval_id, expiresAt: data.expires_at };
              break;
            }
            case 'tool_result': {
              const tool = tools.get(data.id);
              if (!tool) break;
              delete tool.approval;
              tool.status = data.ok ? 'ok' : 'error';
              tool.output = data.output;
              tool.error = data.ok ? null : data.error ?? 'failed';
              if (typeof data.duration_ms === 'number') tool.durationMs = data.duration_ms;
              else if (tool.startedAt !== undefined) {
                tool.durationMs = performance.now() - tool.startedAt;
                tool.measured = true;
              }
              break;
            }
            case 'done':
              ended = true;
              if (speaking) speaking.streaming = false;
              if (!replied && data.reply) items.push({ type: 'assistant', key: nextKey(), text: data.reply });
              break;
            case 'error':
              ended = true;
              if (speaking) speaking.streaming = false;
              items.push({ type: 'error', key: nextKey(), code: data.code || 'error', message: data.message || '' });
              break;
            default:
              // `turn` (the turn's id) and kinds added later.
              break;
          }
          scheduleRender();
        },
        controller.signal,
      );
      if (!ended) items.push({ type: 'error', key: nextKey(), code: 'stream_ended', message: 'The reply stream ended before the turn finished.' });
    } catch (error) {
      const current = /** @type {AssistantItem | null} */ (speaking);
      if (current) current.streaming = false;
      if (isAbort(error)) {
        if (current) current.stopped = true;
        items.push({ type: 'notice', key: nextKey(), text: 'Stopped.' });
        for (const tool of turnTools) if (tool.status === 'running') tool.status = 'stopped';
      } else {
        const failure = error instanceof ApiError ? error : new ApiError(0, 'error', String(error));
        items.push({ type: 'error', key: nextKey(), code: failure.code, message: failure.message });
      }
    } finally {
      setTurn(null);
      rerender();
      sessionsChanged.update((n) => n + 1);
    }
    await attachExecutions(turnTools);
    rerender();
  };

  /**
   * Gives this turn's tool cards the execution ids and durations the server logged.
   * @param {ToolItem[]} turnTools
   */
  const attachExecutions = async (turnTools) => {
    const after = conversation.current.lastSeq || null;
    try {
      const page = await get(`api/sessions/${encodeURIComponent(sessionId)}/events${query({ after, limit: HISTORY_PAGE })}`);
      for (const event of page.events) {
        conversation.current.lastSeq = Math.max(conversation.current.lastSeq, event.seq);
        if (event.kind !== 'plugin_execution') continue;
        const tool = turnTools.find((t) => !t.executionId && t.plugin === event.payload.plugin);
        if (tool) {
          tool.executionId = event.id;
          tool.durationMs = event.payload.duration_ms;
          tool.measured = false;
        }
      }
    } catch {
      // The cards keep their measured durations; the timeline has the rest.
    }
  };

  const { items, truncated } = conversation.current;
  const noModel = health && health.model && health.model.configured === false;
  return html`<section class="conversation" aria-label="Conversation">
    <div class="conversation-head">
      <button type="button" class="small sessions-toggle" onClick=${onShowSessions}>Sessions</button>
      <span class="title mono" title=${sessionId}>${sessionId}</span>
      <a class="small" href=${href('sessions', [sessionId])}>Timeline</a>
    </div>
    <div class="messages" ref=${scroller} onScroll=${onScroll} tabindex="0" aria-label="Messages" aria-live="polite" aria-busy=${turn ? 'true' : 'false'}>
      ${noModel && html`<${NoModel} />`}
      ${truncated && html`<p class="notice">This session is long: the first ${HISTORY_LIMIT.toLocaleString('en-US')} events are shown here. <a href=${href('sessions', [sessionId])}>Its timeline</a> has all of them.</p>`}
      ${loading && html`<p class="empty"><${Spinner} label="Loading the conversation" /></p>`}
      ${loadError && html`<${ErrorBox} error=${loadError} />`}
      ${!loading && !loadError && items.length === 0 && html`<p class="empty">Send a message, or call a plugin with <code>/run &lt;plugin&gt; &lt;input&gt;</code>.</p>`}
      ${items.map((item) => html`<${ItemView} key=${item.key} item=${item} />`)}
    </div>
    <${Composer} busy=${Boolean(turn)} onSend=${send} onStop=${() => turn && turn.abort()} />
  </section>`;
}

function NoModel() {
  return html`<div class="notice" data-no-model>
    <strong>No language model is configured.</strong>${' '}
    Only plugin commands work here, such as <code>/run echo hello</code>.${' '}
    To chat with a model, add an OpenAI-compatible provider to <code>codexcontinue.toml</code> and restart the server:
    <pre>[[model.providers]]
name = "local"
base_url = "http://127.0.0.1:11434/v1"
model = "llama3.2"
# api_key_env = "OPENAI_API_KEY"</pre>
  </div>`;
}

/** @param {{item: Item}} props */
function ItemView({ item }) {
  switch (item.type) {
    case 'user':
      return html`<div class="msg user"><div class="who">You</div><div class="bubble">${item.text}</div></div>`;
    case 'assistant':
      return html`<${AssistantMessage} item=${item} />`;
    case 'tool':
      return html`<div class="msg"><${ToolCard} tool=${item} /></div>`;
    case 'error':
      return html`<div class="msg"><${ErrorBox} error=${item} /></div>`;
    case 'notice':
      return html`<div class="msg"><p class="muted small">${item.text}</p></div>`;
    default:
      return null;
  }
}

/**
 * A reply that is one JSON value (a `/run` result) is shown as code, not as markdown.
 * @param {string} text
 */
function asJson(text) {
  const trimmed = text.trim();
  if (!/^[[{]/.test(trimmed)) return null;
  try {
    return JSON.stringify(JSON.parse(trimmed), null, 2);
  } catch {
    return null;
  }
}

/** @param {{item: AssistantItem}} props */
function AssistantMessage({ item }) {
  const json = item.streaming ? null : asJson(item.text);
  const rendered = useMemo(() => (json === null ? renderMarkdown(item.text) : ''), [item.text, json]);
  if (json !== null) {
    return html`<div class="msg assistant" data-streaming="false">
      <div class="who">Assistant</div>
      <div class="markdown"><pre tabindex="0" aria-label="Reply"><code>${json}</code></pre></div>
    </div>`;
  }
  return html`<div class="msg assistant" data-streaming=${item.streaming ? 'true' : 'false'}>
    <div class="who">Assistant${item.streaming ? html` <${Spinner} label="Replying" />` : ''}${item.stopped ? ' (stopped)' : ''}</div>
    <div class="markdown" dangerouslySetInnerHTML=${{ __html: rendered }}></div>
  </div>`;
}
