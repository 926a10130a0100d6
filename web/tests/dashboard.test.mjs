// The dashboard in a real browser (Debian's headless Chromium) against a
// real thermowatt server with real data: `make test-browser`.
//
// Needs THERMOWATT_BIN (make passes bin/thermowatt, built with the uPlot
// assets) and /usr/bin/chromium (or CHROMIUM). Fails, never skips, when
// either is missing. Screenshots go to test-results/ at the repository root.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { chartsProbe } from './charts-probe.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const BIN = process.env.THERMOWATT_BIN || path.join(root, 'bin', 'thermowatt');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.join(root, 'test-results');
const ADMIN = 'browser-test-admin-token-0123456789';

const DEVICE = 'esp32-node-01';
const OTHER = 'esp32-garage';
const STEP = 5 * 60e3; // the firmware's 5-minute interval
// The CAs the device reports (CA rotation): sha256 fingerprints.
const CA_ACTIVE = '0123456789abcdef'.repeat(4);
const CA_WAITING = 'fedcba9876543210'.repeat(4);
const READINGS = 144; // 12 hours
const OUTAGE = { first: 60, last: 83 }; // indexes (oldest = 0) not sent: two hours

let server, base, dataDir, browser, reader, newest, sent;
const serverLog = [];

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function call(method, p, token, body) {
  const res = await fetch(base + p, {
    method,
    headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// reading i of the test device: plausible values that tell readings apart.
function reading(device, at, i) {
  const temperature = +(21 + 2 * Math.sin(i / 20)).toFixed(2);
  const voltage = +(4.9 + (i % 10) / 100).toFixed(3);
  const current = +(100 + (i % 30)).toFixed(1);
  return {
    deviceId: device,
    recordedAt: new Date(at).toISOString(),
    temperature,
    payload: {
      voltage_v: voltage, current_ma: current, power_mw: +(voltage * current).toFixed(1),
      sensor: { bmp280: { temperature_c: temperature, pressure_hpa: +(1010 + i / 100).toFixed(2) } },
      device: { firmware: 'test', queue_depth: 7, dropped: 2, ca: { active: CA_ACTIVE, waiting: CA_WAITING } },
    },
  };
}

// startServer runs `thermowatt serve` on a free port with its own SQLite
// database in dir and waits until it is healthy. Without rate limits: every
// page and every call of the tests comes from 127.0.0.1, and on a loaded
// machine the pages' refreshes ran into the address's limit (429s the page
// reports as errors), failing tests at random.
async function startServer(dir, publicRead) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = spawn(BIN, ['serve'], {
    env: { ...process.env, PORT: String(port), DATA_DIR: dir, ADMIN_TOKEN: ADMIN, DATABASE_URL: '', PUBLIC_READ: String(publicRead), RATE_LIMIT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout.on('data', (b) => serverLog.push(String(b)));
  proc.stderr.on('data', (b) => serverLog.push(String(b)));
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(url + '/healthz')).ok) break;
    } catch { /* not up yet */ }
    assert.ok(i < 300 && proc.exitCode === null, 'server did not start:\n' + serverLog.join(''));
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, url };
}

async function stopServer(proc) {
  if (proc && proc.exitCode === null) {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  }
}

before(async () => {
  assert.ok(fs.existsSync(BIN), `no thermowatt binary at ${BIN}: run \`make build\` or set THERMOWATT_BIN`);
  assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium) or set CHROMIUM`);
  fs.mkdirSync(SHOTS, { recursive: true });
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'thermowatt-browser-'));
  ({ proc: server, url: base } = await startServer(path.join(dataDir, 'main'), false));

  // Through the real API, as devices do: one device every 5 minutes for 12
  // hours with a two-hour outage in the middle, another with a few readings.
  const deviceToken = (await call('POST', '/api/devices', ADMIN, { id: DEVICE })).token;
  const otherToken = (await call('POST', '/api/devices', ADMIN, { id: OTHER })).token;
  newest = Math.floor(Date.now() / STEP) * STEP - STEP;
  sent = [];
  for (let i = 0; i < READINGS; i++) {
    if (i >= OUTAGE.first && i <= OUTAGE.last) continue;
    sent.push(reading(DEVICE, newest - (READINGS - 1 - i) * STEP, i));
  }
  const res = await call('POST', '/api/measurements', deviceToken, sent);
  assert.equal(res.accepted, sent.length);
  await call('POST', '/api/measurements', otherToken, [0, 1, 2].map((i) => reading(OTHER, newest - i * STEP, i)));
  reader = (await call('POST', '/api/tokens', ADMIN, { scope: 'reader' })).token;

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Without the networking flags Chromium phones home (updates, sync,
    // field trials), which on a closed network only floods it.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await stopServer(server);
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

// page opens a fresh browser context (empty localStorage) and fails the
// test on any script error or Content-Security-Policy violation. opts:
// timezoneId, the browser's zone; refusedZone, that the server is expected
// to refuse it for energy (a 400 the page recovers from).
async function page(t, viewport, opts = {}) {
  const ctx = await browser.newContext({
    viewport: viewport || { width: 1280, height: 900 }, acceptDownloads: true,
    ...(opts.timezoneId ? { timezoneId: opts.timezoneId } : {}),
  });
  await ctx.addInitScript(chartsProbe);
  const p = await ctx.newPage();
  const problems = [];
  p.on('pageerror', (e) => problems.push('page error: ' + e.message));
  p.on('console', (m) => {
    // Expected: 401/403 while signing in, and 404 from /api/alerts on a
    // server without alerts (the panel is then left out).
    const expected = /Failed to load resource: the server responded with a status of 40[13]/.test(m.text()) ||
      (/status of 404/.test(m.text()) && (m.location().url || '').includes('/api/alerts')) ||
      (opts.refusedZone && /status of 400/.test(m.text()) && (m.location().url || '').includes('/api/measurements/energy'));
    if (m.type() === 'error' && !expected) {
      problems.push('console error: ' + m.text());
    }
  });
  t.after(async () => {
    await ctx.close();
    assert.deepEqual(problems, [], 'the page reported errors');
  });
  return p;
}

// loaded waits until the page has shown fresh data once: the header then
// says when ('Updated 10:42'), as the user sees.
async function loaded(p) {
  await p.waitForFunction(() => /^Updated /.test(document.querySelector('#conn').textContent));
}

function noHorizontalOverflow(p) {
  return p.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth);
}

test('asks for a token, says clearly when it is wrong, and signs in with the #token link', async (t) => {
  const p = await page(t);
  await p.goto(base + '/');
  await p.locator('#signin').waitFor();
  assert.match(await p.locator('#signin-why').textContent(), /needs a reader token/);

  await p.fill('#token', 'tw_000000000000_wrongwrongwrongwrongwrongwrongwron');
  await p.click('#signin button[type=submit]');
  await p.locator('#signin').waitFor();
  await p.waitForFunction(() => /refused/.test(document.querySelector('#signin-why').textContent));
  assert.match(await p.locator('#signin-why').textContent(), /refused: invalid or revoked token/);

  await p.fill('#token', reader);
  await p.click('#signin button[type=submit]');
  await p.locator('#list').waitFor();
  assert.equal(await p.evaluate(() => localStorage.getItem('thermowatt.token')), reader, 'token kept in the browser');

  // The link `make run` prints: signs in, and the token leaves the address bar.
  const p2 = await page(t);
  await p2.goto(base + '/#token=' + encodeURIComponent(reader));
  await p2.locator('#list').waitFor();
  assert.ok(!p2.url().includes('token'), `token still in the address bar: ${p2.url()}`);
});

test('device list shows each device with status, last seen, latest values and health', async (t) => {
  const p = await page(t);
  await p.goto(base + '/#token=' + encodeURIComponent(reader));
  await p.locator('#list').waitFor();
  await loaded(p);
  const rows = p.locator('#devices tbody tr');
  assert.equal(await rows.count(), 2);
  assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.device)), [OTHER, DEVICE]);

  // The quantities' columns come from the server's list (quantity.go,
  // served as quantities.js): the ones every node measures, in its order.
  assert.deepEqual((await p.locator('#devices th').allTextContents()).map((h) => h.trim()),
    ['Device', 'Status', 'Last seen', 'Temperature', 'Voltage', 'Current', 'Power', 'Today', 'Queue', 'Dropped', 'Firmware', 'Settings', 'Update']);
  const row = p.locator(`#devices tr[data-device="${DEVICE}"]`);
  const cells = await row.locator('td').allTextContents();
  const last = sent[sent.length - 1];
  assert.equal(cells[0], DEVICE);
  assert.match(cells[1], /^(ok|new|silent|failing)$/);
  assert.match(cells[2], /s ago|min ago/, 'last seen is relative');
  assert.equal(cells[3], last.temperature.toFixed(1) + '°C');
  assert.equal(cells[4], last.payload.voltage_v.toFixed(3) + 'V');
  assert.equal(cells[5], last.payload.current_ma.toFixed(1) + 'mA');
  assert.equal(cells[6], last.payload.power_mw.toFixed(1) + 'mW');
  assert.equal(cells[8], '7', 'queue depth from device health');
  assert.equal(cells[9], '2', 'dropped readings from device health');
  assert.equal(cells[10], 'test', 'running firmware from device health');
  assert.equal(cells[11], '–/0', 'settings revision: never applied, none set');
  assert.equal(cells[12], '–', 'no update reported');
  await checkToday(p, row, DEVICE);
  assert.ok(await p.locator('#alerts').isHidden(), 'no open alerts: no alert panel');
  await p.screenshot({ path: path.join(SHOTS, 'dashboard-list.png'), fullPage: true });
});

