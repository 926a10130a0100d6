// Numbers, times and durations as the page writes them.
import { el } from './dom.js';

export function fmt(v, digits) {
  return v == null ? '–' : v.toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

// withUnit is a value of quantity q (quantities.js) with its unit.
export function withUnit(v, q) {
  const span = el('span', {}, fmt(v, q.digits));
  if (v != null) span.append(el('span', { className: 'unit' }, q.unit));
  return span;
}

export function ago(iso) {
  if (!iso) return 'never';
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return Math.round(s) + ' s ago';
  if (s < 3600) return Math.round(s / 60) + ' min ago';
  if (s < 86400) return (s / 3600).toFixed(s < 36000 ? 1 : 0) + ' h ago';
  return (s / 86400).toFixed(s < 864000 ? 1 : 0) + ' d ago';
}

export function localTime(iso) {
  return iso ? new Date(iso).toLocaleString() : '';
}

export function plural(n, word) {
  return n.toLocaleString() + ' ' + word + (n === 1 ? '' : 's');
}

export function bucketText(s) {
  if (s % 86400 === 0) return s / 86400 + ' d';
  if (s % 3600 === 0) return s / 3600 + ' h';
  if (s % 60 === 0) return s / 60 + ' min';
  return s + ' s';
}

export function toLocalInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60e3);
  return d.toISOString().slice(0, 16);
}

// energyText formats watt-hours, in kWh from 10 kWh on.
export function energyText(wh) {
  if (wh == null) return '–';
  return Math.abs(wh) >= 10000 ? fmt(wh / 1000, 2) + ' kWh' : fmt(wh, Math.abs(wh) >= 100 ? 0 : 1) + ' Wh';
}

// nextDay is the start of the next calendar day after the day starting at
// ms, in the browser's zone (23 or 25 hours away across a DST change).
export function nextDay(ms) {
  const d = new Date(ms);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1).getTime();
}

// status is the server's verdict when it gives one (ops: ok / silent /
// failing / new); otherwise the browser's guess from the last-seen time,
// with the same rule (three missed intervals), marked as a guess.
function statusOf(d) {
  if (d.status) return { text: d.status, guess: false };
  if (!d.lastSeenAt) return { text: 'new', guess: true };
  const interval = (d.expectedIntervalS || 300) * 1000;
  const silent = Date.now() - Date.parse(d.lastSeenAt) > 3 * interval;
  return { text: silent ? 'silent' : 'ok', guess: true };
}

export function statusBadge(d) {
  const s = statusOf(d);
  const b = el('span', { className: 'status ' + s.text + (s.guess ? ' guess' : '') }, s.text);
  if (s.guess) b.title = 'estimated by the browser from the last-seen time';
  return b;
}
