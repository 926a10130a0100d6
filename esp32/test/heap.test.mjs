// Reports the peak heap of a full batch send, with the whole firmware
// loaded, and keeps it well inside the ~100 KB an ESP32 without PSRAM has.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootVM } from './harness.mjs';

test('peak heap during a full batch send stays well inside 100 KB', async (t) => {
  const vm = await bootVM();
  vm.run('import heapsteps\nheapsteps.prepare()');
  vm.run('import gc\ngc.collect()\nheapsteps.R["harness"] = gc.mem_alloc()');
  vm.run('heapsteps.fill()');
  // Live heap between runs: firmware modules + application state.
  vm.run('gc.collect()\nheapsteps.R["loaded"] = gc.mem_alloc()');
  vm.run('heapsteps.send()');
  const r = vm.eval('heapsteps.R');
  assert.equal(r.outcome, 'sent');
  assert.equal(r.readings, 20); // the default batch_size
  assert.equal(r.left, 0);
  const live = r.loaded - r.harness;
  const peak = live + r.send_alloc;
  t.diagnostic(`firmware loaded and running (modules + state): ${live} bytes`);
  t.diagnostic(`allocated by one send of ${r.readings} readings (${r.body_bytes}-byte JSON body), up to the request: ${r.to_request} bytes, in all: ${r.send_alloc} bytes`);
  t.diagnostic(`peak heap during a full batch send (upper bound: the WebAssembly VM frees nothing mid-run, so all garbage counts): ${peak} bytes`);
  console.log(`PEAK_HEAP_BYTES=${peak}`);
  assert.ok(peak < 100 * 1024, `peak heap ${peak} bytes is not well inside 100 KB`);
});
