// @ts-check
/**
 * `#/plugins/<name>`: one plugin's metadata, a form generated from its input schema (or raw
 * JSON), and Execute with the result, duration and execution id, or the error's code and
 * message.
 */

import { useEffect, useState } from 'preact/hooks';

import { get, post } from '../api.js';
import { formatDuration, pretty } from '../format.js';
import { html } from '../html.js';
import { href } from '../route.js';
import { pluginsStore, updatePlugin } from '../state.js';
import { useStore } from '../store.js';
import { CopyButton, ErrorBox, JsonBlock, Spinner, useAsync } from '../ui.js';
import { EnabledSwitch } from './plugins.js';
import { defaultFor, resolve, typeOf, variants } from './schema-form.js';
import { SchemaField } from './schema-form.js';

const SESSION_STORAGE = 'codexcontinue.runSession';

function storedSession() {
  try {
    return sessionStorage.getItem(SESSION_STORAGE) || 'default';
  } catch {
    return 'default';
  }
}

/**
 * Whether the form can say anything useful about `schema` (else raw JSON is the better start).
 * @param {any} schema
 */
function formable(schema) {
  const resolved = resolve(schema || {}, schema);
  return Boolean(variants(resolved)) || typeOf(resolved) !== 'any';
}

/** @param {{name: string}} props */
export function PluginDetail({ name }) {
  const { data: loaded, error, loading } = useAsync((signal) => get(`api/plugins/${encodeURIComponent(name)}`, { signal }), [name]);
  const { plugins } = useStore(pluginsStore);
  // The list's copy is fresher once the switch changed it.
  const plugin = plugins.find((p) => loaded && p.name === loaded.name) || loaded;

  useEffect(() => {
    if (loaded) updatePlugin(loaded);
  }, [loaded]);

  return html`<div class="page stack">
    <p class="small"><a href="#/plugins">← All plugins</a></p>
    ${loading && !plugin && html`<p class="empty"><${Spinner} label="Loading the plugin" /></p>`}
    ${error && html`<${ErrorBox} error=${error} />`}
    ${plugin &&
    html`<div class="row spread">
        <h1 class="mono">${plugin.name}</h1>
        <div class="row">
          <span class="badge info">${plugin.kind}</span>
          <${EnabledSwitch} plugin=${plugin} />
        </div>
      </div>
      <div class="detail">
        <${Metadata} plugin=${plugin} />
        <${RunPanel} key=${plugin.name} plugin=${plugin} />
      </div>`}
  </div>`;
}

/** @param {{plugin: import('../state.js').Plugin}} props */
function Metadata({ plugin }) {
  return html`<section class="card stack" aria-labelledby="meta-title">
    <h2 id="meta-title">About</h2>
    <p>${plugin.description}</p>
    ${plugin.available === false && html`<p class="notice" data-unavailable><strong>Unavailable here.</strong> ${plugin.unavailable_reason || 'Its runtime is not available.'}</p>`}
    <dl class="kv">
      <dt>Version</dt><dd>${plugin.version}</dd>
      <dt>Author</dt><dd>${plugin.author || '—'}</dd>
      <dt>Category</dt><dd>${plugin.category || '—'}</dd>
      <dt>Kind</dt><dd>${plugin.kind}</dd>
      <dt>Status</dt><dd>${plugin.enabled ? 'enabled' : 'disabled'}${plugin.available === false ? ', unavailable' : ''}</dd>
      <dt>Aliases</dt><dd>${plugin.aliases.length ? plugin.aliases.join(', ') : '—'}</dd>
      <dt>Source</dt><dd class="mono">${plugin.source || 'built in'}</dd>
      <dt>Timeout</dt><dd>${formatDuration(plugin.limits.timeout_ms)}</dd>
      <dt>Output cap</dt><dd>${plugin.limits.max_output_bytes.toLocaleString('en-US')} bytes</dd>
      <dt>Concurrency</dt><dd>${plugin.limits.max_concurrency}</dd>
    </dl>
    ${plugin.example !== null && plugin.example !== undefined && html`<${JsonBlock} title="Example input" value=${plugin.example} />`}
    <details>
      <summary>Input schema</summary>
      <${JsonBlock} value=${plugin.input_schema} copyLabel="Copy input schema" />
    </details>
  </section>`;
}

