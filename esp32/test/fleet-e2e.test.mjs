// The fleet end to end: the firmware's real modules in the MicroPython
// WebAssembly VM, booted through boot.py and main.py as on a board, against
// a real `thermowatt serve` (SQLite) driven with the real commands:
// `settings set`, `firmware keygen|sign|publish`, `rollout start`,
// `alerts check`. A remote setting is applied and reported; a signed v2 is
// downloaded, verified, switched to and delivers; a v3 that fails at import
// is rolled back to v2 and opens an update alert; a release signed with
// another key is refused. The diagnostics are the evidence a person reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, openSync, readFileSync, readdirSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bootVM, FIRMWARE_DIR } from './harness.mjs';
import { REPO, serverBinary, freePort, waitReady } from './server.mjs';

const ADMIN = 'fleet-e2e-admin-' + Math.random().toString(36).slice(2) + '-0123456789abcdef';
const DEVICE = 'esp32-fleet-01';
const INTERVAL_S = 120;
// A running server reads a desired state changed on the database (by the
// command line) within its cache time, 15 s (internal/httpapi/desired.go).
const DESIRED_TTL_MS = 15000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Copies the firmware's lib/ as a release directory: every module a
// release may replace (lib/ota_boot.py, main.py and boot.py never are).
function stageRelease(dir, edit = {}) {
  mkdirSync(path.join(dir, 'lib'), { recursive: true });
  for (const name of readdirSync(path.join(FIRMWARE_DIR, 'lib'))) {
    if (!name.endsWith('.py') || name === 'ota_boot.py') continue;
    let text = readFileSync(path.join(FIRMWARE_DIR, 'lib', name), 'utf8');
    if (edit[name]) text = edit[name](text);
    writeFileSync(path.join(dir, 'lib', name), text);
  }
  return dir;
}

