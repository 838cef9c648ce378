// @ts-check
/** How times, durations and JSON are shown. */

/** JSON shown in full up to this many characters; the copy button copies all of it. */
export const SHOWN_JSON_CHARS = 100_000;

/** @param {number} n */
const two = (n) => String(n).padStart(2, '0');

/**
 * `2026-11-24 18:40:11` in local time.
 * @param {string | number | Date | undefined | null} value
 */
export function formatTime(value) {
  if (value === undefined || value === null || value === '') return '';
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

/**
 * `18:40:11.123` in local time.
 * @param {string | undefined} value
 */
export function formatClock(value) {
  if (!value) return '';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

/**
 * `0.42 ms`, `12 ms`, `3.2 s`.
 * @param {number | undefined | null} ms
 */
export function formatDuration(ms) {
  if (ms === undefined || ms === null || Number.isNaN(ms)) return '';
  // The log keeps whole milliseconds: 0 there means under one.
  if (ms === 0) return '< 1 ms';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** @param {number | undefined | null} n */
export function formatCount(n) {
  return n === undefined || n === null ? '' : n.toLocaleString('en-US');
}

/** @param {number | undefined | null} rate a fraction */
export function formatRate(rate) {
  if (rate === undefined || rate === null || Number.isNaN(rate)) return '';
  return `${(rate * 100).toFixed(rate > 0 && rate < 0.01 ? 2 : 1)}%`;
}

/**
 * Pretty JSON (a string is shown as JSON too, quoted).
 * @param {unknown} value
 */
export function pretty(value) {
  if (value === undefined) return '';
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * One line of `value`, at most `max` characters.
 * @param {unknown} value
 * @param {number} [max]
 */
export function oneLine(value, max = 160) {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? '';
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
