// Energy: the device page's daily bars, and today's watt-hours in the
// device list.
import { AuthError, loadEnergy } from './api.js';
import { $ } from './dom.js';
import { energyText, nextDay } from './format.js';

// The device list asks for today's energy of at most this many devices
// (the first rows), this many requests at a time, so that a large fleet
// costs the server a bounded amount of work per refresh.
export const ENERGY_LIST_MAX = 50;
const ENERGY_CONCURRENCY = 4;

// todaysEnergy fills the Today cell of each listed row ({id, cell}):
// today's watt-hours in the browser's zone, '–' when unknown; shown keeps
// each device's text through refreshes. from is a second before now: the
// server widens it to the start of its day, in the zone it uses.
export async function todaysEnergy(rows, shown) {
  const now = Date.now();
  const queue = rows.slice(0, ENERGY_LIST_MAX);
  const worker = async () => {
    for (let row = queue.shift(); row; row = queue.shift()) {
      let item = null;
      try {
        const ans = await loadEnergy(row.id, now - 1000, now, 'day');
        item = ans && ans.items.length ? ans.items[ans.items.length - 1] : null;
      } catch (e) {
        if (e instanceof AuthError) throw e;
      }
      const cell = row.cell;
      if (!item || item.coverage === 0) {
        cell.replaceChildren('–');
        cell.title = 'no power readings today';
        shown.set(row.id, '–');
        continue;
      }
      shown.set(row.id, energyText(item.wh));
      cell.replaceChildren(energyText(item.wh));
      cell.dataset.wh = String(item.wh);
      const start = Date.parse(item.start);
      const elapsed = Math.max(1, now - start);
      const dayLength = nextDay(start) - start;
      const share = Math.min(1, item.coverage * dayLength / elapsed);
      cell.title = 'since ' + new Date(start).toLocaleString() + (share < 0.995 ? ' · readings cover ' + Math.round(share * 100) + ' % of it' : '');
    }
  };
  await Promise.all(Array.from({ length: ENERGY_CONCURRENCY }, worker));
}

// renderEnergy draws one bar per day. A day whose readings do not cover
// it all is drawn faded (its Wh is only the covered part), a day without
// any as a grey stub; hovering a bar tells its day, Wh and coverage.
export function renderEnergy(ans) {
  const box = $('#energy');
  box.hidden = !ans;
  if (!ans) return;
  const note = $('#energy-note');
  const svg = $('#energy-bars');
  if (ans.error) {
    svg.replaceChildren();
    $('#energy-total').textContent = '';
    $('#energy-first').textContent = $('#energy-max').textContent = $('#energy-last').textContent = '';
    note.textContent = 'Energy is not available: ' + ans.error;
    return;
  }
  const items = ans.items;
  const known = items.filter((it) => it.coverage > 0);
  const max = Math.max(0, ...known.map((it) => it.wh));
  const total = known.reduce((n, it) => n + it.wh, 0);
  const SLOT = 10, H = 100;
  svg.setAttribute('viewBox', '0 0 ' + Math.max(1, items.length * SLOT) + ' ' + H);
  const ns = 'http://www.w3.org/2000/svg';
  // A day's start is midnight in the zone the server used: the browser's,
  // or UTC when it fell back.
  const dayOpts = { weekday: 'short', month: 'short', day: 'numeric' };
  if (ans.tz === 'UTC') dayOpts.timeZone = 'UTC';
  const dayText = (it) => new Date(Date.parse(it.start)).toLocaleDateString(undefined, dayOpts);
  svg.replaceChildren(...items.map((it, i) => {
    const r = document.createElementNS(ns, 'rect');
    const h = it.coverage === 0 ? 1.5 : max > 0 ? Math.max(1.5, (Math.max(0, it.wh) / max) * (H - 2)) : 1.5;
    r.setAttribute('x', String(i * SLOT + 1));
    r.setAttribute('width', String(SLOT - 2));
    r.setAttribute('y', String(H - h));
    r.setAttribute('height', String(h));
    r.setAttribute('class', 'bar' + (it.coverage === 0 ? ' unknown' : it.coverage < 0.995 ? ' partial' : ''));
    r.dataset.start = it.start;
    r.dataset.wh = String(it.wh);
    r.dataset.coverage = String(it.coverage);
    const title = document.createElementNS(ns, 'title');
    title.textContent = dayText(it) + ': ' + (it.coverage === 0 ? 'no power readings' :
      energyText(it.wh) + (it.coverage < 0.995 ? ' over ' + Math.round(it.coverage * 100) + ' % of the day (the rest has no readings)' : ''));
    r.append(title);
    return r;
  }));
  const zone = ans.tz === 'UTC' ? ' (UTC days)' : '';
  $('#energy-title').textContent = 'Energy per day' + zone;
  $('#energy-total').textContent = known.length ? 'total ' + energyText(total) : '';
  $('#energy-first').textContent = items.length ? dayText(items[0]) : '';
  $('#energy-max').textContent = max > 0 ? 'highest ' + energyText(max) : '';
  $('#energy-last').textContent = items.length ? dayText(items[items.length - 1]) : '';
  note.textContent = known.length ? 'Faded: days readings cover only in part (their energy counts that part only); grey: no power readings.' :
    'No power readings in these days.';
}