test('fleet end to end: a remote setting, a signed update, a rollback with its alert, a refused signature', { timeout: 300000 }, async (t) => {
  const work = mkdtempSync(path.join(tmpdir(), 'thermowatt-fleet-e2e-'));
  const children = [];
  t.after(() => { for (const c of children) c.kill('SIGKILL'); });
  const bin = serverBinary(work);
  const port = await freePort();
  const dataDir = path.join(work, 'data');
  const api = `http://127.0.0.1:${port}`;
  // The admin commands ask the server, as from an operator's laptop; the
  // alert checker of serve itself stays off so that `alerts check` acts.
  const env = { ...process.env, PORT: String(port), DATA_DIR: dataDir, ADMIN_TOKEN: ADMIN, ALERT_CHECK_INTERVAL: '0' };
  const cliEnv = { ...env, THERMOWATT_URL: api, THERMOWATT_TOKEN: ADMIN };
  const logFile = path.join(work, 'server.log');
  const fd = openSync(logFile, 'a');
  const server = spawn(bin, ['serve'], { env, stdio: ['ignore', fd, fd] });
  children.push(server);
  await waitReady(`${api}/readyz`);
  const cli = (...args) => {
    try {
      return execFileSync(bin, args, { env: cliEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      throw new Error(`thermowatt ${args.join(' ')} failed: ${e.stderr || e.message}`);
    }
  };
  const admin = async (method, p, body) => {
    const r = await fetch(api + p, { method, headers: { Authorization: `Bearer ${ADMIN}` }, body: body && JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  };
  const device = async () => (await admin('GET', '/api/devices')).body.items.find((d) => d.id === DEVICE);
  const shown = (d) => `server's device list: firmware ${d.firmware}, settings ${d.settingsRev.applied}/${d.settingsRev.desired}, update ${JSON.stringify(d.update)}`;
  const say = (l) => t.diagnostic(l);
  const echo = process.env.FW_ECHO ? (l) => console.error('[fw]', l) : null;

  // -- 1. register, keys, boot, deliver ---------------------------------
  const reg = await admin('POST', '/api/devices', { id: DEVICE });
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  const keyFile = path.join(work, 'fleet-signing.pem');
  const publicKey = cli('firmware', 'keygen', '--out', keyFile).trim();
  const config = {
    wifi: [{ ssid: 'lab', password: 'pw' }],
    base_url: api, allow_http: true, device_id: DEVICE, api_key: reg.body.token,
    interval_s: INTERVAL_S, http_timeout_s: 5, wdt_timeout_s: 30, connect_timeout_s: 10,
    batch_size: 5, backoff_base_s: 5, backoff_cap_s: 60, ota_public_key: publicKey,
  };
  const vm = await bootVM({ onLine: echo });
  vm.writeFile('/config.json', JSON.stringify(config));
  // Simulated time starts ten hours ago: every reading lies in the past.
  const t0 = Math.floor((Date.now() - 10 * 3600e3) / 60000) * 60000;
  vm.run(`import fleete2esteps as F\nF.start(${t0}, ${INTERVAL_S})`);
  const boot = (cycles, n = 1) => {
    vm.run(`F.boots(${cycles}, ${n})`);
    return vm.eval('F.S["last"]');
  };
  const posts = (x) => x.exchanges.filter((e) => e.path === '/api/measurements');
  const fetches = (x) => x.exchanges.filter((e) => e.path !== '/api/measurements');
  const paths = (x) => fetches(x).map((e) => `${e.m} ${e.path}${e.range ? ` (${e.range})` : ''} -> ${e.status}`);

  let b = boot(3);
  assert.equal(b.outcome, 'running');
  assert.ok(posts(b).length >= 1 && posts(b).every((e) => e.status === 201), JSON.stringify(posts(b)));
  assert.deepEqual(posts(b).at(-1).desired, { settingsRev: 0, firmware: null });
  let d = await device();
  assert.equal(d.firmware, '1.0.0');
  say(`1. registered ${DEVICE}, booted 1.0.0 with ota_public_key ${publicKey}: ${posts(b).reduce((n, e) => n + e.readings, 0)} readings in ${posts(b).length} POSTs, answer desired ${JSON.stringify(posts(b).at(-1).desired)}; ${shown(d)}`);

  // -- 2. a setting -------------------------------------------------------
  say('2. ' + cli('settings', 'set', 'interval_s=60').trim().replace(/\n/g, '; '));
  await sleep(DESIRED_TTL_MS + 1000);
  b = boot(4);
  const first = posts(b)[0];
  assert.ok(first.desired.settingsRev >= 1, JSON.stringify(first));
  const rev = first.desired.settingsRev;
  const sget = b.exchanges.findIndex((e) => e.path === '/api/device/settings');
  assert.ok(sget > 0, 'the device fetches its settings after the answer names a new revision');
  assert.equal(b.exchanges[sget].status, 200);
  assert.equal(b.exchanges[sget].answer.rev, rev);
  assert.equal(b.exchanges[sget].answer.settings.interval_s, 60);
  const after = posts(b).filter((e) => b.exchanges.indexOf(e) > sget && e.health);
  assert.ok(after.length >= 1 && after.at(-1).health.settings_rev === rev, JSON.stringify(after));
  const ds = (await admin('GET', `/api/devices/${DEVICE}/settings`)).body;
  assert.equal(ds.appliedRev, ds.effective.rev, JSON.stringify(ds));
  assert.equal(ds.effective.settings.interval_s, 60);
  assert.equal(b.interval_s, 60);
  d = await device();
  say(`2. next POST answered desired ${JSON.stringify(first.desired)}; device: GET /api/device/settings -> ${JSON.stringify(b.exchanges[sget].answer)}, applied, then reported settings_rev ${after.at(-1).health.settings_rev}; GET /api/devices/${DEVICE}/settings: appliedRev ${ds.appliedRev}, effective rev ${ds.effective.rev}; ${shown(d)}`);

  // The fleet default replaced over HTTP without interval_s: the device
  // goes back to its config.json interval (seen at once: the server
  // forgets its cached desired state on a change made through it).
  const put = await admin('PUT', '/api/settings', { led: false });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  b = boot(3);
  const rev2 = put.body.rev;
  assert.equal(posts(b)[0].desired.settingsRev, rev2);
  assert.deepEqual(b.exchanges.find((e) => e.path === '/api/device/settings').answer, { rev: rev2, settings: { led: false } });
  assert.equal(b.interval_s, INTERVAL_S, 'a key the server no longer sets goes back to config.json\'s value');
  assert.equal(posts(b).filter((e) => e.health).at(-1).health.settings_rev, rev2);
  d = await device();
  assert.deepEqual(d.settingsRev, { applied: rev2, desired: rev2 });
  say(`2. PUT /api/settings {"led":false} -> rev ${rev2}; next POST answered settingsRev ${rev2}; fetched, applied: interval back to config.json's ${b.interval_s} s; ${shown(d)}`);

  // -- 3. v2, signed, rolled out -------------------------------------------
  const publish = (version, dir, key = keyFile) => {
    const sig = path.join(work, `${version}.sig`);
    writeFileSync(sig, cli('firmware', 'sign', '--key', key, '--version', version, dir));
    return cli('firmware', 'publish', '--url', api, '--token', ADMIN, '--version', version, '--signature', sig, dir);
  };
  const v2dir = stageRelease(path.join(work, 'v2'), { 'app.py': (s) => s.replace(/^VERSION = "1\.0\.0"/m, 'VERSION = "2.0.0"') });
  assert.match(readFileSync(path.join(v2dir, 'lib', 'app.py'), 'utf8'), /^VERSION = "2\.0\.0"/m);
  const v2files = publish('2.0.0', v2dir).trim().split('\n').length;
  say('3. ' + cli('rollout', 'start', '--version', '2.0.0', '--device', DEVICE).trim() + `; published 2.0.0 signed, ${v2files} files`);
  await sleep(DESIRED_TTL_MS + 1000);
  // The power goes 3000 bytes into lib/app.py; the next boot resumes it.
  vm.run('F.S["cut"] = ("lib/app.py", 3000)\nimport gc\ngc.collect()');
  b = boot(3, 4);
  assert.deepEqual(b.outcomes, ['cut', 'reset', 'running'], JSON.stringify(paths(b)));
  const resumed = fetches(b).filter((e) => e.path.endsWith('/files/lib/app.py'));
  assert.deepEqual(resumed.map((e) => [e.range || null, e.status]), [[null, 200], ['bytes=3000-', 206]]);
  const heap3 = vm.eval('F.S["heap"]');
  assert.equal(b.state.current, '2.0.0');
  assert.equal(b.state.trial, null);
  assert.deepEqual(b.state.update, { state: 'installed', version: '2.0.0', reason: null });
  const gets = fetches(b);
  assert.equal(gets[0].path, '/api/device/firmware/2.0.0');
  assert.equal(new Set(gets.filter((e) => e.path.includes('/files/')).map((e) => e.path)).size, v2files);
  assert.ok(gets.every((e) => e.status === 200 || e.status === 206), JSON.stringify(paths(b)));
  d = await device();
  assert.equal(d.firmware, '2.0.0');
  assert.match(vm.readFile('/lib/app.py'), /^VERSION = "2\.0\.0"/m);
  const upd = (x) => posts(x).filter((e) => e.health).map((e) => `${e.health.firmware}:${e.health.update.state}`);
  say(`3. boots ${b.outcomes.join(', ')}: manifest + ${v2files} files fetched (${gets.length} requests); the power cut 3000 bytes into lib/app.py, the next boot resumed it with Range: bytes=3000- (206); all verified, marked, reset; ota_boot switched; health reported ${[...new Set(upd(b))].join(' -> ')}; trial committed; ${shown(d)}`);

  // -- 4. v3 fails at import: rolled back, alert ---------------------------
  const v3dir = stageRelease(path.join(work, 'v3'), {
    'app.py': (s) => s.replace(/^VERSION = "1\.0\.0"/m, 'VERSION = "3.0.0"') + '\nraise RuntimeError("v3 is broken")\n',
  });
  publish('3.0.0', v3dir);
  say('4. ' + cli('rollout', 'start', '--version', '3.0.0', '--device', DEVICE).trim());
  await sleep(DESIRED_TTL_MS + 1000);
  b = boot(3, 4);
  assert.deepEqual(b.outcomes, ['reset', 'reset', 'running'], JSON.stringify(paths(b)));
  assert.equal(b.state.current, '2.0.0');
  assert.equal(b.state.update.state, 'rolled_back');
  assert.equal(b.state.update.version, '3.0.0');
  assert.match(b.state.update.reason, /RuntimeError at start: v3 is broken/);
  assert.equal(posts(b).at(-1).health.update.state, 'rolled_back');
  const check = cli('alerts', 'check').trim();
  const alerts = (await admin('GET', '/api/alerts')).body;
  const items = alerts.items || alerts;
  const alert = items.find((a) => a.deviceId === DEVICE && a.kind === 'update');
  assert.ok(alert, JSON.stringify(alerts));
  d = await device();
  assert.equal(d.firmware, '2.0.0');
  const log = vm.eval('F.log_tail(60)').join('\n');
  assert.match(log, /firmware 3\.0\.0 rolled back to 2\.0\.0: RuntimeError at start: v3 is broken/);
  say(`4. boots ${b.outcomes.join(', ')}: downloaded and switched to 3.0.0, import failed, main.py rolled back to 2.0.0 and reset; health reported ${[...new Set(upd(b))].join(' -> ')}; alerts check: ${check.replace(/\n/g, '; ')}; GET /api/alerts: ${alert.kind} "${alert.message}"; ${shown(d)}`);

  // -- 5. a release signed with another key is refused -----------------------
  const otherKey = path.join(work, 'other.pem');
  cli('firmware', 'keygen', '--out', otherKey);
  const v4dir = stageRelease(path.join(work, 'v4'), { 'app.py': (s) => s.replace(/^VERSION = "1\.0\.0"/m, 'VERSION = "4.0.0"') });
  publish('4.0.0', v4dir, otherKey);
  say('5. ' + cli('rollout', 'start', '--version', '4.0.0', '--device', DEVICE).trim() + ' (signed with another key)');
  await sleep(DESIRED_TTL_MS + 1000);
  b = boot(3);
  assert.equal(b.outcome, 'running');
  assert.deepEqual(b.state.update, { state: 'refused', version: '4.0.0', reason: 'signature does not verify with ota_public_key' });
  assert.deepEqual(fetches(b).map((e) => e.path), ['/api/device/firmware/4.0.0'], 'nothing but the manifest is fetched');
  assert.equal(posts(b).at(-1).health.update.state, 'refused');
  d = await device();
  assert.equal(d.firmware, '2.0.0');
  assert.equal(d.update.state, 'refused');
  // The device no longer reports rolled_back: the update alert resolves.
  const check5 = cli('alerts', 'check').trim();
  const open5 = (await admin('GET', '/api/alerts?state=open')).body;
  assert.ok(!(open5.items || open5).some((x) => x.deviceId === DEVICE && x.kind === 'update' && !x.resolvedAt), JSON.stringify(open5));
  say(`5. ${paths(b).join('; ')}; refused: ${b.state.update.reason}; alerts check: ${check5.replace(/\n/g, '; ')}; ${shown(d)}`);

  // This VM collects garbage only between top-level runs, so what a boot
  // allocated before each update request, garbage included, is an upper
  // bound of the heap the update needs on top of the firmware's live heap.
  const steps = heap3.map((a, i) => a - (i ? heap3[i - 1] : 0)).filter((x) => x >= 0);
  t.diagnostic(`heap during the v2 update (VM, gc.mem_alloc, garbage included): allocated since boot at the update's requests up to ${Math.max(...heap3)} bytes; largest between two update requests ${Math.max(...steps)} bytes (${heap3.length} requests)`);
});
