// End to end: the firmware's real modules in the MicroPython WebAssembly VM
// post over real HTTP, through a fault-injecting proxy, to a real
// `thermowatt serve` on a real (SQLite) database. Faults: Wi-Fi down for ten
// intervals, a burst of HTTP 500, an answer lost after the server committed,
// the server stopped and restarted, readings the server rejects, and a power
// cut in the middle of a queue append. Afterwards the database must hold
// every reading exactly once with its true time, and the rejected ones must
// sit in the dead-letter file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { bootVM, FIRMWARE_DIR } from './harness.mjs';
import { REPO, serverBinary, freePort, waitReady } from './server.mjs';

const ADMIN = 'e2e-admin-' + Math.random().toString(36).slice(2) + '-0123456789abcdef';
const DEVICE = 'esp32-node-01';
const IV = 300000;

async function startServer(bin, port, dataDir, logFile, children) {
  const fd = openSync(logFile, 'a');
  const p = spawn(bin, ['serve'], {
    env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, ADMIN_TOKEN: ADMIN },
    stdio: ['ignore', fd, fd],
  });
  children.push(p);
  p.exited = new Promise((r) => p.on('exit', r));
  try {
    await waitReady(`http://127.0.0.1:${port}/readyz`);
  } catch (e) {
    e.message += `\n--- server log (${logFile}) ---\n${readFileSync(logFile, 'utf8').slice(-3000)}`;
    throw e;
  }
  return p;
}

async function stopServer(p) {
  p.kill('SIGTERM');
  await p.exited;
}

