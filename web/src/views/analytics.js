// @ts-check
/**
 * `#/analytics?window=&bucket=`: calls per plugin, error rate and p50/p95/p99 latency over a
 * window, by hour or day, and totals by source: one store query (`GET /api/analytics`),
 * charted with uPlot.
 */

import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

import { get, query } from '../api.js';
import { formatCount, formatDuration, formatRate } from '../format.js';
import { html } from '../html.js';
import { href, navigate } from '../route.js';
import { useStore } from '../store.js';
import { themeStore } from '../theme.js';
import { ErrorBox, Spinner, useAsync } from '../ui.js';

const HOUR = 3600 * 1000;
const WINDOWS = [
  ['24h', 'Last 24 hours', 24 * HOUR, 'hour'],
  ['7d', 'Last 7 days', 7 * 24 * HOUR, 'hour'],
  ['30d', 'Last 30 days', 30 * 24 * HOUR, 'day'],
  ['90d', 'Last 90 days', 90 * 24 * HOUR, 'day'],
];

/** @param {{params: Record<string, string>}} props */
export function AnalyticsView({ params }) {
  const windowKey = WINDOWS.some((w) => w[0] === params.window) ? params.window : '24h';
  const choice = /** @type {(string | number)[]} */ (WINDOWS.find((w) => w[0] === windowKey));
  const bucket = params.bucket === 'day' || params.bucket === 'hour' ? params.bucket : String(choice[3]);
  const { theme } = useStore(themeStore);

  const { data, error, loading, reload } = useAsync(
    (signal) => {
      const until = new Date();
      const since = new Date(until.getTime() - Number(choice[2]));
      return get(`api/analytics${query({ since: since.toISOString(), until: until.toISOString(), bucket })}`, { signal });
    },
    [windowKey, bucket],
  );

  /** @param {Record<string, string>} change */
  const set = (change) => navigate(href('analytics', [], { window: windowKey, bucket, ...change }), true);

  const totals = data ? data.totals : null;
  const series = data ? buckets(data) : [];
  const maxSource = data ? Math.max(1, ...data.sources.map((/** @type {any} */ s) => s.calls)) : 1;

  return html`<div class="page stack">
    <div class="row spread">
      <h1>Analytics</h1>
      <form class="filters" aria-label="Window" onSubmit=${(/** @type {Event} */ e) => e.preventDefault()}>
        <div class="field">
          <label for="an-window">Window</label>
          <select id="an-window" value=${windowKey} onChange=${(/** @type {Event} */ e) => set({ window: /** @type {HTMLSelectElement} */ (e.currentTarget).value, bucket: '' })}>
            ${WINDOWS.map((w) => html`<option value=${w[0]}>${w[1]}</option>`)}
          </select>
        </div>
        <div class="field">
          <label for="an-bucket">By</label>
          <select id="an-bucket" value=${bucket} onChange=${(/** @type {Event} */ e) => set({ bucket: /** @type {HTMLSelectElement} */ (e.currentTarget).value })}>
            <option value="hour">Hour</option>
            <option value="day">Day</option>
          </select>
        </div>
        <button type="button" onClick=${reload}>Refresh</button>
      </form>
    </div>
    ${error && html`<${ErrorBox} error=${error} onRetry=${reload} />`}
    ${loading && !data && html`<p class="empty"><${Spinner} label="Loading analytics" /></p>`}
    ${data &&
    html`<div class="totals">
        <div class="card total"><div class="value" data-total="calls">${formatCount(totals.calls)}</div><div class="label">Calls</div></div>
        <div class="card total"><div class="value" data-total="errors">${formatCount(totals.errors)}</div><div class="label">Errors</div></div>
        <div class="card total"><div class="value">${formatRate(totals.calls ? totals.errors / totals.calls : 0)}</div><div class="label">Error rate</div></div>
      </div>
      ${totals.calls === 0
        ? html`<p class="empty">No executions in this window.</p>`
        : html`<section class="card stack" aria-labelledby="an-plugins">
              <h2 id="an-plugins">By plugin</h2>
              <div class="table-wrap" tabindex="0" aria-label="Calls by plugin">
                <table class="analytics-plugins">
                  <thead>
                    <tr>
                      <th scope="col">Plugin</th>
                      <th scope="col" class="num">Calls</th>
                      <th scope="col" class="num">Errors</th>
                      <th scope="col" class="num">Error rate</th>
                      <th scope="col" class="num">p50</th>
                      <th scope="col" class="num">p95</th>
                      <th scope="col" class="num">p99</th>
                    </tr>
                  </thead>
                  <tbody>
                    ${data.plugins.map(
                      (/** @type {any} */ p) => html`<tr key=${p.plugin} data-plugin=${p.plugin}>
                        <th scope="row" class="mono"><a href=${href('logs', [], { plugin: p.plugin })}>${p.plugin}</a></th>
                        <td class="num" data-calls>${formatCount(p.calls)}</td>
                        <td class="num">${formatCount(p.errors)}</td>
                        <td class="num">${formatRate(p.error_rate)}</td>
                        <td class="num">${formatDuration(p.p50_ms)}</td>
                        <td class="num">${formatDuration(p.p95_ms)}</td>
                        <td class="num">${formatDuration(p.p99_ms)}</td>
                      </tr>`,
                    )}
                  </tbody>
                </table>
              </div>
            </section>
            <section class="card stack" aria-labelledby="an-sources">
              <h2 id="an-sources">By source</h2>
              <table class="analytics-sources">
                <thead><tr><th scope="col">Source</th><th scope="col" class="num">Calls</th><th scope="col" class="hide-narrow"><span class="sr-only">Share</span></th></tr></thead>
                <tbody>
                  ${data.sources.map(
                    (/** @type {any} */ s) => html`<tr key=${s.source} data-source=${s.source}>
                      <th scope="row">${s.source}</th>
                      <td class="num">${formatCount(s.calls)}</td>
                      <td class="hide-narrow" style=${{ width: '50%' }}><div class="bar" style=${{ width: `${(100 * s.calls) / maxSource}%` }}></div></td>
                    </tr>`,
                  )}
                </tbody>
              </table>
            </section>
            <${Chart}
              title=${`Calls and errors per ${bucket}`}
              theme=${theme}
              series=${series}
              lines=${[
                ['Calls', 'calls', '--accent'],
                ['Errors', 'errors', '--err'],
              ]}
              format=${formatCount}
              tick=${formatCount}
            />
            <${Chart}
              title=${`Latency per ${bucket}`}
              theme=${theme}
              series=${series}
              lines=${[
                ['p50', 'p50_ms', '--ok'],
                ['p95', 'p95_ms', '--warn'],
                ['p99', 'p99_ms', '--err'],
              ]}
              format=${formatDuration}
              tick=${(/** @type {number} */ t) => (t >= 1000 ? `${t / 1000} s` : `${t} ms`)}
            />`}`}
  </div>`;
}

