// Verified HTTPS on MicroPython's 32-bit unix port built with Mbed TLS
// (../shared/tools/micropython/micropython-unix32f-tls): real handshakes
// against a local TLS endpoint with test CAs made here by openssl, in front
// of a real `thermowatt serve`. The right CA delivers; another CA or a
// certificate for another host name is refused with the readings kept, and
// they arrive exactly once when the right certificate returns; a CA that a
// signed release brings waits (visible in the device's health) until the
// server presents it, then takes over; and the heap a full batch needs over
// verified TLS is measured like the plain one (test/heapcap.test.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FIRMWARE_DIR } from './harness.mjs';
import { serverBinary, freePort, waitReady } from './server.mjs';
import { MICROPYTHON_TLS, HOW_TO_BUILD, toolsPresent, compileLib, makeBoard, boot, readBoard, boardJSON } from './unixport.mjs';

const KB = 1024;
const INTERVAL_S = 60;
const ADMIN = 'tlsport-admin-' + Math.random().toString(36).slice(2) + '-0123456789abcdef';
const past = () => Math.floor((Date.now() - 10 * 3600e3) / 60000) * 60000;

function openssl(dir, ...args) {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
}

// A root CA and a server certificate it signs for `host`.
function makeCA(dir, name) {
  openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30',
    '-subj', `/CN=thermowatt test ${name}`, '-keyout', `${name}.key`, '-out', `${name}.pem`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl(dir, 'x509', '-in', `${name}.pem`, '-outform', 'der', '-out', `${name}.der`);
  return { pem: path.join(dir, `${name}.pem`), der: path.join(dir, `${name}.der`), key: path.join(dir, `${name}.key`) };
}

function makeLeaf(dir, ca, name, host) {
  writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=DNS:${host}\nbasicConstraints=CA:FALSE\n`);
  openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${host}`,
    '-keyout', `${name}.key`, '-out', `${name}.csr`);
  openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', ca.pem, '-CAkey', ca.key, '-CAcreateserial', '-days', '7',
    '-extfile', `${name}.ext`, '-out', `${name}.pem`);
  return { cert: readFileSync(path.join(dir, `${name}.pem`)), key: readFileSync(path.join(dir, `${name}.key`)) };
}

const fingerprint = (derFile) => createHash('sha256').update(readFileSync(derFile)).digest('hex');

// A TLS endpoint in front of the server whose certificate can be changed
// between connections (the host moving to another CA).
async function tlsFront(t, target) {
  const port = await freePort();
  const front = { leaf: null, handshakes: 0 };
  const srv = tls.createServer({
    SNICallback: (_name, cb) => cb(null, tls.createSecureContext({ cert: front.leaf.cert, key: front.leaf.key })),
    cert: undefined,
  }, (sock) => {
    front.handshakes++;
    const up = net.connect(target, '127.0.0.1');
    sock.pipe(up).pipe(sock);
    sock.on('error', () => up.destroy());
    up.on('error', () => sock.destroy());
  });
  srv.on('tlsClientError', () => {});
  await new Promise((ok) => srv.listen(port, '127.0.0.1', ok));
  t.after(() => srv.close());
  front.port = port;
  return front;
}