test('device charts draw every reading, show the outage as a gap, hover values with units, and download CSV', async (t) => {
  const p = await page(t);
  await p.goto(base + '/#token=' + encodeURIComponent(reader));
  await p.locator('#list').waitFor();
  await p.click(`#devices tr[data-device="${DEVICE}"] a`);
  await p.locator('#device').waitFor();
  await p.waitForFunction(() => Object.keys(window.probe.charts).length >= 5);
  assert.equal(await p.locator('#device-title').textContent(), DEVICE);
  assert.equal(await p.locator('#device-status .ca').textContent(), 'CA 0123456789ab, new CA fedcba987654 waiting',
    'the CA it verifies with and the one waiting, abbreviated');
  assert.equal(await p.locator('.ranges button[aria-pressed="true"]').textContent(), '24 h');

  const charts = await p.evaluate(() => Object.fromEntries(Object.entries(window.probe.charts).map(([k, u]) => {
    const [x, avg] = u.data;
    // Draws what it holds: each series' drawn path covers its data.
    return [k, { x, avg, width: u.width, drawn: u.series[1].show && u.series[1]._paths != null }];
  })));
  assert.deepEqual(Object.keys(charts).sort(), ['current_ma', 'power_mw', 'pressure_hpa', 'temperature', 'voltage_v'],
    'the four power/temperature charts, pressure since it was sent, no humidity chart (none sent)');

  // Each chart is titled with its quantity's label and unit, in the list's
  // order.
  assert.deepEqual(await p.locator('.chart h3 > span:first-child').allTextContents(),
    ['Temperature (°C)', 'Voltage (V)', 'Current (mA)', 'Power (mW)', 'Pressure (hPa)']);

  const outageStart = (newest - (READINGS - 1 - OUTAGE.first) * STEP) / 1000;
  const outageEnd = (newest - (READINGS - 1 - OUTAGE.last) * STEP) / 1000;
  for (const [key, c] of Object.entries(charts)) {
    const points = c.avg.filter((v) => v != null).length;
    assert.equal(points, sent.length, `${key}: ${points} points drawn, want one per reading (${sent.length})`);
    assert.ok(c.drawn, `${key}: uPlot drew no path`);
    // Exactly one null, between the last reading before the outage and the
    // first after it: uPlot (spanGaps false) leaves it blank.
    const nulls = c.avg.map((v, i) => (v == null ? i : -1)).filter((i) => i >= 0);
    assert.equal(nulls.length, 1, `${key}: ${nulls.length} gaps, want exactly 1 (the outage)`);
    const g = nulls[0];
    assert.equal(c.x[g - 1], outageStart - STEP / 1000, `${key}: gap opens after the last reading before the outage`);
    assert.equal(c.x[g + 1], outageEnd + STEP / 1000, `${key}: gap closes at the first reading after the outage`);
  }
  const temps = charts.temperature.avg.filter((v) => v != null);
  assert.deepEqual(temps, sent.map((r) => r.temperature), 'temperatures drawn are the ones sent, in order');

  // Hover: the legend shows the value under the cursor, with its unit.
  const plot = p.locator('.chart[data-metric="temperature"] .u-over');
  const box = await plot.boundingBox();
  await p.mouse.move(box.x + box.width * 0.9, box.y + box.height / 2);
  await p.waitForFunction(() => /\d °C/.test(document.querySelector('.chart[data-metric="temperature"] .u-legend').textContent));
  const volts = await p.locator('.chart[data-metric="voltage_v"] .u-legend').textContent();
  assert.match(volts, /\d V/, 'synchronised cursor shows the voltage with its unit too');

  await p.screenshot({ path: path.join(SHOTS, 'dashboard-device.png'), fullPage: true });

  // Dragging across a chart zooms into that stretch; a double click zooms
  // back out to the whole range.
  const xScale = () => p.evaluate(() => { const s = window.probe.charts.temperature.scales.x; return s.max - s.min; });
  const whole = await xScale();
  assert.ok(Math.abs(whole - 86400) < 5, `unzoomed x axis spans ${whole} s, want the 24 h asked for`);
  const b2 = await plot.boundingBox();
  await p.mouse.move(b2.x + b2.width * 0.6, b2.y + 40);
  await p.mouse.down();
  await p.mouse.move(b2.x + b2.width * 0.8, b2.y + 40, { steps: 5 });
  await p.mouse.up();
  await p.waitForFunction((w) => { const s = window.probe.charts.temperature.scales.x; return s.max - s.min < w / 2; }, whole);
  await p.mouse.dblclick(b2.x + b2.width * 0.7, b2.y + 40);
  await p.waitForFunction((w) => { const s = window.probe.charts.temperature.scales.x; return Math.abs(s.max - s.min - w) < 5; }, whole);

  // CSV of the shown range: every reading once, plus the header.
  const [download] = await Promise.all([p.waitForEvent('download'), p.click('#csv')]);
  const csv = fs.readFileSync(await download.path(), 'utf8').trim().split('\n');
  assert.equal(csv[0].split(',').slice(0, 3).join(','), 'id,deviceId,recordedAt');
  assert.equal(csv.length - 1, sent.length);
  assert.match(download.suggestedFilename(), new RegExp('^' + DEVICE + '_.*\\.csv$'));

  // Another range re-asks the server; 7 days of 5-minute data is bucketed.
  await p.click('.ranges button[data-range="7d"]');
  await p.waitForFunction(() => /range=7d/.test(location.hash) && document.querySelector('.ranges button[aria-pressed="true"]').dataset.range === '7d');
  await p.waitForFunction(() => window.probe.charts.temperature.data[1].filter((v) => v != null).length < 144);
  const info = await p.locator('#range-info').textContent();
  assert.match(info, new RegExp(`${sent.length} readings in \\d+ points of 30 min`));
});

