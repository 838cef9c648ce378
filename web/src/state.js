// @ts-check
/**
 * What every view shares: the plugin list, the server's health (is a model configured?),
 * the API-key prompt, a refresh counter bumped when a key is entered, and toasts.
 */

import { ApiError, apiKey, get, onUnauthorized } from './api.js';
import { Store } from './store.js';

/**
 * @typedef {object} Plugin
 * @property {string} name
 * @property {string} description
 * @property {string} version
 * @property {string} author
 * @property {string} category
 * @property {any} example
 * @property {any} input_schema
 * @property {string} kind
 * @property {boolean} enabled
 * @property {boolean} [available] false when it is listed but cannot run here
 * @property {string} [unavailable_reason] why not, and what enables it
 * @property {string[]} aliases
 * @property {string | null} source
 * @property {{timeout_ms: number, max_output_bytes: number, max_concurrency: number}} limits
 */

/**
 * @typedef {object} LoadError
 * @property {string} file
 * @property {string | null} plugin
 * @property {string} error
 */

/** @typedef {{plugins: Plugin[], loadErrors: LoadError[], loaded: boolean, error: ApiError | null}} PluginsState */

/** @type {Store<PluginsState>} */
export const pluginsStore = new Store(/** @type {PluginsState} */ ({ plugins: [], loadErrors: [], loaded: false, error: null }));

/** @type {Store<any>} `GET /health`, or null until it answers. */
export const healthStore = new Store(null);

/** @typedef {{prompt: boolean, rejected: boolean}} AuthState */

/** @type {Store<AuthState>} */
export const authStore = new Store(/** @type {AuthState} */ ({ prompt: false, rejected: false }));

/** Bumped when a key is entered, so every view fetches again. */
export const refreshStore = new Store(0);

/** Bumped when a chat turn ends, so session lists fetch again. */
export const sessionsChanged = new Store(0);

/** @type {Store<{id: number, text: string, kind: string}[]>} */
export const toastStore = new Store(/** @type {{id: number, text: string, kind: string}[]} */ ([]));

let toastId = 0;

/**
 * Shows a short message for a few seconds.
 * @param {string} text
 * @param {'info' | 'error'} [kind]
 */
export function toast(text, kind = 'info') {
  const id = ++toastId;
  toastStore.update((list) => [...list, { id, text, kind }]);
  setTimeout(() => toastStore.update((list) => list.filter((t) => t.id !== id)), kind === 'error' ? 8000 : 4000);
}

onUnauthorized(() => {
  authStore.set({ prompt: true, rejected: Boolean(apiKey()) });
});

/** Fetches the plugin list into `pluginsStore`. */
export async function loadPlugins() {
  try {
    const list = await get('api/plugins');
    pluginsStore.set({ plugins: list.plugins, loadErrors: list.load_errors, loaded: true, error: null });
  } catch (error) {
    pluginsStore.update((state) => ({ ...state, loaded: true, error: error instanceof ApiError ? error : new ApiError(0, 'error', String(error)) }));
  }
}

/**
 * Puts one plugin as the API answered it into the list.
 * @param {Plugin} plugin
 */
export function updatePlugin(plugin) {
  pluginsStore.update((state) => ({
    ...state,
    plugins: state.plugins.map((p) => (p.name === plugin.name ? plugin : p)),
  }));
}

/** Fetches `/health` (which needs no key) into `healthStore`. */
export async function loadHealth() {
  try {
    healthStore.set(await get('health'));
  } catch {
    // The views show the errors of the calls they make; health only informs.
  }
}
