// @ts-check
/**
 * A tool call in the chat, as a collapsible card: plugin, status, duration, then arguments
 * and result (or error) as JSON with copy buttons. The slot under the header holds the
 * progress bar while the call runs, or the approval question while the call waits for one.
 */

import { useState } from 'preact/hooks';

import { post } from '../api.js';
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
 * @property {{id: string, expiresAt: string}} [approval] the call waits for a person's answer
 *   (`approval_required`), until its result arrives
 */

/**
 * The question of a call waiting for approval: approve, approve for the rest of the session,
 * or deny (`POST /api/approvals/{id}`). The turn resumes when the server has the answer, and
 * the call's result replaces the question.
 * @param {{tool: ToolItem}} props
 */
function ApprovalQuestion({ tool }) {
  const [state, setState] = useState(/** @type {{sending: boolean, error: string | null}} */ ({ sending: false, error: null }));
  const approval = tool.approval;
  if (!approval) return null;
  /** @param {'approve' | 'deny'} decision @param {boolean} remember */
  const answer = async (decision, remember) => {
    setState({ sending: true, error: null });
    try {
      await post(`/api/approvals/${approval.id}`, { decision, remember });
      setState({ sending: true, error: null });
    } catch (error) {
      setState({ sending: false, error: error instanceof Error ? error.message : String(error) });
    }
  };
  const expires = new Date(approval.expiresAt);
  return html`<div class="approval" role="group" aria-label=${`Approve ${tool.plugin}?`}>
    <span>Run <strong>${tool.plugin}</strong> with the arguments below? <span class="small muted">No answer by ${expires.toLocaleTimeString()} denies it.</span></span>
    <span class="approval-actions">
      <button type="button" class="primary" disabled=${state.sending} onClick=${() => answer('approve', false)}>Approve</button>
      <button type="button" disabled=${state.sending} onClick=${() => answer('approve', true)}>Always in this session</button>
      <button type="button" class="danger" disabled=${state.sending} onClick=${() => answer('deny', false)}>Deny</button>
    </span>
    ${state.error && html`<span class="alert" role="alert">${state.error}</span>`}
  </div>`;
}

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
  const waiting = running && tool.approval !== undefined;
  return html`<details class="tool" data-plugin=${tool.plugin} data-status=${waiting ? 'waiting' : tool.status} open=${waiting || undefined}>
    <summary>
      <span class="muted small">Tool</span>
      <span class="plugin-name">${tool.plugin}</span>
      ${running ? html`<${Spinner} label="Running" />` : html`<${StatusBadge} status=${tool.status} />`}
      <span class="duration">${duration}</span>
    </summary>
    <div class="tool-slot">${waiting
      ? html`<${ApprovalQuestion} tool=${tool} />`
      : running && (tool.fraction !== undefined || tool.progressMessage)
        ? html`<${ToolProgress} tool=${tool} />`
        : null}</div>
    <div class="tool-body">
      <${JsonBlock} title="Arguments" value=${tool.arguments} />
      ${running
        ? html`<p class="muted small">${waiting ? "Waiting for your answer…" : "Running…"}</p>`
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