// todayOf is today's energy of a device as the API answers it in zone.
async function todayOf(id, zone) {
  const now = Date.now();
  const ans = await call('GET', `/api/measurements/energy?deviceId=${id}&bucket=day&tz=${encodeURIComponent(zone)}` +
    `&from=${new Date(now - 1000).toISOString()}&to=${new Date(now).toISOString()}`, reader);
  return ans.items[ans.items.length - 1];
}

// checkToday: the Today cell of a listed device holds today's Wh in the
// browser's zone, as the API answers it, or '–' when nothing is known.
async function checkToday(p, row, id, zone) {
  const cell = row.locator('td.energy-today');
  await p.waitForFunction((el) => el.textContent !== '…', await cell.elementHandle());
  zone = zone || await p.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
  const want = await todayOf(id, zone);
  const text = await cell.textContent();
  if (want.coverage === 0) {
    assert.equal(text, '–', `${id}: no readings today, want a dash`);
    return;
  }
  assert.match(text, /^[\d.,]+ k?Wh$/, `${id}: today's energy ${text}`);
  const shown = Number(await cell.getAttribute('data-wh'));
  assert.ok(Math.abs(shown - want.wh) < 1e-6, `${id}: today ${shown} Wh shown, the API says ${want.wh}`);
}

test('energy: daily bars in the browser\'s zone on the device page, today\'s Wh in the list', async (t) => {
  const zone = 'Asia/Tokyo';
  const p = await page(t, null, { timezoneId: zone });
  const asked = [];
  p.on('request', (r) => { if (r.url().includes('/api/measurements/energy')) asked.push(new URL(r.url()).searchParams); });
  await p.goto(base + '/#token=' + encodeURIComponent(reader));
  await p.locator('#list').waitFor();
  await loaded(p);
  assert.equal(await p.locator('#devices th').nth(7).textContent(), 'Today');
  for (const id of [DEVICE, OTHER]) await checkToday(p, p.locator(`#devices tr[data-device="${id}"]`), id, zone);
  assert.ok(asked.length >= 2 && asked.every((q) => q.get('tz') === zone && q.get('bucket') === 'day'),
    'the list asks for days in the browser\'s zone: ' + asked.map(String).join(' '));

  // The device page's own energy answer: the one over more than a day.
  const spansDays = (r) => {
    const q = new URL(r.url()).searchParams;
    return r.url().includes('/api/measurements/energy') && Date.parse(q.get('to')) - Date.parse(q.get('from')) > 2 * 86400e3;
  };
  const answered = p.waitForResponse(spansDays);
  await p.click(`#devices tr[data-device="${DEVICE}"] a`);
  await p.locator('#device').waitFor();
  const { items } = await (await answered).json();
  await p.waitForFunction(() => document.querySelectorAll('#energy rect.bar').length > 0);
  const bars = await p.locator('#energy rect.bar').evaluateAll((rs) => rs.map((r) => ({
    start: r.dataset.start, wh: Number(r.dataset.wh), coverage: Number(r.dataset.coverage),
    height: Number(r.getAttribute('height')), cls: r.getAttribute('class'), title: r.querySelector('title').textContent,
  })));
  // The 24 h page still shows 30 days of bars: the days touching them.
  assert.ok(bars.length >= 30 && bars.length <= 32, `${bars.length} bars, want one per day of the last 30`);
  assert.equal(bars.length, items.length);
  assert.ok(bars.every((b) => b.start.endsWith('+09:00')), 'days start at midnight in Tokyo');
  const withData = bars.filter((b) => b.coverage > 0);
  assert.ok(withData.length >= 1 && withData.length <= 2, `${withData.length} days with readings, want the one or two the 12 hours span`);
  // Twelve hours with a two-hour outage cover a day only in part: faded,
  // and the tooltip says how much.
  for (const b of withData) {
    assert.match(b.cls, /\bpartial\b/);
    assert.ok(b.height > 1.5, 'a day with energy has a bar');
    assert.match(b.title, /Wh over \d+ % of the day/);
  }
  assert.ok(bars.filter((b) => b.coverage === 0).every((b) => /\bunknown\b/.test(b.cls)), 'days without readings are stubs');
  const total = withData.reduce((n, b) => n + b.wh, 0);
  const api = await call('GET', `/api/measurements/energy?deviceId=${DEVICE}&tz=${zone}&from=${bars[0].start.replace('+', '%2B')}` +
    `&to=${new Date(Date.now()).toISOString()}`, reader);
  const apiTotal = api.items.reduce((n, it) => n + it.wh, 0);
  assert.ok(total > 0 && Math.abs(total - apiTotal) < 1e-6, `bars total ${total} Wh, the API ${apiTotal}`);
  assert.match(await p.locator('#energy-total').textContent(), /^total [\d.,]+ k?Wh$/);
  await p.screenshot({ path: path.join(SHOTS, 'dashboard-energy.png'), fullPage: true });
});

