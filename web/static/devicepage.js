// A device's page (#/device/ID): its status, the time range, its alert
// rules, daily energy and a chart per quantity, and the CSV download.
import { AuthError, api, getJSON, loadAlerts, loadEnergy, loadRules } from './api.js';
import { renderAlerts } from './alerts.js';
import { destroyCharts, drawCharts, setThresholds } from './chart.js';
import { $, el, hideViews, notice } from './dom.js';
import { renderEnergy } from './energy.js';
import { caText } from './fleet.js';
import { ago, bucketText, localTime, plural, statusBadge, toLocalInput } from './format.js';
import { renderRules } from './rules.js';
import { deviceHash, rangeOf } from './routes.js';
import { showSignIn } from './signin.js';
import { state } from './state.js';

// The energy bars cover at least this much (the page's range when
// longer), one bar per day.
const ENERGY_MIN_RANGE = 30 * 86400e3;

export async function showDevice(v) {
  const { from, to } = rangeOf(v);
  const q = 'deviceId=' + encodeURIComponent(v.id) + '&from=' + new Date(from).toISOString() + '&to=' + new Date(to).toISOString();
  const energyFrom = Math.min(from, to - ENERGY_MIN_RANGE);
  const [devs, series, alerts, energy, rules] = await Promise.all([
    getJSON('/api/devices'),
    getJSON('/api/measurements/series?' + q).catch((e) => {
      if (e.status === 404) return null; // unknown device
      throw e;
    }),
    loadAlerts(),
    // The bars are extra: a failure shows in their place, not instead of
    // the charts.
    loadEnergy(v.id, energyFrom, to, 'day').catch((e) => {
      if (e instanceof AuthError) throw e;
      return { error: e.message };
    }),
    loadRules(v.id),
  ]);
  if (state.view !== v) return; // the user moved on meanwhile
  hideViews();
  const d = devs.items.find((x) => x.id === v.id);
  $('#device-title').textContent = v.id;
  document.title = v.id + ' · thermowatt';
  $('#device-status').replaceChildren(...(d ? [statusBadge(d), ' ', el('span', { className: 'updated', title: localTime(d.lastSeenAt) }, 'last seen ' + ago(d.lastSeenAt)), ...caText(d)] : []));
  for (const b of document.querySelectorAll('.ranges button')) {
    b.setAttribute('aria-pressed', String(b.dataset.range === v.range));
  }
  $('#custom').hidden = v.range !== 'custom';
  if (v.range === 'custom') {
    $('#custom-from').value = toLocalInput(from);
    $('#custom-to').value = toLocalInput(to);
  }
  $('#device').hidden = false;
  renderAlerts(alerts, v.id);
  setThresholds(renderRules(series ? rules : null, v.id));
  renderEnergy(series ? energy : null);
  if (!series) {
    destroyCharts();
    $('#charts').replaceChildren(el('p', { className: 'empty' }, 'No device "' + v.id + '". ', el('a', { href: '#/' }, 'Back to the list')));
    $('#range-info').textContent = '';
    return;
  }
  const points = series.points;
  const readings = points.reduce((n, p) => n + p.count, 0);
  $('#range-info').textContent = new Date(from).toLocaleString() + ' – ' + new Date(to).toLocaleString() +
    ' · ' + plural(readings, 'reading') + ' in ' + plural(points.length, 'point') + ' of ' + bucketText(series.bucketSeconds) +
    ' (average line, min–max band)';
  if (typeof window.uPlot !== 'function') return; // the notice at the top says why
  drawCharts(points, series.bucketSeconds, from, to);
}

// handleDeviceControls wires the range buttons, the custom range form and
// the CSV download; each acts on the device on screen.
export function handleDeviceControls() {
  for (const b of document.querySelectorAll('.ranges button')) {
    b.addEventListener('click', () => {
      const view = state.view;
      if (!view || view.name !== 'device') return;
      if (b.dataset.range === 'custom') {
        const { from, to } = rangeOf(view);
        location.hash = deviceHash(view.id, { from: new Date(from).toISOString(), to: new Date(to).toISOString() });
      } else {
        location.hash = deviceHash(view.id, { range: b.dataset.range });
      }
    });
  }

  $('#custom').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const from = new Date($('#custom-from').value), to = new Date($('#custom-to').value);
    if (!(from < to)) {
      notice('The custom range must start before it ends.', true);
      return;
    }
    notice('');
    location.hash = deviceHash(state.view.id, { from: from.toISOString(), to: to.toISOString() });
  });

  $('#csv').addEventListener('click', downloadCSV);
}

// downloadCSV: the readings in the shown range, fetched with the token (a
// plain link could not send it) and handed to the browser as a download.
async function downloadCSV() {
  const view = state.view;
  if (!view || view.name !== 'device') return;
  const { from, to } = rangeOf(view);
  const q = 'format=csv&deviceId=' + encodeURIComponent(view.id) + '&from=' + new Date(from).toISOString() + '&to=' + new Date(to).toISOString();
  const btn = $('#csv');
  btn.disabled = true;
  btn.textContent = 'Preparing…';
  try {
    const res = await api('/api/measurements?' + q, 'text/csv');
    if (!res.ok) throw new Error(res.status + ' ' + res.statusText);
    const blob = await res.blob();
    const a = el('a', {
      href: URL.createObjectURL(blob),
      download: view.id + '_' + new Date(from).toISOString().slice(0, 16) + '_' + new Date(to).toISOString().slice(0, 16) + '.csv',
    });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60e3);
  } catch (e) {
    if (e instanceof AuthError) showSignIn(e);
    else notice('CSV download failed: ' + e.message, true);
  } finally {
    btn.disabled = false;
    btn.textContent = 'Download CSV';
  }
}
