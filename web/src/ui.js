// @ts-check
/** Small pieces every view uses: JSON blocks with copy buttons, errors, badges, loading. */

import { useEffect, useState } from 'preact/hooks';

import { isAbort } from './api.js';
import { html } from './html.js';
import { authStore, refreshStore } from './state.js';
import { useStore } from './store.js';
import { SHOWN_JSON_CHARS, pretty } from './format.js';

/**
 * Puts `text` on the clipboard; falls back to a hidden textarea where the clipboard API is
 * missing (plain HTTP to a non-loopback address).
 * @param {string} text
 */
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // Denied: try the old way.
    }
  }
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.append(area);
  area.select();
  let copied = false;
  try {
    copied = document.execCommand('copy');
  } catch {
    copied = false;
  }
  area.remove();
  return copied;
}

/**
 * @param {{text: string, label?: string, class?: string}} props
 */
export function CopyButton({ text, label = 'Copy', class: className = '' }) {
  const [state, setState] = useState('');
  const copy = async () => {
    setState((await copyText(text)) ? 'Copied' : 'Copy failed');
    setTimeout(() => setState(''), 1500);
  };
  return html`<button type="button" class=${`small copy ${className}`} onClick=${copy} aria-label=${state || label}>
    ${state || label}
  </button>`;
}

/**
 * A titled, copyable JSON value.
 * @param {{title?: string, value: unknown, copyLabel?: string}} props
 */
export function JsonBlock({ title, value, copyLabel }) {
  const text = pretty(value);
  const shown = text.length > SHOWN_JSON_CHARS ? `${text.slice(0, SHOWN_JSON_CHARS)}\n… (${text.length - SHOWN_JSON_CHARS} more characters; Copy copies all)` : text;
  return html`<div>
    ${title && html`<div class="json-title"><span>${title}</span></div>`}
    <div class="json">
      <pre tabindex="0" aria-label=${title || 'JSON'}>${shown}</pre>
      <${CopyButton} text=${text} label=${copyLabel || (title ? `Copy ${title.toLowerCase()}` : 'Copy')} />
    </div>
  </div>`;
}

/**
 * An API error: its code and message, never swallowed.
 * @param {{error: any, onRetry?: () => void}} props
 */
export function ErrorBox({ error, onRetry }) {
  if (!error) return null;
  const code = error.code || 'error';
  const message = error.message || String(error);
  return html`<div class="alert" role="alert" data-error-code=${code}>
    <span class="code">${code}</span>: <span class="message">${message}</span>
    ${code === 'unauthorized' &&
    html` <button type="button" class="small" onClick=${() => authStore.set({ prompt: true, rejected: false })}>Enter API key</button>`}
    ${onRetry && html` <button type="button" class="small" onClick=${onRetry}>Retry</button>`}
  </div>`;
}

/** @param {{label?: string}} props */
export function Spinner({ label = 'Loading' }) {
  return html`<span class="spinner" role="status" aria-label=${label}></span>`;
}

/**
 * An execution's status as a coloured badge.
 * @param {{status: string}} props
 */
export function StatusBadge({ status }) {
  const kind = status === 'ok' ? 'ok' : status === 'running' ? 'info' : 'err';
  return html`<span class=${`badge ${kind}`} data-status=${status}>${status}</span>`;
}

/**
 * Runs `load` when `deps` change (and when a key is entered); aborts the previous run.
 * @template T
 * @param {(signal: AbortSignal) => Promise<T>} load
 * @param {unknown[]} deps
 * @returns {{data: T | undefined, error: any, loading: boolean, reload: () => void}}
 */
export function useAsync(load, deps) {
  const [state, setState] = useState(/** @type {{data: T | undefined, error: any, loading: boolean}} */ ({ data: undefined, error: null, loading: true }));
  const [nonce, setNonce] = useState(0);
  const refresh = useStore(refreshStore);
  useEffect(() => {
    const controller = new AbortController();
    setState((s) => ({ ...s, loading: true, error: null }));
    load(controller.signal).then(
      (data) => {
        if (!controller.signal.aborted) setState({ data, error: null, loading: false });
      },
      (error) => {
        if (!controller.signal.aborted && !isAbort(error)) setState({ data: undefined, error, loading: false });
      },
    );
    return () => controller.abort();
  }, [...deps, nonce, refresh]);
  return { ...state, reload: () => setNonce((n) => n + 1) };
}

/**
 * Calls `fn` after `ms` of quiet in `value`.
 * @template T
 * @param {T} value
 * @param {number} ms
 * @returns {T}
 */
export function useDebounced(value, ms) {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

/**
 * A random session id, also outside secure contexts (where `crypto.randomUUID` is missing).
 */
export function newSessionId() {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return `web-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}