test('energy: a zone the server cannot bucket by days falls back to UTC', async (t) => {
  // India is UTC+05:30: its days do not start on a UTC hour.
  const p = await page(t, null, { timezoneId: 'Asia/Kolkata', refusedZone: true });
  await p.goto(base + '/#token=' + encodeURIComponent(reader));
  await p.locator('#list').waitFor();
  await loaded(p);
  await checkToday(p, p.locator(`#devices tr[data-device="${DEVICE}"]`), DEVICE, 'UTC');
  await p.click(`#devices tr[data-device="${DEVICE}"] a`);
  await p.waitForFunction(() => document.querySelectorAll('#energy rect.bar').length > 0);
  const starts = await p.locator('#energy rect.bar').evaluateAll((rs) => rs.map((r) => r.dataset.start));
  assert.ok(starts.every((s) => s.endsWith('T00:00:00Z')), 'UTC days: ' + starts.slice(0, 3).join(' '));
  assert.match(await p.locator('#energy-title').textContent(), /UTC days/);
});

test('custom range shows only the readings inside it', async (t) => {
  const p = await page(t);
  const from = new Date(newest - 10 * STEP).toISOString(), to = new Date(newest + 1).toISOString();
  await p.goto(base + '/#token=' + encodeURIComponent(reader));
  await p.locator('#list').waitFor();
  await p.goto(base + `/#/device/${DEVICE}?from=${from}&to=${to}`);
  await p.waitForFunction(() => window.probe.charts.temperature
    && window.probe.charts.temperature.data[1].filter((v) => v != null).length === 11);
  assert.equal(await p.locator('.ranges button[aria-pressed="true"]').textContent(), 'Custom');
  assert.ok(await p.locator('#custom').isVisible());
});

