// Worker thread of the VM's synchronous HTTP bridge: performs one real
// request with Node's fetch and hands the answer back via shared memory.
import { parentPort, workerData } from 'node:worker_threads';

const ctl = new Int32Array(workerData.sab, 0, 2);
const data = new Uint8Array(workerData.sab, 8);

parentPort.on('message', async (req) => {
  const t0 = Date.now();
  let out;
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), req.timeoutMs);
  try {
    const r = await fetch(req.url, {
      method: req.method, headers: req.headers, body: req.body,
      signal: ac.signal, redirect: 'manual',
    });
    const body = await r.text();
    out = { status: r.status, headers: Object.fromEntries(r.headers), body };
  } catch (e) {
    out = { error: ac.signal.aborted ? 'timeout' : 'conn', message: String(e.cause?.code || e.message) };
  } finally {
    clearTimeout(timer);
  }
  out.elapsed_ms = Date.now() - t0;
  const enc = new TextEncoder().encode(JSON.stringify(out));
  data.set(enc.subarray(0, data.length));
  Atomics.store(ctl, 1, Math.min(enc.length, data.length));
  Atomics.store(ctl, 0, 1);
  Atomics.notify(ctl, 0);
});
