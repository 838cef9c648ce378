// @ts-check
/** `#/plugins`: every plugin with kind, status, version and its switch; files that failed to load. */

import { useState } from 'preact/hooks';

import { post } from '../api.js';
import { html } from '../html.js';
import { href } from '../route.js';
import { loadPlugins, pluginsStore, toast, updatePlugin } from '../state.js';
import { useStore } from '../store.js';
import { ErrorBox, Spinner } from '../ui.js';

/**
 * Switches a plugin on or off; the answer is the plugin as listed.
 * @param {string} name
 * @param {boolean} enabled
 */
export async function setEnabled(name, enabled) {
  try {
    updatePlugin(await post(`api/plugins/${encodeURIComponent(name)}/${enabled ? 'enable' : 'disable'}`));
    toast(`${name} ${enabled ? 'enabled' : 'disabled'}`);
    return true;
  } catch (/** @type {any} */ error) {
    toast(`${error.code || 'error'}: ${error.message}`, 'error');
    return false;
  }
}

/**
 * The enabled switch of one plugin.
 * @param {{plugin: import('../state.js').Plugin}} props
 */
export function EnabledSwitch({ plugin }) {
  // The switch shows the state asked for until the server answers, then the server's.
  const [pending, setPending] = useState(/** @type {boolean | null} */ (null));
  /** @param {Event} event */
  const change = async (event) => {
    const want = /** @type {HTMLInputElement} */ (event.currentTarget).checked;
    setPending(want);
    await setEnabled(plugin.name, want);
    setPending(null);
  };
  const enabled = pending ?? plugin.enabled;
  return html`<label class="switch">
    <input type="checkbox" checked=${enabled} disabled=${pending !== null} onChange=${change} aria-label=${`Enabled: ${plugin.name}`} data-enable=${plugin.name} />
    <span>${pending !== null ? 'Switching…' : enabled ? 'Enabled' : 'Disabled'}</span>
  </label>`;
}

export function PluginsView() {
  const { plugins, loadErrors, loaded, error } = useStore(pluginsStore);
  const [search, setSearch] = useState('');
  const [reloading, setReloading] = useState(false);

  const q = search.trim().toLowerCase();
  const shown = plugins.filter(
    (p) => !q || [p.name, p.description, p.kind, p.category, ...p.aliases].some((text) => (text || '').toLowerCase().includes(q)),
  );

  const reload = async () => {
    setReloading(true);
    try {
      const answer = await post('api/plugins/reload');
      await loadPlugins();
      toast(`Reloaded: ${answer.plugins} plugins, ${answer.load_errors.length} load errors`);
    } catch (/** @type {any} */ failure) {
      toast(`${failure.code || 'error'}: ${failure.message}`, 'error');
    } finally {
      setReloading(false);
    }
  };

  return html`<div class="page stack">
    <div class="row spread">
      <h1>Plugins</h1>
      <button type="button" onClick=${reload} disabled=${reloading}>${reloading ? 'Reloading…' : 'Reload plugins'}</button>
    </div>
    <div class="field">
      <label for="plugin-search">Search plugins</label>
      <input id="plugin-search" type="search" data-search placeholder="Name, kind, category (press /)" value=${search} onInput=${(/** @type {Event} */ e) => setSearch(/** @type {HTMLInputElement} */ (e.currentTarget).value)} />
    </div>
    ${error && html`<${ErrorBox} error=${error} onRetry=${loadPlugins} />`}
    ${!loaded && html`<p class="empty"><${Spinner} label="Loading plugins" /></p>`}
    ${loadErrors.length > 0 &&
    html`<section class="alert load-errors" aria-labelledby="load-errors-title">
      <h2 id="load-errors-title">Files that failed to load</h2>
      ${loadErrors.map(
        (e) => html`<div class="load-error stack" data-file=${e.file}>
          <div><strong class="mono">${e.file}</strong>${e.plugin ? html` <span class="muted">(${e.plugin})</span>` : ''}</div>
          <pre tabindex="0" aria-label=${`Error of ${e.file}`}>${e.error}</pre>
        </div>`,
      )}
    </section>`}
    ${loaded && !error && shown.length === 0 && html`<p class="empty">No plugin matches.</p>`}
    <ul class="plugin-grid" aria-label="Plugins">
      ${shown.map(
        (plugin) => html`<li key=${plugin.name} class="card plugin-card" data-plugin=${plugin.name}>
          <div class="row spread">
            <h2><a href=${href('plugins', [plugin.name])}>${plugin.name}</a></h2>
            <span class="badge info" data-kind=${plugin.kind}>${plugin.kind}</span>
          </div>
          <div class="desc">${plugin.description}</div>
          ${plugin.available === false && html`<div class="small"><span class="badge warn" title=${plugin.unavailable_reason || ''}>unavailable</span> <span class="muted">${plugin.unavailable_reason || ''}</span></div>`}
          <div class="row spread small">
            <span class="muted">v${plugin.version}${plugin.category ? ` · ${plugin.category}` : ''}</span>
            <${EnabledSwitch} plugin=${plugin} />
          </div>
        </li>`,
      )}
    </ul>
  </div>`;
}