test('phone-width screen: no sideways scrolling, charts fit', async (t) => {
  const p = await page(t, { width: 390, height: 844 });
  await p.goto(base + '/#token=' + encodeURIComponent(reader));
  await p.locator('#list').waitFor();
  await loaded(p);
  assert.ok(await noHorizontalOverflow(p), 'device list scrolls sideways on a phone');
  await p.screenshot({ path: path.join(SHOTS, 'dashboard-phone-list.png'), fullPage: true });

  await p.click(`#devices tr[data-device="${DEVICE}"] a`);
  await p.waitForFunction(() => Object.keys(window.probe.charts).length >= 5);
  assert.ok(await noHorizontalOverflow(p), 'device view scrolls sideways on a phone');
  const widths = await p.evaluate(() => Object.values(window.probe.charts).map((u) => u.width));
  for (const w of widths) assert.ok(w <= 390, `chart ${w}px wide on a 390px screen`);
  await p.screenshot({ path: path.join(SHOTS, 'dashboard-phone-device.png'), fullPage: true });
});

test('charts refresh by themselves and show a new reading', async (t) => {
  const p = await page(t);
  await p.clock.install(); // real time, but timers can be fast-forwarded
  await p.goto(base + '/#token=' + encodeURIComponent(reader));
  await p.locator('#list').waitFor();
  await p.goto(base + `/#/device/${DEVICE}?range=24h`);
  const drawn = () => p.evaluate(() => window.probe.charts.temperature.data[1].filter((v) => v != null).length);
  await p.waitForFunction((n) => window.probe.charts.temperature
    && window.probe.charts.temperature.data[1].filter((v) => v != null).length === n, sent.length);

  // The device sends one more reading; within a minute the chart has it.
  const deviceToken = (await call('POST', `/api/devices/${DEVICE}/tokens`, ADMIN)).token;
  const next = reading(DEVICE, newest + STEP, READINGS);
  await call('POST', '/api/measurements', deviceToken, [next]);
  assert.equal(await drawn(), sent.length, 'nothing changes before the refresh');
  await p.clock.fastForward(61_000);
  await p.waitForFunction((n) => window.probe.charts.temperature.data[1].filter((v) => v != null).length === n, sent.length + 1);
  const last = await p.evaluate(() => { const d = window.probe.charts.temperature.data[1]; return d[d.length - 1]; });
  assert.equal(last, next.temperature);
});

