// The firmware in the heap of an ESP32 without PSRAM, measured on
// MicroPython's 32-bit unix port with single-precision floats (an ESP32's
// object sizes) and a capped heap, against a real `thermowatt serve` over
// real sockets (test/unixport.mjs, test/unix/board.py). An ESP32 without
// PSRAM gives MicroPython about 112 KB and needs the rest for Wi-Fi and TLS:
// the firmware must boot and deliver a full batch in 80 KB and take a
// signed update in 96 KB, with its modules as shipped (.mpy, `make
// firmware`); an update below what it needs is refused for memory and
// retried, never rolled back.
// The figures printed are the smallest heap (4 KB steps) that does each,
// for .mpy and for .py source; esp32/README.md (Memory) records them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, writeFileSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FIRMWARE_DIR } from './harness.mjs';
import { serverBinary, freePort, waitReady } from './server.mjs';
import { toolsPresent, HOW_TO_BUILD, compileLib, makeBoard, boot, readBoard, boardJSON } from './unixport.mjs';

const KB = 1024;
const INTERVAL_S = 60;
const BOOT_LIMIT = 80 * KB;
const UPDATE_LIMIT = 96 * KB;
const ADMIN = 'heapcap-admin-' + Math.random().toString(36).slice(2) + '-0123456789abcdef';

function skipOrFail(t) {
  if (toolsPresent()) return false;
  // CI has the tools (../shared/tools/micropython); elsewhere say how to
  // build them rather than pass silently.
  if (process.env.CI) assert.fail(HOW_TO_BUILD);
  t.skip(HOW_TO_BUILD);
  return true;
}