test('verified HTTPS on the 32-bit TLS port: the right CA delivers, a wrong CA or host is refused with the readings kept, a released CA waits and then takes over', { timeout: 300000 }, async (t) => {
  if (!toolsPresent() || !existsSync(MICROPYTHON_TLS)) {
    if (process.env.CI) assert.fail(HOW_TO_BUILD + ' (and micropython-unix32f-tls, built the same way without MICROPY_PY_SSL=0 MICROPY_SSL_AXTLS=0)');
    t.skip(HOW_TO_BUILD);
    return;
  }
  const work = mkdtempSync(path.join(tmpdir(), 'thermowatt-tlsport-'));
  const bin = serverBinary(work);
  const port = await freePort();
  const fd = openSync(path.join(work, 'server.log'), 'a');
  const env = { ...process.env, PORT: String(port), DATA_DIR: path.join(work, 'data'), ADMIN_TOKEN: ADMIN, ALERT_CHECK_INTERVAL: '0' };
  const serve = spawn(bin, ['serve'], { env, stdio: ['ignore', fd, fd] });
  t.after(() => serve.kill('SIGKILL'));
  await waitReady(`http://127.0.0.1:${port}/readyz`);
  const admin = async (method, p, body) => {
    const r = await fetch(`http://127.0.0.1:${port}${p}`, { method, headers: { Authorization: `Bearer ${ADMIN}` }, body: body && JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  };
  const cliEnv = { ...env, THERMOWATT_URL: `http://127.0.0.1:${port}`, THERMOWATT_TOKEN: ADMIN };
  const cli = (...args) => execFileSync(bin, args, { env: cliEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  const pki = path.join(work, 'pki');
  mkdirSync(pki);
  const ca1 = makeCA(pki, 'ca1');
  const ca2 = makeCA(pki, 'ca2');
  const good1 = makeLeaf(pki, ca1, 'leaf1', 'localhost');
  const good2 = makeLeaf(pki, ca2, 'leaf2', 'localhost');
  const otherHost = makeLeaf(pki, ca1, 'leaf3', 'other.example');
  const front = await tlsFront(t, port);
  front.leaf = good1;

  const reg = await admin('POST', '/api/devices', { id: 'esp32-tls-01' });
  assert.equal(reg.status, 201);
  const keyFile = path.join(work, 'fleet-signing.pem');
  const publicKey = cli('firmware', 'keygen', '--out', keyFile).trim();
  const config = {
    wifi: [{ ssid: 'lab', password: 'pw' }], base_url: `https://localhost:${front.port}`, device_id: 'esp32-tls-01',
    api_key: reg.body.token, interval_s: INTERVAL_S, http_timeout_s: 5, wdt_timeout_s: 30, batch_size: 20,
    ca_cert: '/ca.der', ota_public_key: publicKey, backoff_cap_s: 120,
  };
  const mpy = compileLib(path.join(work, 'mpy'));
  const root = makeBoard(mpy, config);
  writeFileSync(path.join(root, 'ca.der'), readFileSync(ca1.der));
  const stored = async () => (await admin('GET', '/api/measurements?deviceId=esp32-tls-01&limit=1000')).body.items;
  const taken = () => ((readBoard(root, 'log.txt') || '').match(/INFO measured/g) || []).length;
  const lastHealth = async () => (await stored()).map((r) => r.payload.device).find((d) => d);
  let trueMs = past();
  const run = async (minutes, heap = 96 * KB) => {
    const r = await boot(root, { heap, trueMs, runMs: minutes * 60 * 1000, tls: true });
    trueMs = r.trueMs + 1000;
    return r;
  };

  // 1. The right CA: delivered, at the heap the plain firmware gets.
  let r = await run(5, 80 * KB);
  assert.equal(r.outcome, 'running', readBoard(root, 'log.txt'));
  let rows = await stored();
  assert.equal(rows.length, taken(), readBoard(root, 'log.txt'));
  const h1 = await lastHealth();
  assert.deepEqual(h1.ca, { active: fingerprint(ca1.der), waiting: null });
  t.diagnostic(`1. CA ca1, server certificate from ca1 for localhost: ${rows.length} readings delivered at 80 KB over verified TLS; health ca ${JSON.stringify(h1.ca)}`);

  // 2. Another CA, then another host name: refused, readings kept; the
  // right certificate back: every reading exactly once.
  for (const [what, leaf] of [['a certificate from another CA', good2], ['a certificate for another host name', otherHost]]) {
    front.leaf = leaf;
    const before = (await stored()).length;
    r = await run(6);
    assert.equal(r.outcome, 'running');
    assert.equal((await stored()).length, before, `nothing is delivered to ${what}`);
    const log = readBoard(root, 'log.txt');
    const refusal = log.split('\n').filter((l) => /ERROR TLS:/.test(l)).at(-1);
    assert.match(refusal, /did not verify against ca_cert \/ca\.der/);
    t.diagnostic(`2. ${what}: refused, queue kept: ${refusal.slice(refusal.indexOf('ERROR'), refusal.indexOf('ERROR') + 160)}`);
    front.leaf = good1;
    r = await run(8);
    rows = await stored();
    assert.equal(rows.length, taken(), 'every reading taken is stored once the right certificate returns');
    assert.equal(new Set(rows.map((x) => x.recordedAt)).size, rows.length, 'none twice');
  }

  // 3. A release brings ca2: it waits (health says so) while the server
  // keeps ca1's certificate, then takes over once the server moves.
  const relSrc = path.join(work, 'rel-src');
  mkdirSync(relSrc);
  for (const name of readdirSync(path.join(FIRMWARE_DIR, 'lib'))) {
    if (name === 'app.py') {
      writeFileSync(path.join(relSrc, name), readFileSync(path.join(FIRMWARE_DIR, 'lib', name), 'utf8').replace(/^VERSION = "1\.0\.0"/m, 'VERSION = "2.0.0"'));
    }
  }
  const rel = path.join(work, 'rel');
  compileLib(path.join(rel, 'lib'), relSrc);
  writeFileSync(path.join(rel, 'ca.pem'), readFileSync(ca2.pem));
  const sig = path.join(work, 'rel.sig');
  writeFileSync(sig, cli('firmware', 'sign', '--key', keyFile, '--version', '2.0.0', rel));
  cli('firmware', 'publish', '--version', '2.0.0', '--signature', sig, rel);
  assert.equal((await admin('POST', '/api/rollouts', { version: '2.0.0', devices: ['esp32-tls-01'] })).status, 201);
  for (let i = 0; i < 3; i++) await run(6);
  const st = boardJSON(root, 'ota/state.json');
  assert.equal(st.current, '2.0.0', readBoard(root, 'log.txt').split('\n').slice(-30).join('\n'));
  assert.equal(st.trial, null);
  assert.ok(existsSync(path.join(root, 'ca.next.pem')), 'the released CA waits beside ca_cert');
  const h3 = await lastHealth();
  assert.deepEqual(h3.ca, { active: fingerprint(ca1.der), waiting: fingerprint(ca2.der) });
  t.diagnostic(`3. release 2.0.0 with ca.pem (ca2) installed and committed; health ca ${JSON.stringify(h3.ca)}`);
  front.leaf = good2;
  await run(6);
  assert.ok(!existsSync(path.join(root, 'ca.next.pem')), 'the new CA took over');
  const h4 = await lastHealth();
  assert.deepEqual(h4.ca, { active: fingerprint(ca2.der), waiting: null });
  assert.match(readBoard(root, 'ca.der'), /BEGIN CERTIFICATE/);
  assert.equal(new X509Certificate(readFileSync(path.join(root, 'ca.der'))).fingerprint256.replace(/:/g, '').toLowerCase(), fingerprint(ca2.der));
  rows = await stored();
  assert.equal(rows.length, taken(), 'every reading taken is stored');
  t.diagnostic(`3. server moved to ca2: the device verified with the waiting CA and kept it; health ca ${JSON.stringify(h4.ca)}; ${rows.length} readings stored of ${taken()} taken`);

  // 4. The heap a full batch needs over verified TLS (Mbed TLS itself
  // allocates outside this heap, as on an ESP32 where it takes the IDF's).
  let n = 0;
  const full = async (heap) => {
    const id = `esp32-tls-heap-${++n}`;
    const d = await admin('POST', '/api/devices', { id });
    const b = makeBoard(mpy, { ...config, device_id: id, api_key: d.body.token, ota_public_key: null, ca_cert: '/ca.der' });
    writeFileSync(path.join(b, 'ca.der'), readFileSync(ca2.der));
    const res = await boot(b, { heap, trueMs: past(), wifiDownMs: (21 * INTERVAL_S + 30) * 1000, runMs: 30 * INTERVAL_S * 1000, tls: true });
    const log = readBoard(b, 'log.txt') || '';
    return res.outcome === 'running' && /INFO sent 20:/.test(log) && !/unexpected|FATAL/.test(log);
  };
  assert.ok(await full(80 * KB), 'a full batch over verified TLS at 80 KB');
  let lo = 48 * KB;
  let hi = 80 * KB;
  while (hi - lo > 4 * KB) {
    const mid = lo + Math.floor((hi - lo) / 2 / (4 * KB)) * 4 * KB;
    if (await full(mid)) hi = mid; else lo = mid;
  }
  t.diagnostic(`4. smallest heap that boots and delivers 20 readings in one POST over verified TLS (.mpy): ${hi / KB} KB`);
  console.log(`HEAP_BOOT_SEND_TLS_MPY_KB=${hi / KB}`);
});