test('PUBLIC_READ=true: the dashboard opens without signing in', async (t) => {
  const pub = await startServer(path.join(dataDir, 'public'), true);
  t.after(() => stopServer(pub.proc));
  const token = (await (await fetch(pub.url + '/api/devices', {
    method: 'POST', headers: { Authorization: 'Bearer ' + ADMIN }, body: JSON.stringify({ id: 'lan-node' }),
  })).json()).token;
  const res = await fetch(pub.url + '/api/measurements', {
    method: 'POST', headers: { Authorization: 'Bearer ' + token }, body: JSON.stringify(reading('lan-node', newest, 0)),
  });
  assert.equal(res.status, 201);

  const p = await page(t);
  await p.goto(pub.url + '/');
  await p.locator('#list').waitFor();
  assert.equal(await p.locator('#devices tbody tr').count(), 1);
  assert.ok(await p.locator('#signin').isHidden(), 'no sign-in on a public server');
  assert.ok(await p.locator('#signout').isHidden(), 'nothing to sign out of');
});

test('1280 px desktop: the device list with every fleet column fits, the page never scrolls sideways', async (t) => {
  const p = await page(t, { width: 1280, height: 800 });
  await p.goto(base + '/#token=' + encodeURIComponent(reader));
  await p.locator('#list').waitFor();
  await loaded(p);
  assert.ok(await noHorizontalOverflow(p), 'the page scrolls sideways at 1280 px');
  const [table, header] = await p.evaluate(() => [document.querySelector('#devices').getBoundingClientRect().right,
    document.querySelector('.bar').getBoundingClientRect().right]);
  assert.ok(table <= header, `the device list (right edge ${table}px) runs past the header bar (${header}px)`);
  await p.screenshot({ path: path.join(SHOTS, 'dashboard-1280-list.png'), fullPage: true });
});

