// @ts-check
/** The shell: top bar with navigation, theme switch and key button; the current view; dialogs. */

import { useEffect, useRef, useState } from 'preact/hooks';

import { apiKey, get, setApiKey } from './api.js';
import { html } from './html.js';
import { useRoute } from './route.js';
import { authStore, loadHealth, loadPlugins, refreshStore, toastStore } from './state.js';
import { useStore } from './store.js';
import { chooseTheme, themeStore } from './theme.js';
import { AnalyticsView } from './views/analytics.js';
import { ChatView } from './views/chat.js';
import { LogsView } from './views/logs.js';
import { PluginDetail } from './views/plugin.js';
import { PluginsView } from './views/plugins.js';
import { SessionsView } from './views/sessions.js';
import { TimelineView } from './views/timeline.js';

const NAV = [
  ['chat', 'Chat'],
  ['plugins', 'Plugins'],
  ['sessions', 'Sessions'],
  ['logs', 'Logs'],
  ['analytics', 'Analytics'],
];

export function App() {
  const route = useRoute();
  const refresh = useStore(refreshStore);

  useEffect(() => {
    loadHealth();
    loadPlugins();
  }, [refresh]);

  // `/` focuses the current view's search box, unless the user is typing somewhere.
  useEffect(() => {
    /** @param {KeyboardEvent} event */
    const onKey = (event) => {
      if (event.key !== '/' || event.ctrlKey || event.metaKey || event.altKey) return;
      const target = /** @type {HTMLElement | null} */ (event.target);
      if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
      const search = /** @type {HTMLElement | null} */ (document.querySelector('[data-search]'));
      if (search) {
        event.preventDefault();
        search.focus();
      }
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, []);

  useEffect(() => {
    const name = NAV.find(([view]) => view === route.view)?.[1];
    document.title = name ? `${name} · CodexContinue` : 'CodexContinue';
  }, [route.view]);

  return html`<div class="shell">
    <header class="topbar">
      <a class="brand" href="#/chat">CodexContinue</a>
      <nav class="nav" aria-label="Main">
        ${NAV.map(
          ([view, label]) =>
            html`<a href=${`#/${view}`} aria-current=${route.view === view ? 'page' : undefined}>${label}</a>`,
        )}
      </nav>
      <div class="topbar-tools">
        <${ThemeSwitch} />
        <${KeyButton} />
      </div>
    </header>
    <main id="main">${view(route)}</main>
    <${KeyPrompt} />
    <${Toasts} />
  </div>`;
}

/** @param {import('./route.js').Route} route */
function view(route) {
  const [first, second] = route.parts;
  switch (route.view) {
    case 'chat':
      return html`<${ChatView} sessionId=${first} />`;
    case 'plugins':
      return first ? html`<${PluginDetail} key=${first} name=${first} />` : html`<${PluginsView} />`;
    case 'sessions':
      return first
        ? html`<${TimelineView} key=${first} sessionId=${first} eventId=${second} />`
        : html`<${SessionsView} />`;
    case 'logs':
      return html`<${LogsView} params=${route.params} />`;
    case 'analytics':
      return html`<${AnalyticsView} params=${route.params} />`;
    default:
      return html`<div class="page"><h1>Not found</h1><p>There is no page <code>#/${route.view}</code>. <a href="#/chat">Go to the chat</a>.</p></div>`;
  }
}

function ThemeSwitch() {
  const { choice } = useStore(themeStore);
  return html`<label class="row small theme-switch">
    <span class="hide-narrow">Theme</span>
    <select
      aria-label="Theme"
      value=${choice}
      onChange=${(/** @type {Event} */ e) => chooseTheme(/** @type {any} */ (/** @type {HTMLSelectElement} */ (e.currentTarget).value))}
    >
      <option value="system">System</option>
      <option value="light">Light</option>
      <option value="dark">Dark</option>
    </select>
  </label>`;
}

/** Shown once a key is in use: forgets it. */
function KeyButton() {
  useStore(authStore);
  useStore(refreshStore);
  if (!apiKey()) return null;
  const forget = () => {
    setApiKey('');
    location.reload();
  };
  return html`<button type="button" class="small" onClick=${forget}>Forget key</button>`;
}

/** Asks for an API key when the API answers 401; keeps it for this tab only. */
function KeyPrompt() {
  const auth = useStore(authStore);
  const dialog = useRef(/** @type {HTMLDialogElement | null} */ (null));
  const [key, setKey] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const element = dialog.current;
    if (!element) return;
    if (auth.prompt && !element.open) {
      setError(auth.rejected ? 'The key in use was refused. Enter a valid one.' : '');
      element.showModal();
    } else if (!auth.prompt && element.open) {
      element.close();
    }
  }, [auth.prompt]);

  /** @param {Event} event */
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError('');
    const previous = apiKey();
    setApiKey(key.trim());
    try {
      await get('api/plugins');
      setKey('');
      authStore.set({ prompt: false, rejected: false });
      refreshStore.update((n) => n + 1);
    } catch (/** @type {any} */ failure) {
      if (failure.code === 'unauthorized') {
        setApiKey(previous);
        setError('This key was not accepted.');
        authStore.set({ prompt: true, rejected: false });
      } else {
        setError(`${failure.code || 'error'}: ${failure.message}`);
      }
    } finally {
      setBusy(false);
    }
  };

  return html`<dialog
    ref=${dialog}
    aria-labelledby="key-title"
    onClose=${() => authStore.set({ prompt: false, rejected: false })}
  >
    <form class="stack" onSubmit=${submit}>
      <h2 id="key-title">API key required</h2>
      <p class="muted">
        This server only answers requests that carry one of its API keys. The key is kept for
        this browser tab only and sent as <code>Authorization: Bearer</code>.
      </p>
      <div class="field">
        <label for="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autocomplete="off"
          value=${key}
          onInput=${(/** @type {Event} */ e) => setKey(/** @type {HTMLInputElement} */ (e.currentTarget).value)}
        />
      </div>
      ${error && html`<p class="alert" role="alert">${error}</p>`}
      <div class="row">
        <button type="submit" class="primary" disabled=${busy || !key.trim()}>Use this key</button>
        <button type="button" onClick=${() => dialog.current && dialog.current.close()}>Cancel</button>
      </div>
    </form>
  </dialog>`;
}

function Toasts() {
  const toasts = useStore(toastStore);
  return html`<div class="toasts" role="status" aria-live="polite">
    ${toasts.map(
      (t) => html`<div key=${t.id} class=${`toast ${t.kind === 'error' ? 'alert' : ''}`}>${t.text}</div>`,
    )}
  </div>`;
}