/**
 * The series with a point for every bucket of the window, so a quiet hour shows as zero calls
 * rather than as a line drawn across it. The store's buckets are kept as they are.
 * @param {any} data the answer of `GET /api/analytics`
 * @returns {any[]}
 */
function buckets(data) {
  const step = data.bucket === 'day' ? 24 * HOUR : HOUR;
  const since = Date.parse(data.since);
  const until = Date.parse(data.until);
  /** @type {Map<number, any>} */
  const points = new Map();
  if (Number.isFinite(since) && Number.isFinite(until) && (until - since) / step <= 5000) {
    for (let t = Math.floor(since / step) * step; t <= until; t += step) {
      points.set(t, { start: new Date(t).toISOString(), calls: 0, errors: 0, p50_ms: null, p95_ms: null, p99_ms: null });
    }
  }
  for (const point of data.series) points.set(Date.parse(point.start), point);
  return [...points.entries()].sort((a, b) => a[0] - b[0]).map(([, point]) => point);
}

/**
 * One uPlot chart over the series buckets; redrawn when the data or the theme changes.
 * @param {{title: string, theme: string, series: any[], lines: string[][], format: (n: number) => string, tick: (n: number) => string}} props
 */
function Chart({ title, theme, series, lines, format, tick }) {
  const target = useRef(/** @type {HTMLDivElement | null} */ (null));
  useEffect(() => {
    const element = target.current;
    if (!element) return undefined;
    const styles = getComputedStyle(document.documentElement);
    const color = (/** @type {string} */ name) => styles.getPropertyValue(name).trim();
    const axis = { stroke: color('--text'), grid: { stroke: color('--border'), width: 1 }, ticks: { stroke: color('--border'), width: 1 } };
    /** @type {uPlot.AlignedData} */
    const data = [
      series.map((s) => Math.floor(new Date(s.start).getTime() / 1000)),
      ...lines.map(([, field]) => series.map((s) => (s[field] === null || s[field] === undefined ? null : Number(s[field])))),
    ];
    /** @type {uPlot.Options} */
    const options = {
      width: Math.max(200, element.clientWidth),
      height: 240,
      series: [
        { label: 'Time' },
        ...lines.map(([label, , variable]) => ({
          label,
          stroke: color(variable),
          width: 2,
          points: { show: true, size: series.length < 60 ? 6 : 4 },
          spanGaps: false,
          value: (/** @type {uPlot} */ _u, /** @type {number | null} */ v) => (v === null || v === undefined ? '—' : format(v)),
        })),
      ],
      axes: [axis, { ...axis, size: 72, values: (/** @type {uPlot} */ _u, /** @type {number[]} */ ticks) => ticks.map((t) => tick(t)) }],
      scales: { x: { time: true } },
      legend: { show: true },
    };
    const plot = new uPlot(options, data, element);
    const observer = new ResizeObserver(() => plot.setSize({ width: Math.max(200, element.clientWidth), height: 240 }));
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [series, theme, lines.map((l) => l[1]).join()]);
  return html`<figure class="card chart" style=${{ margin: 0 }}>
    <figcaption><h2>${title}</h2></figcaption>
    <div ref=${target}></div>
  </figure>`;
}