test('phone: each chart\'s y axis is as wide as its longest label (1,010.5 hPa is not clipped)', async (t) => {
  const p = await page(t, { width: 390, height: 844 });
  await p.goto(base + '/#token=' + encodeURIComponent(reader));
  await p.locator('#list').waitFor();
  await p.goto(base + `/#/device/${DEVICE}?range=24h`);
  await p.waitForFunction(() => window.probe.charts.pressure_hpa);
  const clipped = await p.evaluate(() => Object.entries(window.probe.charts).flatMap(([k, u]) => {
    const axis = u.axes[1];
    u.ctx.font = axis.font[0];
    const widest = Math.max(...(axis._values || []).map((v) => u.ctx.measureText(String(v)).width / devicePixelRatio));
    return axis._size < widest + axis.ticks.size ? [`${k}: axis ${axis._size}px, label ${Math.ceil(widest)}px`] : [];
  }));
  assert.deepEqual(clipped, [], 'y-axis labels wider than their axis');
});

test('a device whose newest reading is older than 24 h opens on that reading, not on empty charts', async (t) => {
  const token = (await call('POST', '/api/devices', ADMIN, { id: 'old-node' })).token;
  const at = Date.now() - 3 * 86400e3;
  await call('POST', '/api/measurements', token, [reading('old-node', at, 0)]);
  const p = await page(t);
  await p.goto(base + '/#token=' + encodeURIComponent(reader));
  await p.locator('#devices tr[data-device="old-node"]').waitFor();
  await p.click('#devices tr[data-device="old-node"] a');
  await p.waitForFunction(() => window.probe.charts.temperature
    && window.probe.charts.temperature.data[1].filter((v) => v != null).length === 1);
  assert.equal(await p.locator('.ranges button[aria-pressed="true"]').textContent(), 'Custom');
});

