// The open alerts panel, above the list and a device's page.
import { $, el } from './dom.js';
import { ago, localTime } from './format.js';
import { deviceHash } from './routes.js';

// renderAlerts shows the open alerts (of deviceId only, when given);
// items null: this server or token has none to show, and the panel hides.
export function renderAlerts(items, deviceId) {
  const box = $('#alerts');
  const open = (items || []).filter((a) => !a.resolvedAt && (!deviceId || a.deviceId === deviceId));
  box.hidden = items == null || open.length === 0;
  $('#alert-count').textContent = open.length ? '(' + open.length + ')' : '';
  $('#alert-list').replaceChildren(...open.map((a) => el('li', {},
    el('span', { className: 'status ' + (a.kind || 'failing') }, a.kind || 'alert'),
    el('a', { href: deviceHash(a.deviceId) }, a.deviceId),
    el('span', {}, a.message || ''),
    el('span', { className: 'when', title: localTime(a.openedAt) }, 'since ' + ago(a.openedAt)))));
}