async function startServer(t, work) {
  const bin = serverBinary(work);
  const port = await freePort();
  const fd = openSync(path.join(work, 'server.log'), 'a');
  const env = { ...process.env, PORT: String(port), DATA_DIR: path.join(work, 'data'), ADMIN_TOKEN: ADMIN, ALERT_CHECK_INTERVAL: '0', RATE_LIMIT: '0' };
  // RATE_LIMIT=0: a board here lives hours of simulated time in a second of
  // real time, all from 127.0.0.1; the server's rate limits would measure
  // that compression, not the firmware.
  const p = spawn(bin, ['serve'], { env, stdio: ['ignore', fd, fd] });
  t.after(() => p.kill('SIGKILL'));
  const api = `http://127.0.0.1:${port}`;
  await waitReady(`${api}/readyz`);
  const admin = async (method, p2, body) => {
    for (;;) {
      const r = await fetch(api + p2, { method, headers: { Authorization: `Bearer ${ADMIN}` }, body: body && JSON.stringify(body) });
      const text = await r.text();
      // The search below registers devices faster than the admin rate
      // limit allows: wait as told.
      if (r.status === 429) { await new Promise((ok) => setTimeout(ok, 1000 * Number(r.headers.get('retry-after') || 1))); continue; }
      return { status: r.status, body: text ? JSON.parse(text) : null };
    }
  };
  let n = 0;
  const device = async (extra = {}) => {
    const id = `esp32-heap-${++n}`;
    const reg = await admin('POST', '/api/devices', { id });
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    return {
      id,
      config: {
        wifi: [{ ssid: 'lab', password: 'pw' }], base_url: api, allow_http: true, device_id: id, api_key: reg.body.token,
        interval_s: INTERVAL_S, http_timeout_s: 5, wdt_timeout_s: 30, batch_size: 20, ...extra,
      },
    };
  };
  // The admin commands ask the server (THERMOWATT_URL, THERMOWATT_TOKEN).
  const cliEnv = { ...env, THERMOWATT_URL: api, THERMOWATT_TOKEN: ADMIN };
  const cli = (...args) => execFileSync(bin, args, { env: cliEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { api, admin, device, cli, bin };
}

// Ten hours ago: every reading the simulated clock dates lies in the past.
const past = () => Math.floor((Date.now() - 10 * 3600e3) / 60000) * 60000;

// A board that queues 22 readings with Wi-Fi down, then delivers them: the
// first POST carries a full batch of 20.
async function bootAndSend(srv, lib, heap) {
  const d = await srv.device();
  const root = makeBoard(lib, d.config);
  const r = await boot(root, { heap, trueMs: past(), wifiDownMs: (21 * INTERVAL_S + 30) * 1000, runMs: 30 * INTERVAL_S * 1000 });
  const log = readBoard(root, 'log.txt') || '';
  const sent = [...log.matchAll(/INFO sent (\d+): accepted (\d+)/g)].map((m) => Number(m[1]));
  const stored = (await srv.admin('GET', `/api/measurements?deviceId=${d.id}&limit=1000`)).body.items.length;
  const queued = [...log.matchAll(/\(queue (\d+)\)/g)].map((m) => Number(m[1])).at(-1);
  return {
    outcome: r.outcome, sent, stored, log, root,
    full: r.outcome === 'running' && sent[0] === 20 && !/unexpected|FATAL/.test(log),
    measured: (log.match(/INFO measured/g) || []).length, queued,
  };
}

// The smallest heap, in 4 KB steps between lo and hi, for which ok(heap).
async function smallest(lo, hi, ok) {
  if (!(await ok(hi))) return null;
  while (hi - lo > 4 * KB) {
    const mid = lo + Math.floor((hi - lo) / 2 / (4 * KB)) * 4 * KB;
    if (await ok(mid)) hi = mid; else lo = mid;
  }
  return hi;
}

test('on a 32-bit port with a capped heap the firmware boots and delivers a full batch in 80 KB as shipped (.mpy), and prints the smallest heap for .mpy and .py', { timeout: 300000 }, async (t) => {
  if (skipOrFail(t)) return;
  const work = mkdtempSync(path.join(tmpdir(), 'thermowatt-heapcap-'));
  const srv = await startServer(t, work);
  const mpy = compileLib(path.join(work, 'mpy'));
  const py = path.join(FIRMWARE_DIR, 'lib');

  const at = await bootAndSend(srv, mpy, BOOT_LIMIT);
  assert.ok(at.full, `at ${BOOT_LIMIT / KB} KB (.mpy) the board must boot and deliver 20 readings in its first POST: outcome ${at.outcome}, sent ${JSON.stringify(at.sent)}\n${at.log.split('\n').slice(-15).join('\n')}`);
  assert.equal(at.stored, at.measured, 'every reading taken is stored');
  t.diagnostic(`at ${BOOT_LIMIT / KB} KB (.mpy): POSTs of ${at.sent.join(', ')} readings, ${at.stored} stored of ${at.measured} taken`);

  const needMpy = await smallest(48 * KB, BOOT_LIMIT, async (h) => (await bootAndSend(srv, mpy, h)).full);
  const needPy = await smallest(48 * KB, 128 * KB, async (h) => (await bootAndSend(srv, py, h)).full);
  t.diagnostic(`smallest heap that boots and delivers a full batch: .mpy ${needMpy / KB} KB, .py ${needPy ? needPy / KB + ' KB' : 'over 128 KB'}`);
  console.log(`HEAP_BOOT_SEND_MPY_KB=${needMpy / KB} HEAP_BOOT_SEND_PY_KB=${needPy / KB}`);

  // Fewer readings take hardly less: the body is streamed from flash, so a
  // batch of 20 needs about the heap of one. What sets the floor is the
  // firmware's own size; below it, the board cannot load (main.py tries
  // twice, then resets).
  const one = await bootAndSend(srv, mpy, needMpy - 4 * KB);
  t.diagnostic(`at ${(needMpy - 4 * KB) / KB} KB (.mpy): outcome ${one.outcome}; ${one.log.split('\n').filter((l) => /memory|MemoryError/i.test(l)).slice(0, 2).join(' | ')}`);
});

// A release of the whole firmware (every module but ota_boot, compiled as
// shipped), signed and rolled out to one device over HTTP.
function stageRelease(work, version) {
  const src = path.join(work, `src-${version}`);
  mkdirSync(src, { recursive: true });
  for (const name of readdirSync(path.join(FIRMWARE_DIR, 'lib'))) {
    if (!name.endsWith('.py') || name === 'ota_boot.py') continue;
    let text = readFileSync(path.join(FIRMWARE_DIR, 'lib', name), 'utf8');
    if (name === 'app.py') text = text.replace(/^VERSION = "1\.0\.0"/m, `VERSION = "${version}"`);
    writeFileSync(path.join(src, name), text);
  }
  const rel = path.join(work, `rel-${version}`);
  compileLib(path.join(rel, 'lib'), src);
  return rel;
}

// One device on 1.0.0 told to run `version`: it boots (delivers, downloads,
// resets), boots again (switch, trial, delivery, commit) and once more.
async function update(srv, work, mpy, heap, version, keyFile, publicKey) {
  const d = await srv.device({ ota_public_key: publicKey, batch_size: 5 });
  const roll = await srv.admin('POST', '/api/rollouts', { version, devices: [d.id] });
  assert.equal(roll.status, 201, JSON.stringify(roll.body));
  const root = makeBoard(mpy, d.config);
  let trueMs = past();
  const outcomes = [];
  for (let i = 0; i < 4; i++) {
    const r = await boot(root, { heap, trueMs, runMs: 12 * INTERVAL_S * 1000 });
    outcomes.push(r.outcome);
    trueMs = r.trueMs + 1000;
  }
  const state = boardJSON(root, 'ota/state.json') || {};
  const log = readBoard(root, 'log.txt') || '';
  const dev = (await srv.admin('GET', '/api/devices')).body.items.find((x) => x.id === d.id);
  const ok = state.current === version && !state.trial && state.update?.state === 'installed' && dev.firmware === version;
  if (process.env.HEAPCAP_DEBUG) console.error(`update at ${heap / KB} KB: ${ok} ${outcomes} ${JSON.stringify(state)}\n${log.split('\n').filter((l) => !/measured|INFO sent/.test(l)).slice(-12).join('\n')}`);
  return { ok, outcomes, state, log, dev };
}

test('on a 32-bit port with a capped heap a signed update downloads, verifies, switches and stays in 96 KB; below, it is refused for memory and retried, never rolled back', { timeout: 300000 }, async (t) => {
  if (skipOrFail(t)) return;
  const work = mkdtempSync(path.join(tmpdir(), 'thermowatt-heapcap-update-'));
  const srv = await startServer(t, work);
  const mpy = compileLib(path.join(work, 'mpy'));
  const keyFile = path.join(work, 'fleet-signing.pem');
  const publicKey = srv.cli('firmware', 'keygen', '--out', keyFile).trim();
  const version = '2.0.0';
  const rel = stageRelease(work, version);
  const sig = path.join(work, 'release.sig');
  writeFileSync(sig, srv.cli('firmware', 'sign', '--key', keyFile, '--version', version, rel));
  srv.cli('firmware', 'publish', '--version', version, '--signature', sig, rel);
  const files = readdirSync(path.join(rel, 'lib')).length;

  const at = await update(srv, work, mpy, UPDATE_LIMIT, version, keyFile, publicKey);
  assert.ok(at.ok, `at ${UPDATE_LIMIT / KB} KB the update must install and stay: boots ${at.outcomes}, state ${JSON.stringify(at.state)}\n${at.log.split('\n').filter((l) => !/measured|sent/.test(l)).slice(-20).join('\n')}`);
  t.diagnostic(`at ${UPDATE_LIMIT / KB} KB (.mpy): a release of ${files} files; boots ${at.outcomes.join(', ')}; state ${JSON.stringify(at.state.update)}; server shows firmware ${at.dev.firmware}`);

  const need = await smallest(48 * KB, UPDATE_LIMIT, async (h) => (await update(srv, work, mpy, h, version, keyFile, publicKey)).ok);
  t.diagnostic(`smallest heap that completes the update (.mpy): ${need / KB} KB`);
  console.log(`HEAP_UPDATE_MPY_KB=${need / KB}`);

  const low = need - 8 * KB;
  const below = await update(srv, work, mpy, low, version, keyFile, publicKey);
  t.diagnostic(`at ${low / KB} KB: boots ${below.outcomes.join(', ')}; update ${JSON.stringify(below.state.update)}; ${below.log.split('\n').filter((l) => /memory/i.test(l)).slice(0, 2).join(' | ')}`);
  assert.ok(!below.log.includes('rolled back'), `no rollback at ${low / KB} KB:\n${below.log}`);
  assert.equal(below.state.current ?? '1.0.0', '1.0.0');
  assert.equal(below.state.update?.state, 'refused', `refused for memory at ${low / KB} KB:\n${below.log.split('\n').filter((l) => !/measured|INFO sent/.test(l)).slice(-20).join('\n')}`);
  assert.match(below.state.update?.reason || '', /^memory/);
  assert.ok(below.outcomes.every((o) => o === 'running'), `no reset loop: ${below.outcomes}`);
});