test('alert rules: the device page lists the rules watching it with their state, and draws the thresholds on the charts', async (t) => {
  const token = (await call('POST', '/api/devices', ADMIN, { id: 'freezer-1' })).token;
  const warm = await call('POST', '/api/alert-rules', ADMIN, {
    metric: 'temperature', comparison: '>', threshold: -10, for: '0s', hysteresis: 1,
    devices: ['freezer-1'], severity: 'critical', message: 'door open?',
  });
  await call('POST', '/api/alert-rules', ADMIN, { metric: 'voltage_v', comparison: '<', threshold: 4.7, for: '5m', all: true });
  // A rate rule: its threshold is a change, listed but not drawn.
  await call('POST', '/api/alert-rules', ADMIN, { metric: 'temperature', comparison: '>', threshold: 2, rateOver: '5m', devices: ['freezer-1'] });
  // Readings recorded after the rules exist: -4 °C crosses -10 °C.
  await call('POST', '/api/measurements', token, [reading('freezer-1', Date.now(), 0)].map((r) => ({ ...r, temperature: -4 })));
  const checked = await call('POST', '/api/alerts/check', ADMIN, {});
  assert.ok(checked.opened.includes('freezer-1/value#' + warm.id), 'the check opened the rule\'s alert: ' + JSON.stringify(checked));

  const p = await page(t);
  await p.goto(base + '/#token=' + encodeURIComponent(reader));
  await p.locator('#list').waitFor();
  await p.click('#devices tr[data-device="freezer-1"] a');
  await p.locator('#rules').waitFor();
  await p.waitForFunction(() => window.probe.charts.temperature);
  const rows = await p.locator('#rule-list li').evaluateAll((lis) => lis.map((li) => [li.dataset.rule, li.dataset.state, li.textContent]));
  assert.equal(rows.length, 3, 'the rules on this device and the fleet rule: ' + JSON.stringify(rows));
  assert.equal(rows[0][1], 'firing');
  assert.match(rows[0][2], /temperature > -10 °C \(hysteresis 1\).*critical · door open\?/);
  assert.equal(rows[1][1], 'ok');
  assert.match(rows[1][2], /voltage_v < 4\.7 V for 5m0s/);
  assert.match(rows[2][2], /temperature rate > 2 °C over 5m0s/);
  assert.ok(await p.locator('#alert-list').textContent().then((s) => s.includes('freezer-1: temperature -4 °C > -10 °C')),
    'the open value alert is in the alerts panel');

  // The threshold is drawn across the temperature chart, dashed, red as
  // the rule fires, its scale widened to hold it; the fleet rule's, not
  // firing, grey across the voltage chart.
  const y = await p.evaluate(() => {
    const u = window.probe.charts.temperature;
    return { min: u.scales.y.min, max: u.scales.y.max };
  });
  assert.ok(y.min <= -10 && y.max >= -4, `temperature scale ${y.min}..${y.max} holds the threshold and the reading`);
  assert.ok(await drawnAcross(p, 'temperature', -10, [220, 38, 38]) > 0.4, 'no red dashed line across the temperature chart at -10 °C');
  assert.ok(await drawnAcross(p, 'voltage_v', 4.7, [107, 114, 128]) > 0.4, 'no grey dashed line across the voltage chart at 4.7 V');
  assert.ok(await drawnAcross(p, 'temperature', -4, [220, 38, 38]) < 0.1, 'a line across the temperature chart where there is no rule');
  await p.screenshot({ path: path.join(SHOTS, 'dashboard-alert-rules.png'), fullPage: true });
});

// drawnAcross is the share of a chart's width where, at value's height,
// its canvas has the colour rgb (a line drawn across, as a user sees it).
function drawnAcross(p, metric, value, rgb) {
  return p.evaluate(([metric, value, rgb]) => {
    const u = window.probe.charts[metric];
    const y = Math.round(u.valToPos(value, 'y', true));
    const { left, width } = u.bbox;
    const px = u.ctx.getImageData(Math.round(left), y - 1, Math.round(width), 3).data;
    let hit = 0;
    for (let x = 0; x < Math.round(width); x++) {
      for (let row = 0; row < 3; row++) {
        const i = (row * Math.round(width) + x) * 4;
        if (Math.abs(px[i] - rgb[0]) < 30 && Math.abs(px[i + 1] - rgb[1]) < 30 && Math.abs(px[i + 2] - rgb[2]) < 30 && px[i + 3] > 200) {
          hit++;
          break;
        }
      }
    }
    return hit / Math.round(width);
  }, [metric, value, rgb]);
}
