// @ts-check
/**
 * The chat's input box: Enter sends, Shift+Enter breaks the line, and `/run <plugin> ` completes
 * plugin names (arrows to choose, Tab or Enter to take one, Esc to dismiss). While a turn runs,
 * Send becomes Stop.
 */

import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';

import { html } from '../html.js';
import { pluginsStore } from '../state.js';
import { useStore } from '../store.js';

/**
 * The plugin-name prefix typed after `/run`, while the caret is in it; `null` otherwise.
 * @param {string} text
 * @param {number} caret
 */
export function runPrefix(text, caret) {
  const match = /^\s*\/run\s+(\S*)$/.exec(text.slice(0, caret));
  return match ? match[1] : null;
}

/**
 * Enabled plugins whose name (or alias) fits `prefix`, best first.
 * @param {import('../state.js').Plugin[]} plugins
 * @param {string} prefix
 */
function completions(plugins, prefix) {
  const q = prefix.toLowerCase();
  const scored = [];
  for (const plugin of plugins) {
    if (!plugin.enabled) continue;
    const name = plugin.name.toLowerCase();
    const score = name.startsWith(q) ? 0 : plugin.aliases.some((a) => a.toLowerCase().startsWith(q)) ? 1 : name.includes(q) ? 2 : -1;
    if (score >= 0) scored.push({ plugin, score });
  }
  scored.sort((a, b) => a.score - b.score || a.plugin.name.localeCompare(b.plugin.name));
  return scored.slice(0, 8).map((s) => s.plugin);
}

/** @param {{busy: boolean, onSend: (message: string) => void, onStop: () => void}} props */
export function Composer({ busy, onSend, onStop }) {
  const { plugins } = useStore(pluginsStore);
  const [text, setText] = useState('');
  const [caret, setCaret] = useState(0);
  const [selected, setSelected] = useState(0);
  const [dismissed, setDismissed] = useState(false);
  const input = useRef(/** @type {HTMLTextAreaElement | null} */ (null));
  // Where the caret goes once a taken completion is on screen. Placed in the same commit as the
  // new text, before the next key is handled: a later frame would pull the caret back over
  // whatever was typed since.
  const caretAfterAccept = useRef(/** @type {number | null} */ (null));

  const prefix = runPrefix(text, caret);
  const options = prefix === null || dismissed ? [] : completions(plugins, prefix);
  const open = options.length > 0;
  const active = Math.min(selected, Math.max(options.length - 1, 0));

  useEffect(() => {
    if (!busy && input.current) input.current.focus();
  }, [busy]);

  /** @param {string} name */
  const accept = (name) => {
    const start = text.slice(0, caret).replace(/\S*$/, '');
    const next = `${start}${name} ${text.slice(caret).replace(/^\S*\s?/, '')}`;
    const position = start.length + name.length + 1;
    setText(next);
    setCaret(position);
    setSelected(0);
    caretAfterAccept.current = position;
  };

  useLayoutEffect(() => {
    const position = caretAfterAccept.current;
    if (position === null || !input.current) return;
    caretAfterAccept.current = null;
    input.current.focus();
    input.current.setSelectionRange(position, position);
  });

  const submit = () => {
    const message = text.trim();
    if (!message || busy) return;
    setText('');
    setCaret(0);
    onSend(message);
  };

  /** @param {KeyboardEvent} event */
  const onKeyDown = (event) => {
    if (open) {
      if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        event.preventDefault();
        const step = event.key === 'ArrowDown' ? 1 : -1;
        setSelected((active + step + options.length) % options.length);
        return;
      }
      if (event.key === 'Tab' || (event.key === 'Enter' && !event.shiftKey)) {
        event.preventDefault();
        accept(options[active].name);
        return;
      }
      if (event.key === 'Escape') {
        event.preventDefault();
        event.stopPropagation();
        setDismissed(true);
        return;
      }
    }
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  };

  /** @param {Event} event */
  const onInput = (event) => {
    const area = /** @type {HTMLTextAreaElement} */ (event.currentTarget);
    setText(area.value);
    setCaret(area.selectionStart ?? area.value.length);
    setSelected(0);
    setDismissed(false);
  };

  /** @param {Event} event */
  const onSelect = (event) => {
    const area = /** @type {HTMLTextAreaElement} */ (event.currentTarget);
    setCaret(area.selectionStart ?? 0);
  };

  return html`<div class="composer">
    ${open &&
    html`<ul class="completions" id="run-completions" role="listbox" aria-label="Plugins">
      ${options.map(
        (plugin, index) => html`<li
          key=${plugin.name}
          id=${`run-option-${index}`}
          role="option"
          aria-selected=${index === active ? 'true' : 'false'}
          onMouseDown=${(/** @type {Event} */ e) => {
            e.preventDefault();
            accept(plugin.name);
          }}
        >
          <span class="mono">${plugin.name}</span><span class="desc">${plugin.description}</span>
        </li>`,
      )}
    </ul>`}
    <form
      onSubmit=${(/** @type {Event} */ e) => {
        e.preventDefault();
        submit();
      }}
    >
      <label for="chat-input" class="sr-only">Message</label>
      <textarea
        id="chat-input"
        ref=${input}
        rows="2"
        placeholder="Message, or /run <plugin> <input>"
        value=${text}
        aria-describedby="chat-hint"
        aria-autocomplete="list"
        aria-controls=${open ? 'run-completions' : undefined}
        aria-activedescendant=${open ? `run-option-${active}` : undefined}
        onInput=${onInput}
        onKeyDown=${onKeyDown}
        onKeyUp=${onSelect}
        onClick=${onSelect}
      ></textarea>
      ${busy
        ? html`<button type="button" class="danger" onClick=${onStop}>Stop</button>`
        : html`<button type="submit" class="primary" disabled=${!text.trim()}>Send</button>`}
    </form>
    <p id="chat-hint" class="sr-only">Enter sends, Shift+Enter starts a new line, Escape stops a reply. Type /run and a plugin name to call a plugin.</p>
  </div>`;
}
