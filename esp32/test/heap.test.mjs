// Reports the heap a full batch send takes, with the whole firmware loaded.
// This VM grows its heap on demand and collects garbage only between
// top-level runs, so it cannot show the smallest heap that works: the
// figure below counts every byte allocated during the send, garbage
// included (an upper bound). The smallest heap is measured on the unix
// port with test/heapmin.py (README, Memory); test_uplink.py checks that a
// heap too small for a full batch sends it in halves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootVM } from './harness.mjs';

test('a full batch goes out without holding its body, with the firmware well inside an ESP32 heap', async (t) => {
  const vm = await bootVM();
  vm.run('import heapsteps\nheapsteps.prepare()');
  vm.run('import gc\ngc.collect()\nheapsteps.R["harness"] = gc.mem_alloc()');
  vm.run('heapsteps.fill()');
  // Live heap between runs: firmware modules + application state.
  vm.run('gc.collect()\nheapsteps.R["loaded"] = gc.mem_alloc()');
  vm.run('heapsteps.send()');
  const r = vm.eval('heapsteps.R');
  assert.equal(r.outcome, 'sent');
  assert.equal(r.readings, 20); // the default batch_size, in one request
  assert.equal(r.left, 0);
  const live = r.loaded - r.harness;
  t.diagnostic(`firmware loaded and running (modules + state): ${live} bytes`);
  t.diagnostic(`allocated by one send of ${r.readings} readings (${r.body_bytes} bytes on the wire), garbage included: ${r.send_alloc} bytes`);
  console.log(`LIVE_HEAP_BYTES=${live}`);
  assert.ok(live < 64 * 1024, `the firmware's live heap ${live} bytes leaves too little of an ESP32's ~100 KB`);
});
