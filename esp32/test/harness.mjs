// Boots the firmware in the MicroPython WebAssembly VM, the way it sits on a
// board: /main.py, /boot.py, /lib/*.py, plus the fakes of machine, network,
// ntptime and requests on sys.path. A "device" is a fresh VM; its flash is
// the VM's in-memory filesystem, which snapshot()/restore carry across
// reboots (a power cut = a new VM with the same files).
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { loadMicroPython } from '@micropython/micropython-webassembly-pyscript';

const here = path.dirname(fileURLToPath(import.meta.url));
export const FIRMWARE_DIR = path.resolve(here, '..');
const SYSTEM_DIRS = new Set(['lib', 'fakes', 'tests', 'tmp', 'home', 'dev', 'proc']);

function writeTree(FS, srcDir, dstDir, filter = () => true) {
  try { FS.mkdir(dstDir); } catch { /* exists */ }
  for (const name of readdirSync(srcDir)) {
    if (name.endsWith('.py') && filter(name)) {
      FS.writeFile(`${dstDir}/${name}`, readFileSync(path.join(srcDir, name)));
    }
  }
}

// --- a synchronous HTTP client for the VM -------------------------------
// The firmware is synchronous, as on the device. The VM runs on Node's main
// thread, so a worker thread does the real fetch while the main thread waits
// on a shared-memory flag (Atomics.wait).
let worker = null;
let shared = null;
function ensureWorker() {
  if (worker) return;
  shared = new SharedArrayBuffer(8 + (4 << 20));
  worker = new Worker(new URL('./httpworker.mjs', import.meta.url), { workerData: { sab: shared } });
  worker.unref();
}
export function httpSync(method, url, headersJson, body, timeoutMs) {
  ensureWorker();
  const ctl = new Int32Array(shared, 0, 2);
  Atomics.store(ctl, 0, 0);
  worker.postMessage({ method, url, headers: JSON.parse(headersJson || '{}'), body: body || undefined, timeoutMs });
  const r = Atomics.wait(ctl, 0, 0, timeoutMs + 10000);
  if (r === 'timed-out') return JSON.stringify({ error: 'timeout', message: 'bridge wait timed out' });
  const n = Atomics.load(ctl, 1);
  return new TextDecoder().decode(new Uint8Array(shared, 8, n).slice());
}

export async function bootVM({ snapshot = null, onLine = null } = {}) {
  const out = [];
  const line = (l) => { out.push(l); if (onLine) onLine(l); if (process.env.FW_ECHO) console.error('[vm]', l); };
  const mp = await loadMicroPython({ stdout: line, stderr: line });
  const FS = mp.FS;
  writeTree(FS, path.join(FIRMWARE_DIR, 'lib'), '/lib');
  writeTree(FS, path.join(here, 'fakes'), '/fakes');
  writeTree(FS, path.join(here, 'py'), '/tests');
  FS.writeFile('/tests/config.example.json', readFileSync(path.join(FIRMWARE_DIR, 'config.example.json')));
  // The signed test vector the server's tests check too (testdata/ota).
  const vector = path.join(FIRMWARE_DIR, '..', 'testdata', 'ota');
  FS.mkdir('/tests/ota');
  for (const name of ['manifest.json', 'manifest.sig', 'public.key']) {
    FS.writeFile(`/tests/ota/${name}`, readFileSync(path.join(vector, name)));
  }
  FS.writeFile('/main.py', readFileSync(path.join(FIRMWARE_DIR, 'main.py')));
  FS.writeFile('/boot.py', readFileSync(path.join(FIRMWARE_DIR, 'boot.py')));
  if (snapshot) restore(FS, snapshot);
  mp.registerJsModule('jsbridge', { http: httpSync });
  mp.runPython("import sys\nsys.path.append('/fakes')\nsys.path.append('/tests')");
  const vm = {
    mp, FS, out,
    run(code) {
      try {
        return mp.runPython(code);
      } catch (e) {
        const tail = out.slice(-25).join('\n');
        e.message = `${e.message}\n--- last VM output ---\n${tail}`;
        throw e;
      }
    },
    // A Python expression's value, carried as JSON.
    eval(expr) {
      this.run(`import json as _j\n_r = _j.dumps(${expr})`);
      return JSON.parse(mp.globals.get('_r'));
    },
    snapshot() { return snapshotFS(FS); },
    readFile(p) { try { return new TextDecoder().decode(FS.readFile(p)); } catch { return null; } },
    writeFile(p, data) { FS.writeFile(p, data); },
  };
  return vm;
}

// Device files: everything outside the system/code directories.
export function snapshotFS(FS, dir = '/', acc = {}) {
  for (const name of FS.readdir(dir)) {
    if (name === '.' || name === '..') continue;
    const p = dir === '/' ? `/${name}` : `${dir}/${name}`;
    if (dir === '/' && (SYSTEM_DIRS.has(name) || name === 'main.py' || name === 'boot.py')) continue;
    const st = FS.stat(p);
    if (FS.isDir(st.mode)) snapshotFS(FS, p, acc);
    else acc[p] = FS.readFile(p);
  }
  return acc;
}

function restore(FS, snap) {
  for (const [p, data] of Object.entries(snap)) {
    const parts = p.split('/').filter(Boolean);
    let cur = '';
    for (const d of parts.slice(0, -1)) {
      cur += '/' + d;
      try { FS.mkdir(cur); } catch { /* exists */ }
    }
    FS.writeFile(p, data);
  }
}
