// The device list (#/): each device with its status, last contact, latest
// values of the core quantities, today's energy, health and fleet state.
import { getJSON, loadAlerts } from './api.js';
import { renderAlerts } from './alerts.js';
import { $, el, hideViews } from './dom.js';
import { ENERGY_LIST_MAX, todaysEnergy } from './energy.js';
import { firmwareText, settingsText, updateText } from './fleet.js';
import { ago, localTime, statusBadge, withUnit } from './format.js';
import { QUANTITIES } from './quantities.js';
import { DEFAULT_RANGE, RANGES, deviceHash } from './routes.js';
import { state } from './state.js';

// The list has a column for each quantity every node measures.
const COLUMNS = QUANTITIES.filter((q) => q.core);

const todayShown = new Map(); // device id -> its Today cell's last text, kept through refreshes

// addQuantityHeadings puts the quantities' headings before Today's.
export function addQuantityHeadings() {
  const today = $('#today-heading');
  for (const q of COLUMNS) today.before(el('th', { className: 'num' }, q.label));
}

export async function showList() {
  const [devs, alerts] = await Promise.all([getJSON('/api/devices'), loadAlerts()]);
  // The newest reading of each device, for its latest values.
  const latest = await Promise.all(devs.items.map((d) =>
    getJSON('/api/measurements?limit=1&deviceId=' + encodeURIComponent(d.id))
      .then((r) => r.items[0] || null, () => null)));
  hideViews();
  renderAlerts(alerts);
  const tbody = $('#devices tbody');
  const rows = devs.items.map((d, i) => deviceRow(d, latest[i]));
  tbody.replaceChildren(...rows);
  // Beyond the first ENERGY_LIST_MAX rows today's energy is not asked for.
  for (const tr of rows.slice(ENERGY_LIST_MAX)) tr.querySelector('.energy-today').replaceChildren('–');
  $('#devices').hidden = devs.items.length === 0;
  $('#no-devices').hidden = devs.items.length !== 0;
  $('#list-updated').textContent = devs.items.length + (devs.items.length === 1 ? ' device' : ' devices');
  $('#list').hidden = false;
  document.title = 'thermowatt';
  if (!state.energySupported) {
    for (const tr of rows) tr.querySelector('.energy-today').replaceChildren('–');
    return;
  }
  await todaysEnergy(rows.map((tr) => ({ id: tr.dataset.device, cell: tr.querySelector('.energy-today') })), todayShown);
}

// deviceLink opens a device on the default range, or, when its newest
// reading is older than that range (a device long silent, or one whose
// readings were backfilled), on the same span ending at that reading:
// never on empty charts.
function deviceLink(d, r) {
  const newest = Date.parse((r && r.recordedAt) || d.lastSeenAt || '');
  const span = RANGES[DEFAULT_RANGE];
  if (Number.isNaN(newest) || Date.now() - newest <= span) return deviceHash(d.id);
  return deviceHash(d.id, { from: new Date(newest - span).toISOString(), to: new Date(newest + 60e3).toISOString() });
}

function deviceRow(d, r) {
  // Health: the server's latest (ops: d.health), else what the newest
  // reading carried in payload.device (the firmware sends it).
  const health = d.health || (r && r.payload && r.payload.device) || {};
  const cell = (label, content, cls) => {
    const td = el('td', { className: cls || '' }, content);
    td.dataset.label = label;
    return td;
  };
  const link = el('a', { href: deviceLink(d, r) }, d.id);
  const seen = el('span', { title: localTime(d.lastSeenAt) }, ago(d.lastSeenAt));
  const tr = el('tr', {},
    cell('Device', link, 'id'),
    cell('Status', statusBadge(d)),
    cell('Last seen', seen),
    ...COLUMNS.map((q) => cell(q.label, withUnit(r ? r[q.key] : null, q), 'num')),
    cell('Today', todayShown.get(d.id) || '…', 'num energy-today'),
    cell('Queue', health.queue_depth == null ? '–' : String(health.queue_depth), 'num'),
    cell('Dropped', health.dropped == null ? '–' : String(health.dropped), 'num'),
    cell('Firmware', firmwareText(d, health)),
    cell('Settings', settingsText(d)),
    cell('Update', updateText(d)));
  tr.dataset.device = d.id;
  tr.addEventListener('click', (ev) => {
    if (ev.target.tagName !== 'A') location.hash = deviceHash(d.id);
  });
  return tr;
}