async function startProxy(targetPort, children) {
  const p = spawn(process.execPath, [path.join(FIRMWARE_DIR, 'test', 'faultproxy.mjs'), String(targetPort)],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(p);
  const rl = readline.createInterface({ input: p.stdout });
  const port = await new Promise((resolve, reject) => {
    rl.on('line', (l) => { if (l.startsWith('ready ')) resolve(Number(l.slice(6))); });
    p.on('exit', (c) => reject(new Error(`fault proxy exited (${c})`)));
  });
  p.port = port;
  return p;
}

const iso = (ms) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

test('every reading reaches the real server exactly once through Wi-Fi loss, 500s, lost answers, a restart and a power cut', { timeout: 240000 }, async (t) => {
  const work = mkdtempSync(path.join(tmpdir(), 'thermowatt-e2e-'));
  const children = [];
  // Whatever happens, no server or proxy outlives the test.
  t.after(() => { for (const c of children) c.kill('SIGKILL'); });
  const bin = serverBinary(work);
  const port = await freePort();
  const dataDir = path.join(work, 'data');
  const serverLog = path.join(work, 'server.log');
  let server = await startServer(bin, port, dataDir, serverLog, children);
  const proxy = await startProxy(port, children);
  const api = `http://127.0.0.1:${port}`;
  const ctl = `http://127.0.0.1:${proxy.port}`;

  const dev = await fetch(`${api}/api/devices`, {
    method: 'POST', headers: { Authorization: `Bearer ${ADMIN}` }, body: JSON.stringify({ id: DEVICE }),
  });
  assert.equal(dev.status, 201, await dev.clone().text());
  const { token } = await dev.json();

  const config = {
    wifi: [{ ssid: 'lab', password: 'pw' }],
    base_url: ctl, allow_http: true, device_id: DEVICE, api_key: token,
    interval_s: 300, http_timeout_s: 2, wdt_timeout_s: 20, connect_timeout_s: 10,
    batch_size: 5, backoff_base_s: 5, backoff_cap_s: 120,
  };
  // Simulated time starts ten hours ago, on a whole minute: the ~2.5 h of
  // readings all lie in the past, as the server requires.
  let trueMs = Math.floor((Date.now() - 10 * 3600e3) / 60000) * 60000;
  const echo = process.env.FW_ECHO ? (l) => console.error('[fw]', l) : null;

  // Boot 1: fresh board; Wi-Fi down, 500 burst, lost answer, a 400.
  let vm = await bootVM({ onLine: echo });
  vm.writeFile('/config.json', JSON.stringify(config));
  vm.run(`import e2esteps\ne2esteps.boot1(${trueMs}, ${JSON.stringify(ctl)})`);
  const b1 = vm.eval('e2esteps.S');
  const log1 = vm.readFile('/log.txt');
  assert.equal(b1.triggers.length, 24);
  assert.equal(b1.depth, 0, 'boot 1 should end with an empty queue');

  // The server goes down; boot 2 (a soft reset) queues while it is away.
  await stopServer(server);
  vm = await bootVM({ snapshot: vm.snapshot(), onLine: echo });
  vm.run(`import e2esteps\ne2esteps.boot2(${b1.true_ms}, ${JSON.stringify(ctl)})`);
  const b2 = vm.eval('e2esteps.S');
  assert.equal(b2.depth, 6, 'boot 2 should have queued all six readings');

  // Power cut in the middle of appending the last reading to the queue.
  const snap = vm.snapshot();
  const segs = Object.keys(snap).filter((p) => /^\/q\/\d+\.q$/.test(p)).sort();
  const last = segs[segs.length - 1];
  const text = new TextDecoder().decode(snap[last]);
  const lines = text.split('\n').filter(Boolean);
  assert.equal(lines.length, 6);
  const torn = text.length - Math.floor(lines[5].length / 2) - 1;
  snap[last] = snap[last].slice(0, torn);
  const tornTrigger = b2.triggers[5];

  // The server comes back with the same database; boot 3 after the outage.
  server = await startServer(bin, port, dataDir, serverLog, children);
  vm = await bootVM({ snapshot: snap, onLine: echo });
  vm.run(`import e2esteps\ne2esteps.boot3(${b2.true_ms + 7 * 60000}, ${JSON.stringify(ctl)})`);
  const b3 = vm.eval('e2esteps.S');
  assert.equal(b3.depth, 0, 'boot 3 should have delivered everything');

  // What the database holds.
  const res = await fetch(`${api}/api/measurements?deviceId=${DEVICE}&limit=1000`, { headers: { Authorization: `Bearer ${ADMIN}` } });
  assert.equal(res.status, 200);
  const { items } = await res.json();
  const got = items.map((i) => i.recordedAt).sort();
  assert.equal(new Set(got).size, got.length, 'a reading is stored twice');

  const measured = [...b1.triggers, ...b2.triggers.filter((x) => x !== tornTrigger), ...b3.triggers].map(iso);
  const seedOk = b1.seed.filter((s) => s.ok).map((s) => s.at);
  assert.equal(seedOk.length, 1, JSON.stringify(b1.seed));
  const want = [...measured, ...seedOk].sort();
  assert.deepEqual(got, want, 'the database must hold every reading exactly once, at its true time');

  // Values came through intact: temperatures from the BMP280, power from the INA219.
  const byAt = new Map(items.map((i) => [i.recordedAt, i]));
  for (const at of measured) {
    const r = byAt.get(at);
    assert.ok(r.temperature > 25 && r.temperature < 27, `${at}: temperature ${r.temperature}`);
    assert.equal(r.voltage_v, 4.98);
    assert.ok(r.current_ma > 0 && r.power_mw > 0);
  }
  assert.equal(byAt.get(seedOk[0]).temperature, 22.2);
  const withHealth = items.filter((i) => i.payload && i.payload.device);
  assert.ok(withHealth.length > 5, 'device health rides with every batch');
  assert.ok(withHealth.some((i) => i.payload.device.reset_cause === 'pwron'));

  // The readings the server refused are in the dead-letter file, not lost.
  const dead = (vm.readFile('/deadletter.jsonl') || '').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const deadAt = dead.map((d) => d.reading.recordedAt).sort();
  assert.deepEqual(deadAt, ['2019-05-01T00:00:00Z', '2019-06-01T00:00:00Z'], JSON.stringify(dead));
  const reason = (at) => dead.find((d) => d.reading.recordedAt === at).reason;
  // Sent alone: the server answers 400. Sent in a batch with a good reading:
  // 201, with this one listed as rejected; the good one is stored.
  assert.match(reason('2019-06-01T00:00:00Z'), /^HTTP 400 /);
  assert.match(reason('2019-05-01T00:00:00Z'), /^HTTP 201 rejected recordedAt/);

  // The faults really happened.
  const stats = await (await fetch(`${ctl}/__stats`)).json();
  assert.ok(stats.injected500 >= 8, JSON.stringify(stats));
  assert.equal(stats.lost, 1, JSON.stringify(stats));
  assert.ok(stats.upstreamDown >= 1, JSON.stringify(stats));
  const dups = [...log1.matchAll(/duplicates (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
  assert.ok(dups >= 1, 'the batch whose answer was lost must come back as duplicates');
  const log3 = vm.readFile('/log.txt');
  assert.match(log3, /torn line at end of \/q\/\d+\.q skipped/);
  const csv = vm.readFile('/temp.csv').split('\n').filter(Boolean);
  assert.equal(csv.length, 1 + 24 + 6 + 12, 'every measurement is in temp.csv, the torn one too');
  t.diagnostic(`${got.length} readings stored exactly once; ${stats.injected500} injected 500s, ${stats.lost} lost answer, ${stats.upstreamDown} requests while the server was down, ${dups} duplicates reported, ${dead.length} dead-lettered`);
});
