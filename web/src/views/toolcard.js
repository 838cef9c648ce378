// @ts-check
/**
 * A tool call in the chat, as a collapsible card: plugin, status, duration, then arguments
 * and result (or error) as JSON with copy buttons. The slot under the header holds the
 * progress bar while the call runs.
 */

import { formatDuration } from '../format.js';
import { html } from '../html.js';
import { href } from '../route.js';
import { JsonBlock, Spinner, StatusBadge } from '../ui.js';

/**
 * @typedef {object} ToolItem
 * @property {'tool'} type
 * @property {string} key
 * @property {string} [id] the call id of the stream (`call_1`, `run_…`)
 * @property {string} plugin
 * @property {unknown} arguments
 * @property {'running' | 'ok' | 'error' | string} status
 * @property {unknown} [output]
 * @property {string | null} [error]
 * @property {number} [durationMs]
 * @property {boolean} [measured] the duration was measured here, not reported by the server
 * @property {number} [startedAt] `performance.now()` at the call
 * @property {string} [executionId]
 * @property {string} [sessionId]
 * @property {string} [runId] the run id while it runs (`POST /api/executions/{id}/cancel`)
 * @property {number} [fraction] the last progress fraction reported (0 to 1)
 * @property {string} [progressMessage] the last progress message reported
 */

/**
 * The running call's progress: a bar when the plugin reported a fraction, and its last
 * message.
 * @param {{tool: ToolItem}} props
 */
function ToolProgress({ tool }) {
  const percent = tool.fraction === undefined ? undefined : Math.round(tool.fraction * 100);
  return html`<div class="tool-progress">
    ${percent !== undefined &&
    html`<progress max="100" value=${percent} aria-label=${`${tool.plugin} progress`}>${percent}%</progress>
      <span class="small mono">${percent}%</span>`}
    ${tool.progressMessage && html`<span class="small muted progress-message">${tool.progressMessage}</span>`}
  </div>`;
}

/** @param {{tool: ToolItem}} props */
export function ToolCard({ tool }) {
  const running = tool.status === 'running';
  const duration = tool.durationMs === undefined ? '' : `${tool.measured ? '≈ ' : ''}${formatDuration(tool.durationMs)}`;
  return html`<details class="tool" data-plugin=${tool.plugin} data-status=${tool.status}>
    <summary>
      <span class="muted small">Tool</span>
      <span class="plugin-name">${tool.plugin}</span>
      ${running ? html`<${Spinner} label="Running" />` : html`<${StatusBadge} status=${tool.status} />`}
      <span class="duration">${duration}</span>
    </summary>
    <div class="tool-slot">${running && (tool.fraction !== undefined || tool.progressMessage) ? html`<${ToolProgress} tool=${tool} />` : null}</div>
    <div class="tool-body">
      <${JsonBlock} title="Arguments" value=${tool.arguments} />
      ${running
        ? html`<p class="muted small">Running…</p>`
        : tool.error
          ? html`<div class="json-title"><span>Error</span></div>
              <div class="alert tool-error" role="alert">${tool.error}</div>`
          : html`<${JsonBlock} title="Result" value=${tool.output} />`}
      ${tool.executionId &&
      tool.sessionId &&
      html`<p class="small muted">
        Execution <a href=${href('sessions', [tool.sessionId, tool.executionId])} class="mono">${tool.executionId}</a>
      </p>`}
    </div>
  </details>`;
}
