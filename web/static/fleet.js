// What the fleet reports of a device (docs/fleet.md): the firmware it
// runs, the settings revision it applied against the one it should, its
// last update, and the CA it verifies the server with; each as the device
// reported it (a dash for what it never said).
import { el } from './dom.js';

export function firmwareText(d, health) {
  const fw = d.firmware !== undefined ? d.firmware : health.firmware;
  return fw == null ? '–' : String(fw);
}

export function settingsText(d) {
  const s = d.settingsRev;
  if (!s) return '–';
  const applied = s.applied == null ? '–' : String(s.applied);
  const text = applied + '/' + s.desired;
  const pending = s.applied !== s.desired && s.desired > 0;
  const span = el('span', { className: pending ? 'pending' : '' }, text);
  span.title = pending ? 'applied / desired revision: the device has not applied the latest settings yet' : 'applied / desired revision';
  return span;
}

export function updateText(d) {
  const u = d.update;
  if (!u || !u.state) return '–';
  const text = u.state + (u.version ? ' ' + u.version : '');
  const span = el('span', { className: 'update ' + u.state }, text);
  if (u.reason) span.title = String(u.reason);
  return span;
}

// caText: CA rotation. The CA the device verifies the server with and the
// one waiting to take over, by the first 12 hex digits of their sha256
// (whole in the tooltip); nothing when it reports none.
export function caText(d) {
  const ca = d.ca;
  if (!ca) return [];
  const short = (fp) => (fp ? fp.slice(0, 12) : '?');
  const text = 'CA ' + short(ca.active) + (ca.waiting ? ', new CA ' + short(ca.waiting) + ' waiting' : '');
  const title = 'sha256 of the CA it verifies the server with: ' + (ca.active || 'not reported') +
    (ca.waiting ? '\nwaiting to take over after its first verified send: ' + ca.waiting : '');
  return [' · ', el('span', { className: 'updated ca', title }, text)];
}
