// @ts-check
/**
 * The HTTP client of the UI: JSON requests carrying the API key, the error envelope
 * (`{"error": {"code", "message", ...}}`) as thrown `ApiError`s, and the chat's event stream.
 * Paths are relative, so the UI also works behind a proxy that mounts it under a prefix.
 */

const KEY_STORAGE = 'codexcontinue.apiKey';

/** A failed request: the envelope's code and message, or a network failure. */
export class ApiError extends Error {
  /**
   * @param {number} status the HTTP status, 0 when the server was not reached
   * @param {string} code the envelope's stable code (`plugin_disabled`, ...)
   * @param {string} message
   * @param {Record<string, any>} [detail] the whole envelope (`execution_id`, `suggestion`, ...)
   */
  constructor(status, code, message, detail = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

/** @type {Set<() => void>} */
const unauthorizedListeners = new Set();

/**
 * Calls `listener` whenever the API answers 401.
 * @param {() => void} listener
 */
export function onUnauthorized(listener) {
  unauthorizedListeners.add(listener);
  return () => {
    unauthorizedListeners.delete(listener);
  };
}

/** The key kept for this browser tab (sessionStorage), or ''. */
export function apiKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE) || '';
  } catch {
    return '';
  }
}

/** @param {string} key '' forgets it */
export function setApiKey(key) {
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // Storage can be disabled; the key then lasts until the page is left.
  }
}

/** @param {Record<string, string>} extra */
function headers(extra) {
  /** @type {Record<string, string>} */
  const all = { Accept: 'application/json', ...extra };
  const key = apiKey();
  if (key) all.Authorization = `Bearer ${key}`;
  return all;
}

/**
 * The error a non-2xx response stands for.
 * @param {Response} response
 */
async function failure(response) {
  /** @type {any} */
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON: a proxy's page, say. The status line is all there is.
  }
  const error = body && body.error;
  if (error && typeof error === 'object') {
    return new ApiError(
      response.status,
      String(error.code || `http_${response.status}`),
      String(error.message || response.statusText),
      error,
    );
  }
  return new ApiError(response.status, `http_${response.status}`, `${response.status} ${response.statusText}`.trim());
}

/**
 * @param {string} path relative, e.g. `api/plugins`
 * @param {RequestInit} init
 */
async function send(path, init) {
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (init.signal && init.signal.aborted) throw error;
    throw new ApiError(0, 'network_error', `The server cannot be reached (${error instanceof Error ? error.message : error}).`);
  }
  if (response.status === 401) {
    for (const listener of [...unauthorizedListeners]) listener();
  }
  if (!response.ok) throw await failure(response);
  return response;
}

/**
 * A JSON request; resolves to the decoded body or throws an `ApiError`.
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body] sent as JSON when given
 * @param {{signal?: AbortSignal}} [options]
 * @returns {Promise<any>}
 */
export async function request(method, path, body, options = {}) {
  const json = body !== undefined;
  const response = await send(path, {
    method,
    headers: headers(json ? { 'Content-Type': 'application/json' } : {}),
    body: json ? JSON.stringify(body) : undefined,
    signal: options.signal,
  });
  return response.json();
}

/**
 * @param {string} path
 * @param {{signal?: AbortSignal}} [options]
 */
export const get = (path, options) => request('GET', path, undefined, options);

/**
 * @param {string} path
 * @param {unknown} [body]
 * @param {{signal?: AbortSignal}} [options]
 */
export const post = (path, body, options) => request('POST', path, body, options);

/**
 * `?a=1&b=2` from the non-empty values of `params` ('' when none).
 * @param {Record<string, string | number | undefined | null>} params
 */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** Whether `error` is the rejection of an aborted request. */
export function isAbort(/** @type {unknown} */ error) {
  return error instanceof DOMException && error.name === 'AbortError';
}

/**
 * One chat turn over `POST /chat/stream`: calls `onEvent(name, data)` for each server-sent
 * event (`delta`, `tool_call`, `tool_result`, `done`, `error`, and any later kind) until the
 * stream ends. Aborting `signal` ends the turn.
 * @param {string} message
 * @param {string} sessionId
 * @param {(name: string, data: any) => void} onEvent
 * @param {AbortSignal} signal
 */
export async function chatStream(message, sessionId, onEvent, signal) {
  const response = await send('chat/stream', {
    method: 'POST',
    headers: headers({ 'Content-Type': 'application/json', Accept: 'text/event-stream' }),
    body: JSON.stringify({ message, session_id: sessionId }),
    signal,
  });
  if (!response.body) throw new ApiError(0, 'stream_error', 'The reply has no body.');
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = parseEvent(block);
      if (event) onEvent(event.name, event.data);
    }
  }
}

/**
 * One server-sent event block; `null` for comments (keep-alives) and unnamed blocks.
 * @param {string} block
 */
export function parseEvent(block) {
  let name = '';
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let text = colon < 0 ? '' : line.slice(colon + 1);
    if (text.startsWith(' ')) text = text.slice(1);
    if (field === 'event') name = text;
    else if (field === 'data') data.push(text);
  }
  if (!name) return null;
  const raw = data.join('\n');
  try {
    return { name, data: JSON.parse(raw) };
  } catch {
    return { name, data: raw };
  }
}