/** @param {{plugin: import('../state.js').Plugin}} props */
function RunPanel({ plugin }) {
  const schema = plugin.input_schema || {};
  const [mode, setMode] = useState(formable(schema) ? 'form' : 'json');
  const [value, setValue] = useState(() => {
    const initial = defaultFor(schema, schema);
    return initial === undefined ? plugin.example ?? null : initial;
  });
  const [raw, setRaw] = useState(() => pretty(value));
  const [rawError, setRawError] = useState('');
  const [session, setSession] = useState(storedSession);
  const [running, setRunning] = useState(false);
  const [outcome, setOutcome] = useState(/** @type {{ok: true, answer: any} | {ok: false, error: any} | null} */ (null));

  /** @param {'form' | 'json'} next */
  const switchMode = (next) => {
    if (next === mode) return;
    if (next === 'json') {
      setRaw(pretty(value ?? null));
      setRawError('');
    } else if (rawError) {
      return;
    }
    setMode(next);
  };

  /** @param {Event} event */
  const onRaw = (event) => {
    const text = /** @type {HTMLTextAreaElement} */ (event.currentTarget).value;
    setRaw(text);
    try {
      setValue(JSON.parse(text));
      setRawError('');
    } catch (failure) {
      setRawError(failure instanceof Error ? failure.message : String(failure));
    }
  };

  /** @param {Event} event */
  const execute = async (event) => {
    event.preventDefault();
    if (mode === 'json' && rawError) return;
    const sessionId = session.trim() || 'default';
    try {
      sessionStorage.setItem(SESSION_STORAGE, sessionId);
    } catch {
      // Remembering the session is a convenience.
    }
    setRunning(true);
    setOutcome(null);
    try {
      const answer = await post('api/plugins/execute', { plugin: plugin.name, data: value === undefined ? null : value, session_id: sessionId });
      setOutcome({ ok: true, answer });
    } catch (error) {
      setOutcome({ ok: false, error });
    } finally {
      setRunning(false);
    }
  };

  const useExample = () => {
    setValue(plugin.example);
    setRaw(pretty(plugin.example));
    setRawError('');
    setMode(formable(schema) ? mode : 'json');
  };

  return html`<section class="card stack" aria-labelledby="run-title">
    <div class="row spread">
      <h2 id="run-title">Run</h2>
      <div class="tabs" role="group" aria-label="Input mode">
        <button type="button" aria-pressed=${mode === 'form' ? 'true' : 'false'} onClick=${() => switchMode('form')}>Form</button>
        <button type="button" aria-pressed=${mode === 'json' ? 'true' : 'false'} onClick=${() => switchMode('json')}>JSON</button>
      </div>
    </div>
    <form class="stack run-form" onSubmit=${execute} noValidate>
      ${mode === 'form'
        ? html`<${SchemaField} key=${`form-${JSON.stringify(plugin.example)}`} schema=${schema} root=${schema} value=${value} onChange=${setValue} id="input" label="Input" />`
        : html`<div class="field">
            <label for="raw-input">Input (JSON)</label>
            <textarea id="raw-input" class="mono" rows="8" value=${raw} aria-invalid=${rawError ? 'true' : 'false'} aria-describedby="raw-hint" onInput=${onRaw}></textarea>
            <span class="hint" id="raw-hint">${rawError ? `Not JSON yet: ${rawError}` : 'Sent as the call’s data. A plain string must be quoted.'}</span>
          </div>`}
      <div class="field">
        <label for="run-session">Session</label>
        <input id="run-session" type="text" value=${session} onInput=${(/** @type {Event} */ e) => setSession(/** @type {HTMLInputElement} */ (e.currentTarget).value)} />
        <span class="hint">The run is logged in this session's timeline.</span>
      </div>
      <div class="row">
        <button type="submit" class="primary" disabled=${running || (mode === 'json' && Boolean(rawError))}>${running ? 'Running…' : 'Execute'}</button>
        ${plugin.example !== null && plugin.example !== undefined && html`<button type="button" onClick=${useExample}>Use example</button>`}
        ${mode === 'form' && html`<details class="small"><summary>Data sent</summary><pre class="mono" tabindex="0" aria-label="Data sent">${pretty(value ?? null)}</pre></details>`}
      </div>
    </form>
    <div aria-live="polite">
      ${running && html`<${Spinner} label="Running" />`}
      ${outcome && outcome.ok && html`<${RunResult} answer=${outcome.answer} />`}
      ${outcome && !outcome.ok && html`<${RunError} error=${outcome.error} session=${session.trim() || 'default'} />`}
    </div>
  </section>`;
}

/** @param {{answer: any}} props */
function RunResult({ answer }) {
  return html`<div class="stack run-result" data-execution=${answer.execution_id}>
    <div class="row">
      <span class="badge ok">ok</span>
      <span class="muted small">in <span class="duration">${formatDuration(answer.duration_ms)}</span></span>
    </div>
    <div class="row small">
      <span class="muted">Execution</span>
      <a class="mono execution-link" href=${href('sessions', [answer.session_id, answer.execution_id])}>${answer.execution_id}</a>
      <${CopyButton} text=${answer.execution_id} label="Copy execution id" />
    </div>
    <${JsonBlock} title="Result" value=${answer.result} />
  </div>`;
}

/** @param {{error: any, session: string}} props */
function RunError({ error, session }) {
  const executionId = error.detail && error.detail.execution_id;
  return html`<div class="stack run-error">
    <${ErrorBox} error=${error} />
    ${error.detail && error.detail.suggestion && html`<p class="small">Did you mean <a href=${href('plugins', [error.detail.suggestion])}>${error.detail.suggestion}</a>?</p>`}
    ${executionId &&
    html`<p class="small muted">Logged as execution <a class="mono execution-link" href=${href('sessions', [session, executionId])}>${executionId}</a></p>`}
  </div>`;
}
