// What the end-to-end tests need of a real `thermowatt serve`: its binary,
// a free port, and a wait until it answers.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { FIRMWARE_DIR } from './harness.mjs';

export const REPO = path.resolve(FIRMWARE_DIR, '..');

// serverBinary is THERMOWATT_BIN (make test builds it), or a binary built
// into work. No binary means no end-to-end proof: it fails, never skips.
export function serverBinary(work) {
  if (process.env.THERMOWATT_BIN) {
    assert.ok(path.isAbsolute(process.env.THERMOWATT_BIN), 'THERMOWATT_BIN must be an absolute path');
    assert.ok(existsSync(process.env.THERMOWATT_BIN), `THERMOWATT_BIN ${process.env.THERMOWATT_BIN} does not exist`);
    return process.env.THERMOWATT_BIN;
  }
  const out = path.join(work, 'thermowatt');
  execFileSync('go', ['build', '-o', out, './cmd/thermowatt'], { cwd: REPO, stdio: 'inherit' });
  return out;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

export async function waitReady(url, ms = 20000) {
  const until = Date.now() + ms;
  for (;;) {
    try { if ((await fetch(url)).status === 200) return; } catch { /* not yet */ }
    if (Date.now() > until) throw new Error(`${url} not ready after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
